"""Whole-slide images: lazy reading, pyramidal OME-TIFF output, block processing and the CLI on slides."""

import csv
import importlib.util
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from napari_steatosis.cli import main
from napari_steatosis.data.pyramid import write_pyramid
from napari_steatosis.data.slides import PixelSizeWarning, image_stem, is_slide, open_slide
from napari_steatosis.data.sources import collect_images
from napari_steatosis.data.synthetic_slide import write_synthetic_slide
from napari_steatosis.errors import DatasetError
from napari_steatosis.export import geojson_to_mask
from napari_steatosis.fibrosis import fibrosis_mask, preset
from napari_steatosis.measure import split_vacuoles
from napari_steatosis.preprocess import tissue_mask
from napari_steatosis.slide_blocks import MethodSpec
from napari_steatosis.slide_run import analyse_slide

SVS = Path(__file__).parent / "data" / "CMU-1-Small-Region.svs"


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory):
    """A 1024 x 1536 synthetic pyramidal OME-TIFF (JPEG tiles, mpp 0.9, glass quarter and border)."""
    path = tmp_path_factory.mktemp("slide") / "liver.ome.tif"
    write_synthetic_slide(path, (1024, 1536), seed=3, field=512, pool=2)
    return path


class PixelReadCounter:
    """Counts reads of tile data by tifffile's zarr store (and whole-page reads)."""

    def __init__(self, monkeypatch):
        self.n = 0
        for owner, name in ((tifffile.tifffile.FileCache, "read"), (tifffile.TiffPage, "asarray")):
            monkeypatch.setattr(owner, name, self._counting(getattr(owner, name)))

    def _counting(self, original):
        def counting(*args, **kwargs):
            self.n += 1
            return original(*args, **kwargs)

        return counting


def test_svs_size_pixel_size_and_pixels():
    with open_slide(SVS) as s:
        assert s.vendor == "svs" and s.shape == (2967, 2220) and s.mpp == pytest.approx(0.499)
        region = s.read(1000, 500, 1100, 700)
    full = tifffile.imread(SVS)
    assert region.shape == (100, 200, 3) and np.array_equal(region, full[1000:1100, 500:700])
    assert is_slide(SVS) and image_stem(SVS) == "CMU-1-Small-Region"


def test_opening_reads_no_pixel(slide_path, monkeypatch):
    counter = PixelReadCounter(monkeypatch)
    with open_slide(SVS) as s, open_slide(slide_path) as t:
        assert s.shape == (2967, 2220) and t.level_shapes == [(1024, 1536), (512, 768), (256, 384)]
        assert t.mpp == pytest.approx(0.9)
        assert counter.n == 0
        t.read(0, 0, 10, 10)
    assert counter.n >= 1  # the counter does see a tile read


def test_stem_drops_ome_and_plain_images_stay_images(slide_path, tmp_path):
    from napari_steatosis.data.images import write_image

    write_image(tmp_path / "plain.png", np.full((80, 90, 3), 200, np.uint8))
    tifffile.imwrite(tmp_path / "strips.tif", np.full((80, 90, 3), 200, np.uint8))
    (tmp_path / "slide.ome.tif").write_bytes(slide_path.read_bytes())
    (tmp_path / ".slide.steatosis.ome.1234.tmp.tif").write_bytes(b"half written")
    found = {s.stem: s.is_slide for s in collect_images([tmp_path])}
    assert found == {"plain": False, "strips": False, "slide": True}


def test_pyramid_is_tiled_ome_with_levels_and_pixel_size(tmp_path):
    mask = np.zeros((1100, 1300), np.uint8)
    mask[100:700, 200:1250] = 255
    mask[::7, ::5] = 255
    path = write_pyramid(tmp_path / "m.steatosis.ome.tif", mask.shape, lambda r0, r1, c0, c1: mask[r0:r1, c0:c1], mpp=0.25)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and 'PhysicalSizeX="0.25"' in tif.ome_metadata
        s = tif.series[0]
        assert [lv.shape for lv in s.levels] == [(1100, 1300), (550, 650), (275, 325)]
        assert tif.pages[0].is_tiled and tif.pages[0].tilewidth == 512
        assert np.array_equal(s.levels[0].asarray(), mask)
        assert np.array_equal(s.levels[1].asarray(), mask[::2, ::2])
        assert set(np.unique(s.levels[2].asarray())) <= {0, 255}
    assert not list(tmp_path.glob(".*"))  # no temporary file or folder left


