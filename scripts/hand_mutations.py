"""Deliberate bugs put by hand into a core module, one at a time; each must make the module's tests fail.

For modules whose bugs that matter are few and semantic (a graph built wrong) rather than the many small
edits mutmut makes: unet/openvino_net.py, whose tests compare against Keras in TensorFlow.
Run from the repository root:  python scripts/hand_mutations.py unet/openvino_net  [INDEX ...]
The first entry changes nothing: it must pass (the copy of the package works); every other must fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MUTATIONS = {
    "unet/openvino_net": dict(
        tests=["tests/test_openvino_net.py", "tests/test_openvino_runtime.py"],
        edits=[
            ("import zipfile", "import zipfile"),  # the control
            # batch normalisation folded into the convolutions
            ("np.sqrt(var + float(", "np.sqrt(var) + (float("),
            ("kernel, bias = kernel * s, bias * s + t", "kernel, bias = kernel * s, bias + t"),
            ("const(t.reshape(1, -1, 1, 1)))\n    skips", "const(0 * t.reshape(1, -1, 1, 1)))\n    skips"),
            # the graph
            ("ops.concat([x, skip], 1)", "ops.concat([skip, x], 1)"),
            ('coordinate_transformation_mode="asymmetric"', 'coordinate_transformation_mode="half_pixel"'),
            ('nearest_mode="floor"', 'nearest_mode="ceil"'),
            ('x = conv(x, "bottleneck_conv3", pad=1)', 'x = conv(x, "bottleneck_conv3", pad=0)'),
            ("np.array([c, c], np.int64), np.array([-c, -c], np.int64)",
             "np.array([c, c], np.int64), np.array([-c + 1, -c + 1], np.int64)"),
            ('"INFERENCE_PRECISION_HINT": "f32", ', ""),
            # what is accepted as the paper's network
            ("if found != expected_layers():", "if False:"),
            ("need(name, max_value=None, negative_slope=0.0, threshold=0.0)", "pass"),
            ("            need(name, cropping=[[c, c], [c, c]])", "            pass"),
            ('need(name, pool_size=[2, 2], strides=[2, 2], padding="valid", data_format="channels_last")', "pass"),
            ('need(name, size=[2, 2], interpolation="nearest")', "pass"),
            ('act = "sigmoid" if name == "probability" else "relu" if name.startswith("bottleneck") else "linear"',
             'act = "sigmoid" if name == "probability" else "linear"'),
            # calls
            ("not (is_valid_size(x.shape[1]) and is_valid_size(x.shape[2]))", "not is_valid_size(x.shape[1])"),
            ("with self._lock:\n            return", "if True:\n            return"),
        ],
    ),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in MUTATIONS:
        print(f"usage: python scripts/hand_mutations.py {'|'.join(MUTATIONS)} [INDEX ...]", file=sys.stderr)
        return 2
    table = MUTATIONS[argv[0]]
    only = {int(a) for a in argv[1:]}
    source = f"src/napari_steatosis/{argv[0]}.py"
    alive = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i, (old, new) in enumerate(table["edits"]):
            if only and i not in only:
                continue
            shutil.rmtree(work / "src", ignore_errors=True)
            shutil.rmtree(work / "sample_data", ignore_errors=True)
            shutil.copytree(ROOT / "src", work / "src")
            shutil.copytree(ROOT / "sample_data", work / "sample_data")
            path = work / source
            text = path.read_text()
            if text.count(old) != 1:
                print(f"{i:2d} STALE    the text to change is not found once in {source}: {old[:60]!r}")
                alive.append(i)
                continue
            path.write_text(text.replace(old, new))
            env = {**os.environ, "PYTHONPATH": str(work / "src")}
            run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                  *(str(ROOT / t) for t in table["tests"])], env=env, capture_output=True, cwd=tmp)
            failed = run.returncode != 0
            ok = failed if i else not failed
            print(f"{i:2d} {'killed  ' if failed else 'survived'} {'' if ok else '<- '}{old[:60]!r} -> {new[:40]!r}",
                  flush=True)
            if not ok:
                alive.append(i)
    print(f"{argv[0]}: {'all as expected' if not alive else f'not as expected: {alive}'}")
    return 1 if alive else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
