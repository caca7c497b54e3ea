"""The images labs actually hand the tool: phone JPEGs with an EXIF orientation, 12-/14-bit camera data in
16-bit TIFFs, and TIFFs that are not simple RGB. Each is read right or refused with one line naming the file."""

import csv
import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from napari_steatosis.cli import main
from napari_steatosis.data import read_image
from napari_steatosis.data.slides import open_slide
from napari_steatosis.errors import DatasetError, ImageConversionWarning

TILES = Path(os.environ.get("STEATOSIS_REAL_TILES", Path(__file__).resolve().parents[2] / "shared" / "real-tiles"))
RED = (200, 30, 30)


def phone_jpeg(path: Path, orientation: int) -> np.ndarray:
    """A 40x60 JPEG (as stored) with a red block near its stored top-right and an EXIF Orientation tag."""
    stored = np.full((40, 60, 3), 235, np.uint8)
    stored[2:14, 40:56] = RED
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    return stored


def rgb_tile(h=64, w=80) -> np.ndarray:
    """Stained-looking colours without the real tiles: pink tissue, white holes, a blue band."""
    rgb = np.full((h, w, 3), (220, 150, 190), np.uint8)
    rgb[10:25, 10:30] = 250
    rgb[40:50] = (60, 80, 200)
    return rgb


def read_quietly(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rgb = read_image(path)
    return rgb, [str(w.message) for w in caught if issubclass(w.category, ImageConversionWarning)]


# ------------------------------------------------------------------ EXIF orientation
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_phone_jpeg_is_read_upright_as_photo_viewers_show_it(tmp_path, orientation):
    phone_jpeg(tmp_path / "phone.jpg", orientation)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "phone.jpg")).convert("RGB"))
    rgb, _ = read_quietly(tmp_path / "phone.jpg")
    assert rgb.shape == upright.shape
    assert np.abs(rgb.astype(int) - upright).max() <= 2  # the same decoder's rounding


