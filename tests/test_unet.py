"""The U-Net: exact architecture, patch sampler, training, tiled inference, safe saving, backends.

These tests import TensorFlow into the test process, which then must not open a napari
viewer (TensorFlow and Qt 6 crash together): scripts/run_tests.sh runs them in a pytest
process of their own (marker ``tensorflow``).
"""

import importlib.util
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytestmark = [pytest.mark.tensorflow,
              pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed")]


class _LazyKeras:
    """Imports Keras (and TensorFlow) only when a test runs, never at collection: a collected but
    deselected module must not load TensorFlow into a process that opens napari viewers."""

    def __getattr__(self, name):
        if name.startswith("_") or name.startswith("pytest"):
            raise AttributeError(name)  # pytest inspects module attributes while collecting
        import keras as real

        return getattr(real, name)


keras = _LazyKeras()

from napari_steatosis.data.synthetic import write_sample_dataset  # noqa: E402
from napari_steatosis.errors import SteatosisError  # noqa: E402
from napari_steatosis.unet import is_valid_size, valid_size_at_least  # noqa: E402
from napari_steatosis.unet.card import card_path, load_model, save_model  # noqa: E402
from napari_steatosis.unet.model import build_unet  # noqa: E402
from napari_steatosis.unet.patches import PatchSampler, rotated_patch  # noqa: E402
from napari_steatosis.unet.predict import predict_probability, tile_plan  # noqa: E402
from napari_steatosis.unet.train import TrainConfig, best_threshold, train_unet  # noqa: E402


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_unet()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return write_sample_dataset(tmp_path_factory.mktemp("unet") / "tiny", patients=3, per_patient=1,
                                size=(200, 240), seed=4, splits=(2, 1, 0))


def test_architecture_is_the_papers(model):
    assert model.count_params() == 128633  # "about 128.6k"
    for n, out in ((268, 148), (524, 404), (1036, 916)):
        assert model.compute_output_shape((1, n, n, 3)) == (1, out, out, 1)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [20, 20, 25, 25, 30, 30, 45, 45, 40, 40, 40, 20, 20, 20, 20, 20, 20, 10, 10, 1]
    assert all(l.momentum == 0.9 for l in model.layers if isinstance(l, keras.layers.BatchNormalization))
    assert [valid_size_at_least(n) for n in (1, 268, 269, 1030)] == [124, 268, 284, 1036]
    assert is_valid_size(1036) and not is_valid_size(1000)


def test_rotated_patches_keep_the_mask_aligned():
    rng = np.random.default_rng(0)
    img = np.zeros((400, 500, 3), np.uint8)
    for _ in range(40):
        cv2.circle(img, (int(rng.uniform(0, 500)), int(rng.uniform(0, 400))), int(rng.uniform(8, 40)), (255, 255, 255), -1)
    mask = (img[:, :, 0] > 128).astype(np.uint8)
    for angle in (0, 33, 90, 217):
        for flip in (False, True):
            patch, m = rotated_patch(img, mask, (200.3, 250.7), angle, flip)
            assert patch.shape == (268, 268, 3) and m.shape == (148, 148)
            assert set(np.unique(m)) <= {0, 1}  # nearest neighbour: no smeared values
            agree = ((patch[60:208, 60:208, 0] > 127) == (m > 0)).mean()
            assert agree > 0.985, (angle, flip, agree)
    # mirrored patches really are mirrored
    p0, _ = rotated_patch(img, mask, (200, 250), 0, False)
    p1, _ = rotated_patch(img, mask, (200, 250), 0, True)
    assert np.abs(p0[:, ::-1].astype(int) - p1).mean() < 2


def test_sampler_draws_fat_when_fat_is_rare():
    img = np.full((600, 600, 3), 150, np.uint8)
    mask = np.zeros((600, 600), bool)
    mask[100:110, 400:410] = True  # 0.03 % of the pixels
    s = PatchSampler([img], [mask], fg_fraction=0.5)
    x, y = s.batch(np.random.default_rng(1), 40)
    assert x.shape == (40, 268, 268, 3) and y.shape == (40, 148, 148, 1)
    assert (y.reshape(40, -1).max(axis=1) > 0).mean() > 0.3


def test_tiled_prediction_equals_whole_image_prediction(model):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (300, 341, 3), dtype=np.uint8)
    whole = predict_probability(model, rgb, tile=2000)  # one tile
    (th, tw), (kh, kw), origins = tile_plan((300, 341), 268)
    assert (th, tw) == (268, 252) and (kh, kw) == (112, 96) and len(origins) == 3 * 4  # balanced: 3 x 100, 4 x 85
    assert all(r % 16 == 0 and c % 16 == 0 for r, c in origins)  # same pooling grid in every tile
    tiled = predict_probability(model, rgb, tile=268)
    assert whole.shape == tiled.shape == (300, 341)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # without the overlap the zero padding of the bottleneck shows at the seams
    assert np.abs(predict_probability(model, rgb, tile=268, context=0) - whole).max() > 1e-5


