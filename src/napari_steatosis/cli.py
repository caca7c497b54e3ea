"""The ``steatosis`` command line: thin calls into the core, one subcommand each."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .unet import quiet_tensorflow
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
                              progress=_progress(a.patients * a.per_patient, "generating"), splits=a.splits,
                              zoom=a.zoom)
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
        print(f"steatosis: {res['method']}")
        print(f"fibrosis: thresholds ROC-tuned on the sample labels, AUC {t.auc:.3f}, held-out Jaccard "
              f"{'n/a' if t.heldout_jaccard is None else f'{t.heldout_jaccard:.3f}'}")
        for r in res["rows"]:
            fib = f"{r['fibrosis_pct']:6.2f} %" if "fibrosis_pct" in r else "     -  "
            print(f"  {r['image']:<20} {r['patient']:<4} {r['stain']:<10} steatosis {r['steatosis_pct']:6.2f} %  "
                  f"fibrosis {fib}  {r['n_vacuoles']:4d} vacuoles")
        for p in res["patients"]:
            print(f"  patient {p['patient']}: steatosis {p['steatosis_pct']:.1f} % (grade {p['steatosis_grade']}), "
                  f"physician {p.get('physician_steatosis_pct', '-')} %")
        print(f"overlays (PNG), masks, demo_results.csv and demo_patients.csv written to {Path(res['out']).resolve()}")
        return 0
    import napari  # noqa: PLC0415

    open_viewer()
    napari.run()
    return 0


def _counts(text: str) -> tuple[int, int, int]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 3 or min(vals) < 0:
        raise argparse.ArgumentTypeError(f"--splits must be three counts like 6,2,0, got {text!r}")
    return vals


def _zoom(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--zoom must look like 0.7,1.8, got {text!r}") from None
    if not 0.2 <= lo <= hi <= 5:
        raise argparse.ArgumentTypeError(f"--zoom {text}: need 0.2 <= MIN <= MAX <= 5")
    return lo, hi


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e-2,1e-3, got {text!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"learning rates must be positive, got {text!r}")
    return vals


def cmd_train_unet(a) -> int:
    quiet_tensorflow()
    from .data.dataset import Dataset  # noqa: PLC0415
    from .unet.train import TrainConfig, train_unet  # noqa: PLC0415

    if a.epochs < 1 or a.patches_per_image < 1 or a.batch_size < 1:
        raise SteatosisError("--epochs, --patches-per-image and --batch-size must be at least 1")
    cfg = TrainConfig(epochs=a.epochs, patches_per_image=a.patches_per_image, batch_size=a.batch_size,
                      lr_grid=a.lr_grid, max_minutes=a.max_minutes, seed=a.seed, init=a.init,
                      patience=a.patience, grid_steps=a.grid_steps, note=a.note)
    card = train_unet(Dataset.open(a.dataset), a.out, cfg)
    if card is None:
        print(f"cancelled before the first validated epoch; {a.out} was not written", file=sys.stderr)
        return 130
    return 0


def cmd_train_classical(a) -> int:
    from .classical.model import save_classifier  # noqa: PLC0415
    from .classical.pipeline import train_classical  # noqa: PLC0415
    from .data.dataset import Dataset  # noqa: PLC0415

    if a.n_iter < 1:
        raise SteatosisError("--n-iter must be at least 1")
    from tqdm import tqdm  # noqa: PLC0415

    bars = {}

    def progress(stage, done, total, score):
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc="features" if stage == "features" else f"search ({a.classifier})",
                               file=sys.stderr, dynamic_ncols=True)
        bar = bars[stage]
        bar.update(done - bar.n)
        if score is not None:
            bar.set_postfix(best_cv_f1=f"{score:.3f}")
        if done >= total:
            bar.close()

    model = train_classical(Dataset.open(a.dataset), a.classifier, a.n_iter, a.seed, progress=progress)
    out = save_classifier(model, a.out)
    s = model.summary
    print(f"{a.classifier}: cross-validated F1 {s['cv_f1']:.3f} ({s['cv']}, {s['n_iter']} settings) on "
          f"{s['n_regions']} regions ({s['n_positive']} steatosis, {s['n_negative']} not) from {s['n_images']} images "
          f"of {s['n_patients']} patients")
    top = ", ".join(f"{k} {v:.3f}" for k, v in list(s["importances"].items())[:6])
    print(f"most important features: {top}")
    print(f"saved {out.resolve()}")
    return 0


def cmd_predict(a) -> int:
    from .data.images import read_image, write_mask  # noqa: PLC0415
    from .data.sources import collect_images  # noqa: PLC0415

    sources = collect_images(a.inputs)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.method == "unet":
        quiet_tensorflow()
        import tifffile  # noqa: PLC0415

        from .data.atomic import atomic_write  # noqa: PLC0415
        from .unet.detector import Detector  # noqa: PLC0415
        from .unet.predict import device_description  # noqa: PLC0415

        det = Detector.load(a.model, scale=a.scale, threshold=a.threshold, tile=a.tile)
        print(f"U-Net on {device_description()}, threshold {det.threshold:.3f}"
              f"{' (from the model card)' if det.threshold_from_card else ''}, scale {det.scale:g}", file=sys.stderr)
        bar = _progress(len(sources), "predict")
        for k, src in enumerate(sources):
            rgb = read_image(src.path)
            prob = det.probability(rgb)
            write_mask(out / f"{src.stem}.steatosis.png", det.mask(rgb, prob))
            with atomic_write(out / f"{src.stem}.probability.tif") as tmp:
                tifffile.imwrite(tmp, prob.astype(np.float32), compression="zlib")
            bar(k + 1, len(sources))
    else:
        from .classical.model import load_classifier  # noqa: PLC0415
        from .classical.pipeline import predict_steatosis  # noqa: PLC0415

        if not a.model:
            raise SteatosisError("--method classical needs --model (made by steatosis train-classical)")
        clf = load_classifier(a.model)
        bar = _progress(len(sources), "predict")
        for k, src in enumerate(sources):
            result = predict_steatosis(clf, read_image(src.path))
            write_mask(out / f"{src.stem}.steatosis.png", result.mask)
            bar(k + 1, len(sources))
    print(f"wrote {len(sources)} steatosis masks to {out.resolve()}")
    return 0


def cmd_evaluate(a) -> int:
    from .data.dataset import Dataset  # noqa: PLC0415
    from .evaluate import evaluate, write_evaluation  # noqa: PLC0415

    ds = Dataset.open(a.dataset)
    result = evaluate(ds, a.pred, progress=_progress(len(ds), "evaluate"))
    summary = {k: v for k, v in result.items() if k not in ("per_image", "per_patient")}
    if a.out:
        written = write_evaluation(result, a.out)
    if a.json:
        print(json.dumps(summary))
        return 0
    r2 = "n/a (needs physician_steatosis_pct for 3+ patients)" if summary["r2"] is None else f"{summary['r2']:.3f}"
    print(f"images with masks: {summary['n_images']} of {summary['n_patients']} patients")
    print(f"pooled Jaccard       {summary['jaccard']:.4f}")
    print(f"pooled Dice          {summary['dice']:.4f}")
    print(f"per-image Dice       {summary['dice_per_image_mean']:.4f} ± {summary['dice_per_image_sd']:.4f}")
    print(f"steatosis % error    {summary['pct_abs_error']:.3f} (mean absolute, percentage points)")
    print(f"vacuole count error  {summary['count_abs_error']:.2f} (mean absolute per image)")
    print(f"R² vs physician      {r2} ({summary['r2_patients']} patients)")
    if a.out:
        print(f"tables and plots: {', '.join(str(p) for p in written)}")
    return 0


def cmd_quantify(a) -> int:
    from .quantify import quantify  # noqa: PLC0415

    if a.json_progress:
        def progress(done, total):
            print(json.dumps(dict(event="image", done=done, total=total)), flush=True)
    else:
        progress = _progress(0, "quantify")
    res = quantify(a.inputs, a.out, method=a.method, model=a.model, pixel_size_um=a.pixel_size,
                   macro_cutoff=a.macro_cutoff, fibrosis=a.fibrosis, progress=progress, scale=a.scale,
                   threshold=a.threshold)
    if a.json_progress:
        print(json.dumps(dict(event="done", out=str(Path(a.out).resolve()))), flush=True)
        return 0
    for p in res["per_patient"]:
        extra = f", physician {p['physician_steatosis_pct']:g} %" if "physician_steatosis_pct" in p else ""
        fib = f", fibrosis {p['fibrosis_pct']:.2f} %" if "fibrosis_pct" in p else ""
        print(f"  {p['patient']:<10} steatosis {p['steatosis_pct']:6.2f} % of tissue (grade {p['steatosis_grade']})"
              f"{fib}{extra}, {p['n_images']} images")
    print(f"wrote per_image.csv, per_patient.csv, vacuoles.csv, masks and GeoJSON to {Path(a.out).resolve()}")
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
    s.add_argument("--zoom", type=_zoom, default=(0.8, 1.25),
                   help="MIN,MAX magnification per patient; 1 = hepatocytes of 24-32 px (default: 0.8,1.25)")
    s.add_argument("--splits", type=_counts, help="TRAIN,VAL,TEST patient counts written to the split column "
                                                  "(default: no column; tools then split 60/20/20 by seed)")
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

    s = sub.add_parser("train-unet", help="train the U-Net on a dataset's steatosis masks",
                       description="Train the paper's U-Net on the train patients' steatosis masks, choosing the "
                                   "learning rate and the decision threshold on the val patients. Progress is printed "
                                   "as one JSON object per line. Ctrl-C stops and keeps the best model so far.")
    s.add_argument("dataset", help="dataset folder")
    s.add_argument("--out", required=True, help="model file to write (MODEL.keras; its card goes to MODEL.card.json)")
    s.add_argument("--epochs", type=int, default=30, help="maximum epochs (default: %(default)s)")
    s.add_argument("--patches-per-image", type=int, default=250,
                   help="268 px patches per training image per epoch (default: %(default)s)")
    s.add_argument("--batch-size", type=int, default=8, help="patches per step (default: %(default)s)")
    s.add_argument("--lr-grid", type=_floats, default=(1e-2, 1e-3, 1e-4),
                   help="learning rates to try on the validation split (default: 1e-2,1e-3,1e-4)")
    s.add_argument("--grid-steps", type=int, default=40, help="training steps per learning-rate trial")
    s.add_argument("--max-minutes", type=float, help="stop after this many minutes, keeping the best model")
    s.add_argument("--patience", type=int, default=6, help="epochs without validation gain before stopping")
    s.add_argument("--init", help="fine-tune from this .keras model (e.g. the shipped default)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    s.add_argument("--note", default="", help="free text for the model card (what the data is, who trained it)")
    s.set_defaults(func=cmd_train_unet)

    s = sub.add_parser("train-classical", help="train the classical pipeline on point labels (or masks)",
                       description="White-region candidates, shape and colour features, and a classifier chosen by "
                                   "randomised search cross-validated by patient. Trains on the train and val patients.")
    s.add_argument("dataset", help="dataset folder with points.csv (or steatosis masks)")
    s.add_argument("--out", required=True, help="model file to write (e.g. classical.skops)")
    s.add_argument("--classifier", choices=["gbt", "rf", "svm", "logreg"], default="gbt",
                   help="gradient-boosted trees, random forest, RBF SVM, logistic regression (default: %(default)s)")
    s.add_argument("--n-iter", type=int, default=350, help="hyper-parameter settings to try (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    s.set_defaults(func=cmd_train_classical)

    s = sub.add_parser("predict", help="steatosis masks for images with the U-Net or the classical pipeline",
                       description="Writes OUT/<stem>.steatosis.png (0/255); the U-Net also writes "
                                   "OUT/<stem>.probability.tif (float32).")
    s.add_argument("inputs", nargs="+", help="dataset folders, folders of images, or image files")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--method", choices=["unet", "classical"], default="unet", help="default: %(default)s")
    s.add_argument("--model", help="model file (U-Net: .keras, default: the shipped model; classical: required)")
    s.add_argument("--threshold", type=float, help="U-Net decision threshold (default: the model card's)")
    s.add_argument("--tile", type=int, default=1036, help="U-Net input tile size (16k+12; default: %(default)s)")
    s.add_argument("--scale", type=float, default=1.0,
                   help="resize images by this factor before the U-Net, on top of the working scale in the model "
                        "card (e.g. 0.5 for images at 2x the magnification of the model's training data); default: 1")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("evaluate", help="score predicted masks against the dataset's masks and physician scores",
                       description="Pooled Jaccard (the paper's), Dice, per-image Dice, steatosis-%% and vacuole-count "
                                   "errors, and R² of per-patient %% against physician_steatosis_pct.")
    s.add_argument("dataset", help="dataset folder with steatosis masks")
    s.add_argument("--pred", required=True, help="folder with <stem>.steatosis.png predictions")
    s.add_argument("--json", action="store_true", help="print one JSON object (jaccard, dice, pct_abs_error, "
                                                       "count_abs_error, r2, n_images, n_patients, ...)")
    s.add_argument("--out", help="also write per-image and per-patient CSVs and the plots here")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("quantify", help="per-image and per-patient steatosis (and fibrosis) report",
                       description="Detect steatosis (U-Net or classical), split merged vacuoles, and write per_image.csv, "
                                   "per_patient.csv (area-weighted, NAFLD grade), vacuoles.csv, masks and QuPath GeoJSON.")
    s.add_argument("inputs", nargs="+", help="dataset folders, folders of images, or image files")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--method", choices=["unet", "classical"], default="unet", help="default: %(default)s")
    s.add_argument("--model", help="model file (U-Net default: the shipped model; classical: required)")
    s.add_argument("--pixel-size", type=float, help="µm per pixel (default: from TIFF metadata, else sizes in px)")
    s.add_argument("--macro-cutoff", type=float,
                   help="macrovesicular if the equivalent diameter is at least this (default 15 µm, or 30 px)")
    s.add_argument("--fibrosis", choices=["none", "trichrome", "sirius-red"], default="none",
                   help="also measure fibrosis with this preset (default: %(default)s)")
    s.add_argument("--threshold", type=float, help="U-Net decision threshold (default: the model card's)")
    s.add_argument("--scale", type=float, default=1.0, help="U-Net: resize images by this factor first (see predict)")
    s.add_argument("--json-progress", action="store_true", help="report progress as JSON lines (for the napari dock)")
    s.set_defaults(func=cmd_quantify)
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
