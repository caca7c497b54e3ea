"""Synthetic liver histology with exact ground truth.

Each image is painted layer by layer, the way the tissue is built: hepatocyte plates
(Voronoi cells with granular cytoplasm, cell borders and nuclei), sinusoids with red cells,
small unlabelled clear spaces in the cytoplasm (glycogen, ballooning: real cytoplasm is full
of them and annotators never label them), collagen bands and portal tracts, then the white
things: steatosis vacuoles of many sizes (some merging, some out of focus) and the look-alikes
that are *not* steatosis (vessels with red cells inside, tissue tears, round spaces with an
inclusion, glass at the tissue edge). The stain (Masson's trichrome or H&E) varies per patient.

The masks are the painted objects themselves, so they match the pixels exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..errors import SteatosisError
from .dataset import CSV_NAME, Dataset, ImageRecord, PointLabels, make_dataset_folder, write_points
from .images import write_image, write_mask
from .tables import write_table

STAINS = ("trichrome", "he")

# Base colours (RGB 0..255), read off the real tiles in ../shared/real-tiles by eye.
_PALETTES = {
    "trichrome": dict(
        cytoplasm=(150, 62, 138), grain=(105, 35, 105), border=(196, 140, 196), nucleus=(62, 28, 78),
        collagen=(88, 104, 196), rbc=(196, 36, 58), clear=(226, 200, 226), haze=(222, 198, 222),
    ),
    "he": dict(
        cytoplasm=(222, 138, 196), grain=(186, 96, 166), border=(176, 66, 146), nucleus=(72, 48, 128),
        collagen=(236, 160, 200), rbc=(206, 42, 62), clear=(244, 214, 236), haze=(236, 212, 232),
    ),
}
_WHITE = np.array([247, 245, 248], np.float32)
_GLASS = np.array([242, 241, 244], np.float32)


@dataclass
class SyntheticImage:
    """One generated image with its ground truth."""

    rgb: np.ndarray  # (H, W, 3) uint8
    steatosis: np.ndarray  # (H, W) bool
    fibrosis: np.ndarray  # (H, W) bool
    tissue: np.ndarray  # (H, W) bool
    points: PointLabels
    stain: str
    info: dict = field(default_factory=dict)

    @property
    def steatosis_pct(self) -> float:
        t = self.tissue.sum()
        return 100.0 * float((self.steatosis & self.tissue).sum()) / t if t else 0.0


def _palette(stain: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The stain's colours with a per-patient shift of hue, saturation and brightness."""
    base = _PALETTES[stain]
    hue = rng.uniform(-9, 9)  # OpenCV hue units (2 degrees)
    sat = rng.uniform(0.75, 1.2)
    val = rng.uniform(0.88, 1.06)
    out = {}
    for name, rgb in base.items():
        hsv = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2HSV).astype(np.float32)[0, 0]
        hsv[0] = (hsv[0] + hue) % 180
        hsv[1] = np.clip(hsv[1] * sat, 0, 255)
        hsv[2] = np.clip(hsv[2] * val, 0, 255)
        out[name] = cv2.cvtColor(np.uint8([[hsv]]), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    return out


def _noise(rng, shape, sigma) -> np.ndarray:
    """Smooth noise with unit standard deviation."""
    n = rng.standard_normal(shape).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / (n.std() + 1e-6)


def _blend(canvas: np.ndarray, alpha: np.ndarray, colour) -> None:
    """canvas = canvas * (1 - alpha) + colour * alpha, in place; colour may be an image."""
    a = alpha[..., None] if alpha.ndim == 2 else alpha
    canvas *= 1.0 - a
    canvas += a * colour


def _random_curve(rng, start, angle, length, step=6.0, wiggle=0.25) -> np.ndarray:
    pts = [np.asarray(start, float)]
    for _ in range(int(length / step)):
        angle += rng.normal(0, wiggle)
        pts.append(pts[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
    return np.array(pts)


def _blob(rng, centre, radius, irregularity=0.15, n=24) -> np.ndarray:
    """A closed polygon around ``centre`` (x, y) with a wobbly radius."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius * (1 + irregularity * _smooth_circle_noise(rng, n))
    return np.stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)], 1)


def _smooth_circle_noise(rng, n) -> np.ndarray:
    k = np.arange(1, 5)
    phases = rng.uniform(0, 2 * np.pi, 4)
    amps = rng.normal(0, 1, 4) / k
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)[:, None]
    v = (amps * np.cos(k * t + phases)).sum(1)
    return v / (np.abs(v).max() + 1e-6)


def _poly_mask(shape, polys) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(p).astype(np.int32) for p in polys], 1)
    return m.astype(bool)


def _interior_point(mask: np.ndarray, offset=(0, 0)) -> tuple[float, float] | None:
    """The (row, col) deepest inside ``mask`` (a crop), shifted by ``offset``."""
    if not mask.any():
        return None
    d = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    r, c = np.unravel_index(np.argmax(d), d.shape)
    return float(r + offset[0]), float(c + offset[1])


def generate_image(
    rng: np.random.Generator,
    shape: tuple[int, int] = (720, 960),
    stain: str = "trichrome",
    steatosis_level: float = 0.15,
    fibrosis_level: float = 0.08,
    palette: dict | None = None,
    cell_size: float | None = None,
    glass_edge: bool | None = None,
    label_fraction: float = 0.8,
    hazy: bool = False,
) -> SyntheticImage:
    """Paint one image. ``steatosis_level`` is the target share of tissue that is fat (0..0.6).

    ``hazy``: more variety in how vacuoles look (for training): half of them under a pink veil
    of up to 0.65 (out of focus, lipid stain) in a colour between the haze and the cytoplasm,
    and a rim from none to the usual; off, the random stream and the images are as before.
    """
    if stain not in STAINS:
        raise SteatosisError(f"unknown stain {stain!r}; use one of {', '.join(STAINS)}")
    h, w = shape
    if h < 64 or w < 64:
        raise SteatosisError(f"image size {w}x{h} is too small; use at least 64x64")
    pal = palette or _palette(stain, rng)
    cell = cell_size or rng.uniform(24, 32)
    canvas = np.empty((h, w, 3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]

    # --- hepatocyte plates: Voronoi cells, granular cytoplasm, borders ---
    n_cells = int(h * w / cell**2)
    seeds = np.column_stack([rng.uniform(0, w, n_cells), rng.uniform(0, h, n_cells)])
    seed_img = np.ones((h, w), np.uint8)
    si = np.clip(np.round(seeds).astype(int), 0, [w - 1, h - 1])
    seed_img[si[:, 1], si[:, 0]] = 0
    _, cell_id = cv2.distanceTransformWithLabels(seed_img, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    border = np.zeros((h, w), bool)
    border[:, 1:] |= cell_id[:, 1:] != cell_id[:, :-1]
    border[1:, :] |= cell_id[1:, :] != cell_id[:-1, :]
    border = cv2.dilate(border.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    cell_tone = rng.normal(0, 0.06, cell_id.max() + 1).astype(np.float32)[cell_id]
    fine, coarse = _noise(rng, (h, w), 0.8), _noise(rng, (h, w), 4.0)
    canvas[:] = pal["cytoplasm"]
    canvas *= (1 + cell_tone + 0.05 * coarse)[..., None]
    _blend(canvas, np.clip(0.35 * fine, 0, 1), pal["grain"])
    _blend(canvas, np.clip(-0.25 * fine, 0, 1), pal["clear"])
    _blend(canvas, border * rng.uniform(0.35, 0.6), pal["border"])

    # rarefied (ballooned, glycogen-rich) cells: pale flocculent cytoplasm, never labelled
    pale_cells = rng.random(cell_id.max() + 1) < rng.uniform(0.05, 0.25)
    floc = np.clip(0.55 + 0.5 * _noise(rng, (h, w), 1.2), 0, 1)
    _blend(canvas, pale_cells[cell_id] * floc * 0.75, pal["clear"])

    # small clear spaces (microvesicles/glycogen): pale, tinted, 1-4 px, unlabelled
    clear = np.zeros((h, w), np.uint8)
    for _ in range(int(n_cells * rng.uniform(0.6, 2.5))):
        cv2.circle(clear, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.integers(1, 5)), 1, -1)
    _blend(canvas, cv2.GaussianBlur(clear.astype(np.float32), (0, 0), 0.7) * rng.uniform(0.6, 0.9), pal["clear"])

    # --- sinusoids: thin pale channels between plates with a few red cells ---
    sinus = np.zeros((h, w), np.uint8)
    for _ in range(int(h * w / 9000)):
        pts = _random_curve(rng, (rng.uniform(0, w), rng.uniform(0, h)), rng.uniform(0, 2 * np.pi),
                            rng.uniform(40, 160), wiggle=0.3)
        cv2.polylines(sinus, [np.round(pts).astype(np.int32)], False, 1, int(rng.integers(2, 5)))
    sinus_b = sinus.astype(bool)
    _blend(canvas, cv2.GaussianBlur(sinus.astype(np.float32), (0, 0), 0.8) * 0.8, pal["clear"])
    rbc_layer = np.zeros((h, w), np.uint8)
    ys, xs = np.nonzero(sinus_b)
    if len(ys):
        for i in rng.choice(len(ys), size=min(len(ys), int(h * w / 20000)), replace=False):
            cv2.ellipse(rbc_layer, (int(xs[i]), int(ys[i])), (3, 2), rng.uniform(0, 180), 0, 360, 1, -1)

    # --- nuclei: one per cell (some two), dark with chromatin texture ---
    nuc = np.zeros((h, w), np.uint8)
    rad = cell / 6.0
    for (cx, cy) in seeds:
        for _ in range(2 if rng.random() < 0.1 else 1):
            c = (int(cx + rng.normal(0, rad * 0.5)), int(cy + rng.normal(0, rad * 0.5)))
            if rng.random() < 0.85:
                r = max(2.0, rng.normal(rad, rad * 0.15))
                cv2.ellipse(nuc, c, (int(r), int(r * rng.uniform(0.8, 1.0))), rng.uniform(0, 180), 0, 360, 1, -1)

    # --- collagen: fibrous bands (bridging/septal) and portal tracts ---
    collagen = np.zeros((h, w), np.uint8)
    n_bands = rng.poisson(1 + 14 * fibrosis_level)
    for _ in range(n_bands):
        pts = _random_curve(rng, (rng.uniform(0, w), rng.uniform(0, h)), rng.uniform(0, 2 * np.pi),
                            rng.uniform(0.3, 1.0) * max(h, w), step=8, wiggle=0.18)
        width = int(np.clip(rng.gamma(2.0, 3 + 30 * fibrosis_level), 3, 40))
        cv2.polylines(collagen, [np.round(pts).astype(np.int32)], False, 1, width)
        for _ in range(rng.integers(0, 4)):  # thin wispy branches
            j = rng.integers(0, len(pts))
            br = _random_curve(rng, pts[j], rng.uniform(0, 2 * np.pi), rng.uniform(30, 120), wiggle=0.35)
            cv2.polylines(collagen, [np.round(br).astype(np.int32)], False, 1, int(rng.integers(2, 5)))
    lumens, inflam = [], np.zeros((h, w), np.uint8)
    for _ in range(rng.poisson(0.4 + 4 * fibrosis_level) if stain == "trichrome" or rng.random() < 0.6 else 0):
        c = (rng.uniform(0, w), rng.uniform(0, h))
        r = rng.uniform(0.04, 0.08) * min(h, w) + 15
        cv2.fillPoly(collagen, [np.round(_blob(rng, c, r, 0.3)).astype(np.int32)], 1)
        lumen = _blob(rng, (c[0] + rng.normal(0, r / 5), c[1] + rng.normal(0, r / 5)), r * rng.uniform(0.2, 0.4), 0.3)
        lumens.append(lumen)
        for _ in range(int(r * 0.6)):  # inflammatory cells in the tract
            a, d = rng.uniform(0, 2 * np.pi), r * np.sqrt(rng.random())
            cv2.circle(inflam, (int(c[0] + d * np.cos(a)), int(c[1] + d * np.sin(a))), int(rng.integers(2, 4)), 1, -1)
    coll_alpha = collagen.astype(np.float32)
    coll_alpha = cv2.GaussianBlur(coll_alpha, (0, 0), 0.8)
    fibres = np.clip(0.6 + 3.0 * _noise(rng, (h, w), 1.5), 0.05, 1.0)  # crisp fibres: few half-blue pixels
    coll_alpha *= fibres

    # --- central vein: a large white lumen with red cells inside ---
    for _ in range(rng.poisson(0.7)):
        c = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h)
        lumens.append(_blob(rng, c, rng.uniform(0.04, 0.09) * min(h, w) + 10, 0.35))

    # --- tissue tears: long, thin, jagged white cracks ---
    tears = []
    for _ in range(rng.poisson(0.8)):
        pts = _random_curve(rng, (rng.uniform(0, w), rng.uniform(0, h)), rng.uniform(0, 2 * np.pi),
                            rng.uniform(60, 220), step=5, wiggle=0.2)
        half = rng.uniform(1.5, 6) * (1 + 0.6 * np.abs(_noise(rng, (len(pts), 1), 2).ravel()))
        normal = np.gradient(pts, axis=0)[:, ::-1] * [1, -1]
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-6
        tears.append(np.concatenate([pts + normal * half[:, None], (pts - normal * half[:, None])[::-1]]))

    # --- round spaces with an inclusion (vessel cross-sections, debris): not fat ---
    rounds = []
    for _ in range(rng.poisson(2.0)):
        c = (rng.uniform(0, w), rng.uniform(0, h))
        rounds.append((c, rng.uniform(7, 18)))

    lumen_mask = _poly_mask((h, w), lumens) if lumens else np.zeros((h, w), bool)
    tear_mask = _poly_mask((h, w), tears) if tears else np.zeros((h, w), bool)
    round_mask = np.zeros((h, w), np.uint8)
    inclusion = np.zeros((h, w), np.uint8)
    for (c, r) in rounds:
        cv2.circle(round_mask, (int(c[0]), int(c[1])), int(r), 1, -1)
        ic = (int(c[0] + rng.normal(0, r / 4)), int(c[1] + rng.normal(0, r / 4)))
        cv2.ellipse(inclusion, ic, (int(r * rng.uniform(0.3, 0.6)), int(r * rng.uniform(0.2, 0.5))),
                    rng.uniform(0, 180), 0, 360, 1, -1)
    round_mask = round_mask.astype(bool)
    inclusion = inclusion.astype(bool) & round_mask
    # red cells inside vessel lumens
    if lumen_mask.any():
        ys, xs = np.nonzero(lumen_mask)
        for i in rng.choice(len(ys), size=min(len(ys), int(lumen_mask.sum() / 150) + 1), replace=False):
            cv2.ellipse(rbc_layer, (int(xs[i]), int(ys[i])), (4, 3), rng.uniform(0, 180), 0, 360, 1, -1)
    rbc = rbc_layer.astype(bool) & (lumen_mask | sinus_b)

    # --- glass at the tissue edge ---
    if glass_edge is None:
        glass_edge = rng.random() < 0.35
    glass = np.zeros((h, w), bool)
    if glass_edge:
        side = rng.integers(0, 4)
        length, depth = (w, h) if side in (0, 1) else (h, w)
        edge = depth * rng.uniform(0.12, 0.3) + 0.04 * depth * _noise(rng, (1, length), 20).ravel()
        coord_along = xx if side in (0, 1) else yy
        coord_depth = {0: yy, 1: h - 1 - yy, 2: xx, 3: w - 1 - xx}[side]
        glass = coord_depth < edge[coord_along]

    # --- steatosis vacuoles ---
    forbidden = lumen_mask | tear_mask | round_mask | glass | (collagen > 0)
    free = cv2.distanceTransform((~forbidden).astype(np.uint8), cv2.DIST_L2, 3)
    tissue_area = float((~glass).sum())
    target = float(np.clip(steatosis_level, 0, 0.6)) * tissue_area
    circles: list[tuple[float, float, float, float, float]] = []  # x, y, a, b, angle
    area, attempts = 0.0, 0
    macro_share = rng.uniform(0.3, 0.95)
    while area < target and attempts < 20000:
        attempts += 1
        if rng.random() < macro_share:
            r = float(np.clip(rng.lognormal(np.log(cell * 0.55), 0.35), 5, cell * 1.6))
        else:
            r = float(rng.uniform(4.5, 7.5))
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        if free[int(y), int(x)] < r + 1:
            continue
        if circles:
            arr = np.array(circles)
            gap = np.hypot(arr[:, 0] - x, arr[:, 1] - y) - arr[:, 2] - r
            if (gap < 2.5).any():
                continue
        a = r * rng.uniform(1.0, 1.25)
        circles.append((x, y, a, r * r / a, rng.uniform(0, 180)))
        area += np.pi * r * r
        if rng.random() < 0.12 and r > 7:  # a merging neighbour
            ang = rng.uniform(0, 2 * np.pi)
            r2 = r * rng.uniform(0.5, 0.9)
            d = (r + r2) * rng.uniform(0.75, 0.92)
            x2, y2 = x + d * np.cos(ang), y + d * np.sin(ang)
            if 0 <= x2 < w and 0 <= y2 < h and free[int(y2), int(x2)] > r2 + 1:
                circles.append((x2, y2, r2, r2, 0.0))
                area += np.pi * r2 * r2
    vac = np.zeros((h, w), np.uint8)
    haze_layer = np.zeros((h, w), np.float32)
    haze_share, haze_max, haze_colour, rim_alpha = 0.4, 0.5, pal["haze"], 0.35
    if hazy:  # its own stream, so that the default images stay as they were
        vr = np.random.default_rng(rng.integers(2**32))
        haze_share, haze_max, rim_alpha = 0.5, 0.65, float(vr.uniform(0.0, 0.35))
        haze_colour = pal["haze"] + vr.uniform(0, 0.7) * (pal["cytoplasm"] - pal["haze"])
    for (x, y, a, b, ang) in circles:
        cv2.ellipse(vac, (int(round(x)), int(round(y))), (int(round(a)), int(round(b))), ang, 0, 360, 1, -1)
        if rng.random() < haze_share:  # out of focus or lipid-stained: a pink haze over the vacuole
            cv2.ellipse(haze_layer, (int(round(x)), int(round(y))), (int(a), int(b)), ang, 0, 360,
                        float(rng.uniform(0.1, 0.5)) * haze_max / 0.5, -1)
    vac_b = vac.astype(bool) & ~glass
    rim = (cv2.dilate(vac, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0) & ~vac_b

    # --- compose ---
    nuc_b = nuc.astype(bool) & ~lumen_mask & ~vac_b & (collagen == 0)
    nuc_col = pal["nucleus"] * (1 + 0.18 * fine[..., None])
    _blend(canvas, cv2.GaussianBlur(nuc_b.astype(np.float32), (0, 0), 0.6), nuc_col)
    _blend(canvas, coll_alpha, pal["collagen"] * (1 + 0.08 * fine[..., None]))
    _blend(canvas, cv2.GaussianBlur((inflam.astype(bool) & ~lumen_mask).astype(np.float32), (0, 0), 0.6),
           pal["nucleus"])
    _blend(canvas, rim * rim_alpha, pal["border"])
    white_tex = _WHITE * (1 + 0.008 * coarse[..., None])
    for m in (lumen_mask, tear_mask, round_mask):
        _blend(canvas, cv2.GaussianBlur(m.astype(np.float32), (0, 0), 0.7), white_tex)
    # endothelial lining of vessels: flat dark nuclei on the lumen's edge
    lining = (cv2.dilate(lumen_mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~lumen_mask
    lining &= _noise(rng, (h, w), 3) > 0.8
    _blend(canvas, lining * 0.8, pal["nucleus"])
    _blend(canvas, cv2.GaussianBlur(inclusion.astype(np.float32), (0, 0), 0.8) * rng.uniform(0.6, 0.9),
           pal["grain"] if rng.random() < 0.5 else pal["clear"] * 0.9)
    _blend(canvas, cv2.GaussianBlur(rbc.astype(np.float32), (0, 0), 0.6), pal["rbc"])
    _blend(canvas, cv2.GaussianBlur(vac_b.astype(np.float32), (0, 0), 0.6), white_tex)
    _blend(canvas, haze_layer * vac_b, haze_colour)
    glass_soft = cv2.GaussianBlur(glass.astype(np.float32), (0, 0), 1.0)
    _blend(canvas, glass_soft, _GLASS * (1 + 0.005 * coarse[..., None]))

    canvas = cv2.GaussianBlur(canvas, (0, 0), 0.6)
    canvas += rng.normal(0, 2.5, canvas.shape).astype(np.float32)
    rgb = np.clip(canvas, 0, 255).astype(np.uint8)

    # --- ground truth ---
    steatosis = vac_b
    fibrosis = (coll_alpha > 0.5) & ~inflam.astype(bool) & ~lumen_mask & ~glass & ~vac_b & ~tear_mask & ~round_mask & ~rbc
    if stain != "trichrome":
        fibrosis = np.zeros((h, w), bool)
    pos, neg = [], []
    n_vac, vac_labels = cv2.connectedComponents(vac_b.astype(np.uint8))
    for i in range(1, n_vac):
        if rng.random() > label_fraction:
            continue
        sl = _bbox(vac_labels == i)
        p = _interior_point((vac_labels[sl] == i), (sl[0].start, sl[1].start))
        if p:
            pos.append(p)
    for m in (lumen_mask & ~rbc, tear_mask, round_mask & ~inclusion, glass, sinus_b & (free > 2) & ~vac_b):
        n, lab = cv2.connectedComponents((m & ~vac_b).astype(np.uint8))
        for i in range(1, n):
            comp = lab == i
            if comp.sum() < 12 or rng.random() > max(label_fraction, 0.95):  # look-alikes: nearly all marked
                continue
            sl = _bbox(comp)
            p = _interior_point(comp[sl], (sl[0].start, sl[1].start))
            if p:
                neg.append(p)
    info = dict(n_vacuoles=int(n_vac - 1), cell_size=float(cell))
    return SyntheticImage(rgb, steatosis, fibrosis, ~glass, PointLabels(pos, neg), stain, info)


def _bbox(mask: np.ndarray):
    rows, cols = np.any(mask, 1), np.any(mask, 0)
    r0, r1 = np.argmax(rows), len(rows) - np.argmax(rows[::-1])
    c0, c1 = np.argmax(cols), len(cols) - np.argmax(cols[::-1])
    return slice(r0, r1), slice(c0, c1)


def zoomed(img: SyntheticImage, zoom: float, shape: tuple[int, int]) -> SyntheticImage:
    """The image resampled by ``zoom`` (> 1: higher magnification) to exactly ``shape``."""
    if zoom == 1.0 and img.rgb.shape[:2] == tuple(shape):
        return img
    h, w = shape
    interp = cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR  # the same resampling as the masks below
    rgb = cv2.resize(img.rgb, (w, h), interpolation=interp)

    def m(x):  # the share of each new pixel that was foreground, at least half: as the pixels mix
        return cv2.resize(x.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA if zoom < 1
                          else cv2.INTER_LINEAR) >= 0.5

    sy, sx = h / img.rgb.shape[0], w / img.rgb.shape[1]
    steatosis = m(img.steatosis)

    def pts(p):
        p = (np.asarray(p) + 0.5) * [sy, sx] - 0.5
        p = np.clip(p, 0, [h - 1, w - 1])
        return p

    pos, neg = pts(img.points.positive), pts(img.points.negative)
    keep_pos = steatosis[np.round(pos[:, 0]).astype(int), np.round(pos[:, 1]).astype(int)] if len(pos) else []
    keep_neg = ~steatosis[np.round(neg[:, 0]).astype(int), np.round(neg[:, 1]).astype(int)] if len(neg) else []
    info = dict(img.info, zoom=zoom)
    return SyntheticImage(rgb, steatosis, m(img.fibrosis), m(img.tissue),
                          PointLabels(pos[keep_pos] if len(pos) else pos, neg[keep_neg] if len(neg) else neg),
                          img.stain, info)


def physician_estimate(true_pct: float, rng: np.random.Generator) -> float:
    """A pathologist's visual estimate: a little high, noisy, rounded to 5 % above 10 %."""
    est = true_pct * rng.normal(1.1, 0.08) + rng.normal(0, 1.5)
    est = float(np.clip(est, 0, 100))
    return float(round(est / 5) * 5) if est > 10 else float(round(est))


def write_sample_dataset(
    out: str | Path,
    patients: int = 4,
    per_patient: int = 2,
    seed: int = 0,
    size: tuple[int, int] = (720, 960),
    stain: str = "trichrome",
    image_format: str = "png",
    progress: Callable[[int, int], None] | None = None,
    splits: tuple[int, int, int] | None = None,
    zoom: tuple[float, float] = (0.8, 1.25),
    hazy: bool = False,
) -> Dataset:
    """Write a dataset folder (docs/dataset.md) of generated images with all their labels.

    ``stain`` is ``trichrome``, ``he`` or ``mixed`` (patients alternate). Patient severities
    span grade 0 to grade 3, so per-patient numbers are worth correlating. ``splits`` =
    (train, val, test) patient counts fills the ``split`` column (in a shuffled patient order).
    ``zoom`` is the range of magnifications (per patient, log-uniform): 1 paints hepatocytes of
    24-32 px, 2 of twice that, as a higher objective or scanner resolution would. ``hazy``: more
    and stronger veils over vacuoles, rims from none to the usual (see :func:`generate_image`).
    """
    out = Path(out)
    if stain not in STAINS + ("mixed",):
        raise SteatosisError(f"--stain must be one of trichrome, he, mixed; got {stain!r}")
    if image_format not in ("png", "jpg", "tif"):
        raise SteatosisError(f"image format must be png, jpg or tif; got {image_format!r}")
    if patients < 1 or per_patient < 1:
        raise SteatosisError("--patients and --per-patient must be at least 1")
    if splits is not None and (sum(splits) != patients or min(splits) < 0):
        raise SteatosisError(f"--splits {splits} must be three counts adding up to --patients {patients}")
    make_dataset_folder(out)
    rng = np.random.default_rng(seed)
    # severities spread over the grades: 0 (<5 %), 1 (5-33 %), 2 (>33-66 %); few grade 3 fields
    levels = np.concatenate([rng.uniform(0.0, 0.05, patients), rng.uniform(0.05, 0.3, patients),
                             rng.uniform(0.3, 0.5, patients)])
    levels = rng.permutation(levels)[:patients]
    if patients >= 3:
        levels[:3] = rng.permutation([rng.uniform(0.0, 0.04), rng.uniform(0.08, 0.25), rng.uniform(0.3, 0.5)])
    rows = []
    total, done = patients * per_patient, 0
    for p in range(patients):
        pid = f"P{p + 1:02d}"
        p_stain = stain if stain != "mixed" else STAINS[p % 2]
        pal = _palette(p_stain, rng)
        fib_level = float(rng.uniform(0.0, 0.15))
        cell = float(rng.uniform(24, 32))
        if zoom[0] <= 0 or zoom[1] < zoom[0]:
            raise SteatosisError(f"zoom range {zoom} must be positive and increasing")
        z = float(np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1]))))
        base = (max(64, round(size[0] / z)), max(64, round(size[1] / z)))
        fat_px = tissue_px = 0
        for i in range(per_patient):
            level = float(np.clip(levels[p] * rng.lognormal(0, 0.2), 0, 0.6))
            img = zoomed(generate_image(rng, base, p_stain, level, fib_level, pal, cell, hazy=hazy), z, size)
            stem = f"{pid}_{i + 1:02d}"
            write_image(out / "images" / f"{stem}.{image_format}", img.rgb)
            write_mask(out / "labels" / f"{stem}.steatosis.png", img.steatosis)
            if p_stain == "trichrome":
                write_mask(out / "labels" / f"{stem}.fibrosis.png", img.fibrosis)
            write_points(out / "labels" / f"{stem}.points.csv", img.points, size)
            fat_px += int((img.steatosis & img.tissue).sum())
            tissue_px += int(img.tissue.sum())
            rows.append(dict(image=f"images/{stem}.{image_format}", patient=pid, stain=p_stain,
                             true_steatosis_pct=f"{img.steatosis_pct:.3f}", zoom=f"{z:.3f}"))
            done += 1
            if progress:
                progress(done, total)
        true_pct = 100.0 * fat_px / max(tissue_px, 1)
        est = physician_estimate(true_pct, rng)
        for r in rows[-per_patient:]:
            r["physician_steatosis_pct"] = f"{est:g}"
    cols = ["image", "patient", "split", "physician_steatosis_pct", "stain", "true_steatosis_pct", "zoom"]
    split_of = {}
    if splits is not None:
        order = np.random.default_rng(seed + 1).permutation(patients)
        names = ["train"] * splits[0] + ["val"] * splits[1] + ["test"] * splits[2]
        split_of = {f"P{i + 1:02d}": names[k] for k, i in enumerate(order)}
    write_table(out / CSV_NAME, ({**r, "split": split_of.get(r["patient"], "")} for r in rows), cols)
    return Dataset.open(out)


__all__ = ["STAINS", "SyntheticImage", "generate_image", "physician_estimate", "write_sample_dataset",
           "ImageRecord"]
