"""What a user gets from `pip install`: the manifest, the sample data, no TensorFlow on import."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_plugin_and_its_widgets_does_not_import_tensorflow():
    code = (
        "import sys, napari_steatosis, napari_steatosis.cli, napari_steatosis.fibrosis, napari_steatosis.unet, "
        "napari_steatosis.data.synthetic, napari_steatosis.classical.pipeline, napari_steatosis.quantify, "
        "napari_steatosis.widgets.fibrosis_widget, napari_steatosis.sample, napari_steatosis.widgets.steatosis_dock, "
        "napari_steatosis.widgets.annotation_widget, napari_steatosis.widgets.classical_widget, "
        "napari_steatosis.widgets.unet_widget, napari_steatosis.widgets.report_widget\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_manifest_is_valid_and_registered():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-steatosis")
    assert {w.display_name for w in manifest.contributions.widgets} == {"Steatosis"}  # one dock, tools as tabs
    assert {s.key for s in manifest.contributions.sample_data} == {"trichrome", "he", "slide"}
    (reader,) = manifest.contributions.readers
    assert "*.svs" in reader.filename_patterns and "*.ome.tif" in reader.filename_patterns


def test_wheel_carries_sample_data_and_manifest(tmp_path):
    pytest.importorskip("hatchling")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, timeout=300)
    wheel = next(tmp_path.glob("napari_steatosis-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "napari_steatosis/napari.yaml" in names
    assert "napari_steatosis/sample_data/dataset.csv" in names
    assert "napari_steatosis/sample_data/slides/liver.ome.tif" in names
    assert "napari_steatosis/unet/weights/steatosis_unet_default.keras" in names
    assert "napari_steatosis/unet/weights/steatosis_unet_default.card.json" in names
    csv_rows = zipfile.ZipFile(wheel).read("napari_steatosis/sample_data/dataset.csv").decode().splitlines()[1:]
    for row in csv_rows:
        image = row.split(",")[0]
        assert f"napari_steatosis/sample_data/{image}" in names
    # the sample loader finds data inside an unpacked wheel (not only in a source checkout)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import napari_steatosis.sample as s, pathlib; d = s.sample_data_dir(); "
            f"assert pathlib.Path(d).is_relative_to(pathlib.Path({str(site)!r})), d; print(len(s.sample_dataset()))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=120, cwd=tmp_path)
    assert out.stdout.strip() == "12"
