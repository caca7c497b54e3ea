"""The whole-slide worker napari's "Run on the whole slide" starts (Qt-free): its JSON lines, its messages,
and a cancel at any point leaving no file behind."""

import json

import pytest

from napari_steatosis.errors import Cancelled
from napari_steatosis.fibrosis import preset
from napari_steatosis.slide_blocks import MethodSpec
from napari_steatosis.slide_run import analyse_slide
from napari_steatosis.slide_worker import main, slide_summary


@pytest.fixture(scope="module")
def tiny_slide(tmp_path_factory):
    from napari_steatosis.data.synthetic_slide import write_synthetic_slide

    return write_synthetic_slide(tmp_path_factory.mktemp("slide") / "tiny.ome.tif", (640, 896), seed=3,
                                 truth=False)["slide"]


def test_worker_reports_blocks_then_the_slides_numbers(tiny_slide, tmp_path, capsys):
    fib = json.dumps(preset("trichrome").to_dict())
    assert main([str(tiny_slide), "--out", str(tmp_path), "--method", "none", "--fibrosis", fib, "--block", "320"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    blocks = [e for e in events if e["event"] == "block"]
    assert [e["done"] for e in blocks] == list(range(1, blocks[0]["total"] + 1))
    done = events[-1]
    assert done["event"] == "done" and done["files"] == {"fibrosis": str(tmp_path / "tiny.fibrosis.ome.tif")}
    assert done["numbers"]["fibrosis_px"] > 0 and done["numbers"]["tissue_mm2"] > 0


def test_worker_bad_settings_are_one_line_messages(tiny_slide, tmp_path, capsys):
    assert main([str(tiny_slide), "--out", str(tmp_path), "--method", "none", "--fibrosis", "{oops"]) == 2
    assert "--fibrosis: not JSON" in json.loads(capsys.readouterr().out)["message"]
    assert main([str(tiny_slide), "--out", str(tmp_path), "--method", "none"]) == 2
    assert "nothing to run" in json.loads(capsys.readouterr().out)["message"]
    assert main([str(tmp_path / "missing.ome.tif"), "--out", str(tmp_path), "--method", "none",
                 "--fibrosis", "{}"]) == 2
    assert "missing.ome.tif" in json.loads(capsys.readouterr().out)["message"]


@pytest.mark.parametrize("stop_at", [3, 9])  # during the blocks, and while the pyramid is written
def test_a_cancel_at_any_point_leaves_no_file(tiny_slide, tmp_path, stop_at):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) >= stop_at

    spec = MethodSpec(None, fibrosis=preset("trichrome").to_dict())
    with pytest.raises(Cancelled):
        analyse_slide(tiny_slide, tmp_path, spec, block=320, cancelled=cancelled)
    assert list(tmp_path.iterdir()) == []  # neither a result nor a temporary file or folder


def test_summary_says_what_a_pathologist_reads():
    text = slide_summary(dict(steatosis_pct=12.345, fibrosis_pct=3.2, tissue_mm2=4.567, n_vacuoles=321,
                              macro_share_pct=61.0, tissue_px=100))
    assert text == ("Whole slide: steatosis 12.35 % of tissue (S1, mild (5-33 %)), fibrosis 3.20 % of tissue, "
                    "tissue 4.57 mm², 321 vacuoles, 61 % of the fat macrovesicular")
    assert "tissue 100 px (no pixel size)" in slide_summary(dict(tissue_px=100, fibrosis_pct=1.0))
    # --scale auto: the one factor the slide ran at, or why it fell back
    assert slide_summary(dict(tissue_px=1, steatosis_pct=1.0, scale=0.5195, scale_note=None)).endswith(
        ", scale auto: x0.52 from nuclei")
    assert slide_summary(dict(tissue_px=1, steatosis_pct=1.0, scale=1.0, scale_note="too few nuclei")).endswith(
        ", scale auto: x1, too few nuclei")
