"""napari side of slides: the reader contribution and the sample slide (viewer tests: no TensorFlow here)."""

import numpy as np
import pytest
import tifffile

from napari_steatosis.data.pyramid import write_pyramid
from napari_steatosis.reader import get_reader
from napari_steatosis.sample import sample_slide_path
from test_slides import PixelReadCounter


def test_reader_gives_lazy_levels_and_reads_no_pixel(monkeypatch):
    path = sample_slide_path()
    counter = PixelReadCounter(monkeypatch)
    ((levels, kwargs, kind),) = get_reader(str(path))(str(path))
    assert kind == "image" and kwargs["multiscale"] and kwargs["rgb"]
    assert [lv.shape for lv in levels] == [(2560, 3584, 3), (1280, 1792, 3), (640, 896, 3), (320, 448, 3)]
    assert kwargs["scale"] == pytest.approx((0.9, 0.9)) and kwargs["units"] == ("µm", "µm")
    assert counter.n == 0 and not isinstance(levels[0], np.ndarray)
    assert levels[3][:8, :8].compute().shape == (8, 8, 3) and counter.n > 0


def test_reader_leaves_plain_images_to_napari(tmp_path):
    tifffile.imwrite(tmp_path / "strips.tif", np.zeros((64, 64, 3), np.uint8))
    assert get_reader(str(tmp_path / "strips.tif")) is None
    assert get_reader(str(tmp_path / "x.png")) is None


def test_open_a_slide_and_its_mask_in_napari(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(sample_slide_path()), plugin="napari-steatosis")
    assert layer.multiscale and layer.rgb and len(layer.data) == 4
    assert tuple(layer.scale) == pytest.approx((0.9, 0.9)) and viewer.scale_bar.visible
    mask = np.zeros((700, 900), np.uint8)
    mask[100:300, 200:500] = 255
    write_pyramid(tmp_path / "liver.steatosis.ome.tif", mask.shape, lambda r0, r1, c0, c1: mask[r0:r1, c0:c1], mpp=0.9)
    (labels,) = viewer.open(str(tmp_path / "liver.steatosis.ome.tif"), plugin="napari-steatosis")
    assert labels.multiscale and labels.name == "liver steatosis"
    for lay in (layer, labels):  # napari's dask cache is left out: it keeps no tile read, panning does not grow memory
        with lay.dask_optimized_slicing() as (_, cache):
            assert cache is None
    assert int(np.asarray(labels.data[0][150, 300])) == 1 and int(np.asarray(labels.data[1][10, 10])) == 0


def test_sample_slide_is_in_file_open_sample(make_napari_viewer):
    viewer = make_napari_viewer()
    layers = viewer.open_sample("napari-steatosis", "slide")
    assert len(layers) == 1 and layers[0].multiscale and layers[0].data[0].shape == (2560, 3584, 3)
