"""`steatosis quantify`: detect steatosis in images and write the numbers a study needs.

:class:`QuantifyTask` measures one image (read from its path, wherever it runs) and writes its
mask and GeoJSON; :func:`quantify` runs it over the inputs (here or on a dask cluster, see
:mod:`.batch`) and writes the tables from the per-image results in input order.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .batch import BatchResult, Job, load_once, per_process, require_some_done, run_batch, write_failures
from .data.atomic import output_folder
from .data.images import read_image, tiff_pixel_size_um, write_mask
from .data.sources import collect_images, patient_rule
from .data.tables import columns_of, write_table
from .errors import SteatosisError
from .export import mask_to_geojson, write_geojson
from .measure import image_measurements, patient_summary, split_vacuoles, vacuole_table
from .preprocess import tissue_mask
from .stain import require_colour, warn_unfit_fibrosis


NET_LOCK = threading.Lock()  # threads of one process (dask worker) take turns on the network; TensorFlow uses every core


def unet_detector(model: str | None = None, scale: float = 1.0, threshold: float | None = None, tile: int = 1036):
    """A U-Net :class:`~.unet.detector.Detector`, loaded once per process (per dask worker) and kept."""
    from .unet.detector import Detector  # noqa: PLC0415

    return per_process(("unet", model, scale, threshold, tile, str(file_stamp(model))),
                       lambda: Detector.load(model, scale=scale, threshold=threshold, tile=tile))


def classical_model(model: str):
    """A classical model, loaded once per process and kept."""
    from .classical.model import load_classifier  # noqa: PLC0415

    return per_process(("classical", model, str(file_stamp(model))), lambda: load_classifier(model))


def steatosis_detector(method: str, model: str | None = None, scale: float = 1.0,
                       threshold: float | None = None) -> tuple[Callable, str]:
    """``(rgb -> (bool mask, scale choice), description)`` for the U-Net or the classical pipeline; the
    choice is what ``scale="auto"`` chose for this image (:attr:`~.unet.detector.Detector.last_choice`),
    else empty."""
    if method == "unet":
        det = unet_detector(model, scale, threshold)

        def detect(rgb):
            with NET_LOCK:  # the choice read under the lock is this image's, not another thread's
                return det.mask(rgb), det.last_choice

        return detect, det.description
    if threshold is not None:
        raise SteatosisError("--threshold is for the U-Net; the classical pipeline decides per region")
    if method == "classical":
        from .classical.pipeline import predict_steatosis  # noqa: PLC0415

        if not model:
            raise SteatosisError("--method classical needs --model (made by steatosis train-classical)")
        clf = classical_model(model)
        return (lambda rgb: (predict_steatosis(clf, rgb).mask, {})), f"classical ({clf.classifier})"
    raise SteatosisError(f"unknown method {method!r}; use unet or classical")


def file_stamp(path: str | None) -> dict | None:
    """Size and time of a model file, so that a record made with another model is not reused."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return dict(path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns)