def test_killed_writer_leaves_no_half_written_output(tmp_path):
    target = tmp_path / "out.steatosis.ome.tif"
    target.write_bytes(b"previous result")
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        from napari_steatosis.data.pyramid import write_pyramid
        def band(r0, r1, c0, c1):
            if r0 >= 1024:
                print("half", flush=True)
                time.sleep(60)
            return np.full((r1 - r0, c1 - c0), 255, np.uint8)
        write_pyramid({str(target)!r}, (4000, 2000), band)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "half"
    finally:
        proc.kill()
        proc.wait()
    assert target.read_bytes() == b"previous result"
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert all(p.name.startswith(".") for p in leftovers)  # only hidden temporaries, never a readable result
    assert [s.stem for s in collect_images([tmp_path])] == ["out.steatosis"]  # temporaries are never inputs


def test_fibrosis_on_blocks_equals_the_whole_image(slide_path, tmp_path):
    with open_slide(slide_path) as s:
        rgb = s.read(0, 0, *s.shape)
    t = preset("trichrome")
    res = analyse_slide(slide_path, tmp_path, MethodSpec(None, fibrosis=t.to_dict()), block=384)
    assert res["blocks"] < 12 and res["glass_blocks"] >= 1  # the glass quarter is skipped
    tissue = tissue_mask(rgb)
    whole = fibrosis_mask(rgb, t, tissue)
    blocks = tifffile.imread(tmp_path / "liver.fibrosis.ome.tif") > 0
    assert np.array_equal(blocks, whole)
    assert res["tissue_px"] == tissue.sum() and res["fibrosis_px"] == whole.sum()
    assert res["tissue_mm2"] == pytest.approx(tissue.sum() * 0.81 / 1e6, rel=1e-4)


def test_default_blocks_and_result_tiles(slide_path, tmp_path):
    from napari_steatosis.slide_blocks import BLOCK, chunk_side, default_block

    assert default_block(MethodSpec("unet")) == default_block(MethodSpec(None, fibrosis={})) == BLOCK == 1760
    assert default_block(MethodSpec("classical", "m.skops")) == 2 * BLOCK  # its halo a smaller share
    assert chunk_side(BLOCK) == chunk_side(2 * BLOCK) == 880
    res = analyse_slide(slide_path, tmp_path, MethodSpec(None, fibrosis=preset("trichrome").to_dict()))
    assert res["blocks"] + res["glass_blocks"] == 1  # 1024 x 1536 px: one block of 1760
    with tifffile.TiffFile(tmp_path / "liver.fibrosis.ome.tif") as tif:  # tiles = the block arrays' chunks
        assert (tif.pages[0].tilewidth, tif.pages[0].tilelength) == (880, 880)
        assert tif.series[0].levels[1].asarray().shape == (512, 768)


@pytest.fixture(scope="module")
def classical_model(small_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("cls") / "model.skops"
    assert main(["train-classical", str(small_dataset.root), "--out", str(out), "--n-iter", "2"]) == 0
    return out


def test_classical_on_blocks_matches_the_whole_image(slide_path, classical_model, tmp_path):
    from napari_steatosis.classical.model import load_classifier
    from napari_steatosis.classical.pipeline import predict_steatosis

    with open_slide(slide_path) as s:
        rgb = s.read(0, 0, *s.shape)
    tissue = tissue_mask(rgb)
    whole = predict_steatosis(load_classifier(classical_model), rgb).mask & tissue
    res = analyse_slide(slide_path, tmp_path, MethodSpec("classical", str(classical_model)), vacuoles=True, block=384)
    blocks = tifffile.imread(tmp_path / "liver.steatosis.ome.tif") > 0
    # candidates crossing block borders are decided whole (halo); only white regions longer than the halo
    # decide differently: the glass along the tissue edge, which one image sees touching its border
    inner = cv2.erode(tissue.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (65, 65))) > 0
    assert ((blocks != whole) & inner).sum() <= 1e-3 * (whole & inner).sum()
    assert (blocks != whole).sum() <= 0.03 * whole.sum()
    # vacuoles split with the neighbours' mask around each block: the same count as one split of the whole mask
    _, n_whole = split_vacuoles(blocks)
    assert abs(res["n_vacuoles"] - n_whole) <= max(2, 0.01 * n_whole)
    # each vacuole once: the table's centroids are distinct and the outlines cover the mask exactly
    rows = (tmp_path / "liver.vacuoles.csv").read_text().splitlines()[1:]
    assert len(rows) == res["n_vacuoles"]
    centroids = {tuple(r.split(",")[3:5]) for r in rows}
    assert len(centroids) == len(rows)
    geo = json.loads((tmp_path / "liver.steatosis.geojson").read_text())
    assert np.array_equal(geojson_to_mask(geo, blocks.shape), blocks)


