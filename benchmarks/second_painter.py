"""A second independent liver H&E painter, written blind, and a scorer of our methods on it.

Why: our generator scores itself, and the first independent painter (other_generator.py) has
leaked into our training look. This one was designed without reading either of them, from
histology and from looking at real H&E liver tiles (GTEx tiles at ~0.5 µm/px, DELINEATE fields at
high magnification). Its design was fixed before any model was run on it; it is not to be tuned
toward or away from our models.

What it paints, per image (numpy + OpenCV only):
  * hepatocyte plates: cells are a Voronoi tessellation in a warped cord frame (one or two cells
    across a cord, 16-26 µm along it), granular eosinophilic cytoplasm with a little haematoxylin,
    thin darker cell borders, zonal and per-cell density variation, some lipofuscin granules;
  * hepatocyte nuclei: round to slightly oval, 6-9 µm (5 % polyploid x1.3), chromatin speckle, a
    darker rim, one or two nucleoli; 8 % of cells binucleate; ~15 % of cells cut without nucleus;
  * sinusoids between the cords: 1.5-4 µm pale channels, partly collapsed, with anastomoses,
    flat endothelial and plumper Kupffer nuclei and groups of red blood cells (7 µm discs);
  * look-alikes that are NOT fat: sinusoid lumina, a central vein or a portal tract (white lumina
    with red cells and plasma, a bile duct, an artery, lymphocytes), tissue tears, a glass edge,
    glycogenated nuclei (clear centre, dark rim), microvesicular droplets;
  * steatosis, zonal (a smooth field sets which cells are fatty; grade 0-70 % of cells):
    macrovesicular droplets (one clear droplet 9-40 µm, slightly oval, crisp thin rim, the nucleus
    pushed to the edge and flattened into a crescent; neighbouring droplets may merge), small-droplet
    cells (2-5 droplets of 3.5-9 µm) and microvesicular foamy cells (many 0.8-2.2 µm droplets).
  * Truth = the macrovesicular and small droplets (the interior inside the rim), uint8 0/255.
    Microvesicular droplets (< 2.5 µm) are NOT counted, as the usual steatosis masks (DELINEATE's
    among them) leave those foamy spaces unlabelled.
  * Imaging: stain in Beer-Lambert optical density, haematoxylin / eosin / red-cell / pigment
    vectors and amounts perturbed per image, background light 212-250 per channel; pixel size
    0.25-0.5 µm (log-uniform; 2-4 px/µm); focus blur sigma 0.3-1.3 px; sensor noise; JPEG q 55-92.
    Images are 512-768 px a side. The pixel size is NOT written to the dataset (users' images
    usually come without one); it is in painter.json next to the dataset.

Run: python benchmarks/second_painter.py [--images 12] [--train 8] [--seed 11] [--out DIR] [--model M.keras]
  writes DIR/test (the held-out set) and DIR/train (images the classical pipeline is trained on,
  with points made as a user clicks them, by classical_points.user_points), then runs
  (1) the U-Net (default: the shipped model) zero-shot: steatosis predict DIR/test; evaluate --split all
  (2) the classical pipeline trained on DIR/train points, predicted and evaluated the same way,
  and prints one table (pooled Jaccard, % error, false share, recall by diameter in px).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

UM_PER_PX = (0.25, 0.5)
MACRO_UM = (9.0, 40.0)   # droplet diameters counted in the truth
SMALL_UM = (3.5, 9.0)
MICRO_UM = (0.8, 2.2)    # not in the truth
NUCLEUS_UM = (6.0, 9.0)

# stain optical-density directions (R, G, B), fitted by eye to the real tiles' nuclei, cytoplasm,
# red cells and brown pigment; perturbed per image
H_VEC = np.array([0.56, 0.74, 0.36])
E_VEC = np.array([0.26, 0.83, 0.49])
RBC_VEC = np.array([0.06, 0.78, 0.62])
PIGMENT_VEC = np.array([0.22, 0.45, 0.86])


@dataclass
class Painting:
    rgb: np.ndarray                 # H x W x 3 uint8
    truth: np.ndarray               # H x W uint8 0/255: fat droplets
    um_per_px: float
    droplets: list = field(default_factory=list)   # (row, col, diameter_um, kind) of each truth droplet
    lookalike: np.ndarray | None = None             # bool: white pixels that are not fat (painted white)
    micro: np.ndarray | None = None                 # bool: microvesicular droplets (not fat in the truth)


def _noise(rng, shape, scale_px, lo_res=True):
    """Smooth noise with unit standard deviation and features about ``scale_px`` wide."""
    h, w = shape
    if lo_res and scale_px > 4:
        f = max(1, int(scale_px / 2))
        small = rng.standard_normal((h // f + 3, w // f + 3)).astype(np.float32)
        n = cv2.resize(small, (small.shape[1] * f, small.shape[0] * f), interpolation=cv2.INTER_CUBIC)
        n = cv2.GaussianBlur(n, (0, 0), scale_px / 2.5)[f:f + h, f:f + w]
    else:
        n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), max(scale_px / 2.5, 0.3))
    return (n - n.mean()) / (n.std() + 1e-6)


def _unit(v):
    return v / np.linalg.norm(v)


def _poly(cy, cx, ry, rx, angle, rng, wobble=0.03, n=48):
    """A slightly irregular ellipse as an int32 polygon with 4 bits of sub-pixel precision."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1 + wobble * sum(rng.normal() * np.cos(k * t + rng.uniform(0, 2 * np.pi)) / k for k in (2, 3, 4))
    x, y = rx * r * np.cos(t), ry * r * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    px, py = cx + ca * x - sa * y, cy + sa * x + ca * y
    return (np.stack([px, py], 1) * 16).round().astype(np.int32)


