"""The report dock through napari: run over a dataset, sortable tables, plot, open a row, export."""

import pytest

from napari_steatosis.cli import main


@pytest.fixture(scope="module")
def classical_model(small_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("rm") / "c.skops"
    assert main(["train-classical", str(small_dataset.root), "--out", str(out), "--n-iter", "1"]) == 0
    return out


def test_report_runs_and_shows_tables(make_napari_viewer, qtbot, small_dataset, classical_model, tmp_path,
                                      monkeypatch):
    from napari_steatosis.widgets import report_widget
    from napari_steatosis.widgets.report_widget import OVERLAY, ReportWidget

    shown = []
    monkeypatch.setattr(report_widget, "notify_error", lambda e: shown.append(str(e)))
    monkeypatch.setattr(report_widget, "notify_info", shown.append)
    viewer = make_napari_viewer()
    w = ReportWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.dataset_edit.setText(str(small_dataset.root))
    w.method.setCurrentText("classical")
    w.model_edit.setText(str(classical_model))
    w.fibrosis.setCurrentText("trichrome")
    w.run()
    assert not w.run_btn.isEnabled() and w.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: w.process is None, timeout=240000)
    assert not [s for s in shown if "failed" in s], shown
    assert w.image_table.rowCount() == 12 and w.patient_table.rowCount() == 6
    headers = [w.patient_table.horizontalHeaderItem(i).text() for i in range(w.patient_table.columnCount())]
    assert {"steatosis_grade", "physician_steatosis_pct", "fibrosis_pct"} <= set(headers)
    col = headers.index("steatosis_pct")
    w.patient_table.sortItems(col)
    values = [float(w.patient_table.item(i, col).text()) for i in range(6)]
    assert values == sorted(values)  # numeric sort
    assert w.figure.axes[0].collections  # the scatter against the physician
    w.open_row(0)
    assert OVERLAY in viewer.layers
    w.export(str(tmp_path / "exp"))
    names = {p.name for p in (tmp_path / "exp").iterdir()}
    assert {"per_image.csv", "per_patient.csv", "vacuoles.csv"} <= names
    assert sum(n.endswith(".geojson") for n in names) == 12


def test_report_refuses_bad_settings(make_napari_viewer, monkeypatch, tmp_path):
    from napari_steatosis.widgets import jobs
    from napari_steatosis.widgets.report_widget import ReportWidget

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda e: shown.append(jobs.user_message(e)))
    w = ReportWidget(make_napari_viewer())
    w.run()
    assert "choose a dataset folder" in shown[-1]
    w.dataset_edit.setText(str(tmp_path))
    w.run()
    assert "dataset.csv" in shown[-1] and w.run_btn.isEnabled()