def test_inference_runs_a_keras_model_as_one_graph_with_the_eager_answer(model):
    import gc
    import weakref

    import tensorflow as tf

    from napari_steatosis.unet.predict import inference

    run = inference(model)
    assert isinstance(run, tf.types.experimental.PolymorphicFunction) and inference(model) is run  # made once
    x = np.random.default_rng(3).uniform(0, 255, (1, 300, 316, 3)).astype(np.float32)
    for shape in ((300, 316), (284, 268)):  # a second tile shape retraces and still answers right
        xs = x[:, :shape[0], :shape[1]]
        np.testing.assert_allclose(keras.ops.convert_to_numpy(run(xs)),
                                   keras.ops.convert_to_numpy(model(xs, training=False)), atol=1e-5)
    stand_in = _WhiteFinder()
    assert inference(stand_in)(x).shape == stand_in(x).shape  # not Keras: called as it is
    other = build_unet()
    inference(other)(x[:, :124, :124])
    gone = weakref.ref(other)
    del other
    gc.collect()
    assert gone() is None  # the cache does not keep a model alive


def test_best_threshold_picks_the_separating_value():
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    m = np.array([0, 0, 0, 1, 1, 1], bool)
    t, j = best_threshold([p], [m])
    assert 0.3 < t <= 0.7 and j == 1.0


def test_a_few_training_steps_reduce_the_loss(tiny_dataset):
    from napari_steatosis.unet.train import load_splits, soft_dice_bce

    train, _ = load_splits(tiny_dataset)
    s = PatchSampler(train.images, train.masks)
    x, y = s.batch(np.random.default_rng(0), 8)
    keras.utils.set_random_seed(0)
    m = build_unet()
    m.compile(optimizer=keras.optimizers.Nadam(1e-3), loss=soft_dice_bce)
    losses = [float(np.ravel(m.train_on_batch(x, y))[0]) for _ in range(15)]
    assert np.mean(losses[-3:]) < 0.8 * losses[0], losses


