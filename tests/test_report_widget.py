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
    w.run_btn.click()
    assert not w.run_btn.isEnabled() and w.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: w.process is None, timeout=240000)
    assert not [s for s in shown if "failed" in s], shown
    assert w.image_table.rowCount() == 12 and w.patient_table.rowCount() == 6
    headers = [w.patient_table.horizontalHeaderItem(i).text() for i in range(w.patient_table.columnCount())]
    assert {"grade", "physician %", "Fibrosis % of tissue"} <= set(headers)
    col = headers.index("Steatosis % of tissue")
    w.patient_table.sortItems(col)
    values = [w.patient_table.item(i, col).text() for i in range(6)]
    assert all(len(v.split(".")[1]) == 1 for v in values)  # one decimal
    assert [float(v) for v in values] == sorted(float(v) for v in values)  # numeric sort
    grades = {w.patient_table.item(i, headers.index("grade")).text() for i in range(6)}
    assert grades <= {"S0, none (<5 %)", "S1, mild (5-33 %)", "S2, moderate (>33-66 %)", "S3, severe (>66 %)"}
    scatter, bland_altman = w.figure.axes
    assert len(scatter.collections[0].get_offsets()) == 6  # one dot per patient against the physician
    bands = [t.get_text() for t in scatter.texts if t.get_text() in ("S0", "S1", "S2", "S3")]
    assert len(bands) >= 2 and bands == ["S0", "S1", "S2", "S3"][:len(bands)]  # the grade bands in view
    assert bland_altman.get_title() == "Bland–Altman" and len(bland_altman.collections[0].get_offsets()) == 6
    w.image_table.cellClicked.emit(0, 0)
    assert OVERLAY in viewer.layers and w.ws.record.stem == w.image_table.item(0, 0).text()
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
    w.run_btn.click()
    assert "choose a dataset folder" in shown[-1]
    w.dataset_edit.setText(str(tmp_path))
    w.run()
    assert "dataset.csv" in shown[-1] and w.run_btn.isEnabled()


def test_report_cancel_stops_the_worker_and_gives_the_buttons_back(make_napari_viewer, qtbot, monkeypatch):
    from napari_steatosis.sample import sample_data_dir
    from napari_steatosis.widgets import report_widget
    from napari_steatosis.widgets.report_widget import ReportWidget

    shown = []
    monkeypatch.setattr(report_widget, "notify_info", shown.append)
    monkeypatch.setattr(report_widget, "notify_error", lambda e: shown.append(str(e)))
    w = ReportWidget(make_napari_viewer())
    w.dataset_edit.setText(str(sample_data_dir()))
    w.run_btn.click()  # the shipped U-Net over 12 images: long enough to cancel
    job = w.job
    assert not w.run_btn.isEnabled() and w.cancel_btn.isEnabled() and not w.progress.isHidden()
    w.cancel_btn.click()
    qtbot.waitUntil(lambda: w.job is None, timeout=60000)
    assert job.cancelled and job.process.state() == job.process.ProcessState.NotRunning
    assert w.status.text() == "cancelled" and shown == ["report cancelled"]
    assert w.run_btn.isEnabled() and not w.cancel_btn.isEnabled() and w.progress.isHidden()
    assert w.per_image == []  # nothing half-loaded
