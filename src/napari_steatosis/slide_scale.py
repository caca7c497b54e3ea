"""``--scale auto`` on a whole slide: one factor for all its blocks, from the nuclei of a few crops.

An image with ``--scale auto`` is resized from the size of its own nuclei (magnification.py). A
slide is decided once, in its plan, before any block runs, so that every block runs at the same
factor (a block alone would decide by itself, and neighbours would disagree at their borders):

* :func:`crop_boxes`: up to :data:`CROPS` level-0 squares of :data:`CROP_SIDE` px inside the
  tissue, spread over the slide (the same ones on every run);
* :func:`slide_scale`: reads those crops only (bounded memory: a few Mpx whatever the slide's
  size) and pools their nuclei into one estimate, as if they were one image. Pooling, not the
  median of per-crop estimates: the model card's nucleus range was measured with the same
  statistic on whole training images, a crop at the tissue's edge with few nuclei weighs by the
  nuclei it has instead of casting a full, noisy vote, and the "too few nuclei" test applies to
  them all. Where it fails (too few nuclei, not H&E) the slide runs at the model's working scale
  and the note says why, as for an image.
"""

from __future__ import annotations

import numpy as np

CROPS = 4
CROP_SIDE = 1024  # px at level 0: hundreds of nuclei at 20x or 40x
MIN_TISSUE = 0.5  # a crop is at least this share tissue, when the slide has such squares


def _starts(n: int, side: int) -> np.ndarray:
    """Starts of squares of ``side`` covering 0..n (the last one ending at n)."""
    return np.linspace(0, n - side, int(np.ceil(n / side))).round().astype(int)


def crop_boxes(tissue: np.ndarray, shape: tuple[int, int], n: int = CROPS, side: int = CROP_SIDE) -> list[tuple]:
    """Up to ``n`` level-0 boxes ``(r0, c0, r1, c1)`` of ``side`` px (the slide's size where it is smaller),
    from the grid of such squares: those at least :data:`MIN_TISSUE` tissue by the thumbnail mask
    ``tissue`` (else the ones with most tissue), ``n`` of them evenly along raster order."""
    H, W = shape
    th, tw = tissue.shape
    sr, sc = min(side, H), min(side, W)
    boxes, shares = [], []
    for r0 in _starts(H, sr):
        for c0 in _starts(W, sc):
            a0, a1 = int(r0 * th / H), max(int(r0 * th / H) + 1, int(np.ceil((r0 + sr) * th / H)))
            b0, b1 = int(c0 * tw / W), max(int(c0 * tw / W) + 1, int(np.ceil((c0 + sc) * tw / W)))
            boxes.append((int(r0), int(c0), int(r0 + sr), int(c0 + sc)))
            shares.append(float(tissue[a0:a1, b0:b1].mean()))
    good = [b for b, s in zip(boxes, shares) if s >= MIN_TISSUE]
    if not good:
        order = sorted((i for i, s in enumerate(shares) if s > 0), key=lambda i: -shares[i])[:n]
        good = [boxes[i] for i in sorted(order)]
    if len(good) <= n:
        return good
    return [good[int((k + 0.5) * len(good) / n)] for k in range(n)]


def slide_scale(slide, tissue: np.ndarray, detector) -> tuple[float, str | None]:
    """``(factor, note)``: the factor every block of ``slide`` runs at under ``detector`` (a U-Net
    :class:`~.unet.detector.Detector` with ``scale="auto"``), from the nuclei of the crops of
    :func:`crop_boxes`; ``note`` says why it fell back to the working scale, else None."""
    crops = [slide.read(*box) for box in crop_boxes(tissue, slide.shape)]
    factor = detector.choose_scale(crops) if crops else detector.working_scale
    note = detector.last_scale_note if crops else (
        f"no tissue to measure nuclei on; ran at the model's working scale {detector.working_scale:g}")
    return factor, note