def test_train_writes_model_and_card_and_json_progress(tiny_dataset, tmp_path, capsys):
    from napari_steatosis.cli import main

    out = tmp_path / "m.keras"
    assert main(["train-unet", str(tiny_dataset.root), "--out", str(out), "--epochs", "2", "--patches-per-image", "8",
                 "--lr-grid", "1e-3", "--batch-size", "4"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]
    events = [l["event"] for l in lines]
    assert events[0] == "start" and events[-1] == "done" and events.count("epoch") == 2
    ep = next(l for l in lines if l["event"] == "epoch")
    assert {"epoch", "loss", "val_loss", "val_jaccard", "seconds"} <= set(ep)
    m, card = load_model(out)
    assert 0 < card["threshold"] < 1 and card["training_data"]["train_images"] == 2
    td = card["training_data"]  # the card says whom it learnt from and whom it was validated on: never both
    assert len(td["train_patients"]) == 2 and len(td["val_patients"]) == 1
    assert not set(td["train_patients"]) & set(td["val_patients"])
    assert card["input"]["valid_tile_sizes"].startswith("16k + 12")
    # predict uses the card's threshold by default
    assert main(["predict", str(tiny_dataset.image_path(tiny_dataset.records[0])), "--model", str(out),
                 "--out", str(tmp_path / "p"), "--probability"]) == 0
    assert f"threshold {card['threshold']:.3f} (from the model card)" in capsys.readouterr().err
    import tifffile

    prob = tifffile.imread(tmp_path / "p" / f"{tiny_dataset.records[0].stem}.probability.tif")
    assert prob.dtype == np.float32 and prob.shape == (200, 240)


def test_cancel_keeps_the_previous_model_intact(tiny_dataset, tmp_path, model):
    out = tmp_path / "keep.keras"
    save_model(model, out, {"note": "the previous model"})
    before = out.read_bytes()

    def cancel_at_start(event):
        if event["event"] == "start":
            raise KeyboardInterrupt

    assert train_unet(tiny_dataset, out, TrainConfig(epochs=1, patches_per_image=4, lr_grid=(1e-3,)),
                      emit=cancel_at_start) is None
    assert out.read_bytes() == before
    assert json.loads(card_path(out).read_text())["note"] == "the previous model"

    def broken_save(path, *a, **k):
        open(path, "wb").write(b"half a model")
        raise OSError("disk full")

    import types

    fake = types.SimpleNamespace(save=broken_save)
    with pytest.raises(OSError):
        save_model(fake, out, {"note": "new"})
    assert out.read_bytes() == before
    load_model(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.card.json", "keep.keras"]


def test_foreign_files_are_refused(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SteatosisError, match="bad.keras: not a Keras model"):
        load_model(bad)
    with pytest.raises(SteatosisError, match="not found"):
        load_model(tmp_path / "none.keras")
    lam = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Lambda(lambda x: x[..., :1])])
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(SteatosisError, match="safely"):
        load_model(tmp_path / "lambda.keras")  # a Lambda layer would run code: safe mode refuses


