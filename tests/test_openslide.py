"""The ``[openslide]`` extra: slides OpenSlide opens (MIRAX .mrxs, .vms, .svslide, DICOM) go through the
same blocks as tifffile's. We have no MIRAX file to ship, so the slide here is an Aperio-style
2-level tiled TIFF named ``slide.vms``: the suffix sends it down the OpenSlide path, and OpenSlide,
which identifies a format by its content, reads it as Aperio. The same bytes named ``.svs`` go
through tifffile and must give the same pixels, pixel size, masks and numbers.
"""

import cv2
import numpy as np
import pytest
import tifffile

from napari_steatosis.cli import main
from napari_steatosis.data.slides import open_slide

openslide = pytest.importorskip("openslide")

DESC = "Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] (256x256) JPEG/RGB Q=90|AppMag = 20|MPP = {mpp}"


@pytest.fixture
def level0():
    rng = np.random.default_rng(3)
    rgb = np.full((1100, 1500, 3), (200, 120, 160), np.uint8)  # red-purple tissue
    for _ in range(30):
        c = (int(rng.integers(0, 1500)), int(rng.integers(0, 1100)))
        cv2.circle(rgb, c, int(rng.integers(6, 35)), (245, 244, 246), -1)  # white vacuoles
    for _ in range(12):  # blue collagen
        p, q = rng.integers(0, 1100, 2), rng.integers(0, 1100, 2)
        cv2.line(rgb, (int(p[0]), int(p[1])), (int(q[0] + 300), int(q[1])), (60, 90, 200), 9)
    rgb[:, :200] = 242  # glass
    return rgb


def _aperio(path, level0):
    h, w = level0.shape[:2]
    level1 = cv2.resize(level0, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    with tifffile.TiffWriter(path) as tw:
        tw.write(level0, tile=(256, 256), compression="jpeg", photometric="rgb", metadata=None,
                 description=DESC.format(w=w, h=h, mpp="0.5000"))
        tw.write(level1, tile=(256, 256), compression="jpeg", photometric="rgb", metadata=None,
                 description=DESC.format(w=w // 4, h=h // 4, mpp="2.0000"))
    return path


def test_openslide_levels_pixel_size_and_pixels(tmp_path, level0):
    path = _aperio(tmp_path / "slide.vms", level0)
    pages = [tifffile.imread(path, key=k) for k in (0, 1)]
    with open_slide(path) as s:
        assert s.vendor == "aperio" and s.mpp == pytest.approx(0.5)
        assert s.level_shapes == [(1100, 1500), (275, 375)]
        np.testing.assert_array_equal(s.read(300, 700, 812, 1211), pages[0][300:812, 700:1211])
        # a region of level 1 away from the origin: its level-0 location is 4x its own
        np.testing.assert_array_equal(s.read(101, 57, 230, 300, level=1), pages[1][101:230, 57:300])
        lv = s.dask_levels()
        assert [a.shape for a in lv] == [(1100, 1500, 3), (275, 375, 3)] and lv[0].dtype == np.uint8
        np.testing.assert_array_equal(np.asarray(lv[1][40:200, 10:370]), pages[1][40:200, 10:370])


def test_a_slide_read_by_openslide_gives_the_numbers_tifffile_gives(tmp_path, level0, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    via_openslide = _aperio(tmp_path / "a" / "slide.vms", level0)
    via_tifffile = tmp_path / "b" / "slide.svs"
    via_tifffile.write_bytes(via_openslide.read_bytes())
    for name, src in (("a", via_openslide), ("b", via_tifffile)):
        assert main(["fibrosis", str(src), "--out", str(tmp_path / f"out-{name}")]) in (0, None)
    masks = [tifffile.imread(tmp_path / f"out-{n}" / "slide.fibrosis.ome.tif") for n in "ab"]
    assert masks[0].shape == (1100, 1500) and 0 < (masks[0] > 0).mean() < 0.5
    np.testing.assert_array_equal(masks[0], masks[1])
    rows = [(tmp_path / f"out-{n}" / "fibrosis.csv").read_text().splitlines()[1].split(",")[2:] for n in "ab"]
    assert rows[0] == rows[1] and float(rows[0][0]) > 0
