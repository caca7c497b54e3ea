"""Training the U-Net on a dataset folder, with progress as JSON lines and safe cancellation.

A run is sized by time, not by passes over the data: with hundreds of images one pass is
tens of thousands of patches, so an "epoch" here is ``validate_minutes`` of training (or
``patches_per_image`` x images patches when that is given). Every epoch:

- the validation images are predicted through the same tiled path users run, in inference
  mode, at the model's working scale; the threshold with the best pooled Jaccard is kept;
- the best model so far is saved atomically, so a cancel (Ctrl-C, SIGTERM) keeps it and never
  leaves a broken file in place of the previous model;
- training stops early after ``patience`` epochs without a better validation Jaccard.

Learning rate: a linear warm-up, then a cosine decay to 1/20 of the peak over the time budget
(or the epochs when there is no budget) -- robust without a search. A grid (``lr_grid`` with
several values) is still available. Fine-tuning (``init``) starts from a lower peak.

Loss: binary cross-entropy (probabilities stay calibrated, so the threshold chosen on the
validation split lands near 0.5), optionally plus soft Dice. Patches: see patches.py (fat of
every size, white look-alikes, stain/blur/JPEG augmentation, the working scale).

Working scale: ``working_scale="auto"`` picks the resize factor from the labelled vacuoles, so
that the largest ones (the area-weighted 90th percentile of diameters) fit the network's view
(``TARGET_LARGE_DIAMETER`` px); it is written to the card and prediction resamples to it.
"""

from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.dataset import Dataset, pixel_size_of
from ..errors import SteatosisError
from . import PATCH
from .card import load_model, save_model
from .patches import PatchSampler, prepare_image
from .predict import predict_probability
from ..words import count

TARGET_LARGE_DIAMETER = 40.0  # px: large vacuoles at most this wide at the working scale
PEAK_LR = 2e-3  # Nadam, from scratch
PEAK_LR_FINE_TUNE = 5e-4  # from a trained model: lower, or the first steps undo what it knew
FINE_TUNE_LR_GRID = (PEAK_LR_FINE_TUNE,)  # what the napari dock passes with --init: one peak, no search


@dataclass
class TrainConfig:
    epochs: int = 100
    patches_per_image: int | None = None  # None: epochs of validate_minutes
    validate_minutes: float = 2.5
    batch_size: int = 8
    loader_threads: int | None = None  # threads drawing patches; None: loader_threads()
    lr: float | None = None  # peak learning rate; None: PEAK_LR, or PEAK_LR_FINE_TUNE with init
    lr_grid: tuple[float, ...] = ()
    grid_steps: int = 40
    warmup_steps: int = 60
    max_minutes: float | None = None
    patience: int = 5
    seed: int = 0
    init: str | None = None
    fg_fraction: float = 0.5
    white_fraction: float = 0.2
    augment: bool = True
    loss: str = "bce"
    working_scale: float | str = "auto"
    postprocess: bool = True  # choose scale fusion and completion to white regions on the val split
    val_tile: int = 1036
    note: str = ""


@dataclass
class Split:
    images: list = field(default_factory=list)
    masks: list = field(default_factory=list)
    stems: list = field(default_factory=list)
    patients: set = field(default_factory=set)
    stains: set = field(default_factory=set)
    pixel_sizes: list = field(default_factory=list)
    nuclei: list = field(default_factory=list)  # nucleus diameters (px) of the H&E images measured


NUCLEUS_SAMPLE = 60  # images whose nuclei are measured for the card (spread over the dataset)


def nucleus_card(diameters, scale: float) -> dict | None:
    """The card's ``nucleus_diameter_px`` (see detector.py): median and 10-90th percentile range
    of the training images' nucleus diameters at the working ``scale``; None without any."""
    if not diameters:
        return None
    d = np.asarray(diameters, float) * scale
    return dict(median=round(float(np.median(d)), 2),
                range=[round(float(np.percentile(d, 10)), 2), round(float(np.percentile(d, 90)), 2)],
                images=len(d))


def vacuole_diameters(masks) -> tuple[np.ndarray, np.ndarray]:
    """Equivalent diameters (px) of the labelled vacuoles and their areas (px)."""
    import cv2  # noqa: PLC0415

    diam, area = [], []
    for m in masks:
        n, _, stats, _ = cv2.connectedComponentsWithStats(np.asarray(m, np.uint8), connectivity=8)
        a = stats[1:, cv2.CC_STAT_AREA].astype(float)
        area.append(a)
        diam.append(np.sqrt(4 * a / np.pi))
    return (np.concatenate(diam), np.concatenate(area)) if diam else (np.zeros(0), np.zeros(0))


