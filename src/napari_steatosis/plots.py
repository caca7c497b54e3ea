"""Plots and overlays shared by the CLI (saved as PNG) and the widgets (drawn in the dock).

One colour per meaning, the same in napari (``widgets/layers.py`` reads ``COLOURS``) and in
exported PNGs; chosen from the Okabe-Ito colour-blind-safe palette so that each reads on pink
and purple H&E, red and blue trichrome and red picrosirius, and on the white of a vacuole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .measure import GRADE_BANDS

COLOURS = {  # RGB 0..255
    "steatosis truth": (240, 228, 66),  # yellow
    "steatosis predicted": (0, 158, 115),  # bluish green
    "fibrosis truth": (204, 121, 167),  # reddish purple
    "fibrosis predicted": (230, 159, 0),  # orange: the complement of trichrome blue
}
COLOUR_HEX = {m: "#{:02x}{:02x}{:02x}".format(*c) for m, c in COLOURS.items()}
_SHORT = {"steatosis": "steatosis predicted", "fibrosis": "fibrosis predicted"}


def colour_of(meaning: str) -> tuple[int, int, int]:
    """The RGB colour of a meaning (``"steatosis predicted"``; plain ``"steatosis"`` is the prediction)."""
    return COLOURS[_SHORT.get(meaning, meaning)]


def draw_overlay(rgb: np.ndarray, masks: dict[str, np.ndarray], alpha: float = 0.35, legend: bool = True) -> np.ndarray:
    """The image with each mask tinted (``alpha``) and outlined in its meaning's colour, and a legend.

    ``masks`` maps a meaning of ``COLOURS`` (or plain ``"steatosis"``/``"fibrosis"``: predicted) to a mask.
    """
    import cv2  # noqa: PLC0415

    out = rgb.astype(np.float32)
    outlines = []
    for meaning, mask in masks.items():
        colour = np.array(colour_of(meaning), np.float32)
        m = np.asarray(mask, bool)
        out[m] = out[m] * (1 - alpha) + colour * alpha
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        outlines.append((contours, tuple(int(c) for c in colour)))
    out = np.clip(out, 0, 255).astype(np.uint8)
    width = max(1, round(min(out.shape[:2]) / 400))
    for contours, colour in outlines:
        cv2.drawContours(out, contours, -1, colour, width)
    if legend and masks:
        _draw_legend(out, [_SHORT.get(m, m) for m in masks])
    return out


def _draw_legend(out: np.ndarray, meanings: list[str]) -> None:
    """A white box in the top-left corner with a swatch and the name of each meaning."""
    import cv2  # noqa: PLC0415

    scale = max(0.9, min(out.shape[:2]) / 1200)  # text about 10 px tall at least: readable on a 640 x 480 field
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale
    line = int(22 * scale)
    text_w = max(cv2.getTextSize(m, font, size, 1)[0][0] for m in meanings)
    width = int(12 * scale) + line + text_w
    h = line * len(meanings) + int(8 * scale)
    if h >= out.shape[0] or width >= out.shape[1]:
        return
    out[:h, :width] = (255, 255, 255)
    for i, meaning in enumerate(meanings):
        y = int(4 * scale) + i * line
        cv2.rectangle(out, (int(4 * scale), y + 2), (int(4 * scale) + line - 4, y + line - 2), colour_of(meaning), -1)
        cv2.putText(out, meaning, (int(8 * scale) + line, y + line - int(6 * scale)), font, size, (0, 0, 0), 1,
                    cv2.LINE_AA)


def _pct255(v: int) -> int:
    """An OpenCV 0-255 saturation or value as the % a user reads."""
    return round(100 * v / 255)


def draw_roc(ax, result) -> None:
    """Draw a fibrosis :class:`~napari_steatosis.fibrosis.TuningResult` ROC curve on ``ax``."""
    ax.clear()
    ax.plot(result.fpr, result.tpr, lw=1.5, color="tab:blue", label=f"AUC {result.auc:.3f}")
    ax.plot([0, 1], [0, 1], lw=0.8, ls="--", color="grey")
    i = result.chosen_index
    t = result.thresholds
    ax.plot(result.fpr[i], result.tpr[i], "o", color="tab:red",
            label=f"chosen: saturation ≥ {_pct255(t.sat_min)} % (max Jaccard)")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"Fibrosis ROC, hue {2 * t.hue_min}-{2 * t.hue_max}°, brightness ≥ {_pct255(t.val_min)} %", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)


def save_roc_png(result, path: str | Path) -> Path:
    """Save the ROC curve as a PNG (matplotlib's Agg backend, no display needed)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    from .data.atomic import atomic_write  # noqa: PLC0415

    fig = Figure(figsize=(4.5, 4), dpi=120)
    ax = fig.add_subplot(111)
    draw_roc(ax, result)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _save(fig, path) -> Path:
    from .data.atomic import atomic_write  # noqa: PLC0415

    fig.tight_layout()
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


_BAND_SHADES = ("#f7f7f7", "#e8e8e8", "#d9d9d9", "#cacaca")


def _grade_bands(ax, top: float, vertical: bool = True, horizontal: bool = True) -> None:
    edges = (0.0, *GRADE_BANDS, max(top, 100.0))
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        if vertical:
            ax.axvspan(lo, hi, color=_BAND_SHADES[k], zorder=0, lw=0)
        if horizontal:
            ax.axhline(lo, color="grey", lw=0.4, ls=":", zorder=1)
        if vertical and lo < top:
            ax.text((lo + min(hi, top)) / 2, 0.98, f"S{k}", transform=ax.get_xaxis_transform(), ha="center",
                    va="top", fontsize=7, color="dimgrey")


def draw_patient_scatter(ax, patients: list[dict], r2) -> None:
    """Measured steatosis % per patient against the physician's, on the grade bands S0-S3 (5/33/66 %), with R²."""
    ax.clear()
    pts = [(p["physician_steatosis_pct"], p["steatosis_pct"], p["patient"]) for p in patients
           if "physician_steatosis_pct" in p]
    top = 10.0
    if pts:
        x, y, names = zip(*pts)
        top = min(100.0, max(max(x), max(y), 10) * 1.1)
        ax.scatter(x, y, color=COLOUR_HEX["steatosis predicted"], edgecolor="black", lw=0.5, zorder=3)
        for xi, yi, n in zip(x, y, names):
            ax.annotate(n, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.plot([0, top], [0, top], ls="--", color="grey", lw=0.8, zorder=2)
    else:
        ax.text(0.5, 0.5, "no physician scores in dataset.csv", transform=ax.transAxes, ha="center", fontsize=8)
    _grade_bands(ax, top)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("physician steatosis %")
    ax.set_ylabel("measured steatosis % of tissue")
    ax.set_title("per patient" + (f", R² = {r2:.2f}" if r2 is not None else ""), fontsize=9)


def draw_bland_altman(ax, patients: list[dict]) -> None:
    """Difference (measured − physician) against the mean of the two, with the bias and 95 % limits."""
    ax.clear()
    pts = [(p["physician_steatosis_pct"], p["steatosis_pct"]) for p in patients if "physician_steatosis_pct" in p]
    ax.set_xlabel("mean of measured and physician %")
    ax.set_ylabel("measured − physician (points)")
    ax.set_title("Bland–Altman", fontsize=9)
    if len(pts) < 2:
        ax.text(0.5, 0.5, "needs two patients with physician scores", transform=ax.transAxes, ha="center", fontsize=8)
        return
    phys, meas = (np.array(v, float) for v in zip(*pts))
    mean, diff = (phys + meas) / 2, meas - phys
    bias, sd = diff.mean(), diff.std(ddof=1)
    top = min(100.0, max(mean.max(), 10) * 1.1)
    _grade_bands(ax, top, horizontal=False)
    ax.scatter(mean, diff, color=COLOUR_HEX["steatosis predicted"], edgecolor="black", lw=0.5, zorder=3)
    ax.axhline(bias, color="black", lw=1, label=f"bias {bias:+.1f}")
    for lim in (bias - 1.96 * sd, bias + 1.96 * sd):
        ax.axhline(lim, color="black", lw=0.8, ls="--")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlim(0, top)
    ax.legend(loc="lower right", fontsize=7, title=f"95 % limits ±{1.96 * sd:.1f}", title_fontsize=7)


def save_patient_scatter_png(patients, r2, path) -> Path:
    """The scatter on the grade bands beside the Bland–Altman view."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(8.5, 4.2), dpi=120)
    draw_patient_scatter(fig.add_subplot(121), patients, r2)
    draw_bland_altman(fig.add_subplot(122), patients)
    return _save(fig, path)


def save_image_error_png(per_image: list[dict], path) -> Path:
    """Per-image error of the steatosis % (measured minus true)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(max(4.5, 0.25 * len(per_image) + 1.5), 3.6), dpi=120)
    ax = fig.add_subplot(111)
    names = [Path(r["image"]).stem for r in per_image]
    ax.bar(range(len(names)), [r["pct_error"] for r in per_image], color="tab:blue")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_ylabel("steatosis % error (measured − true)")
    ax.set_title("per-image error", fontsize=9)
    return _save(fig, path)


def save_recall_by_diameter_png(by_diameter: dict, false_share: float, path: str | Path) -> Path:
    """Bars: pixel recall of the true vacuoles per diameter bin; line: each bin's share of the fat."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    bins = by_diameter["bins"]
    fig = Figure(figsize=(5, 3.4), dpi=120)
    ax = fig.add_subplot(111)
    x = range(len(bins))
    recall = [b["recall"] if b["recall"] is not None else 0.0 for b in bins]
    ax.bar(x, recall, color="tab:blue", label="recall (share of the bin's fat pixels found)")
    ax.plot(x, [b["fat_share"] for b in bins], "o-", color="tab:orange", label="share of all fat pixels")
    ax.set_xticks(list(x), [b["range"] for b in bins])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(f"true vacuole diameter ({by_diameter['unit']})")
    ax.set_title(f"Recall by vacuole size; false share of predicted pixels {false_share:.1%}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)