def test_the_plan_reads_the_statistics_level_once_and_measures_as_before(slide_path, classical_model, tmp_path,
                                                                           monkeypatch):
    """The thumbnail (stain, tissue), the grey limits and the classical white levels come from one read of
    the statistics level (level 0 of this small slide), and equal those of the whole image read at once."""
    from napari_steatosis import slide_blocks
    from napari_steatosis.classical.model import load_classifier
    from napari_steatosis.classical.white import level_histograms, levels_of
    from napari_steatosis.data import slides
    from napari_steatosis.preprocess import grey_histogram, histogram_percentiles, percentile_normalize

    with open_slide(slide_path) as s:
        whole = s.read(0, 0, *s.shape)
        coarsest = s.read(0, 0, *s.level_shapes[-1], level=len(s.levels) - 1)
    limits = histogram_percentiles(grey_histogram(whole))
    p = load_classifier(classical_model).candidate_params
    assert p.local_level  # the classical plan measures the slide's white levels too
    reads = []
    original = slides.Slide.read
    monkeypatch.setattr(slides.Slide, "read", lambda self, *a, **k: reads.append(repr((a, k))) or original(self, *a, **k))
    for spec in (MethodSpec("classical", str(classical_model)), MethodSpec(None, fibrosis=preset("trichrome").to_dict())):
        reads.clear()
        plan = slide_blocks.plan_slide(slide_path, tmp_path / str(spec.steatosis), spec, 512)
        assert reads and len(reads) == len(set(reads)), reads  # no band read twice
        assert plan.limits == limits
        np.testing.assert_array_equal(plan.tissue, tissue_mask(whole))
    plan = slide_blocks.plan_slide(slide_path, tmp_path / "c", MethodSpec("classical", str(classical_model)), 512)
    assert plan.white_levels == levels_of(*level_histograms(percentile_normalize(whole, limits=limits), p.sat_max,
                                                             p.val_min))
    monkeypatch.setattr(slide_blocks, "STATS_PIXELS", 1000)  # no level that small: the coarsest, read per pass
    plan = slide_blocks.plan_slide(slide_path, tmp_path / "n", MethodSpec("classical", str(classical_model)), 512)
    lim = histogram_percentiles(grey_histogram(coarsest))
    assert plan.limits == lim and plan.white_levels == levels_of(
        *level_histograms(percentile_normalize(coarsest, limits=lim), p.sat_max, p.val_min))


