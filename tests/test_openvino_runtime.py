"""Which runtime predicts: OpenVINO on a CPU, without importing TensorFlow (no ``tensorflow`` marker:
these run beside the napari tests; the U-Net runs in a subprocess)."""

import importlib.util
import subprocess
import sys

import pytest

from napari_steatosis.errors import SteatosisError
from napari_steatosis.unet import card

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")


@needs_openvino
def test_auto_is_openvino_on_a_cpu_and_keras_beside_an_nvidia_gpu(monkeypatch):
    monkeypatch.delenv("STEATOSIS_RUNTIME", raising=False)
    monkeypatch.setattr(card, "nvidia_gpu", lambda: False)
    assert card.chosen_runtime() == "openvino"
    monkeypatch.setattr(card, "nvidia_gpu", lambda: True)
    assert card.chosen_runtime() == "keras"
    monkeypatch.setenv("STEATOSIS_RUNTIME", " OpenVINO ")
    assert card.chosen_runtime() == "openvino"  # asked for: even beside a GPU
    monkeypatch.setenv("STEATOSIS_RUNTIME", "keras")
    monkeypatch.setattr(card, "nvidia_gpu", lambda: False)
    assert card.chosen_runtime() == "keras"


def test_an_unknown_runtime_is_named(monkeypatch):
    monkeypatch.setenv("STEATOSIS_RUNTIME", "onnx")
    with pytest.raises(SteatosisError, match="STEATOSIS_RUNTIME='onnx': expected one of auto, openvino, keras"):
        card.chosen_runtime()


@needs_openvino
def test_predict_runs_the_shipped_unet_without_tensorflow_or_analytics(tmp_path):
    from napari_steatosis.data.images import read_image, read_mask, write_image
    from napari_steatosis.sample import sample_record

    ds, rec = sample_record("he")
    img = tmp_path / "he.png"
    write_image(img, read_image(ds.image_path(rec))[:400, :450])
    code = ("import sys\nfrom napari_steatosis.cli import main\n"
            f"rc = main(['predict', {str(img)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
            "print('RC', rc, 'tensorflow' in sys.modules, 'keras' in sys.modules, 'openvino_telemetry' in sys.modules)\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("STEATOSIS_RUNTIME", "CI")}
    env["HOME"] = str(home)  # where OpenVINO's analytics would keep its client id
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert "RC 0 False False False" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert not any(home.iterdir())  # no analytics id written, nothing sent
    assert "U-Net on OpenVINO on CPU" in proc.stdout + proc.stderr
    mask = read_mask(tmp_path / "out" / "he.steatosis.png")
    assert mask.shape == (400, 450) and 0.01 < mask.mean() < 0.6  # the sample's vacuoles, not nothing or all


@needs_openvino
def test_a_broken_model_file_is_named_not_a_traceback(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setattr(card, "nvidia_gpu", lambda: False)
    monkeypatch.delenv("STEATOSIS_RUNTIME", raising=False)
    bad = tmp_path / "half.keras"
    with zipfile.ZipFile(bad, "w") as z:  # a download cut short: the weights are missing
        z.writestr("config.json", "{}")
    with pytest.raises(SteatosisError, match="half.keras: cannot read this model"):
        card.load_network(bad)
