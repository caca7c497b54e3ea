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


def _save(fig, path) -> Path:
    from .data.atomic import atomic_write  # noqa: PLC0415

    fig.tight_layout()
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def draw_patient_scatter(ax, patients: list[dict], r2) -> None:
    """Predicted steatosis % per patient against the physician's score, with R²."""
    ax.clear()
    pts = [(p["physician_steatosis_pct"], p["steatosis_pct"], p["patient"]) for p in patients
           if "physician_steatosis_pct" in p]
    if pts:
        x, y, names = zip(*pts)
        ax.scatter(x, y, color="tab:orange", zorder=3)
        for xi, yi, n in zip(x, y, names):
            ax.annotate(n, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        top = max(max(x), max(y), 5) * 1.1
        ax.plot([0, top], [0, top], ls="--", color="grey", lw=0.8)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
    ax.set_xlabel("physician steatosis %")
    ax.set_ylabel("measured steatosis % of tissue")
    ax.set_title("per patient" + (f", R² = {r2:.3f}" if r2 is not None else ""), fontsize=9)


def save_patient_scatter_png(patients, r2, path) -> Path:
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(4.5, 4.2), dpi=120)
    draw_patient_scatter(fig.add_subplot(111), patients, r2)
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
