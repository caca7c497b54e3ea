"""Training sized by time: validations every few minutes, warm-up + cosine, the working scale and
post-processing chosen on the validation split, a card without machine paths; `--init default`.
TensorFlow in-process: marker ``tensorflow``."""

import importlib.util
import json
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytestmark = [pytest.mark.tensorflow,
              pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed")]

from napari_steatosis.data.synthetic import write_sample_dataset  # noqa: E402


def test_time_based_run_from_the_shipped_model(tmp_path, capsys):
    from napari_steatosis.cli import main
    from napari_steatosis.unet.card import load_card

    ds = write_sample_dataset(tmp_path / "tiny", patients=3, per_patient=1, size=(200, 240), seed=4, splits=(2, 1, 0))
    out = tmp_path / "m.keras"
    assert main(["train-unet", str(ds.root), "--out", str(out), "--init", "default", "--max-minutes", "5", "--epochs", "2",
                 "--validate-minutes", "0.02", "--batch-size", "2", "--working-scale", "0.75", "--loader-threads", "2"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    epochs = [x for x in lines if x["event"] == "epoch"]
    assert lines[0]["event"] == "start" and lines[0]["working_scale"] == 0.75
    assert len(epochs) == 2 and all(e["steps"] >= 1 for e in epochs)  # a curve, not one point
    assert any(x["event"] == "postprocess" for x in lines) and lines[-1]["event"] == "done"
    card = load_card(out)
    text = json.dumps(card)
    assert str(tmp_path) not in text and "/work/" not in text  # no path of the training machine
    assert card["working_scale"] == 0.75 and card["fine_tuned_from"] == "steatosis_unet_default.keras"
    assert card["training_data"]["dataset"] == "tiny" and len(card["history"]) == len(epochs)
    assert card["fuse_scales"] in ([1.0], [1.0, 0.5]) and "complete_min_cover" in card
    assert 0 < card["threshold"] < 1 and card["schedule"].startswith("Nadam, warm-up then cosine")
    with pytest.raises(SystemExit):  # argparse: a clear message, exit 2
        main(["train-unet", str(ds.root), "--out", str(out), "--working-scale", "9"])
    assert "--working-scale 9: must be within 0.05..4" in capsys.readouterr().err


def test_protocol_script_trains_thresholds_on_val_and_scores_only_test(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    ds = write_sample_dataset(tmp_path / "study", patients=4, per_patient=1, size=(200, 240), seed=5,
                              splits=(2, 1, 1))
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = tmp_path / "run"
    proc = subprocess.run(["bash", str(root / "scripts" / "protocol.sh"), str(ds.root), "3", str(out),
                           "--epochs", "1", "--validate-minutes", "0.02", "--batch-size", "2"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "evaluation.json").read_text())
    test_stems = {r.stem for r in ds.records_in("test")}
    assert result["n_images"] == len(test_stems) == 1 and result["n_patients"] == 1
    assert {p.name.split(".")[0] for p in (out / "pred").glob("*.steatosis.png")} == test_stems
    assert "recall by true vacuole diameter" in (out / "evaluation.txt").read_text()
    assert (out / "evaluation" / "recall_by_diameter.png").exists() and (out / "model.card.json").exists()


def test_patches_are_drawn_by_more_threads_on_an_accelerator(monkeypatch):
    import numpy as np

    from napari_steatosis.unet import predict, train
    from napari_steatosis.unet.patches import PatchSampler

    rgb = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    sampler = PatchSampler([train.prepare_image(rgb)], [np.zeros((300, 300), bool)])
    batches = train._make_dataset_class()
    assert train.loader_threads() == 1 and batches(sampler, 2, 3, 0).workers == 1  # this CPU: the net's cores
    monkeypatch.setattr(predict, "keras_device", lambda: "GPU (Fake 0)")
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert train.loader_threads() == 8 and batches(sampler, 2, 3, 0).workers == 8
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert train.loader_threads() == 3 and batches(sampler, 2, 3, 0, threads=2).workers == 2  # asked for
    # each batch from its own seeded generator: the same batch whichever thread draws it, in whatever order
    b = batches(sampler, 2, 3, 0)
    x1, _ = b[1]
    b[2]
    np.testing.assert_array_equal(b[1][0], x1)


def test_train_unet_runs_on_jax(tmp_path):
    """The GPU path (KERAS_BACKEND=jax, as on a machine without TensorFlow): training, its validation and
    the saved model, run through the CLI in a process of its own, which never imports TensorFlow."""
    import subprocess
    import sys

    pytest.importorskip("jax")
    ds = write_sample_dataset(tmp_path / "tiny", patients=3, per_patient=1, size=(200, 240), seed=4, splits=(2, 1, 0))
    out = tmp_path / "jax.keras"
    code = ("import sys; from napari_steatosis.cli import main; "
            f"rc = main(['train-unet', {str(ds.root)!r}, '--out', {str(out)!r}, '--max-minutes', '2', '--epochs', '1', "
            "'--validate-minutes', '0.02', '--batch-size', '2', '--working-scale', '0.75', '--loader-threads', '2']); "
            "print('TF', 'tensorflow' in sys.modules); sys.exit(rc)")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert lines[0]["event"] == "start" and lines[0]["backend"] == "jax"
    assert lines[-1]["event"] == "done" and out.exists()
    assert "TF False" in proc.stdout
