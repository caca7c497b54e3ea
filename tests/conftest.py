import numpy as np
import pytest

from napari_steatosis.data.synthetic import write_sample_dataset


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """Six trichrome patients, two 256x320 images each, with every label kind."""
    return write_sample_dataset(tmp_path_factory.mktemp("ds") / "small", patients=6, per_patient=2,
                                size=(256, 320), seed=11)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.hookimpl(trylast=True)  # after `-m` has deselected what it deselects
def pytest_collection_modifyitems(config, items):
    """TensorFlow and Qt 6 crash in one process: when a run holds both kinds of test, the
    TensorFlow ones are skipped here and run by scripts/run_tests.sh in a process of their own."""
    uses_viewer = any("make_napari_viewer" in getattr(i, "fixturenames", ()) for i in items)
    if not uses_viewer:
        return
    skip = pytest.mark.skip(reason="imports TensorFlow: run apart with `pytest -m tensorflow`")
    for item in items:
        if item.get_closest_marker("tensorflow"):
            item.add_marker(skip)
