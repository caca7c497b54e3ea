"""The ``steatosis`` command line: thin calls into the core, one subcommand each."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from . import __version__
from .errors import SteatosisError


def _progress(total: int, desc: str):
    from tqdm import tqdm  # noqa: PLC0415

    bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, dynamic_ncols=True)

    def update(done: int, _total: int) -> None:
        if bar.total != _total:
            bar.total = _total
            bar.refresh()
        bar.update(done - bar.n)
        if done >= _total:
            bar.close()

    return update


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 720x960 (height x width), got {text!r}") from None
    if h < 64 or w < 64 or h > 8192 or w > 8192:
        raise argparse.ArgumentTypeError(f"--size {text}: each side must be within 64..8192")
    return h, w


def cmd_sample(a) -> int:
    from .data.synthetic import write_sample_dataset  # noqa: PLC0415

    ds = write_sample_dataset(a.out, a.patients, a.per_patient, a.seed, a.size, a.stain, a.image_format,
                              progress=_progress(a.patients * a.per_patient, "generating"))
    print(f"wrote {len(ds)} images of {len(ds.patients)} patients to {Path(a.out).resolve()}")
    return 0


def cmd_fibrosis(a) -> int:
    from .data.atomic import atomic_write  # noqa: PLC0415
    from .data.images import read_image, write_mask  # noqa: PLC0415
    from .data.sources import collect_images  # noqa: PLC0415
    from .data.tables import write_table  # noqa: PLC0415
    from .fibrosis import FibrosisThresholds, fibrosis_percent, preset, tune_from_dataset  # noqa: PLC0415
    from .plots import save_roc_png  # noqa: PLC0415

    sources = collect_images(a.inputs)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    thresholds = preset(a.stain)
    if a.settings:
        try:
            thresholds = FibrosisThresholds.from_dict(json.loads(Path(a.settings).read_text())["thresholds"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SteatosisError(f"--settings {a.settings}: not a fibrosis settings file ({exc})") from exc
    if a.tune:
        datasets = {id(s.dataset): s.dataset for s in sources if s.dataset is not None}
        if len(datasets) != 1:
            raise SteatosisError("--tune needs exactly one dataset folder (with fibrosis masks) among the inputs")
        result = tune_from_dataset(next(iter(datasets.values())), thresholds, a.seed)
        thresholds = result.thresholds
        summary = result.summary()
        with atomic_write(out / "fibrosis_tuning.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
        save_roc_png(result, out / "fibrosis_roc.png")
        held = "not measured" if result.heldout_jaccard is None else f"{result.heldout_jaccard:.3f}"
        print(f"tuned on {result.n_train} images: AUC {result.auc:.3f}, Jaccard {result.train_jaccard:.3f}; "
              f"held-out Jaccard ({result.n_heldout} images) {held}; thresholds {thresholds.to_dict()}")
    rows = []
    bar = _progress(len(sources), "fibrosis")
    for k, src in enumerate(sources):
        rgb = read_image(src.path)
        mask, pct, tissue = fibrosis_percent(rgb, thresholds)
        write_mask(out / f"{src.stem}.fibrosis.png", mask)
        rows.append(dict(image=str(src.path), patient=src.patient or "", fibrosis_pct=f"{pct:.4f}",
                         fibrosis_px=int(mask.sum()), tissue_px=int(tissue.sum())))
        bar(k + 1, len(sources))
    write_table(out / "fibrosis.csv", rows, list(rows[0]))
    with atomic_write(out / "fibrosis_settings.json") as tmp:
        tmp.write_text(json.dumps({"thresholds": thresholds.to_dict()}, indent=2))
    print(f"wrote {len(rows)} masks, fibrosis.csv and fibrosis_settings.json to {out.resolve()}")
    return 0


def cmd_demo(a) -> int:
    from .demo import display_available, open_viewer, run_headless  # noqa: PLC0415

    if a.headless or not display_available():
        if not a.headless:
            print("no display found: running the demo headless", file=sys.stderr)
        res = run_headless(a.out, progress=_progress(0, "demo"))
        t = res["tuning"]
        print(f"fibrosis tuned on the sample labels: AUC {t.auc:.3f}, held-out Jaccard "
              f"{'n/a' if t.heldout_jaccard is None else f'{t.heldout_jaccard:.3f}'}")
        for r in res["rows"]:
            print(f"  {r['image']:<24} {r['patient']:<4} {r['stain']:<10} fibrosis {r['fibrosis_pct'] or '-'} %")
        print(f"overlays (PNG), masks and demo_results.csv written to {Path(res['out']).resolve()}")
        return 0
    import napari  # noqa: PLC0415

    open_viewer()
    napari.run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="steatosis",
        description="Measure steatosis and fibrosis in liver histology images (napari-steatosis).",
    )
    p.add_argument("--version", action="version", version=f"napari-steatosis {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("demo", help="run the main job on the bundled sample data (napari, or headless)",
                       description="Open napari with a sample image, the widgets docked and the detections "
                                   "overlaid. Without a display (or with --headless) do the same work and write "
                                   "overlays (PNG) and numbers (CSV) to --out.")
    s.add_argument("--out", default="steatosis-demo", help="folder for the headless results (default: %(default)s)")
    s.add_argument("--headless", action="store_true", help="never open a window")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("sample", help="write a dataset folder of synthetic stained liver with ground truth",
                       description="Generate realistic synthetic liver histology (trichrome or H&E) with steatosis "
                                   "and fibrosis masks, point labels and a per-patient physician score.")
    s.add_argument("out", help="output dataset folder (must not hold a dataset.csv yet)")
    s.add_argument("--patients", type=int, default=4, help="number of patients (default: %(default)s)")
    s.add_argument("--per-patient", type=int, default=2, help="images per patient (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    s.add_argument("--size", type=_size, default=(720, 960), help="HxW in pixels (default: 720x960)")
    s.add_argument("--stain", choices=["trichrome", "he", "mixed"], default="trichrome",
                   help="Masson's trichrome, H&E, or patients alternating (default: %(default)s)")
    s.add_argument("--image-format", choices=["png", "jpg", "tif"], default="png",
                   help="image file type (masks are always PNG; default: %(default)s)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("fibrosis", help="fibrosis masks and %% of tissue by colour thresholding",
                       description="Threshold collagen by hue/saturation/value and report fibrosis as %% of tissue. "
                                   "Writes OUT/<stem>.fibrosis.png, OUT/fibrosis.csv and OUT/fibrosis_settings.json.")
    s.add_argument("inputs", nargs="+", help="dataset folders, folders of images, or image files")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--stain", choices=["trichrome", "sirius-red"], default="trichrome",
                   help="threshold preset (default: %(default)s)")
    s.add_argument("--tune", action="store_true",
                   help="choose thresholds by ROC on the dataset's fibrosis masks (train/val patients), report "
                        "AUC and held-out Jaccard (test patients); writes fibrosis_tuning.json and fibrosis_roc.png")
    s.add_argument("--settings", help="fibrosis_settings.json from an earlier run, instead of the preset")
    s.add_argument("--seed", type=int, default=0, help="seed of the patient split when the dataset has none")
    s.set_defaults(func=cmd_fibrosis)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except SteatosisError as exc:
        print(f"steatosis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"steatosis {args.command}: interrupted", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
