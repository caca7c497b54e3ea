"""The per-image tasks of `steatosis predict` and `steatosis fibrosis` (see :mod:`.batch`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .batch import Job
from .data.atomic import atomic_write
from .data.images import read_image, write_mask
from .quantify import NET_LOCK, classical_model, file_stamp, unet_detector
from .stain import require_colour, warn_unfit_fibrosis


@dataclass(frozen=True)
class PredictTask:
    """Steatosis mask (and for the U-Net the probability) of one image."""

    method: str
    model: str | None
    threshold: float | None = None  # None: the model card's
    tile: int = 1036
    scale: float = 1.0
    probability: bool = False  # U-Net: also write the probability
    kind = "predict"

    def settings(self) -> dict:
        return {**asdict(self), "model_file": file_stamp(self.model)}

    def outputs(self, stem: str, slide: bool = False) -> list[str]:
        prob = self.probability and self.method == "unet"
        if slide:
            return [f"{stem}.steatosis.ome.tif"] + ([f"{stem}.probability.ome.tif"] if prob else [])
        return [f"{stem}.steatosis.png"] + ([f"{stem}.probability.tif"] if prob else [])

    def load(self):
        if self.method == "unet":
            return unet_detector(self.model, self.scale, self.threshold, self.tile)
        return classical_model(self.model)

    def __call__(self, job: Job, out: Path) -> dict:
        model = self.load()
        if job.slide:
            from .slide_blocks import MethodSpec  # noqa: PLC0415
            from .slide_run import analyse_slide  # noqa: PLC0415

            spec = MethodSpec(self.method, self.model, self.threshold, self.scale, self.tile,
                              probability=self.probability)
            res = analyse_slide(job.path, out, spec, stem=job.stem)
            return dict(steatosis_px=res["steatosis_px"], **{k: res[k] for k in ("scale", "scale_note") if k in res})
        rgb = read_image(job.path)
        require_colour(rgb, job.path)  # a grey field would still get a mask; the docks refuse it too
        if self.method == "unet":
            with NET_LOCK:
                prob = model.probability(rgb)
                chosen = model.last_choice
            mask = model.mask(rgb, prob)
            write_mask(out / f"{job.stem}.steatosis.png", mask)
            if self.probability:  # float32, 4 bytes a pixel: only when asked
                import tifffile  # noqa: PLC0415

                with atomic_write(out / f"{job.stem}.probability.tif") as tmp:
                    tifffile.imwrite(tmp, prob.astype(np.float32), compression="zlib")
            return dict(steatosis_px=int(np.count_nonzero(mask)), **chosen)
        else:
            from .classical.pipeline import predict_steatosis  # noqa: PLC0415

            mask = predict_steatosis(model, rgb).mask
            write_mask(out / f"{job.stem}.steatosis.png", mask)
        return dict(steatosis_px=int(np.count_nonzero(mask)))


@dataclass(frozen=True)
class FibrosisTask:
    """Fibrosis mask and % of tissue of one image, with given HSV thresholds."""

    thresholds: dict
    preset: str | None = None  # the preset the thresholds are (None: tuned or from a settings file)
    kind = "fibrosis"

    def load(self) -> None:  # thresholds only: nothing to load
        return None

    def settings(self) -> dict:
        return dict(thresholds=self.thresholds)

    def outputs(self, stem: str, slide: bool = False) -> list[str]:
        return [f"{stem}.fibrosis.ome.tif" if slide else f"{stem}.fibrosis.png"]

    def __call__(self, job: Job, out: Path) -> dict:
        from .fibrosis import FibrosisThresholds, fibrosis_percent  # noqa: PLC0415

        if job.slide:
            from .slide_blocks import MethodSpec  # noqa: PLC0415
            from .slide_run import analyse_slide  # noqa: PLC0415

            res = analyse_slide(job.path, out, MethodSpec(None, fibrosis=self.thresholds), stem=job.stem,
                                fibrosis_preset=self.preset)
            return dict(image=job.shown, patient=job.patient or "", fibrosis_pct=f"{res['fibrosis_pct']:.4f}",
                        fibrosis_px=res["fibrosis_px"], tissue_px=res["tissue_px"], stain=res["stain"])
        rgb = read_image(job.path)
        guess = require_colour(rgb, job.path)
        warn_unfit_fibrosis(guess, self.preset, job.path)
        mask, pct, tissue = fibrosis_percent(rgb, FibrosisThresholds.from_dict(self.thresholds))
        write_mask(out / f"{job.stem}.fibrosis.png", mask)
        return dict(image=job.shown, patient=job.patient or "", fibrosis_pct=f"{pct:.4f}",
                    fibrosis_px=int(mask.sum()), tissue_px=int(tissue.sum()), stain=guess.stain)