def test_same_model_file_predicts_the_same_on_jax(model, tmp_path):
    pytest.importorskip("jax")
    path = tmp_path / "m.keras"
    save_model(model, path, {})
    rgb = np.random.default_rng(5).integers(0, 256, (150, 170, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", rgb)
    ref = predict_probability(load_model(path)[0], rgb)
    code = (
        "import numpy as np, keras, sys\n"
        "from napari_steatosis.unet.card import load_model\n"
        "from napari_steatosis.unet.predict import predict_probability, device_description\n"
        f"m, _ = load_model({str(path)!r})\n"
        f"p = predict_probability(m, np.load({str(tmp_path / 'rgb.npy')!r}))\n"
        f"np.save({str(tmp_path / 'jax.npy')!r}, p)\n"
        "print(device_description())\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith("jax on")
    np.testing.assert_allclose(np.load(tmp_path / "jax.npy"), ref, atol=1e-4)


class _WhiteFinder:
    """A stand-in network for exact checks: 'fat' (1.0) where the input's centre pixel is bright,
    with the U-Net's valid-convolution geometry (input n -> output n - 120); records its inputs."""

    def __init__(self):
        self.shapes = []

    def __call__(self, x, training=False):
        assert training is False
        self.shapes.append(tuple(x.shape))
        return (x[:, 60:-60, 60:-60, :1] > 200).astype(np.float32)


def test_scale_runs_the_network_at_another_magnification():
    rgb = np.full((200, 260, 3), (150, 60, 140), np.uint8)
    rgb[0, 0] = 0
    cv2.circle(rgb, (170, 80), 40, (250, 250, 250), -1)  # a vacuole 80 px wide, off-centre
    truth = np.zeros((200, 260), np.uint8)
    cv2.circle(truth, (170, 80), 40, 1, -1)
    net = _WhiteFinder()
    half = predict_probability(net, rgb, scale=0.5)
    assert half.shape == (200, 260) and half.dtype == np.float32
    # the network saw the image at half size: 100 x 130 px plus its margins, as one valid tile
    assert net.shapes == [(1, valid_size_at_least(100 + 152), valid_size_at_least(130 + 152), 3)]
    # and the answer is back at the image's size and place
    assert np.mean((half >= 0.5) != truth.astype(bool)) < 0.01
    assert abs(int((half >= 0.5).sum()) - int(truth.sum())) < 0.03 * truth.sum()
    double = predict_probability(net, rgb, scale=2)
    assert double.shape == (200, 260) and np.mean((double >= 0.5) != truth.astype(bool)) < 0.005
    assert net.shapes[-1] == (1, valid_size_at_least(400 + 152), valid_size_at_least(520 + 152), 3)
    with pytest.raises(SteatosisError, match="scale must be within 0.05..4, got 0"):
        predict_probability(net, rgb, scale=0)
    with pytest.raises(SteatosisError, match="scale must be within 0.05..4, got 4.5"):
        predict_probability(net, rgb, scale=4.5)


def _direct_call(model, rgb, context=16, mode="reflect"):
    """The network run once on the whole image, reflect-padded by its margin plus ``context``
    and up to a valid size; the output cropped to the image. Returns (crop, whole output)."""
    from napari_steatosis.unet.patches import prepare_image

    img = prepare_image(rgb).astype(np.float32)
    h, w = img.shape[:2]
    m = 60 + context
    H, W = valid_size_at_least(h + 2 * m), valid_size_at_least(w + 2 * m)
    padded = np.pad(img, ((m, H - h - m), (m, W - w - m), (0, 0)), mode=mode)
    y = keras.ops.convert_to_numpy(model(padded[None], training=False))[0, :, :, 0]
    return y[context:context + h, context:context + w], y


def test_tiled_prediction_equals_one_direct_call_on_the_reflect_padded_image(model):
    rgb = np.random.default_rng(7).integers(0, 256, (300, 341, 3), dtype=np.uint8)
    expected, whole = _direct_call(model, rgb)
    for tile in (268, 524, 1036):  # 12 tiles, 2 x 2 tiles, one tile
        np.testing.assert_allclose(predict_probability(model, rgb, tile=tile), expected, atol=1e-5, err_msg=str(tile))
    # the comparison would see a tiling off by one pixel, or constant padding at the edges
    assert np.abs(whole[17:17 + 300, 16:16 + 341] - expected).max() > 1e-3
    assert np.abs(whole[16:16 + 300, 15:15 + 341] - expected).max() > 1e-3
    constant, _ = _direct_call(model, rgb, mode="constant")
    assert np.abs(constant - expected)[:, :20].max() > 1e-3


class _CornerNet(_WhiteFinder):
    """A stand-in network whose output at a pixel also reads the far corner of its 121 px field
    of view, so that the padding beyond the image edge shows in the answer."""

    def __call__(self, x, training=False):
        self.shapes.append(tuple(x.shape))
        return (x[:, 60:-60, 60:-60, :1] + 2 * x[:, :-120, :-120, 1:2]) / 765.0


def test_tiled_prediction_of_a_stand_in_network_is_exact_edges_included():
    from napari_steatosis.unet.patches import prepare_image

    rgb = np.random.default_rng(8).integers(0, 256, (230, 300, 3), dtype=np.uint8)
    net = _CornerNet()
    expected, _ = _direct_call(net, rgb)
    net.shapes.clear()
    done = []
    tiled = predict_probability(net, rgb, tile=268, progress=lambda d, t: done.append((d, t)))
    np.testing.assert_array_equal(tiled, expected)
    (th, tw), _, origins = tile_plan((230, 300), 268)
    assert set(net.shapes) == {(1, th, tw, 3)} and len(net.shapes) == len(origins) == 3 * 3
    assert done == [(k + 1, len(origins)) for k in range(len(origins))]
    np.testing.assert_array_equal(predict_probability(net, rgb), expected)  # one tile
    np.testing.assert_array_equal(predict_probability(net, prepare_image(rgb), prepared=True), expected)
    constant, _ = _direct_call(net, rgb, mode="constant")
    assert not np.array_equal(constant, expected)  # the check sees the padding
    white = _WhiteFinder()
    np.testing.assert_array_equal(predict_probability(white, rgb, tile=268),
                                  (prepare_image(rgb)[:, :, 0] > 200).astype(np.float32))


def test_prediction_cancels_between_tiles():
    from napari_steatosis.errors import Cancelled

    net = _WhiteFinder()
    calls = iter(range(100))
    with pytest.raises(Cancelled, match="^prediction cancelled$"):
        predict_probability(net, np.zeros((300, 300, 3), np.uint8), tile=268, cancelled=lambda: next(calls) >= 2)
    assert len(net.shapes) == 2  # two tiles ran, then it stopped


def test_tile_plan_covers_the_image_on_the_pooling_grid():
    for shape, tile in (((300, 341), 268), ((1000, 70), 524), ((2500, 1800), 1036)):
        (th, tw), (kh, kw), origins = tile_plan(shape, tile)
        assert is_valid_size(th) and is_valid_size(tw) and th <= valid_size_at_least(tile)
        rows = sorted({r for r, _ in origins})
        cols = sorted({c for _, c in origins})
        assert rows == list(range(0, shape[0], kh)) and cols == list(range(0, shape[1], kw))
        assert all(r % 16 == 0 and c % 16 == 0 for r, c in origins)
        assert th - 120 - 2 * 16 >= kh or len(rows) == 1  # kept block plus context fits in the output
    assert tile_plan((100, 100), 1036) == ((252, 252), (100, 100), [(0, 0)])
    # tiles of equal size, not full ones and a sliver: 4096 px in 5 x 832 (not 4 x 880 + 576), 988 px input
    (th, tw), (kh, kw), origins = tile_plan((4096, 1760), 1036)
    assert (th, kh, tw, kw) == (988, 832, 1036, 880) and len(origins) == 5 * 2
    with pytest.raises(ValueError, match="too small for a context"):
        tile_plan((1000, 1000), 124, context=16)


def test_fine_tuning_starts_from_the_given_model(tiny_dataset, tmp_path, model, capsys):
    from napari_steatosis.cli import main

    base = tmp_path / "base.keras"
    save_model(model, base, {"threshold": 0.5, "note": "base"})
    out = tmp_path / "tuned.keras"
    assert main(["train-unet", str(tiny_dataset.root), "--out", str(out), "--epochs", "1", "--patches-per-image", "4",
                 "--lr-grid", "1e-4", "--batch-size", "2", "--init", str(base)]) == 0
    _, card = load_model(out)
    assert card["fine_tuned_from"] == base.name and card["fine_tuned_from_card"]["note"] == "base"
    assert main(["train-unet", str(tiny_dataset.root), "--out", str(tmp_path / "x.keras"),
                 "--init", str(tmp_path / "missing.keras")]) == 2
    assert "missing.keras: model file not found" in capsys.readouterr().err


def test_max_minutes_is_a_time_budget(tiny_dataset, tmp_path, capsys):
    from napari_steatosis.cli import main

    out = tmp_path / "never.keras"
    assert main(["train-unet", str(tiny_dataset.root), "--out", str(out), "--epochs", "3", "--patches-per-image", "4",
                 "--lr-grid", "1e-3", "--batch-size", "2", "--max-minutes", "0.00001", "--seed", "1"]) == 2
    assert "training ended before one epoch was validated; raise --max-minutes" in capsys.readouterr().err
    assert not out.exists()


def test_training_and_validation_patients_are_disjoint_and_test_patients_untouched(small_dataset):
    from napari_steatosis.unet.train import load_splits

    train, val = load_splits(small_dataset)
    splits = small_dataset.splits(0)
    test = {r.stem for r in small_dataset if splits[r.stem] == "test"}
    assert test and not (set(train.stems) | set(val.stems)) & test
    assert set(train.stems) == {r.stem for r in small_dataset if splits[r.stem] == "train"}
    assert set(val.stems) == {r.stem for r in small_dataset if splits[r.stem] == "val"}
    assert train.patients and val.patients and not train.patients & val.patients
    assert len(train.images) == len(train.masks) == len(train.stems)


def test_device_description_names_the_backend_and_the_device(monkeypatch):
    """The line the CLI and the dock print: which backend runs the network, on which device."""
    import sys
    import types

    from napari_steatosis.unet.predict import device_description

    real = keras.backend.backend()
    assert device_description() == f"{real} on CPU"
    if real == "tensorflow":
        import tensorflow as tf

        monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind: [types.SimpleNamespace(name="/GPU:0")])
        assert device_description() == "tensorflow on GPU (/GPU:0)"
    import keras as real_keras

    monkeypatch.setattr(real_keras.backend, "backend", lambda: "jax")
    fake_jax = types.SimpleNamespace(devices=lambda: [types.SimpleNamespace(platform="gpu")])
    monkeypatch.setitem(sys.modules, "jax", fake_jax)
    assert device_description() == "jax on GPU"
    fake_jax.devices = lambda: [types.SimpleNamespace(platform="tpu")]
    assert device_description() == "jax on TPU"
    monkeypatch.setattr(real_keras.backend, "backend", lambda: "torch")
    cuda = types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda i: f"Fake {i}")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert device_description() == "torch on GPU (Fake 0)"
    cuda.is_available = lambda: False
    assert device_description() == "torch on CPU"
    monkeypatch.setitem(sys.modules, "torch", None)  # not installed: still a description, never an error
    assert device_description() == "torch on CPU"


def test_scaled_prediction_reports_progress_cancels_and_accepts_its_limits():
    from napari_steatosis.errors import Cancelled

    rgb = np.random.default_rng(9).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    net = _WhiteFinder()
    done = []
    predict_probability(net, rgb, tile=268, scale=1.5, progress=lambda d, t: done.append((d, t)))
    assert done and done[-1][0] == done[-1][1] == len(net.shapes) > 1  # tiles of the resized image
    with pytest.raises(Cancelled, match="^prediction cancelled$"):
        predict_probability(net, rgb, scale=0.5, cancelled=lambda: True)
    for scale in (0.05, 4):  # the limits are allowed
        assert predict_probability(net, rgb[:40, :40], scale=scale).shape == (40, 40)


def test_postprocessing_choice_can_keep_the_half_scale_pass_on():
    """The default model's script fixes the half-scale fusion on and chooses only threshold and
    completion; without fuse_only the choice may drop the fusion."""
    import cv2

    from napari_steatosis.unet.train import choose_postprocessing

    img = np.full((160, 200, 3), (150, 60, 140), np.uint8)
    cv2.circle(img, (100, 80), 30, (250, 250, 250), -1)
    mask = np.zeros(img.shape[:2], bool)
    cv2.circle(mask.view(np.uint8), (100, 80), 30, 1, -1)
    free = choose_postprocessing(_WhiteFinder(), [img], [mask], 1.0)
    fixed = choose_postprocessing(_WhiteFinder(), [img], [mask], 1.0, fuse_only=True)
    assert free["fuse_scales"] == [1.0] and fixed["fuse_scales"] == [1.0, 0.5]
    assert fixed["val_jaccard"] <= free["val_jaccard"]


def test_the_threshold_with_completion_is_searched_with_the_completion():
    """Completion takes a white region whole once the network covers enough of it, so its best threshold is
    not the network's alone: here the network's best (everything above ~0) also marks a quarter of a lumen;
    with completion a threshold that leaves the lumen out and still covers most of the vacuole is exact."""
    import cv2

    from napari_steatosis.unet.train import choose_postprocessing

    img = np.full((200, 260, 3), (150, 60, 140), np.uint8)
    prob = np.zeros(img.shape[:2], np.float32)
    mask = np.zeros(img.shape[:2], np.uint8)
    for x, r, p in ((70, 25, 0.7), (190, 15, 0.45)):  # the vacuole (69 % covered at 0.7), the lumen (25 % at 0.45)
        cv2.circle(img, (x, 100), 30, (250, 250, 250), -1)
        cv2.circle(prob, (x, 100), 30, 0.2 if x == 70 else 0.0, -1)
        cv2.circle(prob, (x, 100), r, p, -1)
    cv2.circle(mask, (70, 100), 30, 1, -1)
    chosen = choose_postprocessing(None, [img], [mask > 0], 0.08, probs=[prob])  # 0.08: no half-scale pass
    assert chosen["complete_min_cover"] is not None and 0.45 < chosen["threshold"] <= 0.7
    assert chosen["val_jaccard"] > 0.97 and chosen["fuse_scales"] == [1.0]


def test_a_block_core_at_half_scale_is_the_whole_window_at_half_scale_without_its_margins(model):
    """A slide block's x0.5 pass: only the core is predicted, the window's margins as its context."""
    from napari_steatosis.unet.patches import prepare_image
    from napari_steatosis.unet.predict import predict_core_resized

    win = prepare_image(np.random.default_rng(9).integers(0, 256, (480, 544, 3), dtype=np.uint8))
    top, left, h, w = 128, 96, 224, 320  # multiples of 32: the core starts the half-scale 16 px grid
    whole = predict_probability(model, win, prepared=True, scale=0.5)[top:top + h, left:left + w]
    core = predict_core_resized(model, win, (top, left, h, w), 0.5)
    assert core.shape == (h, w) and core.dtype == np.float32
    # the same pixels and grid; only the first row and column are interpolated from the core's own
    # first half-scale row and column (the whole window has the one before)
    np.testing.assert_allclose(core[1:, 1:], whole[1:, 1:], atol=1e-5)
    assert np.abs(core - whole).max() < 0.2
    net = _CornerNet()
    predict_core_resized(net, win, (top, left, h, w), 0.5)
    assert net.shapes == [(1, valid_size_at_least(112 + 2 + 152), valid_size_at_least(160 + 2 + 152), 3)]
    # a core at the window's edge: what the margins lack is mirrored as predict_probability mirrors the image
    edge = predict_core_resized(model, win, (0, 0, 480, 544), 0.5)
    np.testing.assert_allclose(edge[1:, 1:], predict_probability(model, win, prepared=True, scale=0.5)[1:, 1:],
                               atol=1e-5)


def test_tiles_with_no_needed_pixel_are_not_run():
    """A slide block's tiles that lie on glass: not run, 0 there, every other tile as before."""
    from napari_steatosis.unet.patches import prepare_image
    from napari_steatosis.unet.predict import padded_extent, predict_padded

    shape = (300, 341)
    rows, cols = padded_extent(shape, 268)
    padded = prepare_image(np.random.default_rng(3).integers(0, 256, (rows, cols, 3), dtype=np.uint8))
    net = _WhiteFinder()
    full = predict_padded(net, padded, shape, 268)
    (th, tw), (kh, kw), origins = tile_plan(shape, 268)
    needed = np.zeros(shape, bool)
    needed[kh + 5, 2 * kw + 7] = True  # one pixel, inside the tile at row 1, column 2
    needed[-1, -1] = True  # and the last pixel: the bottom-right tile
    net.shapes.clear()
    done = []
    part = predict_padded(net, padded, shape, 268, needed=needed, progress=lambda d, t: done.append(d))
    assert len(net.shapes) == 2 and done == list(range(1, len(origins) + 1))
    ran = np.zeros(shape, bool)
    ran[kh:2 * kh, 2 * kw:3 * kw] = ran[2 * kh:, 3 * kw:] = True  # of the 3 x 4 tiles
    np.testing.assert_array_equal(part[ran], full[ran])
    assert full[~ran].any() and not part[~ran].any()
