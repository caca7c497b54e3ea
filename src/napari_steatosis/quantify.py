"""`steatosis quantify`: detect steatosis in images and write the numbers a study needs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .data.images import read_image, tiff_pixel_size_um, write_mask
from .data.sources import collect_images
from .data.tables import columns_of, write_table
from .errors import SteatosisError
from .export import mask_to_geojson, write_geojson
from .measure import image_measurements, patient_summary, split_vacuoles, vacuole_table
from .preprocess import tissue_mask


def steatosis_detector(method: str, model: str | None = None, scale: float = 1.0,
                       threshold: float | None = None) -> tuple[Callable, str]:
    """``(rgb -> bool mask, description)`` for the U-Net or the classical pipeline."""
    if method == "unet":
        from .unet.detector import Detector  # noqa: PLC0415

        det = Detector.load(model, scale=scale, threshold=threshold)
        return det.mask, det.description
    if threshold is not None:
        raise SteatosisError("--threshold is for the U-Net; the classical pipeline decides per region")
    if method == "classical":
        from .classical.model import load_classifier  # noqa: PLC0415
        from .classical.pipeline import predict_steatosis  # noqa: PLC0415

        if not model:
            raise SteatosisError("--method classical needs --model (made by steatosis train-classical)")
        clf = load_classifier(model)
        return (lambda rgb: predict_steatosis(clf, rgb).mask), f"classical ({clf.classifier})"
    raise SteatosisError(f"unknown method {method!r}; use unet or classical")


def quantify(inputs, out, method="unet", model=None, pixel_size_um=None, macro_cutoff=None, fibrosis="none",
             progress=None, scale: float = 1.0, threshold: float | None = None) -> dict:
    sources = collect_images(inputs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    detect, description = steatosis_detector(method, model, scale, threshold)
    fib_t = None
    if fibrosis != "none":
        from .fibrosis import preset  # noqa: PLC0415

        fib_t = preset(fibrosis)
    physician = {}
    image_rows, vacuoles = [], []
    for k, src in enumerate(sources):
        rgb = read_image(src.path)
        px = pixel_size_um or tiff_pixel_size_um(src.path)
        tissue = tissue_mask(rgb)
        fat = detect(rgb) & tissue
        fib = None
        if fib_t is not None:
            from .fibrosis import fibrosis_mask  # noqa: PLC0415

            fib = fibrosis_mask(rgb, fib_t, tissue)
        labels, _ = split_vacuoles(fat)
        numbers, _ = image_measurements(fat, tissue, fib, px, macro_cutoff)
        rows = vacuole_table(fat, px, macro_cutoff, labels=labels)
        patient = src.patient or src.stem
        image_rows.append(dict(image=str(src.path), patient=patient, method=description, **numbers))
        vacuoles += [dict(image=str(src.path), patient=patient, **r) for r in rows]
        write_mask(out / f"{src.stem}.steatosis.png", fat)
        write_geojson(out / f"{src.stem}.steatosis.geojson",
                      mask_to_geojson(fat, "Steatosis") if fib is None else _with_fibrosis(fat, fib))
        if src.dataset is not None:
            physician.update(src.dataset.physician_pct("steatosis"))
        if progress:
            progress(k + 1, len(sources))
    patients = patient_summary(image_rows, physician)
    write_table(out / "per_image.csv", image_rows, columns_of(image_rows))
    write_table(out / "per_patient.csv", patients, columns_of(patients))
    write_table(out / "vacuoles.csv", vacuoles, columns_of(vacuoles) or ["image"])
    if sum("physician_steatosis_pct" in p for p in patients) >= 3:
        from .measure import r_squared  # noqa: PLC0415
        from .plots import save_patient_scatter_png  # noqa: PLC0415

        pairs = [(p["steatosis_pct"], p["physician_steatosis_pct"]) for p in patients if "physician_steatosis_pct" in p]
        save_patient_scatter_png(patients, r_squared(*zip(*pairs)), out / "patients_vs_physician.png")
    return dict(per_image=image_rows, per_patient=patients, vacuoles=vacuoles, method=description)


def _with_fibrosis(fat, fib) -> dict:
    geo = mask_to_geojson(fat, "Steatosis")
    geo["features"] += mask_to_geojson(fib, "Fibrosis")["features"]
    return geo