def _fill(layer, poly, value=1.0):
    cv2.fillPoly(layer, [poly], value, lineType=cv2.LINE_8, shift=4)


def _ellipse_mask(shape, cy, cx, ry, rx, angle, rng, wobble=0.03):
    m = np.zeros(shape, np.uint8)
    _fill(m, _poly(cy, cx, ry, rx, angle, rng, wobble), 1)
    return m.astype(bool)


def paint(rng: np.random.Generator, size: tuple[int, int] | None = None) -> Painting:
    """One field of liver H&E and its fat-droplet truth."""
    H, W = size or (int(rng.integers(512, 769)), int(rng.integers(512, 769)))
    um = float(np.exp(rng.uniform(np.log(UM_PER_PX[0]), np.log(UM_PER_PX[1]))))
    s = 1.0 / um  # px per µm
    shape = (H, W)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)

    # -------- cord frame: u along the plates, v across them (µm), warped
    a = rng.uniform(0, np.pi)
    warp_v = _noise(rng, shape, 70 * s) * rng.uniform(6, 16) + _noise(rng, shape, 25 * s) * 2.0
    warp_u = _noise(rng, shape, 40 * s) * 5.0
    u = (xx * math.cos(a) + yy * math.sin(a)) / s + warp_u + 3.0 * _noise(rng, shape, 8 * s)
    v = (-xx * math.sin(a) + yy * math.cos(a)) / s + warp_v + 1.5 * _noise(rng, shape, 6 * s)
    P = rng.uniform(20, 30)          # cord period (µm)
    L = rng.uniform(16, 24)          # cell length along a cord
    double = rng.uniform(0.0, 0.5)   # share of cords two cells wide
    k_all = np.floor(v / P).astype(np.int32)
    k0, k1 = k_all.min() - 2, k_all.max() + 2
    j0, j1 = int(np.floor(u.min() / L)) - 3, int(np.ceil(u.max() / L)) + 3
    nk, nj = k1 - k0 + 1, j1 - j0 + 1
    two = rng.random(nk) < double
    # seeds: per cord k and slot j, one or two seeds across
    su = (np.arange(nj)[None, :, None] + j0 + 0.5 * (np.arange(nk)[:, None, None] % 2)
          + rng.uniform(-0.25, 0.25, (nk, nj, 2))) * L
    across = np.where(two[:, None, None], np.array([0.28, 0.72])[None, None, :], 0.5)
    sv = (np.arange(nk)[:, None, None] + k0 + across + rng.uniform(-0.06, 0.06, (nk, nj, 2))) * P
    best = np.full(shape, np.inf, np.float32)
    label = np.zeros(shape, np.int64)
    for dk in (-1, 0, 1):
        kk = np.clip(k_all + dk - k0, 0, nk - 1)
        for dj in (-1, 0, 1):
            jj = np.clip(np.round(u / L).astype(np.int32) + dj - j0, 0, nj - 1)
            for side in (0, 1):
                d = (u - su[kk, jj, side]) ** 2 + 1.3 * (v - sv[kk, jj, side]) ** 2
                if side == 1:
                    d = np.where(two[kk], d, np.inf)
                better = d < best
                best[better] = d[better]
                label[better] = ((kk * nj + jj) * 2 + side)[better]
    _, label = np.unique(label, return_inverse=True)
    label = label.reshape(shape).astype(np.int32)
    ncell = int(label.max()) + 1
    area = np.bincount(label.ravel(), minlength=ncell).astype(np.float64)
    cy = np.bincount(label.ravel(), yy.ravel(), ncell) / np.maximum(area, 1)
    cx = np.bincount(label.ravel(), xx.ravel(), ncell) / np.maximum(area, 1)
    cell_d_um = 2 * np.sqrt(area / np.pi) / s

    # -------- sinusoids at v = kP, partly collapsed, with cross-connections
    dv = np.abs(v / P - np.round(v / P)) * P
    width = rng.uniform(1.5, 4.0) * np.clip(1 + 0.45 * _noise(rng, shape, 30 * s), 0.35, 2.2)
    open_ = _noise(rng, shape, 45 * s) > rng.uniform(-1.0, 0.1)
    sinus = (dv < width / 2) & open_
    Lc = rng.uniform(50, 130)
    off = rng.uniform(0, Lc, nk)
    du = np.abs(((u - off[np.clip(k_all - k0, 0, nk - 1)]) % Lc) - Lc / 2)
    cross = (du < width / 2 * 0.8) & (dv > width / 2) & (_noise(rng, shape, 35 * s) > 0)
    sinus |= cross
    sinus &= ~(two[np.clip(k_all - k0, 0, nk - 1)] & (np.abs(v / P - k_all - 0.5) * P < 2))  # no gap inside double cords

    # -------- optical density layers
    cH = np.zeros(shape, np.float32)
    cE = np.zeros(shape, np.float32)
    cR = np.zeros(shape, np.float32)
    cP = np.zeros(shape, np.float32)
    tissue = np.ones(shape, bool)       # False where the slide is empty (lumen, tear, glass, fat)
    look = np.zeros(shape, bool)        # white but not fat
    nofat = np.zeros(shape, bool)       # no hepatocytes here (vessels, portal tract, glass)

    e0 = rng.uniform(0.4, 0.62)
    h0 = rng.uniform(0.08, 0.2)
    fine = _noise(rng, shape, 1.2 * s, lo_res=False)
    gran = _noise(rng, shape, 2.5 * s, lo_res=False)
    mid = _noise(rng, shape, 4 * s)
    zone = _noise(rng, shape, 120 * s)
    per_cell = rng.uniform(0.82, 1.18, ncell).astype(np.float32)[label]
    flocc = np.clip(_noise(rng, shape, 3 * s), 0, None) * rng.uniform(0.05, 0.35)  # pale rarefied cytoplasm
    cE[:] = e0 * per_cell * (1 + 0.12 * fine + 0.25 * gran + 0.15 * mid + 0.06 * zone) * (1 - flocc)
    cH[:] = h0 * per_cell * (1 + 0.15 * fine + 0.3 * gran + 0.15 * mid) * (1 - flocc)
    border = np.zeros(shape, bool)
    border[:, 1:] |= label[:, 1:] != label[:, :-1]
    border[1:, :] |= label[1:, :] != label[:-1, :]
    bw = max(1, int(round(rng.uniform(0.4, 0.9) * s)))
    border = cv2.dilate(border.astype(np.uint8), np.ones((bw, bw), np.uint8)) > 0
    bstrength = rng.uniform(0.1, 0.45)
    cE[border] += bstrength * e0 * 1.6
    cH[border] += bstrength * 0.05

    # sinusoid lumen: thin plasma, then endothelial / Kupffer nuclei and red cells
    plasma = rng.uniform(0.02, 0.15)
    cE[sinus] = plasma * (1 + 0.5 * fine[sinus]).clip(0)
    cH[sinus] = 0.01
    look |= sinus
    sin_rows, sin_cols = np.nonzero(sinus)
    gy, gx = np.gradient(v)
    n_endo = int(sinus.sum() / (s * s) / rng.uniform(40, 100))
    for i in rng.choice(len(sin_rows), size=min(n_endo, len(sin_rows)), replace=False) if len(sin_rows) else []:
        r0, c0 = sin_rows[i], sin_cols[i]
        ang = math.atan2(gy[r0, c0], gx[r0, c0]) + np.pi / 2
        kup = rng.random() < 0.3
        ra, rb = (rng.uniform(2.5, 3.5), rng.uniform(1.6, 2.2)) if kup else (rng.uniform(3, 5), rng.uniform(0.7, 1.3))
        m = _ellipse_mask(shape, r0, c0, rb * s, ra * s, ang, rng, 0.05)
        cH[m] = rng.uniform(0.9, 1.4) * (1 + 0.15 * fine[m])
        cE[m] = np.maximum(cE[m], 0.15)
    rbc_groups = int(sinus.sum() / (s * s) / rng.uniform(500, 2500))
    for _ in range(rbc_groups):
        if not len(sin_rows):
            break
        i = rng.integers(len(sin_rows))
        r0, c0 = float(sin_rows[i]), float(sin_cols[i])
        ang = math.atan2(gy[int(r0), int(c0)], gx[int(r0), int(c0)]) + np.pi / 2
        for _ in range(int(rng.integers(1, 7))):
            rr = rng.uniform(3.0, 3.8) * s
            m = _ellipse_mask(shape, r0, c0, rr * rng.uniform(0.7, 1.0), rr, rng.uniform(0, np.pi), rng, 0.04)
            cR[m] = rng.uniform(0.6, 1.2)
            cE[m] = np.maximum(cE[m], 0.1)
            look[m] = False
            r0 += math.sin(ang) * rr * 1.6 + rng.normal(0, 1)
            c0 += math.cos(ang) * rr * 1.6 + rng.normal(0, 1)

    # -------- a central vein or a portal tract (no hepatocytes, no fat there)
    if rng.random() < 0.6:
        vy, vx = rng.uniform(0.1, 0.9) * H, rng.uniform(0.1, 0.9) * W
        if rng.random() < 0.5:  # central vein
            R = rng.uniform(20, 60) * s
            wall = _ellipse_mask(shape, vy, vx, R * 0.8 + 3 * s, R + 3 * s, rng.uniform(0, np.pi), rng, 0.06)
            lumen = cv2.erode(wall.astype(np.uint8), np.ones((int(3 * s) | 1,) * 2, np.uint8)) > 0
            cE[wall] = e0 * 1.5 * (1 + 0.2 * fine[wall])
            cH[wall] = 0.05
            nofat |= wall
            _lumen(rng, shape, lumen, cH, cE, cR, look, tissue, s, fine)
        else:  # portal tract: collagen stroma with a vein, an artery, a bile duct and lymphocytes
            R = rng.uniform(45, 110) * s
            tract = _ellipse_mask(shape, vy, vx, R * rng.uniform(0.6, 0.9), R, rng.uniform(0, np.pi), rng, 0.1)
            fib = 1 + 0.35 * _noise(rng, shape, 2 * s) + 0.2 * fine
            cE[tract] = e0 * 1.25 * fib[tract]
            cH[tract] = 0.04
            nofat |= tract
            trr, tcc = np.nonzero(tract)
            pv = _ellipse_mask(shape, vy, vx, R * 0.25, R * 0.45, rng.uniform(0, np.pi), rng, 0.1) & tract
            _lumen(rng, shape, pv, cH, cE, cR, look, tissue, s, fine)
            for kind in ("artery", "duct"):
                i = rng.integers(len(trr))
                r0, c0 = trr[i], tcc[i]
                rl = rng.uniform(4, 9) * s
                ring = _ellipse_mask(shape, r0, c0, rl + 5 * s, rl + 5 * s, 0, rng, 0.05) & tract & ~pv
                if kind == "artery":
                    cE[ring] = e0 * 2.0
                else:
                    cE[ring] = e0 * 0.9
                    for t in np.linspace(0, 2 * np.pi, int(rl / s) + 6, endpoint=False):
                        m = _ellipse_mask(shape, r0 + (rl + 2.5 * s) * math.sin(t), c0 + (rl + 2.5 * s) * math.cos(t),
                                          2 * s, 2 * s, 0, rng, 0.05)
                        cH[m] = 1.0
                lum = _ellipse_mask(shape, r0, c0, rl, rl, 0, rng, 0.05) & ring
                cE[lum], cH[lum] = 0.02, 0.0
                tissue &= ~lum
                look |= lum
            for _ in range(int(len(trr) / (s * s) / rng.uniform(150, 600))):  # lymphocytes
                i = rng.integers(len(trr))
                m = _ellipse_mask(shape, trr[i], tcc[i], 2.3 * s, 2.5 * s, 0, rng, 0.05) & tract
                cH[m] = rng.uniform(1.3, 1.8)
                look[m] = False
                tissue[m] = True

    # -------- a glass edge (painted last; no fat within 25 µm of it)
    glass = np.zeros(shape, bool)
    if rng.random() < 0.25:
        side = int(rng.integers(4))
        edge = [yy, xx, H - 1 - yy, W - 1 - xx][side] + 20 * s * _noise(rng, shape, 60 * s)
        glass = edge < rng.uniform(0.08, 0.25) * (H if side % 2 == 0 else W)
        near = cv2.dilate(glass.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(50 * s) | 1,) * 2))
        nofat |= near > 0

    # -------- hepatocyte nuclei, glycogenated nuclei, pigment
    cells = np.arange(ncell)
    typical = np.median(area)
    fatty_field = (zone - zone.min()) / (zone.max() - zone.min() + 1e-6)
    grade = rng.choice([0.0, rng.uniform(0.05, 0.25), rng.uniform(0.25, 0.7)], p=[0.15, 0.35, 0.5])
    p_fat = np.clip(grade * (0.2 + 1.6 * fatty_field[cy.astype(int).clip(0, H - 1), cx.astype(int).clip(0, W - 1)] ** 1.5), 0, 0.95)
    macro_share = rng.uniform(0.45, 0.85)
    micro_share = rng.uniform(0.0, 0.25)
    in_vessel = nofat[cy.astype(int).clip(0, H - 1), cx.astype(int).clip(0, W - 1)]
    kinds = np.where(rng.random(ncell) < p_fat, 1, 0)
    r = rng.random(ncell)
    kinds = np.where(kinds == 1, np.where(r < macro_share, 1, np.where(r < macro_share + micro_share, 3, 2)), 0)
    kinds[in_vessel | (area < 0.25 * typical)] = 0
    truth = np.zeros(shape, np.uint8)
    micro_m = np.zeros(shape, np.uint8)
    droplets = []
    rims = []
    displaced = []

    def nucleus(r0, c0, rad, ang, aspect=1.0, glyco=False, crescent=None):
        m = _ellipse_mask(shape, r0, c0, rad * aspect, rad, ang, rng, 0.04)
        inner = cv2.erode(m.astype(np.uint8), np.ones((max(2, int(0.6 * s)),) * 2, np.uint8)) > 0
        hd = rng.uniform(0.8, 1.3)
        if glyco:
            cH[m] = hd * 1.5
            cH[inner] = 0.03
            cE[inner] = 0.02
            look[inner] = True
        else:
            cH[m] = hd * (1 + 0.35 * fine[m] + 0.25 * rng.standard_normal(int(m.sum())))
            cH[m & ~inner] = hd * 1.5
            cE[m] = np.minimum(cE[m], e0 * 0.5)
            for _ in range(int(rng.integers(1, 3))):
                nr = rng.uniform(0.4, 0.9) * s
                m2 = _ellipse_mask(shape, r0 + rng.normal(0, rad * 0.25), c0 + rng.normal(0, rad * 0.25),
                                   nr, nr, 0, rng, 0.05) & inner
                cH[m2] = hd * 1.9
                cE[m2] = e0 * 0.8
        return m

    for c in cells:
        if area[c] < 0.3 * typical or nofat[int(cy[c]) % H, int(cx[c]) % W] or rng.random() < 0.15:
            continue
        rad = rng.uniform(*NUCLEUS_UM) / 2 * s * (1.3 if rng.random() < 0.05 else 1)
        rad = min(rad, 0.3 * cell_d_um[c] * s)
        if kinds[c] == 1:
            continue  # macrovesicular: the nucleus is drawn at the droplet's edge below
        ang = rng.uniform(0, np.pi)
        glyco = kinds[c] == 0 and rng.random() < 0.03
        if rng.random() < 0.08:
            off = rad * 1.15
            for sgn in (-1, 1):
                nucleus(cy[c] + sgn * off * math.sin(ang), cx[c] + sgn * off * math.cos(ang), rad * 0.9, ang,
                        rng.uniform(0.9, 1.1))
        else:
            nucleus(cy[c] + rng.normal(0, 1.5 * s), cx[c] + rng.normal(0, 1.5 * s), rad, ang,
                    rng.uniform(0.85, 1.05), glyco)
        if rng.random() < 0.15:  # lipofuscin granules near the nucleus
            for _ in range(int(rng.integers(3, 12))):
                gr = rng.uniform(0.3, 0.7) * s
                m = _ellipse_mask(shape, cy[c] + rng.normal(0, 3 * s), cx[c] + rng.normal(0, 3 * s), gr, gr, 0, rng, 0)
                cP[m] = rng.uniform(0.3, 0.7)

    # -------- steatosis
    placed = []  # (row, col, radius px) of droplets so far

    def room(r0, c0):
        return min((math.hypot(r0 - r1, c0 - c1) - R1 for r1, c1, R1 in placed), default=np.inf)

    fatty = np.nonzero(kinds)[0]
    for c in fatty[np.argsort(kinds[fatty], kind="stable")]:  # macro droplets first
        cd = cell_d_um[c]
        if kinds[c] == 1:
            d_um = float(np.clip(cd * rng.uniform(0.6, 1.35), *MACRO_UM))
            R = d_um / 2 * s
            r0, c0 = cy[c] + rng.normal(0, 1.5 * s), cx[c] + rng.normal(0, 1.5 * s)
            free = room(r0, c0) - 1.5 * s
            if R > free and rng.random() > 0.25:  # most droplets squeeze in; a quarter merge with a neighbour
                R = free
                d_um = 2 * R / s
                if d_um < MACRO_UM[0]:
                    continue
            placed.append((r0, c0, R))
            aspect = rng.uniform(0.82, 1.0)
            ang = rng.uniform(0, np.pi)
            poly = _poly(r0, c0, R * aspect, R, ang, rng, 0.015)
            droplets.append((r0, c0, d_um, "macro"))
            rims.append((poly, rng.uniform(0.5, 1.0) * s))
            t = rng.uniform(0, 2 * np.pi)
            rad = rng.uniform(*NUCLEUS_UM) / 2 * s
            dist = R * (aspect + 1) / 2 + 0.2 * rad
            displaced.append((r0 + dist * math.sin(t), c0 + dist * math.cos(t), rad, t))
        elif kinds[c] == 2:
            for _ in range(int(rng.integers(1, 5))):
                d_um = rng.uniform(*SMALL_UM)
                R = d_um / 2 * s
                r0 = cy[c] + rng.uniform(-0.3, 0.3) * cd * s
                c0 = cx[c] + rng.uniform(-0.3, 0.3) * cd * s
                if room(r0, c0) < R + 1.0 * s:
                    continue
                placed.append((r0, c0, R))
                droplets.append((r0, c0, d_um, "small"))
                rims.append((_poly(r0, c0, R * rng.uniform(0.9, 1.0), R, rng.uniform(0, np.pi), rng, 0.01),
                             rng.uniform(0.4, 0.7) * s))
        else:
            cellm = label == c
            n = int(area[c] / (s * s) * rng.uniform(0.15, 0.35))
            rr, cc = np.nonzero(cellm)
            for i in rng.choice(len(rr), size=min(n, len(rr)), replace=False):
                R = rng.uniform(*MICRO_UM) / 2 * s
                cv2.circle(micro_m, (int(cc[i] * 16), int(rr[i] * 16)), int(R * 16), 1, -1, cv2.LINE_8, 4)
    micro = micro_m > 0
    ring = cv2.dilate(micro_m, np.ones((3, 3), np.uint8)) > 0
    cE[ring & ~micro] *= 1.25
    # rims first, then the clear interiors over them (merged neighbours lose the rim between them)
    for poly, rw in rims:
        cv2.polylines(cE, [poly], True, float(e0 * rng.uniform(1.5, 2.2)), max(1, int(round(rw))), cv2.LINE_AA, 4)
    for poly, _ in rims:
        _fill(truth, poly, 255)
    fat = truth > 0
    # the displaced nuclei: flattened against the droplet; the droplet bites them into crescents
    for r0, c0, rad, t in displaced:
        m = _ellipse_mask(shape, r0, c0, rad * 0.55, rad * 1.25, t + np.pi / 2, rng, 0.03)
        cH[m] = rng.uniform(0.8, 1.3) * (1 + 0.2 * fine[m])
        cE[m] = np.minimum(cE[m], e0 * 0.6)
    haze = np.clip(_noise(rng, shape, 15 * s), 0, None) * rng.uniform(0.0, 0.1) if rng.random() < 0.35 else 0
    interior = rng.uniform(0.0, 0.03) + haze + 0.01 * fine
    cE[fat] = (interior if np.isscalar(interior) else interior[fat])
    cE[fat] = np.clip(cE[fat], 0, None)
    cH[fat], cR[fat], cP[fat] = 0.0, 0.0, 0.0
    cE[micro & ~fat] = 0.02
    cH[micro & ~fat] = 0.0
    micro &= ~fat

    # -------- tears and a glass edge (white, not fat; drawn over everything)
    white = np.zeros(shape, np.uint8)
    for _ in range(int(rng.choice([0, 1, 2, 3], p=[0.4, 0.3, 0.2, 0.1]))):
        pts = [np.array([rng.uniform(0, W), rng.uniform(0, H)])]
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(6, 20))):
            heading += rng.normal(0, 0.5)
            pts.append(pts[-1] + rng.uniform(6, 15) * s * np.array([math.cos(heading), math.sin(heading)]))
        for p0, p1 in zip(pts[:-1], pts[1:]):
            cv2.line(white, tuple(int(x) for x in p0), tuple(int(x) for x in p1), 1, max(2, int(rng.uniform(1.0, 5) * s)))
    white |= glass.astype(np.uint8)
    white = (white > 0) & ~cv2.dilate(fat.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    for layer in (cH, cE, cR, cP):
        layer[white] = 0.0
    cE[white] = 0.005
    look |= white
    look &= ~fat
    micro &= ~white

    # -------- imaging: stains, light, blur, noise, JPEG
    def jitter(vec, amount):
        return _unit(vec * rng.uniform(1 - amount, 1 + amount, 3))

    od = (cH[..., None] * jitter(H_VEC, 0.15) * rng.uniform(0.7, 1.35)
          + cE[..., None] * jitter(E_VEC, 0.15) * rng.uniform(0.65, 1.4)
          + cR[..., None] * jitter(RBC_VEC, 0.1)
          + cP[..., None] * jitter(PIGMENT_VEC, 0.1))
    light = rng.uniform(218, 250) + rng.uniform(-3, 3, 3)
    img = light[None, None, :] * np.exp(-od)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.3, 1.3))
    img += rng.normal(0, rng.uniform(1.0, 3.0), img.shape).astype(np.float32)
    rgb = np.clip(img, 0, 255).round().astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 93))])
    rgb = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return Painting(rgb, truth, um, droplets, look, micro)