@dataclass(frozen=True)
class QuantifyTask:
    """Measure one image: masks, GeoJSON, the per-image row and the vacuole rows."""

    method: str = "unet"
    model: str | None = None
    pixel_size_um: float | None = None
    macro_cutoff: float | None = None
    fibrosis: str = "none"
    scale: float = 1.0
    threshold: float | None = None  # U-Net: None is the model card's
    kind = "quantify"

    def settings(self) -> dict:
        return {**asdict(self), "model_file": file_stamp(self.model)}

    def outputs(self, stem: str, slide: bool = False) -> list[str]:
        if slide:
            return [f"{stem}.steatosis.ome.tif", f"{stem}.steatosis.geojson", f"{stem}.vacuoles.csv"] \
                + ([f"{stem}.fibrosis.ome.tif"] if self.fibrosis != "none" else [])
        return [f"{stem}.steatosis.png", f"{stem}.steatosis.geojson"]

    def load(self) -> tuple[Callable, str]:
        key = ("steatosis", self.method, self.model, self.scale, self.threshold, str(file_stamp(self.model)))
        return per_process(key, lambda: steatosis_detector(self.method, self.model, self.scale, self.threshold))

    def __call__(self, job: Job, out: Path) -> dict:
        detect, description = self.load()
        if job.slide:
            return self.slide(job, out, description)
        rgb = read_image(job.path)
        guess = require_colour(rgb, job.path)  # the U-Net would still report a % on a grey field; the docks refuse it too
        px = self.pixel_size_um or job.pixel_size_um or tiff_pixel_size_um(job.path)
        tissue = tissue_mask(rgb)
        fat, choice = detect(rgb)
        fat = fat & tissue
        fib = None
        if self.fibrosis != "none":
            from .fibrosis import fibrosis_mask, preset  # noqa: PLC0415

            warn_unfit_fibrosis(guess, self.fibrosis, job.path)
            fib = fibrosis_mask(rgb, preset(self.fibrosis), tissue)
        labels, _ = split_vacuoles(fat)
        numbers, _ = image_measurements(fat, tissue, fib, px, self.macro_cutoff)
        if fib is not None:  # the table says it too when fibrosis was measured on H&E
            numbers["stain"] = guess.stain
        rows = vacuole_table(fat, px, self.macro_cutoff, labels=labels)
        patient = job.patient or job.stem
        geo = mask_to_geojson(fat, "Steatosis")
        if fib is not None:
            geo["features"] += mask_to_geojson(fib, "Fibrosis")["features"]
        write_mask(out / f"{job.stem}.steatosis.png", fat)
        write_geojson(out / f"{job.stem}.steatosis.geojson", geo)
        if choice:  # --scale auto: the factor this image ran at, and why when it fell back
            numbers.update(choice, scale=round(choice["scale"], 4))
        return dict(row=dict(image=job.shown, patient=patient, method=description, **numbers),
                    vacuoles=[dict(image=job.shown, patient=patient, **r) for r in rows])


    def slide(self, job: Job, out: Path, description: str) -> dict:
        """A slide block by block: pyramidal masks, vacuole outlines and ``<stem>.vacuoles.csv``, one row."""
        from .fibrosis import preset  # noqa: PLC0415
        from .slide_blocks import MethodSpec  # noqa: PLC0415
        from .slide_run import analyse_slide  # noqa: PLC0415

        fib = preset(self.fibrosis).to_dict() if self.fibrosis != "none" else None
        spec = MethodSpec(self.method, self.model, self.threshold, self.scale, fibrosis=fib)
        res = analyse_slide(job.path, out, spec, self.pixel_size_um or job.pixel_size_um, self.macro_cutoff,
                            vacuoles=True, stem=job.stem, fibrosis_preset=self.fibrosis)
        numbers = {k: v for k, v in res.items() if k not in ("files", "blocks", "glass_blocks")}
        return dict(row=dict(image=job.shown, patient=job.patient or job.stem, method=description, **numbers),
                    vacuoles=[])


def jobs_of(sources) -> list[Job]:
    from .data.dataset import pixel_size_of  # noqa: PLC0415

    return [Job.of(s.path, s.stem, s.patient, s.is_slide, pixel_size_of(s.record) if s.record else None)
            for s in sources]


def quantify(inputs, out, method="unet", model=None, pixel_size_um=None, macro_cutoff=None, fibrosis="none",
             progress=None, scale: float = 1.0, threshold: float | None = None, client=None, resume: bool = False,
             on_failure: Callable | None = None, block_progress: Callable | None = None) -> dict:
    """Quantify every input image and write per_image.csv, per_patient.csv and vacuoles.csv.

    Images that fail are left out of the tables and listed in failures.csv (``failures`` in
    the result); the others are finished regardless.
    """
    sources = collect_images(inputs)
    out = output_folder(out)
    task = QuantifyTask(method, model, pixel_size_um, macro_cutoff, fibrosis, scale, threshold)
    load_once(task, client)
    physician = {}
    for ds in {id(s.dataset): s.dataset for s in sources if s.dataset is not None}.values():
        physician.update(ds.physician_pct("steatosis"))
    batch = run_batch(task, jobs_of(sources), out, client=client, resume=resume, progress=progress,
                      on_failure=on_failure, block_progress=block_progress)
    return dict(write_quantify_tables(out, batch, physician), patient_rule=patient_rule(sources))


def write_quantify_tables(out: Path, batch: BatchResult, physician: dict) -> dict:
    require_some_done(batch, out)
    image_rows = [r["row"] for _, r in batch.results]
    vacuoles = [v for _, r in batch.results for v in r["vacuoles"]]
    patients = patient_summary(image_rows, physician)
    write_failures(out, batch.failures)
    write_table(out / "per_image.csv", image_rows, columns_of(image_rows) or ["image"])
    write_table(out / "per_patient.csv", patients, columns_of(patients) or ["patient"])
    write_table(out / "vacuoles.csv", vacuoles, columns_of(vacuoles) or ["image"])
    if sum("physician_steatosis_pct" in p for p in patients) >= 3:
        from .measure import r_squared  # noqa: PLC0415
        from .plots import save_patient_scatter_png  # noqa: PLC0415

        pairs = [(p["steatosis_pct"], p["physician_steatosis_pct"]) for p in patients if "physician_steatosis_pct" in p]
        save_patient_scatter_png(patients, r_squared(*zip(*pairs)), out / "patients_vs_physician.png")
    return dict(per_image=image_rows, per_patient=patients, vacuoles=vacuoles,
                method=image_rows[0]["method"] if image_rows else "", failures=batch.failures,
                skipped=batch.skipped)
