"""Training the U-Net on a dataset folder, with progress as JSON lines and safe cancellation.

- Patches: up to ``patches_per_image`` rotated/flipped/colour-jittered 268 px patches per
  training image per epoch, made on the fly (keras.utils.PyDataset), half centred on fat.
- Loss: binary cross-entropy + soft Dice (overlap-aware, so 2 % fat cannot be ignored).
- Nadam; the learning rate is chosen from a small grid by a short run on the validation split.
- Each epoch the validation images are predicted through the same tiled path users run, in
  inference mode; the decision threshold with the best pooled Jaccard is kept; the best
  model so far is saved atomically, so a cancel (Ctrl-C, SIGTERM) keeps it and never leaves
  a broken file in place of the previous model.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.dataset import Dataset
from ..errors import SteatosisError
from . import PATCH
from .card import load_model, save_model
from .patches import PatchSampler, prepare_image
from .predict import predict_probability

FINE_TUNE_LR_GRID = (1e-3, 1e-4)  # starting from a trained model: small steps only


@dataclass
class TrainConfig:
    epochs: int = 30
    patches_per_image: int = 250
    batch_size: int = 8
    lr_grid: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    grid_steps: int = 40
    max_minutes: float | None = None
    patience: int = 6
    seed: int = 0
    init: str | None = None
    fg_fraction: float = 0.5
    val_tile: int = 1036
    note: str = ""


@dataclass
class Split:
    images: list = field(default_factory=list)
    masks: list = field(default_factory=list)
    stems: list = field(default_factory=list)
    patients: set = field(default_factory=set)
    stains: set = field(default_factory=set)


def load_splits(dataset: Dataset, seed: int = 0) -> tuple[Split, Split]:
    """Training and validation images with steatosis masks (test patients are never touched).

    Unlabelled images are skipped: a missing mask is not "no steatosis".
    """
    splits = dataset.splits(seed)
    train, val = Split(), Split()
    for rec in dataset.records:
        part = {"train": train, "val": val}.get(splits[rec.stem])
        if part is None or not dataset.has_label(rec, "steatosis"):
            continue
        rgb = dataset.read_image(rec)
        part.images.append(prepare_image(rgb))
        part.masks.append(dataset.read_mask(rec, "steatosis", rgb.shape[:2]))
        part.stems.append(rec.stem)
        part.patients.add(rec.patient)
        part.stains.add(rec.extra.get("stain", "unknown"))
    if not train.images:
        raise SteatosisError(f"{dataset.root}: no training image has a steatosis mask")
    if not val.images:
        raise SteatosisError(f"{dataset.root}: no validation patient has a steatosis mask; "
                             "give some patients split=val, or add patients")
    return train, val


def soft_dice_bce(y_true, y_pred):
    from keras import ops  # noqa: PLC0415

    eps = 1e-6
    p = ops.clip(y_pred, eps, 1 - eps)
    bce = -ops.mean(y_true * ops.log(p) + (1 - y_true) * ops.log(1 - p))
    inter = ops.sum(y_true * y_pred)
    dice = 1 - (2 * inter + 1.0) / (ops.sum(y_true) + ops.sum(y_pred) + 1.0)
    return bce + dice


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


def _val_loss(probs, masks) -> float:
    tot, n = 0.0, 0
    for p, m in zip(probs, masks):
        q = np.clip(p, 1e-6, 1 - 1e-6)
        tot += float(-(np.log(q[m]).sum() + np.log(1 - q[~m]).sum()))
        n += m.size
    return tot / max(n, 1)


def _make_dataset_class():
    import keras  # noqa: PLC0415

    class PatchBatches(keras.utils.PyDataset):
        def __init__(self, sampler: PatchSampler, batch_size: int, steps: int, seed: int):
            super().__init__(workers=1, use_multiprocessing=False)
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
    emit = emit or (lambda d: print(json.dumps(d), flush=True))
    started = time.time()
    deadline = started + 60 * cfg.max_minutes if cfg.max_minutes else None
    train, val = load_splits(dataset, cfg.seed)
    sampler = PatchSampler(train.images, train.masks, cfg.fg_fraction)
    steps = max(1, cfg.patches_per_image * len(train.images) // cfg.batch_size)
    Batches = _make_dataset_class()
    keras.utils.set_random_seed(cfg.seed)
    init_card = {}

    def fresh_model(lr):
        nonlocal init_card
        if cfg.init:
            m, init_card = load_model(cfg.init)
        else:
            m = build_unet()
        m.compile(optimizer=keras.optimizers.Nadam(learning_rate=lr), loss=soft_dice_bce)
        return m

    def validate(m):
        probs = [predict_probability(m, im, cfg.val_tile, prepared=True) for im in val.images]
        thr, jac = best_threshold(probs, val.masks)
        return thr, jac, _val_loss(probs, val.masks)

    def out_of_time():
        return deadline is not None and time.time() > deadline

    class Budget(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if out_of_time():
                self.model.stop_training = True

    previous_handler = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: Ctrl-C handling is the caller's
        previous_handler = None

    best = dict(jaccard=-1.0, threshold=0.5, epoch=0)
    chosen_lr = lr = cfg.lr_grid[0]
    history = []
    cancelled = False
    try:
        emit(dict(event="start", train_images=len(train.images), val_images=len(val.images),
                  train_patients=len(train.patients), val_patients=len(val.patients), steps_per_epoch=steps,
                  batch_size=cfg.batch_size, backend=keras.backend.backend()))
        # --- learning rate from a small grid, short runs scored on the validation split ---
        lrs = list(cfg.lr_grid)
        lr = chosen_lr = lrs[0]
        if len(lrs) > 1:
            scores = []
            for cand in lrs:
                keras.utils.set_random_seed(cfg.seed)
                m = fresh_model(cand)
                m.fit(Batches(sampler, cfg.batch_size, cfg.grid_steps, cfg.seed + 1), epochs=1, verbose=0,
                      callbacks=[Budget()])
                thr, jac, vloss = validate(m)
                scores.append(jac)
                emit(dict(event="lr_grid", lr=cand, val_jaccard=round(jac, 4), val_loss=round(vloss, 4),
                          seconds=round(time.time() - started, 1)))
            lr = lrs[int(np.argmax(scores))]
        chosen_lr = lr
        keras.utils.set_random_seed(cfg.seed)
        model = fresh_model(lr)
        data = Batches(sampler, cfg.batch_size, steps, cfg.seed)
        stale = 0
        for epoch in range(1, cfg.epochs + 1):
            if out_of_time():
                break
            t0 = time.time()
            h = model.fit(data, epochs=1, verbose=0, callbacks=[Budget()])
            data.on_epoch_end()
            thr, jac, vloss = validate(model)
            rec = dict(event="epoch", epoch=epoch, loss=round(float(h.history["loss"][-1]), 4),
                       val_loss=round(vloss, 4), val_jaccard=round(jac, 4), threshold=round(thr, 3),
                       seconds=round(time.time() - t0, 1), lr=lr)
            history.append(rec)
            if jac > best["jaccard"]:
                best = dict(jaccard=jac, threshold=thr, epoch=epoch)
                stale = 0
                card = _card(dataset, train, val, cfg, (chosen_lr, lr), best, history, init_card)
                save_model(model, out, card)
                rec["saved"] = str(out)
            else:
                stale += 1
                lr = lr * 0.5  # plateau: halve the learning rate, the best model stays on disk
                model.optimizer.learning_rate.assign(lr)
            emit(rec)
            if stale >= cfg.patience:
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
    emit(dict(event="done", model=str(out), best_epoch=best["epoch"], val_jaccard=round(best["jaccard"], 4),
              threshold=round(best["threshold"], 3), minutes=round((time.time() - started) / 60, 2),
              cancelled=cancelled))
    return _card(dataset, train, val, cfg, (chosen_lr, lr), best, history, init_card)


def _card(dataset, train, val, cfg, lrs, best, history, init_card) -> dict:
    import keras  # noqa: PLC0415

    return dict(
        note=cfg.note,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        threshold=best["threshold"],
        val_jaccard=best["jaccard"],
        best_epoch=best["epoch"],
        epochs_run=len(history),
        learning_rate=lrs[0],
        learning_rate_at_best=lrs[1],
        lr_grid=list(cfg.lr_grid),
        loss="binary cross-entropy + soft Dice",
        training_data=dict(
            dataset=str(Path(dataset.root).resolve()), train_images=len(train.images),
            val_images=len(val.images), train_patients=sorted(train.patients), val_patients=sorted(val.patients),
            stains=sorted(train.stains | val.stains),
            patches_per_image_per_epoch=cfg.patches_per_image, patch=PATCH,
        ),
        fine_tuned_from=cfg.init,
        fine_tuned_from_card=init_card or None,
        input=dict(
            image="RGB uint8, any size; grey 0.1/99.9 percentile stretch before the network (prepare_image)",
            inside_model="x / 255, then batch normalisation",
            valid_tile_sizes="16k + 12 (268, 524, 1036, ...); output = input - 120",
        ),
        backend=keras.backend.backend(),
        history=history,
    )