def _lumen(rng, shape, lumen, cH, cE, cR, look, tissue, s, fine):
    """A vessel lumen: empty, some plasma haze, clumps of red cells (white but not fat)."""
    cE[lumen] = rng.uniform(0.0, 0.06) * (1 + fine[lumen]).clip(0)
    cH[lumen] = 0.0
    tissue &= ~lumen
    look |= lumen
    rr, cc = np.nonzero(lumen)
    for _ in range(int(rng.integers(0, 25))):
        i = rng.integers(len(rr))
        m = _ellipse_mask(shape, rr[i], cc[i], 3.0 * s, 3.4 * s, rng.uniform(0, np.pi), rng, 0.05) & lumen
        cR[m] = rng.uniform(0.9, 1.6)
        look[m] = False


# ------------------------------------------------------------------ dataset and scoring
def write_set(root: Path, n: int, seed: int, split: str, prefix: str, size: tuple[int, int] | None = None):
    """A dataset folder of ``n`` paintings (one patient each) and painter.json with pixel sizes."""
    from napari_steatosis.data.dataset import Dataset
    from napari_steatosis.data.images import write_image

    src = root.parent / (root.name + "-src")
    src.mkdir(parents=True, exist_ok=True)
    ds = Dataset.create(root)
    rng = np.random.default_rng(seed)
    meta = {}
    for i in range(n):
        p = paint(rng, size)
        path = src / f"{prefix}{i:02d}.png"
        write_image(path, p.rgb)
        rec = ds.add_image(path, f"{prefix}{i:02d}", split=split, save=False)
        ds.write_mask(rec, "steatosis", p.truth)
        meta[rec.stem] = dict(um_per_px=round(p.um_per_px, 4), fat_pct=round(100 * (p.truth > 0).mean(), 2),
                              droplets=len(p.droplets))
    ds.save()
    (root.parent / f"{root.name}.painter.json").write_text(json.dumps(meta, indent=1))
    return ds