def choose_working_scale(masks, target: float = TARGET_LARGE_DIAMETER) -> float:
    """Resize factor that brings the large vacuoles (area-weighted 90th percentile diameter) to
    ``target`` px; never enlarges, never below 0.25; rounded to 0.05. 1 when nothing is labelled."""
    diam, area = vacuole_diameters(masks)
    if not len(diam) or area.sum() == 0:
        return 1.0
    order = np.argsort(diam)
    cum = np.cumsum(area[order]) / area.sum()
    d90 = float(diam[order][np.searchsorted(cum, 0.9)])
    return float(np.clip(round(target / max(d90, 1e-6) * 20) / 20, 0.25, 1.0))


def lr_at(fraction: float, peak: float, warmup_fraction: float) -> float:
    """Linear warm-up to ``peak``, then cosine decay to peak / 20; ``fraction`` of the run done (0..1)."""
    f = min(max(fraction, 0.0), 1.0)
    if f < warmup_fraction:
        return peak * (0.05 + 0.95 * f / warmup_fraction)
    t = (f - warmup_fraction) / max(1 - warmup_fraction, 1e-9)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def load_splits(dataset: Dataset, seed: int = 0) -> tuple[Split, Split]:
    """Training and validation images with steatosis masks (test patients are never touched).

    Unlabelled images are skipped: a missing mask is not "no steatosis".
    """
    from ..magnification import nucleus_diameter_px  # noqa: PLC0415

    splits = dataset.splits(seed)
    train, val = Split(), Split()
    every = max(1, len(dataset.records) // NUCLEUS_SAMPLE)
    for k, rec in enumerate(dataset.records):
        part = {"train": train, "val": val}.get(splits[rec.stem])
        if part is None or not dataset.has_label(rec, "steatosis"):
            continue
        rgb = dataset.read_image(rec)
        part.images.append(prepare_image(rgb))
        part.masks.append(dataset.read_mask(rec, "steatosis", rgb.shape[:2]))
        part.stems.append(rec.stem)
        part.patients.add(rec.patient)
        part.stains.add(rec.extra.get("stain", "unknown"))
        part.pixel_sizes.append(pixel_size_of(rec))
        if k % every == 0 and str(rec.extra.get("stain", "")).lower() not in ("trichrome", "sirius-red"):
            try:
                part.nuclei.append(nucleus_diameter_px(rgb[..., :3], rec.stem))
            except SteatosisError:  # not H&E after all, or too few nuclei: the card goes without
                pass
    if not train.images:
        raise SteatosisError(f"{dataset.root}: no training image has a steatosis mask")
    if not val.images:
        raise SteatosisError(f"{dataset.root}: no validation patient has a steatosis mask; "
                             "give some patients split=val, or add patients")
    return train, val


def bce(y_true, y_pred):
    from keras import ops  # noqa: PLC0415

    p = ops.clip(y_pred, 1e-6, 1 - 1e-6)
    return -ops.mean(y_true * ops.log(p) + (1 - y_true) * ops.log(1 - p))


def soft_dice_bce(y_true, y_pred):
    from keras import ops  # noqa: PLC0415

    inter = ops.sum(y_true * y_pred)
    dice = 1 - (2 * inter + 1.0) / (ops.sum(y_true) + ops.sum(y_pred) + 1.0)
    return bce(y_true, y_pred) + dice


LOSSES = {"bce": (bce, "binary cross-entropy"), "bce+dice": (soft_dice_bce, "binary cross-entropy + soft Dice")}


def best_threshold(probs: list[np.ndarray], masks: list[np.ndarray]) -> tuple[float, float]:
    """Threshold (0.02..0.98) with the best pooled Jaccard over the images, and that Jaccard."""
    edges = np.linspace(0, 1, 51)
    pos = np.zeros(50)
    neg = np.zeros(50)
    for p, m in zip(probs, masks):
        pos += np.histogram(p[m], edges)[0]
        neg += np.histogram(p[~m], edges)[0]
    tp = np.cumsum(pos[::-1])[::-1]  # pixels >= edges[i]
    fp = np.cumsum(neg[::-1])[::-1]
    jac = tp / np.maximum(pos.sum() + fp, 1)
    i = int(np.argmax(jac[1:-1])) + 1
    return float(edges[i]), float(jac[i])


def pooled_jaccard_of(preds, masks) -> float:
    tp = fp = fn = 0
    for p, m in zip(preds, masks):
        tp += int(np.count_nonzero(p & m))
        fp += int(np.count_nonzero(p & ~m))
        fn += int(np.count_nonzero(~p & m))
    return tp / max(tp + fp + fn, 1)


def choose_postprocessing(model, images, masks, scale: float, tile: int = 1036, probs=None,
                          fuse_only: bool = False) -> dict:
    """On the validation images: fuse a half-scale pass or not (``fuse_only``: always), complete
    detections to the white regions they cover or not (and how much cover), each with its own best
    threshold — searched with the completion, not taken from the network alone: completion fills
    whole regions, so its best threshold is higher (a 20-minute protocol model on our self-labelled
    real H&E fields: 0.65 with completion against the network's 0.44; val Jaccard 0.842 against
    0.825, mean steatosis-% error 0.76 against 1.81 points) — the best pooled Jaccard wins. Returns
    the card fields (threshold, fuse_scales, complete_min_cover, val_jaccard)."""
    from .complete import WhiteRegions  # noqa: PLC0415

    base = probs or [predict_probability(model, im, tile, prepared=True, scale=scale) for im in images]
    options = [] if fuse_only and scale * 0.5 >= 0.05 else [([1.0], base)]
    if scale * 0.5 >= 0.05:
        half = [predict_probability(model, im, tile, prepared=True, scale=scale * 0.5) for im in images]
        options.append(([1.0, 0.5], [np.maximum(a, b) for a, b in zip(base, half)]))
    regions = [WhiteRegions(im) for im in images]  # found once, completed at every threshold tried
    best = None
    for fuse, probs_ in options:
        thr, jac = best_threshold(probs_, masks)
        tried = [(thr, None, jac)]
        for cover in (0.5, 0.3):
            t, j = search_threshold(lambda t, c=cover, pr=probs_: pooled_jaccard_of(
                [w.complete(p >= t, c) for p, w in zip(pr, regions)], masks))
            tried.append((t, cover, j))
        for t, cover, j in tried:
            if best is None or j > best["val_jaccard"] + 1e-4:
                best = dict(threshold=t, fuse_scales=fuse, complete_min_cover=cover, val_jaccard=j)
    return best


def search_threshold(score, coarse=np.arange(0.10, 0.91, 0.05), fine: float = 0.01) -> tuple[float, float]:
    """The threshold with the best ``score(threshold)``: a 0.05 grid, then 0.01 steps around its best."""
    scored = {round(float(t), 2): score(float(t)) for t in coarse}
    top = max(scored, key=scored.get)
    for t in np.arange(top - 0.04, top + 0.041, fine):
        t = round(float(t), 2)
        if 0.01 <= t <= 0.99 and t not in scored:
            scored[t] = score(t)
    top = max(scored, key=scored.get)
    return top, scored[top]


def _val_loss(probs, masks) -> float:
    tot, n = 0.0, 0
    for p, m in zip(probs, masks):
        q = np.clip(p, 1e-6, 1 - 1e-6)
        tot += float(-(np.log(q[m]).sum() + np.log(1 - q[~m]).sum()))
        n += m.size
    return tot / max(n, 1)


def set_seed(seed: int) -> None:
    """``keras.utils.set_random_seed``, without TensorFlow on the JAX and PyTorch backends: Keras's own
    imports TensorFlow whenever it is installed (to seed tf.data, which training here does not use) —
    seconds of start-up and, beside a GPU, a second framework on it next to JAX's."""
    import keras  # noqa: PLC0415

    if keras.backend.backend() != "tensorflow":
        try:
            from keras.src.utils import module_utils  # noqa: PLC0415 (Keras's lazy TensorFlow)

            if module_utils.tensorflow.module is None:  # not imported by anything yet: Keras sees it absent
                module_utils.tensorflow._available = False
        except (ImportError, AttributeError):  # another Keras: its own way, TensorFlow and all
            pass
    keras.utils.set_random_seed(seed)


def loader_threads() -> int:
    """Threads that draw training patches. On a CPU one (the cores are the network's). Beside a GPU the
    network outruns one thread's sampling (~200 augmented patches/s on an H200 machine's cores, the network
    alone ~630/s at batch 8), so up to eight: 1/2/4/8/16 threads drew 203/408/698/756/576 patches/s on 16
    cores (benchmarks/bench_unet.py). Each batch is drawn from its own seeded generator: the same batches,
    in the same order, whatever the count."""
    import os  # noqa: PLC0415

    from .predict import keras_device  # noqa: PLC0415

    return 1 if keras_device() == "CPU" else min(8, os.cpu_count() or 1)


def _make_dataset_class():
    import keras  # noqa: PLC0415

    class PatchBatches(keras.utils.PyDataset):
        def __init__(self, sampler: PatchSampler, batch_size: int, steps: int, seed: int, threads: int | None = None):
            super().__init__(workers=threads or loader_threads(), use_multiprocessing=False)
            self.sampler, self.batch_size, self.steps, self.seed = sampler, batch_size, steps, seed
            self.epoch = 0

        def __len__(self):
            return self.steps

        def __getitem__(self, i):
            rng = np.random.default_rng((self.seed, self.epoch, i))
            return self.sampler.batch(rng, self.batch_size)

        def on_epoch_end(self):
            self.epoch += 1

    return PatchBatches


def train_unet(
    dataset: Dataset,
    out: str | Path,
    config: TrainConfig | None = None,
    emit: Callable[[dict], None] | None = None,
):
    """Train and save the best model to ``out`` (``.keras`` + ``.card.json``). Returns the card."""
    import keras  # noqa: PLC0415

    from .model import build_unet  # noqa: PLC0415

    cfg = config or TrainConfig()
    out = Path(out)
    if out.suffix != ".keras":
        raise SteatosisError(f"--out {out}: the model file must end in .keras")
    if cfg.loss not in LOSSES:
        raise SteatosisError(f"--loss must be one of {', '.join(LOSSES)}, got {cfg.loss!r}")
    emit = emit or (lambda d: print(json.dumps(d), flush=True))
    started = time.time()
    by_patches = cfg.patches_per_image is not None
    minutes = cfg.max_minutes or (None if by_patches else cfg.epochs * cfg.validate_minutes)
    budget_s = 60 * minutes if minutes else None
    deadline = started + budget_s if budget_s else None
    if cfg.init == "default":  # the shipped model
        from . import default_model  # noqa: PLC0415

        cfg.init = str(default_model.path())
    init_model, init_card = (load_model(cfg.init) if cfg.init else (None, {}))
    train, val = load_splits(dataset, cfg.seed)
    if cfg.working_scale == "auto":
        scale = float(init_card.get("working_scale", 1.0)) if cfg.init else choose_working_scale(train.masks)
    else:
        scale = float(cfg.working_scale)
        if not 0.05 <= scale <= 4:
            raise SteatosisError(f"--working-scale must be within 0.05..4 or auto, got {cfg.working_scale}")
    sampler = PatchSampler(train.images, train.masks, cfg.fg_fraction, white_fraction=cfg.white_fraction,
                           scale=scale, augment=cfg.augment)
    peak = cfg.lr or (PEAK_LR_FINE_TUNE if cfg.init else PEAK_LR)
    loss_fn, loss_name = LOSSES[cfg.loss]
    Batches = _make_dataset_class()
    set_seed(cfg.seed)

    def fresh_model(lr):
        if cfg.init:
            m, _ = load_model(cfg.init)
        else:
            m = build_unet()
        m.compile(optimizer=keras.optimizers.Nadam(learning_rate=lr), loss=loss_fn)
        return m

    def validate(m):
        probs = [predict_probability(m, im, cfg.val_tile, prepared=True, scale=scale) for im in val.images]
        thr, jac = best_threshold(probs, val.masks)
        return thr, jac, _val_loss(probs, val.masks)

    def out_of_time():
        return deadline is not None and time.time() > deadline

    progress = dict(step=0, total_steps=None, epoch_started=time.time(), epoch_limit=None)

    def fraction_done():
        by_time = (time.time() - started) / budget_s if budget_s else 0.0
        by_steps = progress["step"] / progress["total_steps"] if progress["total_steps"] else 0.0
        return max(by_time, by_steps)

    class Schedule(keras.callbacks.Callback):
        """Warm-up + cosine learning rate by the share of the run done; ends an epoch after its
        minutes and the run at its deadline."""

        def on_train_batch_begin(self, batch, logs=None):
            f = fraction_done()
            if progress["total_steps"]:
                warm = min(0.3, cfg.warmup_steps / progress["total_steps"])
            else:
                warm = min(0.3, cfg.warmup_steps * progress.get("step_s", 1.0) / budget_s)
            progress["lr"] = lr_at(f, peak, warm)
            self.model.optimizer.learning_rate.assign(progress["lr"])

        def on_train_batch_end(self, batch, logs=None):
            progress["step"] += 1
            if out_of_time() or (progress["epoch_limit"] and time.time() > progress["epoch_limit"]):
                self.model.stop_training = True

    previous_handler = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: Ctrl-C handling is the caller's
        previous_handler = None

    steps = max(1, cfg.patches_per_image * len(train.images) // cfg.batch_size) if by_patches else 10**6
    progress["total_steps"] = steps * cfg.epochs if by_patches else None
    best = dict(jaccard=-1.0, threshold=0.5, epoch=0)
    history = []
    cancelled = False
    chosen_lr = peak
    try:
        emit(dict(event="start", train_images=len(train.images), val_images=len(val.images),
                  train_patients=len(train.patients), val_patients=len(val.patients),
                  steps_per_epoch=steps if by_patches else f"{cfg.validate_minutes:g} min",
                  batch_size=cfg.batch_size, working_scale=scale, backend=keras.backend.backend()))
        if len(cfg.lr_grid) > 1:  # the old way, on request: short runs scored on the validation split
            scores = []
            for cand in cfg.lr_grid:
                set_seed(cfg.seed)
                m = fresh_model(cand)
                m.fit(Batches(sampler, cfg.batch_size, cfg.grid_steps, cfg.seed + 1, cfg.loader_threads), epochs=1,
                      verbose=0)
                thr, jac, vloss = validate(m)
                scores.append(jac)
                emit(dict(event="lr_grid", lr=cand, val_jaccard=round(jac, 4), val_loss=round(vloss, 4),
                          seconds=round(time.time() - started, 1)))
            peak = chosen_lr = cfg.lr_grid[int(np.argmax(scores))]
        elif len(cfg.lr_grid) == 1:
            peak = chosen_lr = cfg.lr_grid[0]
        set_seed(cfg.seed)
        model = init_model if init_model is not None and len(cfg.lr_grid) <= 1 else None
        if model is None:
            model = fresh_model(peak)
        else:
            model.compile(optimizer=keras.optimizers.Nadam(learning_rate=peak), loss=loss_fn)
        data = Batches(sampler, cfg.batch_size, steps, cfg.seed, cfg.loader_threads)
        stale = 0
        for epoch in range(1, cfg.epochs + 1):
            if out_of_time():
                break
            t0 = time.time()
            step0 = progress["step"]
            progress["epoch_limit"] = None if by_patches else t0 + 60 * cfg.validate_minutes
            h = model.fit(data, epochs=1, verbose=0, callbacks=[Schedule()])
            data.on_epoch_end()
            n_steps = progress["step"] - step0
            progress["step_s"] = (time.time() - t0) / max(n_steps, 1)
            thr, jac, vloss = validate(model)
            rec = dict(event="epoch", epoch=epoch, steps=n_steps, loss=round(float(h.history["loss"][-1]), 4),
                       val_loss=round(vloss, 4), val_jaccard=round(jac, 4), threshold=round(thr, 3),
                       seconds=round(time.time() - t0, 1), minutes=round((time.time() - started) / 60, 2),
                       lr=float(f"{progress.get('lr', peak):.3g}"),
                       patches_per_s=round(n_steps * cfg.batch_size / max(time.time() - t0, 1e-9), 2))
            history.append(rec)
            if jac > best["jaccard"]:
                best = dict(jaccard=jac, threshold=thr, epoch=epoch)
                stale = 0
                card = _card(dataset, train, val, cfg, (chosen_lr, rec["lr"]), best, history, init_card, scale,
                             loss_name)
                save_model(model, out, card)
                rec["saved"] = out.name
            else:
                stale += 1
            emit(rec)
            if stale >= cfg.patience:
                emit(dict(event="early_stop", epochs_without_gain=stale))
                break
    except KeyboardInterrupt:
        cancelled = True
        emit(dict(event="cancelled", best_epoch=best["epoch"],
                  kept=str(out) if best["epoch"] else "nothing written; the previous model file is untouched"))
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    if best["epoch"] == 0:
        if cancelled:
            return None
        raise SteatosisError("training ended before one epoch was validated; raise --max-minutes")
    card = _card(dataset, train, val, cfg, (chosen_lr, history[best["epoch"] - 1]["lr"]), best, history, init_card,
                 scale, loss_name)
    if cfg.postprocess and not cancelled:
        chosen = choose_postprocessing(load_model(out)[0], val.images, val.masks, scale, cfg.val_tile)
        card.update(chosen, val_jaccard_network=best["jaccard"], threshold_network=best["threshold"])
        emit(dict(event="postprocess", **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in chosen.items()}))
    _rewrite_card(out, card)  # the whole curve, not only the part up to the best epoch
    emit(dict(event="done", model=str(out), best_epoch=best["epoch"], val_jaccard=round(card["val_jaccard"], 4),
              threshold=round(card["threshold"], 3), working_scale=scale,
              minutes=round((time.time() - started) / 60, 2), cancelled=cancelled))
    return card


def _rewrite_card(out: Path, card: dict) -> None:
    from ..data.atomic import atomic_write  # noqa: PLC0415
    from .card import CARD_FORMAT, card_path  # noqa: PLC0415

    with atomic_write(card_path(out)) as tmp:
        tmp.write_text(json.dumps({"format": CARD_FORMAT, **card}, indent=2, default=float))


def _without_paths(card: dict) -> dict:
    """A card to copy into another: no training history, and dataset paths cut to their last part."""
    card = json.loads(json.dumps(card, default=float))
    data = card.get("training_data")
    if isinstance(data, dict) and isinstance(data.get("dataset"), str):
        data["dataset"] = Path(data["dataset"]).name
    if isinstance(card.get("fine_tuned_from"), str):
        card["fine_tuned_from"] = Path(card["fine_tuned_from"]).name
    if isinstance(card.get("fine_tuned_from_card"), dict):
        card["fine_tuned_from_card"] = _without_paths(card["fine_tuned_from_card"])
    for rec in card.get("history") or []:
        if isinstance(rec, dict) and isinstance(rec.get("saved"), str):
            rec["saved"] = Path(rec["saved"]).name
    return card


def _card(dataset, train, val, cfg, lrs, best, history, init_card, scale, loss_name) -> dict:
    import keras  # noqa: PLC0415

    px = [p for p in train.pixel_sizes + val.pixel_sizes if p]
    diam, area = vacuole_diameters(train.masks)
    return dict(
        note=cfg.note,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        threshold=best["threshold"],
        val_jaccard=best["jaccard"],
        best_epoch=best["epoch"],
        epochs_run=len(history),
        working_scale=scale,
        nucleus_diameter_px=nucleus_card(train.nuclei + val.nuclei, scale),
        learning_rate=lrs[0],
        learning_rate_at_best=lrs[1],
        schedule=(f"Nadam, warm-up then cosine to 1/20 of the peak over "
                  f"{count(cfg.max_minutes, 'minute', fmt='g') if cfg.max_minutes else count(cfg.epochs, 'epoch')}"),
        lr_grid=list(cfg.lr_grid),
        loss=loss_name,
        training_data=dict(
            dataset=Path(dataset.root).name,  # a name, never a path of the training machine
            train_images=len(train.images), val_images=len(val.images),
            train_patients=sorted(train.patients), val_patients=sorted(val.patients),
            stains=sorted(train.stains | val.stains),
            pixel_size_um=(float(np.median(px)) if px else None),
            vacuole_diameter_px=(dict(median=round(float(np.median(diam)), 1),
                                      area_weighted_median=round(float(np.average(diam, weights=area)), 1))
                                 if len(diam) else None),
            patch=PATCH,
            sampling=dict(fat=cfg.fg_fraction, white_not_fat=cfg.white_fraction, augment=cfg.augment),
        ),
        fine_tuned_from=Path(cfg.init).name if cfg.init else None,
        fine_tuned_from_card=_without_paths({k: v for k, v in init_card.items() if k != "history"}) or None,
        input=dict(
            image="RGB uint8, any size; grey 0.1/99.9 percentile stretch before the network (prepare_image)",
            working_scale=f"images are resized by {scale:g} before the network and the output back",
            inside_model="x / 255, then batch normalisation",
            valid_tile_sizes="16k + 12 (268, 524, 1036, ...); output = input - 120",
        ),
        backend=keras.backend.backend(),
        history=history,
    )
