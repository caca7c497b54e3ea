"""Which candidate regions are positive or negative examples.

- Point labels: a region is positive when a steatosis point falls in it, negative when a
  not_steatosis point does; a region with both is ambiguous and left out. A point that falls
  just off a region (the erosion shaved its edge) counts for a region within ``snap`` px.
  When the white regions were split into pieces (candidates.py: split), a not_steatosis point says
  the whole white region is not fat: every piece cut from it is negative, except a piece that holds
  a steatosis point (a vacuole with a channel attached: the vacuole clicked, the channel not).
- A steatosis mask and no points: positive when at least ``pos_overlap`` of the region is
  in the mask, negative when at most ``neg_overlap`` is; in between left out.
- Regions without a label are not used for training (label -1).
"""

from __future__ import annotations

import numpy as np


def _region_at(labels: np.ndarray, rc, snap: int) -> int:
    r, c = int(round(rc[0])), int(round(rc[1]))
    H, W = labels.shape
    r, c = min(max(r, 0), H - 1), min(max(c, 0), W - 1)
    if labels[r, c]:
        return int(labels[r, c])
    win = labels[max(r - snap, 0):r + snap + 1, max(c - snap, 0):c + snap + 1]
    ids, counts = np.unique(win[win > 0], return_counts=True)
    return int(ids[np.argmax(counts)]) if len(ids) else 0


def labels_from_points(labels: np.ndarray, n: int, positive, negative, snap: int = 3,
                       parent: np.ndarray | None = None) -> np.ndarray:
    """Per region: 1 positive, 0 negative, -1 unlabelled or ambiguous. ``parent``: (n,) the white
    region (1..) each piece was cut from, when they were split."""
    pos = np.zeros(n + 1, bool)
    neg = np.zeros(n + 1, bool)
    for rc in np.asarray(positive).reshape(-1, 2):
        pos[_region_at(labels, rc, snap)] = True
    for rc in np.asarray(negative).reshape(-1, 2):
        neg[_region_at(labels, rc, snap)] = True
    y = np.full(n + 1, -1, np.int8)
    if parent is not None and n:
        whole = np.zeros(int(parent.max()) + 1, bool)
        whole[parent[neg[1:]]] = True
        y[1:][whole[parent] & ~pos[1:]] = 0  # the other pieces of a region marked not fat
    y[pos & ~neg] = 1
    y[neg & ~pos] = 0  # a piece with both kinds of point stays -1: ambiguous
    return y[1:]


def labels_from_mask(labels: np.ndarray, n: int, mask: np.ndarray, pos_overlap: float = 0.5,
                     neg_overlap: float = 0.1) -> np.ndarray:
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    inside = np.bincount(labels[mask].ravel(), minlength=n + 1)[1:]
    frac = inside / np.maximum(area, 1)
    y = np.full(n, -1, np.int8)
    y[frac >= pos_overlap] = 1
    y[frac <= neg_overlap] = 0
    return y
