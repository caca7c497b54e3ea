"""Plots shared by the CLI (saved as PNG) and the widgets (drawn in the dock)."""

from __future__ import annotations

from pathlib import Path


def draw_roc(ax, result) -> None:
    """Draw a fibrosis :class:`~napari_steatosis.fibrosis.TuningResult` ROC curve on ``ax``."""
    ax.clear()
    ax.plot(result.fpr, result.tpr, lw=1.5, color="tab:blue", label=f"AUC {result.auc:.3f}")
    ax.plot([0, 1], [0, 1], lw=0.8, ls="--", color="grey")
    i = result.chosen_index
    t = result.thresholds
    ax.plot(result.fpr[i], result.tpr[i], "o", color="tab:red",
            label=f"chosen: sat ≥ {t.sat_min} (max Jaccard)")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"Fibrosis ROC, hue {t.hue_min}-{t.hue_max}, value ≥ {t.val_min}", fontsize=9)
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