def score(steatosis, dataset: Path, pred: Path) -> dict:
    from napari_steatosis.evaluate import evaluate
    from napari_steatosis.data.dataset import Dataset

    res = evaluate(Dataset.open(dataset), pred, split="all")
    return dict(jaccard=res["jaccard"], pct_abs_error=res["pct_abs_error"], false_share=res["false_share"],
                bins=[(b["range"], b["fat_share"], b["recall"]) for b in res["recall_by_diameter"]["bins"]],
                unit=res["recall_by_diameter"]["unit"], n=res["n_images"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=12, help="held-out images")
    ap.add_argument("--train", type=int, default=8, help="images the classical pipeline is trained on")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--n-iter", type=int, default=20, help="train-classical --n-iter")
    ap.add_argument("--model", help="U-Net .keras (default: the shipped model)")
    ap.add_argument("--out", help="keep the sets, models and predictions here")
    ap.add_argument("--paint-only", action="store_true", help="write the sets and stop")
    a = ap.parse_args(argv)
    from classical_points import user_points

    from napari_steatosis.cli import main as steatosis
    from napari_steatosis.data.dataset import PointLabels

    root = Path(a.out or tempfile.mkdtemp(prefix="second-painter-"))
    test = write_set(root / "test", a.images, a.seed, "test", "p")
    train = write_set(root / "train", a.train, a.seed + 1000, "train", "t")
    print(f"painted {a.images} held-out + {a.train} training images into {root}")
    if a.paint_only:
        return
    rows = {}
    args = ["predict", str(test.root), "--out", str(root / "pred-unet")] + (["--model", a.model] if a.model else [])
    assert steatosis(args) == 0
    rows["U-Net" + (f" ({Path(a.model).name})" if a.model else " (shipped default)") + ", zero-shot"] = \
        score(steatosis, test.root, root / "pred-unet")
    rng = np.random.default_rng(a.seed)
    n_pos = n_neg = 0
    for rec in train.records:
        rgb = train.read_image(rec)
        pos, neg = user_points(rgb, train.read_mask(rec, "steatosis", rgb.shape[:2]), rng)
        train.write_points(rec, PointLabels(pos, neg), rgb.shape[:2])
        n_pos, n_neg = n_pos + len(pos), n_neg + len(neg)
    model = root / "classical.skops"
    assert steatosis(["train-classical", str(train.root), "--out", str(model), "--n-iter", str(a.n_iter)]) == 0
    assert steatosis(["predict", str(test.root), "--method", "classical", "--model", str(model),
                      "--out", str(root / "pred-classical")]) == 0
    rows[f"classical, trained on {n_pos}+{n_neg} points of {a.train} images"] = \
        score(steatosis, test.root, root / "pred-classical")
    print(f"\nsecond painter, {a.images} held-out images (seed {a.seed}); kept in {root}")
    first = next(iter(rows.values()))
    head = " | ".join(f"{r} {first['unit']}" for r, _, _ in first["bins"])
    print(f"| method | Jaccard | mean abs % err | false share | recall {head} |")
    print("|---|---|---|---|" + "---|" * len(first["bins"]))
    print("| fat share by diameter | | | | " + " | ".join(f"{f:.0%}" for _, f, _ in first["bins"]) + " |")
    for name, r in rows.items():
        rec = " | ".join("-" if x is None else f"{x:.2f}" for _, _, x in r["bins"])
        print(f"| {name} | {r['jaccard']:.3f} | {r['pct_abs_error']:.2f} | {r['false_share']:.0%} | {rec} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