def test_cli_on_a_folder_of_slides_and_images(slide_path, classical_model, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "liver.ome.tif").write_bytes(slide_path.read_bytes())
    pink = np.array([215, 150, 185], np.uint8)  # stained (a grey slide is refused)
    write_pyramid(folder / "nompp.ome.tif", (600, 700), lambda r0, r1, c0, c1: np.broadcast_to(pink, (r1 - r0, c1 - c0, 3)),
                  rgb=True, compression="jpeg")
    from napari_steatosis.data.images import write_image

    with open_slide(slide_path) as s:
        write_image(folder / "crop.png", s.read(500, 0, 800, 400))
    out = tmp_path / "q"
    assert main(["quantify", str(folder), "--out", str(out), "--method", "classical", "--model", str(classical_model),
                 "--fibrosis", "trichrome"]) == 0
    err = capsys.readouterr().err
    assert err.count("states no pixel size") == 1 and "nompp.ome.tif" in err
    lines = (out / "per_image.csv").read_text().splitlines()
    header, rows = lines[0].split(","), [dict(zip(lines[0].split(","), r.split(","))) for r in lines[1:]]
    by = {Path(r["image"]).name: r for r in rows}
    assert set(by) == {"liver.ome.tif", "nompp.ome.tif", "crop.png"} and "tissue_mm2" in header
    assert float(by["liver.ome.tif"]["tissue_mm2"]) > 0 and by["nompp.ome.tif"]["tissue_mm2"] == ""
    assert int(by["liver.ome.tif"]["n_vacuoles"]) > 10 and float(by["liver.ome.tif"]["fibrosis_pct"]) > 0
    assert {p.name for p in out.iterdir()} >= {"liver.steatosis.ome.tif", "liver.fibrosis.ome.tif", "liver.vacuoles.csv",
                                                "liver.steatosis.geojson", "crop.steatosis.png"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    with open_slide(out / "liver.steatosis.ome.tif") as res:
        assert res.shape == (1024, 1536) and res.mpp == pytest.approx(0.9)
    assert main(["fibrosis", str(folder / "liver.ome.tif"), "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "liver.fibrosis.ome.tif").is_file()


def test_sample_writes_a_slide_with_its_truth(tmp_path):
    assert main(["sample", str(tmp_path), "--slide", "600x900", "--name", "big", "--seed", "2"]) == 0
    with open_slide(tmp_path / "big.ome.tif") as s:
        assert s.shape == (600, 900) and s.mpp == pytest.approx(0.9) and s.level_shapes[-1] == (300, 450)
        rgb = s.read(0, 0, 600, 900)
    truth = tifffile.imread(tmp_path / "truth" / "big.steatosis.ome.tif") > 0
    glass = (rgb.min(axis=2) > 225)
    assert glass[:10].all() and glass[50:250, 700:850].mean() > 0.95  # the border and the top-right quarter
    assert truth.any() and not truth[:10].any() and not truth[50:250, 700:850].any()
    with pytest.raises(SystemExit):
        main(["sample", str(tmp_path), "--slide", "10x20"])


def test_bad_slides_are_named(tmp_path, monkeypatch):
    bad = tmp_path / "broken.svs"
    bad.write_bytes(b"II*\x00 this is not a slide")
    with pytest.raises(DatasetError, match="broken.svs"):
        open_slide(bad)
    assert main(["fibrosis", str(bad), "--out", str(tmp_path / "o")]) == 2
    (tmp_path / "x.mrxs").write_bytes(b"x")
    if importlib.util.find_spec("openslide") is not None:  # the [openslide] extra (installed for the tests)
        with pytest.raises(DatasetError, match="x.mrxs: OpenSlide cannot open it"):
            open_slide(tmp_path / "x.mrxs")
    monkeypatch.setitem(sys.modules, "openslide", None)  # without the extra: what to install
    with pytest.raises(DatasetError, match=r"x.mrxs: .mrxs slides need OpenSlide: pip install 'napari-steatosis\[openslide\]'"):
        open_slide(tmp_path / "x.mrxs")


def test_no_pixel_size_is_said_once(tmp_path):
    write_pyramid(tmp_path / "n.ome.tif", (300, 300), lambda r0, r1, c0, c1: np.full((r1 - r0, c1 - c0, 3), 200, np.uint8),
                  rgb=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        open_slide(tmp_path / "n.ome.tif").close()
    assert [w.category for w in caught] == [PixelSizeWarning]


@pytest.mark.tensorflow
def test_unet_on_blocks_matches_the_whole_image(slide_path, tmp_path):
    from napari_steatosis.unet.detector import Detector

    with open_slide(slide_path) as s:
        rgb = s.read(0, 0, *s.shape)
    det = Detector.load()
    tissue = tissue_mask(rgb)
    prob = det.probability(rgb)
    res = analyse_slide(slide_path, tmp_path, MethodSpec("unet", probability=True), block=384)
    blocks = tifffile.imread(tmp_path / "liver.steatosis.ome.tif") > 0
    whole = det.mask(rgb, prob) & tissue  # the card's fused scales and completion to white regions included
    diff = blocks != whole
    print(f"U-Net blocks vs one image: {diff.sum()} px differ of {whole.sum()} fat px")
    # at scale 1 only float noise differs; the card's x0.5 pass is interpolated back per block and its
    # completion sees a white region crossing a block border from one side: measured 474 px of 208470 (0.23 %)
    assert diff.sum() <= 0.005 * whole.sum()
    p8 = tifffile.imread(tmp_path / "liver.probability.ome.tif").astype(int)
    d = np.abs(p8 - np.round(prob * 255) * tissue)
    seams = (np.arange(d.shape[0]) % 384 == 0)[:, None] | (np.arange(d.shape[1]) % 384 == 0)[None]
    # measured 0.35 % > 2/255; inside blocks max 19, on a block's first row/column max 60 (the x0.5 pass
    # is interpolated there from the block's own first half-scale row, not its neighbour's)
    assert (d > 2).mean() <= 0.01 and d[~seams].max() <= 32 and d[seams].max() <= 80
    assert res["steatosis_px"] == blocks.sum()


@pytest.fixture(scope="module")
def he_slides(tmp_path_factory):
    """An H&E slide (512 x 768 px) and the same slide at twice the magnification (its level 0 resized x2)."""
    folder = tmp_path_factory.mktemp("he")
    one = write_synthetic_slide(folder / "one.ome.tif", (512, 768), seed=5, stain="he", field=512, pool=2,
                                truth=False)["slide"]
    with open_slide(one) as s:
        big = cv2.resize(s.read(0, 0, *s.shape), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    two = write_pyramid(folder / "two.ome.tif", big.shape[:2], lambda r0, r1, c0, c1: big[r0:r1, c0:c1], rgb=True,
                        mpp=0.45, compression="jpeg")
    return one, two


def slide_crops(path):
    """The level-0 crops scale auto measures on a slide, and their boxes."""
    from napari_steatosis.slide_blocks import thumbnail
    from napari_steatosis.slide_scale import crop_boxes

    with open_slide(path) as s:
        boxes = crop_boxes(tissue_mask(thumbnail(s)), s.shape)
        return [s.read(*b) for b in boxes], boxes


def test_scale_auto_measures_a_few_crops_spread_over_the_tissue(he_slides, monkeypatch):
    from napari_steatosis.magnification import nucleus_diameter_px, nucleus_diameters, typical
    from napari_steatosis.slide_blocks import thumbnail
    from napari_steatosis.slide_scale import crop_boxes, slide_scale
    from napari_steatosis.unet.detector import Detector

    # a 40000 x 60000 px slide whose thumbnail has tissue in a band: four 1024 px squares in it, far apart
    tissue = np.zeros((200, 300), bool)
    tissue[60:160, 20:280] = True
    boxes = crop_boxes(tissue, (40000, 60000))
    assert boxes == crop_boxes(tissue, (40000, 60000)) and len(set(boxes)) == 4
    for r0, c0, r1, c1 in boxes:
        assert (r1 - r0, c1 - c0) == (1024, 1024)
        assert tissue[int(r0 / 200):int(np.ceil(r1 / 200)), int(c0 / 200):int(np.ceil(c1 / 200))].all()
    cols = sorted(c0 for _, c0, _, _ in boxes)
    assert cols[-1] - cols[0] > 20000 or len({r0 for r0, *_ in boxes}) > 2  # spread, not four neighbours
    # nuclei pooled over the crops: the slide at 2x measures twice as large, so it is brought to ~x0.5
    one, two = he_slides
    d1 = nucleus_diameter_px(slide_crops(one)[0])
    crops, boxes2 = slide_crops(two)
    d2 = nucleus_diameter_px(crops)
    assert len(boxes2) == 2 and 1.8 < d2 / d1 < 2.2
    assert d2 == typical(np.concatenate([nucleus_diameters(c) for c in crops]))  # their blobs pooled, one statistic
    det = Detector(None, dict(nucleus_diameter_px=dict(range=[d1, d1])), scale="auto")  # no Keras needed
    reads = []
    with open_slide(two) as s:
        tissue, read = tissue_mask(thumbnail(s)), s.read
        monkeypatch.setattr(s, "read", lambda *box, **kw: reads.append(box) or read(*box, **kw))
        factor, note = slide_scale(s, tissue, det)
    assert factor == pytest.approx(d1 / d2) and note is None and 0.45 < factor < 0.55
    assert reads == boxes2  # the crops only: memory bounded whatever the slide's size


@pytest.fixture(scope="module")
def nuclei_model(he_slides, tmp_path_factory):
    """The shipped U-Net with a card saying its training nuclei measured exactly as the 1x H&E slide's."""
    import shutil

    from napari_steatosis.magnification import nucleus_diameter_px
    from napari_steatosis.unet import default_model
    from napari_steatosis.unet.card import card_path, load_card

    d = nucleus_diameter_px(slide_crops(he_slides[0])[0])
    path = tmp_path_factory.mktemp("m") / "nuclei.keras"
    shutil.copy(default_model.path(), path)
    # the shipped card fuses x0.5: auto leaves nuclei of up to twice the range's top (d) as they are
    card_path(path).write_text(json.dumps(dict(load_card(default_model.path()),
                                               nucleus_diameter_px=dict(range=[d / 2, d / 2]))))
    return path, d


@pytest.mark.tensorflow
def test_unet_scale_auto_runs_every_block_at_the_slides_factor(he_slides, nuclei_model, tmp_path, monkeypatch, capsys):
    import inspect

    from napari_steatosis.magnification import scale_to_nuclei
    from napari_steatosis.sample import sample_slide_path
    from napari_steatosis.slide_blocks import plan_slide
    from napari_steatosis.unet import predict

    one, two = he_slides
    model, d = nuclei_model
    expect = scale_to_nuclei(slide_crops(two)[0], d / 2, d)  # the slide at 2x: ~x0.5
    assert 0.45 < expect < 0.55
    ran, inside = [], []  # the factor of every network pass of every block (not the calls within a pass)
    for name in ("predict_probability", "predict_core_resized", "predict_padded"):
        def record(*args, _f=getattr(predict, name), **kw):
            if not inside:
                ran.append(inspect.signature(_f).bind(*args, **kw).arguments.get("scale", 1.0))
            inside.append(1)
            try:
                return _f(*args, **kw)
            finally:
                inside.pop()

        monkeypatch.setattr(predict, name, record)
    res = analyse_slide(two, tmp_path / "two", MethodSpec("unet", str(model), scale="auto"), block=512)
    assert res["scale"] == round(expect, 4) and res["scale_note"] is None and res["blocks"] >= 4
    # every block at that one factor, and at half of it (the card's fused x0.5), as Detector.scales does
    assert len(ran) == 2 * res["blocks"] and sorted(set(ran)) == pytest.approx([0.5 * expect, expect])
    monkeypatch.undo()
    # the CLI: the slide's row in per_image.csv and the summary line, as for images
    f1 = scale_to_nuclei(slide_crops(one)[0], d / 2, d)  # 1x: within the reach of the card's range
    assert f1 == 1.0
    assert main(["quantify", str(one), "--model", str(model), "--out", str(tmp_path / "q"), "--scale", "auto"]) == 0
    assert "scale auto: 1 image measured, factors x1 to x1 (per image in per_image.csv)" in capsys.readouterr().err
    import csv

    with open(tmp_path / "q" / "per_image.csv", newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert float(row["scale"]) == 1.0 and row["scale_note"] == ""
    # no nuclei to measure (the bundled slide is trichrome): the working scale, and why
    plan = plan_slide(sample_slide_path(), tmp_path / "w", MethodSpec("unet", str(model), scale="auto"))
    assert plan.scale == 1.0 and "cannot estimate the magnification of a Masson's trichrome image" in plan.scale_note


def test_fibrosis_on_an_h_and_e_slide_is_said_and_a_grey_slide_refused(tmp_path, capsys):
    """As for an image: fibrosis by hue on H&E gets a warning naming the slide and a stain column,
    and a grey-scale slide is refused by name instead of given a number."""
    he = write_synthetic_slide(tmp_path / "he.ome.tif", (384, 448), seed=3, stain="he", truth=False)["slide"]
    assert main(["fibrosis", str(he), "--out", str(tmp_path / "f")]) == 0
    err = capsys.readouterr().err
    assert "he.ome.tif" in err and "looks like H&E" in err
    (row,) = list(csv.DictReader(open(tmp_path / "f" / "fibrosis.csv")))
    assert row["stain"] == "he"
    trichrome = write_synthetic_slide(tmp_path / "tc.ome.tif", (384, 448), seed=3, truth=False)["slide"]
    assert main(["fibrosis", str(trichrome), "--out", str(tmp_path / "t")]) == 0
    assert "looks like" not in capsys.readouterr().err
    (row,) = list(csv.DictReader(open(tmp_path / "t" / "fibrosis.csv")))
    assert row["stain"] == "trichrome"
    grey = tmp_path / "grey.ome.tif"
    write_pyramid(grey, (384, 448), lambda r0, r1, c0, c1: np.full((r1 - r0, c1 - c0, 3), 150, np.uint8)
                  + (np.arange(c0, c1) % 60 < 20)[None, :, None].astype(np.uint8) * 60, rgb=True, mpp=0.5, tile=128)
    assert main(["fibrosis", str(grey), "--out", str(tmp_path / "g")]) == 2
    assert "grey.ome.tif is grey-scale" in capsys.readouterr().err
