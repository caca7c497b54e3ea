import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_steatosis.data.synthetic import write_sample_dataset

REPO = Path(__file__).resolve().parents[1]
# real stained liver tiles (never in the repository); another folder can be given for a run
REAL_TILES = Path(os.environ.get("STEATOSIS_REAL_TILES", REPO.parent / "shared" / "real-tiles"))


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """``generated(name, **kw)``: a generated dataset folder (write_sample_dataset's arguments).

    With STEATOSIS_TEST_DATA_CACHE set (scripts/mutation.sh sets it) the folders are made once
    there and reused by every later test run, which only mutation testing wants: it runs the
    same tests hundreds of times against a generator that is not under test.
    """
    from napari_steatosis.data import Dataset

    cache = os.environ.get("STEATOSIS_TEST_DATA_CACHE")

    def make(name, **kw):
        if cache:
            root = Path(cache) / name
            if not (root / "dataset.csv").is_file():
                write_sample_dataset(root, **kw)
            return Dataset.open(root)
        return write_sample_dataset(tmp_path_factory.mktemp("ds") / name, **kw)

    return make


@pytest.fixture(scope="session")
def small_dataset(generated):
    """Six trichrome patients, two 256x320 images each, with every label kind."""
    return generated("small", patients=6, per_patient=2, size=(256, 320), seed=11)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ----------------------------------------------------------------------------- TensorFlow apart
class TensorFlowRunFailed(Exception):
    pass


class TensorFlowRun(pytest.Item):
    """The TensorFlow tests of this run, run by a pytest process of their own.

    TensorFlow and Qt 6 crash in one process, so when a run holds both napari viewer tests and
    TensorFlow tests, the TensorFlow ones are taken out of it and run here instead; their
    outcome is this item's: a failure (or a crash) of any of them fails the run.
    """

    def __init__(self, *, nodeids, **kw):
        super().__init__(**kw)
        self.nodeids = nodeids
        self.summary = ""

    def runtest(self):
        cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *self.nodeids]
        proc = subprocess.run(cmd, cwd=self.config.rootpath, capture_output=True, text=True)
        lines = proc.stdout.strip().splitlines()
        self.summary = lines[-1] if lines else ""
        if proc.returncode != 0:
            raise TensorFlowRunFailed(
                f"the {len(self.nodeids)} TensorFlow tests, run apart (`{' '.join(cmd[1:4])} ...`), failed "
                f"(exit code {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, TensorFlowRunFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{len(self.nodeids)} TensorFlow tests in a process of their own"


@pytest.hookimpl(trylast=True)  # after `-m` and `-k` have deselected what they deselect
def pytest_collection_modifyitems(session, config, items):
    """A run that holds napari viewer tests runs its TensorFlow tests in a subprocess (TensorFlowRun)."""
    uses_viewer = any("make_napari_viewer" in getattr(i, "fixturenames", ()) for i in items)
    tf = [i for i in items if i.get_closest_marker("tensorflow")]
    if not (uses_viewer and tf):
        return
    items[:] = [i for i in items if i not in tf]
    config.hook.pytest_deselected(items=tf)
    items.append(TensorFlowRun.from_parent(session, name="tensorflow_tests_in_their_own_process",
                                           nodeids=[i.nodeid for i in tf]))


# ----------------------------------------------------------------------------- real tiles
_ITEMS = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, config):
    """Say loudly when the checks on real stained liver could not run, and what ran apart."""
    items = config.stash.get(_ITEMS, [])
    real = [i for i in items if i.get_closest_marker("real")]
    if real and not REAL_TILES.is_dir():
        terminalreporter.write_sep(
            "!", f"{len(real)} checks on REAL liver tiles were NOT run: {REAL_TILES} is absent "
                 "(only synthetic data was tested)", yellow=True, bold=True)
    for i in items:
        if isinstance(i, TensorFlowRun) and i.summary:
            terminalreporter.write_line(f"TensorFlow tests run apart: {i.summary}")


def pytest_collection_finish(session):
    session.config.stash[_ITEMS] = list(session.items)


@pytest.fixture
def look_at():
    """``look_at(viewer, slide_layer, row, col, zoom=1)``: napari's camera on level-0 pixel (row, col) of a slide
    layer (untranslated) at ``zoom`` screen px per level-0 px; returns the level-0 box ``(r0, c0, r1, c1)`` shown."""
    def look(viewer, layer, row, col, zoom=1.0):
        mpp = layer.scale[-1]
        viewer.camera.center = (row * mpp, col * mpp)
        viewer.camera.zoom = zoom / mpp
        h, w = (s / 2 / zoom for s in viewer.canvas.size)
        return int(np.floor(row - h)), int(np.floor(col - w)), int(np.ceil(row + h)), int(np.ceil(col + w))

    return look
