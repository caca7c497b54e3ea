"""OpenVINO runs the paper's network read from its .keras file: the same numbers as Keras.

Compared with Keras in this process, so these tests carry the ``tensorflow`` marker
(scripts/run_tests.sh runs them apart from the napari viewer tests).
"""

import importlib.util
import json
import os
import zipfile

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytestmark = [pytest.mark.tensorflow,
              pytest.mark.skipif(importlib.util.find_spec("keras") is None or importlib.util.find_spec("openvino") is None,
                                 reason="keras or openvino not installed")]

from napari_steatosis.errors import SteatosisError  # noqa: E402
from napari_steatosis.unet.card import load_model, load_network, save_model  # noqa: E402
from napari_steatosis.unet.openvino_net import NotThePaperNet, OpenVinoUNet, read_unet  # noqa: E402


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """The paper's network with every batch normalisation away from its identity start, so that folding
    it into the convolutions (scale, shift, epsilon) is tested, saved as train-unet saves it."""
    import keras

    from napari_steatosis.unet.model import build_unet

    keras.utils.set_random_seed(3)
    model = build_unet()
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.3, c),
                               rng.uniform(0.2, 2.0, c)])
    path = tmp_path_factory.mktemp("ov") / "m.keras"
    save_model(model, path, {"threshold": 0.5})
    return path


@pytest.mark.parametrize("shape", [(2, 268, 268, 3), (1, 316, 348, 3)])
def test_openvino_gives_keras_numbers(model_file, shape):
    keras_model, _ = load_model(model_file)
    x = np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)
    want = np.asarray(keras_model(x, training=False))
    got = OpenVinoUNet(model_file)(x)
    assert got.shape == want.shape == (shape[0], shape[1] - 120, shape[2] - 120, 1)
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.ptp(want) > 0.05  # not a flat output that any graph would match


def test_shipped_model_gives_keras_numbers_on_a_real_looking_tile():
    from napari_steatosis.data.images import read_image
    from napari_steatosis.sample import sample_record
    from napari_steatosis.unet import default_model
    from napari_steatosis.unet.predict import predict_probability

    ds, rec = sample_record("he")
    rgb = read_image(ds.image_path(rec))[:300, :330]
    keras_model, _ = load_model(default_model.path())
    net, card = load_network(default_model.path())
    assert isinstance(net, OpenVinoUNet) and card["threshold"] > 0
    np.testing.assert_allclose(predict_probability(net, rgb), predict_probability(keras_model, rgb), atol=2e-5)


def _with_config(src, dst, edit):
    with zipfile.ZipFile(src) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    config = json.loads(parts["config.json"])
    edit(config)
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    return dst


def _set(name, **values):
    def edit(config):
        layer = next(la for la in config["config"]["layers"] if la["config"]["name"] == name)
        layer["config"].update(values)
    return edit


# same layers and arrays, one setting changed: OpenVINO's graph would compute something else, silently
@pytest.mark.parametrize("name, values, said", [
    ("down2a_conv", dict(dilation_rate=[2, 2]), "down2a_conv: dilation_rate"),
    ("up1a_relu", dict(negative_slope=0.1), "up1a_relu: negative_slope"),  # a leaky ReLU
    ("down3b_relu", dict(max_value=6.0), "down3b_relu: max_value"),
    ("up2_crop", dict(cropping=[[5, 5], [5, 5]]), "up2_crop: cropping"),
    ("down1_pool", dict(pool_size=[3, 3]), "down1_pool: pool_size"),
    ("up3_upsample", dict(interpolation="bilinear"), "up3_upsample: interpolation"),
])
def test_settings_that_are_not_the_papers_are_refused(model_file, tmp_path, name, values, said):
    with pytest.raises(NotThePaperNet, match=said):
        read_unet(_with_config(model_file, tmp_path / "other.keras", _set(name, **values)))


def test_a_network_that_is_not_the_papers_is_left_to_keras(model_file, tmp_path, monkeypatch):
    import keras

    other = _with_config(model_file, tmp_path / "dilated.keras", _set("down2a_conv", dilation_rate=[2, 2]))
    net, _ = load_network(other)
    assert isinstance(net, keras.Model)  # auto: Keras loads it
    monkeypatch.setenv("STEATOSIS_RUNTIME", "openvino")
    with pytest.raises(SteatosisError, match="dilated.keras: OpenVINO runs only the paper's network"):
        load_network(other)


def test_weights_of_the_wrong_shape_are_refused(model_file, tmp_path):
    def widen(config):
        layer = next(la for la in config["config"]["layers"] if la["config"]["name"] == "up4b_conv")
        layer["config"]["filters"] = 12

    def rename(config):
        config["config"]["layers"][5]["config"]["name"] = "something_else"

    # the config says one thing, the arrays another: the layer list check or the shape check must see it
    with pytest.raises(NotThePaperNet):
        read_unet(_with_config(model_file, tmp_path / "renamed.keras", rename))
    weights, configs = read_unet(model_file)
    assert weights["up4b_conv"][0].shape == (3, 3, 10, 10) and configs["up4b_conv"]["filters"] == 10
    assert set(weights) >= {"input_bn", "down1a_conv", "down1a_bn", "bottleneck_conv3", "probability"}


def test_tiles_of_many_sizes_share_one_network_and_a_wrong_size_is_named(model_file):
    import psutil

    net = OpenVinoUNet(model_file)
    x = np.random.default_rng(2).uniform(0, 255, (1, 524, 524, 3)).astype(np.float32)
    first = net(x)
    proc = psutil.Process()
    before = proc.memory_info().rss
    for n in (508, 492, 476, 460, 444, 428):  # a network compiled per shape kept ~80 MB each at these sizes
        assert net(x[:, :n, :n]).shape == (1, n - 120, n - 120, 1)
    assert proc.memory_info().rss - before < 150e6
    np.testing.assert_array_equal(net(x), first)  # the same numbers after other sizes ran
    with pytest.raises(ValueError, match=r"16k \+ 12 px .* got \(1, 500, 524, 3\)"):
        net(x[:, :500])
    with pytest.raises(ValueError, match=r"got \(1, 524, 500, 3\)"):  # the width too
        net(x[:, :, :500])


def test_calls_from_several_threads_take_turns(model_file):
    """The napari worker and a slide's block threads may share one network: its one request must not be
    run twice at once (OpenVINO refuses a busy request, or the outputs would mix)."""
    from concurrent.futures import ThreadPoolExecutor

    net = OpenVinoUNet(model_file)
    xs = [np.random.default_rng(k).uniform(0, 255, (1, 268 + 16 * (k % 3), 268, 3)).astype(np.float32)
          for k in range(12)]
    alone = [net(x) for x in xs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(net, xs))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)