def test_the_command_line_writes_a_phone_jpeg_mask_in_the_upright_frame(tmp_path, capsys):
    phone_jpeg(tmp_path / "phone.jpg", 6)  # stored 40 tall x 60 wide; upright 60 x 40
    assert main(["fibrosis", str(tmp_path / "phone.jpg"), "--out", str(tmp_path / "out")]) == 0
    mask = cv2.imread(str(tmp_path / "out" / "phone.fibrosis.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (60, 40)


# ------------------------------------------------------------------ 12- and 14-bit camera data in 16 bits
def test_twelve_bit_data_in_a_16_bit_tiff_is_scaled_by_4095_and_said(tmp_path):
    rgb = rgb_tile()
    tifffile.imwrite(tmp_path / "cam12.tif", (rgb.astype(np.uint32) * 4095 // 255).astype(np.uint16),
                     photometric="rgb")
    got, said = read_quietly(tmp_path / "cam12.tif")
    assert np.abs(got.astype(int) - rgb).max() <= 1
    assert [m for m in said if str(tmp_path / "cam12.tif") in m and "12-bit" in m and "4095" in m], said


def test_a_tiff_stating_14_bits_per_sample_is_scaled_by_16383_even_when_dark(tmp_path):
    """The stated depth wins over the brightest value: a dim 14-bit image (never above 4000) stays dim."""
    rgb = rgb_tile()
    data = (rgb.astype(np.uint32) * 4000 // 255).astype(np.uint16)
    tifffile.imwrite(tmp_path / "cam14.tif", data, photometric="rgb", bitspersample=14)
    got, said = read_quietly(tmp_path / "cam14.tif")
    assert np.abs(got.astype(int) - data.astype(int) * 255 / 16383).max() <= 1
    assert any("states 14 bits per sample" in m for m in said), said


def test_full_range_16_bit_data_is_still_scaled_by_65535(tmp_path):
    rgb = rgb_tile()
    tifffile.imwrite(tmp_path / "full.tif", rgb.astype(np.uint16) * 257, photometric="rgb")
    got, said = read_quietly(tmp_path / "full.tif")
    assert np.array_equal(got, rgb)
    assert said == [f"{tmp_path / 'full.tif'}: 16-bit image scaled to 8 bits from 0..65535"]


def _fibrosis_pct(folder: Path, image: Path, stain: str) -> float:
    assert main(["fibrosis", str(image), "--out", str(folder), "--stain", stain]) == 0
    with open(folder / "fibrosis.csv", newline="") as fh:
        return float(next(csv.DictReader(fh))["fibrosis_pct"])


@pytest.mark.real
@pytest.mark.skipif(not (TILES / "tile02_PSR.jpg").is_file(), reason=f"{TILES} not present")
@pytest.mark.parametrize("bits", [12, 14])
def test_a_real_tile_saved_as_12_or_14_bit_gives_the_fibrosis_of_the_8_bit_tile(tmp_path, capsys, bits):
    """Scaled by 65535, 12-bit data was near-black and refused as grey-scale (14-bit data, a quarter as bright,
    got by on the percentile normalisation); scaled by its own range each gives the 8-bit tile's number."""
    rgb = read_image(TILES / "tile02_PSR.jpg")[:512, :512]
    cv2.imwrite(str(tmp_path / "psr8.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    full = 2**bits - 1
    tifffile.imwrite(tmp_path / "psr.tif", (rgb.astype(np.uint32) * full // 255).astype(np.uint16), photometric="rgb")
    eight = _fibrosis_pct(tmp_path / "o8", tmp_path / "psr8.png", "sirius-red")
    camera = _fibrosis_pct(tmp_path / "o", tmp_path / "psr.tif", "sirius-red")
    assert eight > 5  # a broad red septum crosses this corner
    assert camera == pytest.approx(eight, abs=0.2)
    assert re.search(rf"warning: .*psr\.tif: 16-bit image scaled to 8 bits from 0\.\.{full}: .*{bits}-bit",
                     capsys.readouterr().err)


# ------------------------------------------------------------------ TIFFs that are not simple RGB
def test_tiff_variants_that_hold_one_rgb_or_grey_image_are_decoded_by_their_tags(tmp_path):
    rgb = rgb_tile()
    grey = rgb[..., 1]
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "miniswhite.tif", 255 - grey, photometric="miniswhite")
    tifffile.imwrite(tmp_path / "extra.tif", np.dstack([rgb, np.full(grey.shape, 7, np.uint8)]), photometric="rgb",
                     extrasamples=["unspecified"])
    tifffile.imwrite(tmp_path / "alpha.tif", np.dstack([rgb, np.full(grey.shape, 255, np.uint8)]), photometric="rgb",
                     extrasamples=["unassalpha"])
    premultiplied = np.dstack([rgb // 2, np.full(grey.shape, 128, np.uint8)])  # half transparent, over white glass
    tifffile.imwrite(tmp_path / "assoc.tif", premultiplied, photometric="rgb", extrasamples=["assocalpha"])
    colours = np.zeros((3, 256), np.uint16)
    colours[:, 1] = rgb[0, 0].astype(np.uint16) * 257
    colours[:, 2] = rgb[45, 0].astype(np.uint16) * 257
    index = np.where(rgb[..., 2] == 200, 2, 1).astype(np.uint8)
    tifffile.imwrite(tmp_path / "palette.tif", index, photometric="palette", colormap=colours)
    tifffile.imwrite(tmp_path / "jpeg.tif", rgb, photometric="rgb", compression="jpeg")
    expect = {"planar": rgb, "miniswhite": np.dstack([grey] * 3), "extra": rgb, "alpha": rgb,
              "assoc": np.clip(rgb // 2 + 127, 0, 255),
              "palette": np.where(index[..., None] == 2, rgb[45, 0], rgb[0, 0]),
              "jpeg": rgb}
    for name, want in expect.items():
        got, said = read_quietly(tmp_path / f"{name}.tif")
        error = np.abs(got.astype(int) - want)
        assert got.shape == want.shape and (error.mean() < 3 if name == "jpeg" else error.max() <= 1), name
    _, said = read_quietly(tmp_path / "extra.tif")
    assert any("extra channel" in m and "not alpha" in m for m in said), said


@pytest.mark.parametrize("name, write, found", [
    ("stack.tif", lambda p, rgb: tifffile.imwrite(p, np.stack([rgb, rgb[::-1]]), imagej=True, photometric="rgb"),
     "an ImageJ hyperstack of several images"),
    ("hyper.tif", lambda p, rgb: tifffile.imwrite(p, np.stack([np.stack([rgb] * 2)] * 3), imagej=True,
                                                  photometric="rgb", metadata={"axes": "TZYXS"}),
     "(T=3, Z=2; axes TZYXS)"),
    ("zstack.tif", lambda p, rgb: tifffile.imwrite(p, np.stack([rgb] * 3), photometric="rgb"), "a stack of several"),
    ("cmyk.tif", lambda p, rgb: tifffile.imwrite(p, np.dstack([rgb, rgb[..., :1]]), photometric="separated"),
     "a CMYK (print) TIFF; save it as RGB"),
    ("ycbcr.tif", lambda p, rgb: tifffile.imwrite(p, rgb, photometric="ycbcr", subsampling=(1, 1)),
     "an uncompressed YCbCr TIFF"),
])
def test_tiffs_holding_more_than_one_image_or_print_colours_are_refused_in_one_line(tmp_path, capsys, name, write,
                                                                                   found):
    write(tmp_path / name, rgb_tile())
    with pytest.raises(DatasetError, match=re.escape(found)) as err:
        read_image(tmp_path / name)
    assert str(err.value).startswith(f"{tmp_path / name}: ") and "\n" not in str(err.value)
    assert main(["fibrosis", str(tmp_path / name), "--out", str(tmp_path / "out")]) == 2
    assert found in capsys.readouterr().err


def test_a_tiff_of_several_images_names_the_one_it_reads(tmp_path):
    rgb = rgb_tile()
    with tifffile.TiffWriter(tmp_path / "two.tif") as tif:
        tif.write(rgb, photometric="rgb")
        tif.write(rgb[:32, :40].copy(), photometric="rgb")
    got, said = read_quietly(tmp_path / "two.tif")
    assert np.array_equal(got, rgb)
    assert said == [f"{tmp_path / 'two.tif'}: the TIFF holds 2 images; reading the first (64x80x3, axes YXS)"]
    with tifffile.TiffWriter(tmp_path / "scenes.ome.tif", ome=True) as tif:  # two fields, not a pyramid
        tif.write(rgb[:32, :40].copy(), photometric="rgb")
        tif.write(rgb, photometric="rgb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_slide(tmp_path / "scenes.ome.tif", warn_no_mpp=False) as slide:
            assert slide.shape == (64, 80) and np.array_equal(slide.read(0, 0, 64, 80), rgb)
    said = [str(w.message) for w in caught]
    assert any(m.startswith(f"{tmp_path / 'scenes.ome.tif'}: the OME-TIFF holds 2 images; reading the largest")
               and "(80x64 px)" in m for m in said), said


def test_a_slide_of_several_focal_planes_says_which_one_it_reads(tmp_path):
    rgb = rgb_tile()
    tifffile.imwrite(tmp_path / "z.ome.tif", np.stack([rgb, 255 - rgb, rgb]), photometric="rgb", tile=(16, 16),
                     metadata={"axes": "ZYXS"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_slide(tmp_path / "z.ome.tif", warn_no_mpp=False) as slide:
            assert np.array_equal(slide.read(0, 0, 64, 80), rgb)
    said = [str(w.message) for w in caught if issubclass(w.category, ImageConversionWarning)]
    assert said == [f"{tmp_path / 'z.ome.tif'}: the slide holds several planes (Z=3; axes ZYXS); reading the first"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tiff_with_an_orientation_tag_is_read_upright_as_viewers_show_it(tmp_path, orientation):
    stored = rgb_tile(40, 60)
    stored[2:14, 40:56] = RED
    Image.fromarray(stored).save(tmp_path / "cam.tif", tiffinfo={274: orientation})
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "cam.tif")).convert("RGB"))
    got, _ = read_quietly(tmp_path / "cam.tif")
    assert np.array_equal(got, upright)


def test_the_napari_reader_passes_on_the_warning_that_an_ome_tiff_holds_several_images(tmp_path):
    """The slide reader napari uses hid every warning of opening a slide (meant for the missing pixel size, which
    the layer shows); that an OME-TIFF's other scenes are not shown must reach the user."""
    from napari_steatosis.reader import get_reader

    rgb = rgb_tile()
    with tifffile.TiffWriter(tmp_path / "fields.ome.tif", ome=True) as tif:
        tif.write(rgb, photometric="rgb")
        tif.write(rgb[:32, :40].copy(), photometric="rgb")
    path = str(tmp_path / "fields.ome.tif")
    with pytest.warns(ImageConversionWarning, match="the OME-TIFF holds 2 images; reading the largest"):
        ((levels, meta, kind),) = get_reader(path)(path)
    assert kind == "image" and np.array_equal(np.asarray(levels[0]), rgb)
    meta["metadata"]["slide"].close()


def test_a_slide_of_several_scenes_and_planes_says_both(tmp_path):
    rgb = rgb_tile()
    with tifffile.TiffWriter(tmp_path / "both.ome.tif", ome=True) as tif:
        tif.write(rgb[:32, :40].copy(), photometric="rgb")
        tif.write(np.stack([rgb, 255 - rgb, rgb]), photometric="rgb", tile=(16, 16), metadata={"axes": "ZYXS"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_slide(tmp_path / "both.ome.tif", warn_no_mpp=False) as slide:
            assert np.array_equal(slide.read(0, 0, 64, 80), rgb)
    said = [str(w.message) for w in caught if issubclass(w.category, ImageConversionWarning)]
    assert any("the OME-TIFF holds 2 images" in m for m in said), said
    assert any("the slide holds several planes (Z=3" in m for m in said), said


# ---- arrays of every pixel type brought to 8-bit RGB (to_rgb: files and napari layers alike) ----

def _rgb(arr, name="f.tif", bits=None):
    from napari_steatosis.data.images import to_rgb

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = to_rgb(np.asarray(arr), name, bits)
    return out, [str(w.message) for w in caught if issubclass(w.category, ImageConversionWarning)]


def test_bool_float_and_integer_pixels_become_8_bits_as_said():
    out, said = _rgb(np.array([[True, False]] * 2))
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3) and out[0, 0, 0] == 255 and out[0, 1, 0] == 0
    out, said = _rgb(np.full((2, 2, 3), 0.5))  # 0..1: scaled by 255, rounded
    assert out[0, 0, 0] == 128 and said == ["f.tif: floating-point image converted to 8 bits"]
    assert _rgb(np.full((2, 2, 3), 1.0))[0][0, 0, 0] == 255  # a top of exactly 1 is the 0..1 range
    out, _ = _rgb(np.array([[[1.5, 300.0, -4.0]]] * 2 * 2).reshape(2, 2, 3))  # 0..255 kept, clipped
    assert out[0, 0].tolist() == [2, 255, 0]
    with pytest.raises(DatasetError, match="f.tif: image contains NaN or infinite values"):
        _rgb(np.full((2, 2, 3), np.nan))
    out, said = _rgb(np.full((2, 2, 3), 255, np.int32))
    assert out.dtype == np.uint8 and out[0, 0, 0] == 255 and not said
    assert _rgb(np.zeros((2, 2, 3), np.int16))[0].max() == 0
    for bad in (-1, 256):
        with pytest.raises(DatasetError, match="f.tif: integer image of type int32 with values outside 0..255"):
            _rgb(np.full((2, 2, 3), bad, np.int32))
    with pytest.raises(DatasetError, match="f.tif: unsupported pixel type complex64"):
        _rgb(np.zeros((2, 2, 3), np.complex64))


def test_16_bit_ranges_round_to_the_nearest_8_bit_value():
    a = np.zeros((2, 2, 3), np.uint16)
    a[0, 0] = 4095  # 12-bit data: 0..4095
    a[0, 1] = 2048
    out, said = _rgb(a)
    assert out[0, 0, 0] == 255 and out[0, 1, 0] == 128  # 2048 * 255 / 4095 = 127.5, to the nearest
    assert said == ["f.tif: 16-bit image scaled to 8 bits from 0..4095: its brightest value is 4095, so it is read "
                    "as 12-bit camera data (a 16-bit scale would make it near-black)"]
    a[0, 0] = 4096  # one over 12 bits: 14-bit data
    out, said = _rgb(a)
    assert out[0, 0, 0] == round(4096 * 255 / 16383) and "0..16383" in said[0]
    out, said = _rgb(a, bits=12)  # the file says 12 bits: values above are clipped, not rescaled
    assert out[0, 0, 0] == 255 and said == ["f.tif: 16-bit image scaled to 8 bits from 0..4095: the TIFF states "
                                            "12 bits per sample"]


def test_channels_first_and_alpha():
    rgba = np.zeros((4, 5, 6), np.uint8)  # (C, H, W), transparent: white glass
    rgba[0] = 10
    out, said = _rgb(rgba)
    assert out.shape == (5, 6, 3) and (out == 255).all()
    assert any("RGBA image converted to RGB" in m for m in said)
    half = np.full((2, 3, 4), 100, np.uint8)
    half[..., 3] = 128  # half transparent over white
    assert _rgb(half)[0][0, 0, 0] == int(100 * 128 / 255 + 255 * (1 - 128 / 255) + 0.5)
    four = np.full((5, 2, 4), 7, np.uint8)  # 5 rows of 4 samples: not channels first
    assert _rgb(four)[0].shape == (5, 2, 3)
    with pytest.raises(DatasetError, match="f.tif: expected an RGB image, got an array of shape"):
        _rgb(np.zeros((2, 2, 5), np.uint8))


def test_the_pixel_size_a_tiff_states_in_each_convention(tmp_path):
    from napari_steatosis.data.images import tiff_pixel_size_um

    a = rgb_tile(16, 16)
    cases = {  # file -> what it states -> µm per pixel
        "fiji.tif": (dict(imagej=True, resolution=(4, 4), metadata={"unit": "micron"}), 0.25),
        "fiji_mu.tif": (dict(imagej=True, resolution=(4, 4), metadata={"unit": "\\u00B5m"}), 0.25),
        "fiji_mm.tif": (dict(imagej=True, resolution=(2000, 2000), metadata={"unit": "mm"}), 0.5),
        "fiji_pixels.tif": (dict(imagej=True, resolution=(4, 4), metadata={"unit": "pixel"}), None),
        "greek.ome.tif": (dict(metadata={"PhysicalSizeX": 0.3, "PhysicalSizeXUnit": "μm"}), 0.3),
        "nm.ome.tif": (dict(metadata={"PhysicalSizeX": 250, "PhysicalSizeXUnit": "nm"}), 0.25),
        "cm.tif": (dict(resolution=(20000, 20000), resolutionunit="CENTIMETER"), 0.5),
        "inch.tif": (dict(resolution=(50800, 50800), resolutionunit="INCH"), 0.5),
        "nounit.tif": (dict(resolution=(4, 4), resolutionunit="NONE"), None),
        "plain.tif": (dict(), None),
    }
    for name, (kwargs, want) in cases.items():
        tifffile.imwrite(tmp_path / name, a, photometric="rgb", **kwargs)
        got = tiff_pixel_size_um(tmp_path / name)
        assert got == (pytest.approx(want) if want else None), name
    cv2.imwrite(str(tmp_path / "x.png"), a)
    assert tiff_pixel_size_um(tmp_path / "x.png") is None and tiff_pixel_size_um(tmp_path / "gone.tif") is None


def test_a_fiji_calibrated_tiff_is_measured_in_micrometres(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "fiji.tif", rgb_tile(128, 160), photometric="rgb", imagej=True,
                     resolution=(2, 2), metadata={"unit": "micron"})
    assert main(["quantify", str(tmp_path / "fiji.tif"), "--out", str(tmp_path / "o")]) == 0
    row = next(csv.DictReader(open(tmp_path / "o" / "per_image.csv")))
    assert float(row["pixel_size_um"]) == pytest.approx(0.5)


def test_a_slide_states_its_pixel_size_by_the_same_rules(tmp_path):
    """The slide reader and the plain-image reader read OME and resolution tags with one helper: an OME slide
    whose unit is spelt with a Greek mu has its pixel size too."""
    tifffile.imwrite(tmp_path / "mu.ome.tif", rgb_tile(64, 64), photometric="rgb", tile=(16, 16),
                     metadata={"PhysicalSizeX": 0.3, "PhysicalSizeXUnit": "μm"})
    with open_slide(tmp_path / "mu.ome.tif", warn_no_mpp=False) as slide:
        assert slide.mpp == pytest.approx(0.3)
