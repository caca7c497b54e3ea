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
from .words import count, noun


_BARS: list = []


def _progress(total: int, desc: str, unit: str = "img", close_when_done: bool = True):
    from tqdm import tqdm  # noqa: PLC0415

    # no bar when stderr is a log file, not a terminal: there its carriage returns would glue lines together
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=None)
    _BARS.append(bar)

    def update(done: int, _total: int) -> None:
        if bar.total != _total:
            bar.total = _total
            bar.refresh()
        bar.update(done - bar.n)
        if done >= _total and close_when_done:
            bar.close()

    return update


def _blocks_bar():
    """A bar for the blocks of slides, drawn once the first slide is planned (never for plain images)."""
    state = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = _progress(total, "slide blocks", unit="block", close_when_done=False)
        state["bar"](done, total)

    return update


def _say(message: str) -> None:
    """A line of its own on stderr, above any progress bar rather than glued to it."""
    from tqdm import tqdm  # noqa: PLC0415

    tqdm.write(message, file=sys.stderr)


def _close_bars() -> None:
    while _BARS:
        _BARS.pop().close()


def _number(kind, what: str, ok):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def _positive(kind, what: str):
    return _number(kind, what, lambda v: 0 < v < float("inf"))


_positive_int = _positive(int, "a whole number above 0")
_percent_int = _number(int, "a whole percentage 0..100", lambda v: 0 <= v <= 100)
_positive_float = _positive(float, "a number above 0")


def _scale(text: str):
    """--scale: a number above 0, or 'auto' (from the size of the image's nuclei)."""
    return text if text == "auto" else _positive(float, "a number above 0 or 'auto'")(text)


def _add_batch_args(s) -> None:
    g = s.add_argument_group("cohorts (see README: running a study on a cluster)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="send the images to a running dask.distributed scheduler (e.g. tcp://host:8786); "
                        "workers read the inputs from the same paths (shared filesystem)")
    g.add_argument("--workers", type=_positive_int, metavar="N",
                   help="start N dask worker processes on this machine (default: run in this process)")
    g.add_argument("--resume", action="store_true",
                   help="skip images whose outputs an earlier run of the same command completed")


def _dask_client(a):
    from .cluster import dask_client  # noqa: PLC0415

    return dask_client(a.scheduler, a.workers, say=_say)


def _on_failure(job, error: str) -> None:
    _say(f"failed: {error}" if job.path in error else f"failed: {job.path}: {error}")


def _batch_summary(n_done: int, failures, out: Path, skipped: int = 0) -> int:
    """The closing line of a batch. Exit code 1 when some images failed (all failing is an error before it:
    batch.require_some_done)."""
    again = f" ({skipped} from an earlier run)" if skipped else ""
    if failures:
        print(f"{n_done} done{again}, {len(failures)} failed: see {out.resolve() / 'failures.csv'}", file=sys.stderr)
        return 1 if n_done else 2
    print(f"{n_done} done{again}, 0 failed", file=sys.stderr)
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 720x960 (height x width), got {text!r}") from None
    if h < 64 or w < 64 or h > 8192 or w > 8192:
        raise argparse.ArgumentTypeError(f"--size {text}: each side must be within 64..8192")
    return h, w


def _slide_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--slide must look like 30000x30000 (height x width), got {text!r}") from None
    if min(h, w) < 256 or max(h, w) > 500_000:
        raise argparse.ArgumentTypeError(f"--slide {text}: each side must be within 256..500000")
    return h, w


def cmd_sample(a) -> int:
    from .data.synthetic import write_sample_dataset  # noqa: PLC0415

    if a.slide:
        from .data.synthetic_slide import write_synthetic_slide  # noqa: PLC0415

        bars = {}

        def progress(stage, done, total):
            bars.setdefault(stage, _progress(total, stage))(done, total)

        written = write_synthetic_slide(Path(a.out) / f"{a.name}.ome.tif", a.slide, a.seed,
                                        "trichrome" if a.stain == "mixed" else a.stain, progress=progress)
        h, w = a.slide
        print(f"wrote a {w}x{h} px slide {written['slide'].resolve()} and its truth masks in {written['steatosis'].parent}")
        return 0

    ds = write_sample_dataset(a.out, a.patients, a.per_patient, a.seed, a.size, a.stain, a.image_format,
                              progress=_progress(a.patients * a.per_patient, "generating"), splits=a.splits,
                              zoom=a.zoom, hazy=a.hazy)
    print(f"wrote {count(len(ds), 'image')} of {count(len(ds.patients), 'patient')} to {Path(a.out).resolve()}")
    return 0


def cmd_fibrosis(a) -> int:
    from .batch import require_some_done, run_batch, write_failures  # noqa: PLC0415
    from .data.atomic import atomic_write, output_folder  # noqa: PLC0415
    from .data.sources import collect_images  # noqa: PLC0415
    from .data.tables import write_table  # noqa: PLC0415
    from .fibrosis import FibrosisThresholds, preset, tune_from_dataset  # noqa: PLC0415
    from .image_tasks import FibrosisTask  # noqa: PLC0415
    from .plots import save_roc_png  # noqa: PLC0415
    from .quantify import jobs_of  # noqa: PLC0415

    sources = collect_images(a.inputs)
    out = output_folder(a.out)
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
        print(f"tuned on {count(result.n_train, 'image')}: AUC {result.auc:.3f}, Jaccard {result.train_jaccard:.3f}; "
              f"held-out Jaccard ({count(result.n_heldout, 'image')}) {held}; thresholds {thresholds.to_dict()}")
    with _dask_client(a) as client:
        task = FibrosisTask(thresholds.to_dict(), None if a.tune or a.settings else a.stain)
        batch = run_batch(task, jobs_of(sources), out, client=client, resume=a.resume,
                          progress=_progress(len(sources), "fibrosis"), on_failure=_on_failure,
                          block_progress=_blocks_bar())
    _close_bars()
    require_some_done(batch, out)
    rows = [r for _, r in batch.results]
    write_failures(out, batch.failures)
    write_table(out / "fibrosis.csv", rows, ["image", "patient", "fibrosis_pct", "fibrosis_px", "tissue_px", "stain"])
    with atomic_write(out / "fibrosis_settings.json") as tmp:
        tmp.write_text(json.dumps({"thresholds": thresholds.to_dict()}, indent=2))
    print(f"wrote {count(len(rows), 'mask')}, fibrosis.csv and fibrosis_settings.json to {out.resolve()}")
    return _batch_summary(len(rows), batch.failures, out, batch.skipped)


def cmd_demo(a) -> int:
    from .demo import display_available, open_viewer, run_headless  # noqa: PLC0415
    from .measure import grade_name  # noqa: PLC0415

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
                  f"fibrosis {fib}  {count(r['n_vacuoles'], 'vacuole', fmt='4d')}")
        if any("fibrosis_pct" not in r for r in res["rows"]):
            print("  (fibrosis -: H&E, where collagen is not stained apart, so it is not measurable by hue)")
        for p in res["patients"]:
            print(f"  patient {p['patient']}: steatosis {p['steatosis_pct']:.1f} % of tissue, "
                  f"{grade_name(p['steatosis_pct'])}; physician {p.get('physician_steatosis_pct', '-')} %")
        out = Path(res["out"]).resolve()
        print(f"overlays (PNG), masks, demo_results.csv and demo_patients.csv written to {out}")
        print(f"open {out / (Path(res['rows'][0]['image']).stem + '.overlay.png')} to see what was measured")
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


def _working_scale(text: str):
    if text == "auto":
        return text
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--working-scale must be a number like 0.5 or 'auto', got {text!r}") from None
    if not 0.05 <= v <= 4:
        raise argparse.ArgumentTypeError(f"--working-scale {text}: must be within 0.05..4")
    return v


def cmd_train_unet(a) -> int:
    from .data.dataset import Dataset  # noqa: PLC0415

    dataset = Dataset.open(a.dataset)  # a bad folder is said before TensorFlow's start-up
    quiet_tensorflow()
    from .unet.train import TrainConfig, train_unet  # noqa: PLC0415

    cfg = TrainConfig(epochs=a.epochs, patches_per_image=a.patches_per_image, batch_size=a.batch_size,
                      lr=a.lr, lr_grid=a.lr_grid, max_minutes=a.max_minutes, seed=a.seed, init=a.init,
                      patience=a.patience, grid_steps=a.grid_steps, note=a.note, loss=a.loss,
                      validate_minutes=a.validate_minutes, working_scale=a.working_scale,
                      augment=not a.no_augment, loader_threads=a.loader_threads)
    card = train_unet(dataset, a.out, cfg)
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

    from .classical.candidates import TRAINING_DEFAULT, CandidateParams  # noqa: PLC0415

    chosen = {k: v for k, v in (("local_level", a.white_level), ("split", a.split)) if v is not None}
    params = CandidateParams(**{**TRAINING_DEFAULT, **chosen})
    model = train_classical(Dataset.open(a.dataset), a.classifier, a.n_iter, a.seed, params=params, progress=progress)
    out = save_classifier(model, a.out)
    s = model.summary
    print(f"{a.classifier}: cross-validated F1 {s['cv_f1']:.3f} ({s['cv']}, {count(s['n_iter'], 'setting')}) on "
          f"{count(s['n_regions'], 'region')} ({s['n_positive']} steatosis, {s['n_negative']} not) from "
          f"{count(s['n_images'], 'image')} of {count(s['n_patients'], 'patient')}")
    top = ", ".join(f"{k} {v:.3f}" for k, v in list(s["importances"].items())[:6])
    print(f"most important features: {top}")
    print(f"saved {out.resolve()}")
    return 0


def cmd_predict(a) -> int:
    from .batch import load_once, require_some_done, run_batch, write_failures  # noqa: PLC0415
    from .data.atomic import output_folder  # noqa: PLC0415
    from .data.sources import collect_images  # noqa: PLC0415
    from .image_tasks import PredictTask  # noqa: PLC0415
    from .quantify import jobs_of  # noqa: PLC0415

    sources = collect_images(a.inputs)
    out = output_folder(a.out)
    if a.method == "unet":
        from .unet import default_model, is_valid_size  # noqa: PLC0415

        if not is_valid_size(a.tile):
            raise SteatosisError(f"--tile {a.tile}: the U-Net takes tiles of 16k+12 px, at least 124 (e.g. 1036)")
        model = a.model or str(default_model.path())
        a.scale = _scale_or_default(a.scale, model)
        task = PredictTask("unet", model, a.threshold, a.tile, a.scale, a.probability)
    else:
        if not a.model:
            raise SteatosisError("--method classical needs --model (made by steatosis train-classical)")
        task = PredictTask("classical", a.model)
    with _dask_client(a) as client:
        load_once(task, client)
        if a.method == "unet" and client is None:
            det = task.load()
            _say(f"U-Net on {det.device}, threshold {det.threshold:.3f}"
                 f"{' (from the model card)' if det.threshold_from_card else ''}, {det.scale_text}")
        batch = run_batch(task, jobs_of(sources), out, client=client, resume=a.resume,
                          progress=_progress(len(sources), "predict"), on_failure=_on_failure,
                          block_progress=_blocks_bar())
    _close_bars()
    require_some_done(batch, out)
    write_failures(out, batch.failures)
    print(f"wrote {count(len(batch.results), 'steatosis mask')} to {out.resolve()}")
    if a.scale == "auto":
        _say_auto_scales([(job.stem, r) for job, r in batch.results], "the records folder")
    return _batch_summary(len(batch.results), batch.failures, out, batch.skipped)


def _scale_or_default(scale, model: str | None):
    """The U-Net's --scale: as given, else the model's default ('auto' when its card records nucleus sizes)."""
    if scale is not None:
        return scale
    from .unet import default_model  # noqa: PLC0415
    from .unet.card import default_scale, load_card  # noqa: PLC0415

    return default_scale(load_card(model or default_model.path()))


def _say_auto_scales(results: list, where: str) -> None:
    """What --scale auto chose, in one or two lines; ``results``: (image, dict with its ``scale`` and
    ``scale_note``) pairs; ``where``: where each image's own factor is written."""
    chosen = [(name, r) for name, r in results if r.get("scale") is not None]
    failed = [(stem, r) for stem, r in chosen if r.get("scale_note")]
    measured = sorted(r["scale"] for _, r in chosen if not r.get("scale_note"))
    if measured:
        _say(f"scale auto: {count(len(measured), 'image')} measured, factors x{measured[0]:.3g} to x{measured[-1]:.3g} "
             f"(per image in {where})")
    if failed:
        stem, r = failed[0]
        _say(f"scale auto: {count(len(failed), 'image')} ran at the model's working scale; {stem}: {r['scale_note']}")


def cmd_evaluate(a) -> int:
    from .data.dataset import Dataset  # noqa: PLC0415
    from .evaluate import default_split, evaluate, write_evaluation  # noqa: PLC0415

    ds = Dataset.open(a.dataset)
    split = a.split or default_split(ds)
    result = evaluate(ds, a.pred, progress=_progress(len(ds), "evaluate"), split=split, seed=a.seed,
                      pixel_size_um=a.pixel_size)
    summary = {k: v for k, v in result.items() if k not in ("per_image", "per_patient")}
    if a.out:
        written = write_evaluation(result, a.out)
    if a.json:
        print(json.dumps(summary))
        return 0
    r2 = "n/a (needs physician_steatosis_pct for 3+ patients)" if summary["r2"] is None else f"{summary['r2']:.3f}"
    which = "every patient" if split == "all" else f"the {split} patients"
    hint = " (--split all for every patient)" if split != "all" and not a.split else ""
    print(f"scored {which}: {', '.join(summary['patients'])}{hint}")
    print(f"images with masks: {summary['n_images']}, from {count(summary['n_patients'], 'patient')}")
    print(f"pooled Jaccard       {summary['jaccard']:.4f}")
    print(f"pooled Dice          {summary['dice']:.4f}")
    print(f"per-image Dice       {summary['dice_per_image_mean']:.4f} ± {summary['dice_per_image_sd']:.4f}")
    print(f"steatosis % error    {summary['pct_abs_error']:.3f} (mean absolute, percentage points)")
    print(f"vacuole count error  {summary['count_abs_error']:.2f} (mean absolute per image)")
    print(f"R² vs physician      {r2} ({count(summary['r2_patients'], 'patient')})")
    print(f"false share          {summary['false_share']:.1%} of the predicted pixels are not fat")
    rbd = summary["recall_by_diameter"]
    print(f"recall by true vacuole diameter ({rbd['unit']}):")
    print("  " + "".join(f"{b['range']:>9}" for b in rbd["bins"]))
    print("  " + "".join(f"{b['fat_share']:>9.1%}" for b in rbd["bins"]) + "   share of the fat")
    print("  " + "".join(f"{'-' if b['recall'] is None else format(b['recall'], '.2f'):>9}" for b in rbd["bins"])
          + "   recall")
    if a.out:
        print(f"tables and plots: {', '.join(str(p) for p in written)}")
    return 0


def cmd_quantify(a) -> int:
    from .quantify import quantify  # noqa: PLC0415

    a.scale = _scale_or_default(a.scale, a.model) if a.method == "unet" else 1.0
    if a.json_progress:
        def progress(done, total):
            print(json.dumps(dict(event="image", done=done, total=total)), flush=True)
    else:
        progress = _progress(0, "quantify")
    with _dask_client(a) as client:
        res = quantify(a.inputs, a.out, method=a.method, model=a.model, pixel_size_um=a.pixel_size,
                       macro_cutoff=a.macro_cutoff, fibrosis=a.fibrosis, progress=progress, scale=a.scale,
                       threshold=a.threshold, client=client, resume=a.resume, on_failure=_on_failure,
                       block_progress=None if a.json_progress else _blocks_bar())
    _close_bars()
    out = Path(a.out)
    if a.json_progress:
        print(json.dumps(dict(event="done", out=str(out.resolve()), failed=len(res["failures"]))), flush=True)
        return _batch_summary(len(res["per_image"]), res["failures"], out, res["skipped"])
    if res["patient_rule"]:
        print(res["patient_rule"])
    for p in res["per_patient"]:
        extra = f", physician {p['physician_steatosis_pct']:g} %" if "physician_steatosis_pct" in p else ""
        fib = f", fibrosis {p['fibrosis_pct']:.2f} %" if "fibrosis_pct" in p else ""
        print(f"  {p['patient']:<10} steatosis {p['steatosis_pct']:6.2f} % of tissue (grade {p['steatosis_grade']})"
              f"{fib}{extra}, {count(p['n_images'], 'image')}")
    print(f"wrote per_image.csv, per_patient.csv, vacuoles.csv, masks and GeoJSON to {out.resolve()}")
    no_size = sum("pixel_size_um" not in r for r in res["per_image"])
    if no_size:  # a px cutoff means another µm size at every magnification: say so rather than let it pass
        cutoff = 30 if a.macro_cutoff is None else a.macro_cutoff
        total = len(res["per_image"])
        who = f"{no_size} of {count(total, 'image')}" if no_size < total else "the image" if total == 1 else f"all {total} images"
        _say(f"{who} {noun(no_size, 'states', 'state')} no pixel size: "
             "vacuole sizes are in px and "
             f"macrovesicular means at least {cutoff:g} px across; give --pixel-size (µm per pixel) for µm")
    if a.scale == "auto":
        _say_auto_scales([(Path(r["image"]).stem, r) for r in res["per_image"]], "per_image.csv")
    return _batch_summary(len(res["per_image"]), res["failures"], out, res["skipped"])


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
    s.add_argument("--patients", type=_positive_int, default=4, help="number of patients (default: %(default)s)")
    s.add_argument("--per-patient", type=_positive_int, default=2, help="images per patient (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    s.add_argument("--size", type=_size, default=(720, 960), help="HxW in pixels (default: 720x960)")
    s.add_argument("--stain", choices=["trichrome", "he", "mixed"], default="trichrome",
                   help="Masson's trichrome, H&E, or patients alternating (default: %(default)s)")
    s.add_argument("--image-format", choices=["png", "jpg", "tif"], default="png",
                   help="image file type (masks are always PNG; default: %(default)s)")
    s.add_argument("--zoom", type=_zoom, default=(0.8, 1.25),
                   help="MIN,MAX magnification per patient; 1 = hepatocytes of 24-32 px (default: 0.8,1.25)")
    s.add_argument("--hazy", action="store_true",
                   help="more variety in vacuoles (for training): half under a pink veil of up to 0.65, rims from none "
                        "to the usual")
    s.add_argument("--splits", type=_counts, help="TRAIN,VAL,TEST patient counts written to the split column "
                                                  "(default: no column; tools then split 60/20/20 by seed)")
    s.add_argument("--slide", type=_slide_size, metavar="HxW",
                   help="instead of a dataset, write one synthetic whole slide of this size, OUT/NAME.ome.tif (pyramidal "
                        "OME-TIFF, JPEG tiles, mpp 0.9, a glass quarter), tile by tile, with its truth masks in OUT/truth/")
    s.add_argument("--name", default="slide", help="file name of --slide (default: %(default)s)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("fibrosis", help="fibrosis masks and %% of tissue by colour thresholding",
                       description="Threshold collagen by hue/saturation/value and report fibrosis as % of tissue. "
                                   "Writes OUT/<stem>.fibrosis.png (OUT/<stem>.fibrosis.ome.tif for a slide), "
                                   "OUT/fibrosis.csv and OUT/fibrosis_settings.json.")
    s.add_argument("inputs", nargs="+", help="dataset folders, folders of images or slides, or their files")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--stain", choices=["trichrome", "sirius-red"], default="trichrome",
                   help="threshold preset (default: %(default)s)")
    s.add_argument("--tune", action="store_true",
                   help="choose thresholds by ROC on the dataset's fibrosis masks (train/val patients), report "
                        "AUC and held-out Jaccard (test patients); writes fibrosis_tuning.json and fibrosis_roc.png")
    s.add_argument("--settings", help="fibrosis_settings.json from an earlier run, instead of the preset")
    s.add_argument("--seed", type=int, default=0, help="seed of the patient split when the dataset has none")
    _add_batch_args(s)
    s.set_defaults(func=cmd_fibrosis)

    s = sub.add_parser("train-unet", help="train the U-Net on a dataset's steatosis masks",
                       description="Train the paper's U-Net on the train patients' steatosis masks for a time budget, "
                                   "validating every few minutes and choosing the decision threshold on the val patients. Progress is printed "
                                   "as one JSON object per line. Ctrl-C stops and keeps the best model so far.")
    s.add_argument("dataset", help="dataset folder")
    s.add_argument("--out", required=True, help="model file to write (MODEL.keras; its card goes to MODEL.card.json)")
    s.add_argument("--max-minutes", type=_positive_float, default=20,
                   help="time budget; the learning-rate schedule spans it and the best model is kept (default: 20)")
    s.add_argument("--validate-minutes", type=_positive_float, default=2.5,
                   help="minutes of training between validations (an 'epoch'; default: %(default)s)")
    s.add_argument("--epochs", type=_positive_int, default=100, help="maximum validations (default: %(default)s)")
    s.add_argument("--patience", type=_positive_int, default=5, help="epochs without validation gain before stopping")
    s.add_argument("--patches-per-image", type=_positive_int,
                   help="size epochs by patches instead: this many 268 px patches per training image")
    s.add_argument("--batch-size", type=_positive_int, default=8, help="patches per step (default: %(default)s)")
    s.add_argument("--loader-threads", type=_positive_int,
                   help="threads drawing training patches (default: 1 on a CPU; beside a GPU up to 8, one per core)")
    s.add_argument("--lr", type=_positive_float, help="peak learning rate of the warm-up + cosine schedule "
                                                      "(default: 2e-3 from scratch, 5e-4 with --init)")
    s.add_argument("--lr-grid", type=_floats, default=(),
                   help="instead: try these learning rates on the validation split first (e.g. 1e-2,1e-3,1e-4)")
    s.add_argument("--grid-steps", type=_positive_int, default=40, help="training steps per learning-rate trial")
    s.add_argument("--loss", choices=["bce", "bce+dice"], default="bce",
                   help="binary cross-entropy (calibrated probabilities) or with soft Dice (default: %(default)s)")
    s.add_argument("--working-scale", type=_working_scale, default="auto",
                   help="resize factor the network works at; 'auto' brings the large labelled vacuoles to "
                        "~40 px (default: auto; with --init the initial model's)")
    s.add_argument("--no-augment", action="store_true", help="no stain, blur, JPEG or noise augmentation")
    s.add_argument("--init", help="fine-tune from this .keras model; 'default' = the shipped model")
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
    s.add_argument("--n-iter", type=_positive_int, default=350, help="hyper-parameter settings to try (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    s.add_argument("--white-level", type=_percent_int, metavar="PCT",
                   help="where a white region's edge is cut, in percent from the level around it to its own "
                        "(default 60: vacuoles under a veil of stain are found whole; 0: the fixed white rule; "
                        "higher: tighter edges on crisp scans)")
    s.add_argument("--split", type=_percent_int, metavar="PCT",
                   help="cut each white region into its round core(s) and what hangs off them, the core being what "
                        "lies in inscribed disks of at least PCT %% of its largest (default 50: a vacuole and the "
                        "sinusoid attached to it are judged apart; 0: whole regions, as models before format 3)")
    s.set_defaults(func=cmd_train_classical)

    s = sub.add_parser("predict", help="steatosis masks for images and slides with the U-Net or the classical pipeline",
                       description="Writes OUT/<stem>.steatosis.png (0/255) for an image, OUT/<stem>.steatosis.ome.tif "
                                   "(pyramidal OME-TIFF, 0/255) for a slide; --probability adds the U-Net probability.")
    s.add_argument("inputs", nargs="+", help="dataset folders, folders of images or slides, or their files")
    s.add_argument("--probability", action="store_true",
                   help="U-Net: also write the probability, OUT/<stem>.probability.tif (float32) for an image, "
                        "OUT/<stem>.probability.ome.tif (uint8 0..255) for a slide")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--method", choices=["unet", "classical"], default="unet", help="default: %(default)s")
    s.add_argument("--model", help="model file (U-Net: .keras, default: the shipped model; classical: required)")
    s.add_argument("--threshold", type=float, help="U-Net decision threshold (default: the model card's)")
    s.add_argument("--tile", type=int, default=1036, help="U-Net input tile size (16k+12; default: %(default)s)")
    s.add_argument("--scale", type=_scale,
                   help="resize images by this factor before the U-Net, on top of the working scale in the model "
                        "card (e.g. 0.5 for images at 2x the magnification of the model's training data); 'auto': "
                        "per H&E image, from the size of its nuclei, when they fall outside the reach of the model's "
                        "training images (a whole slide: one factor from a few crops of its tissue); default: auto "
                        "when the model's card records its training nuclei (the shipped model's does), else 1")
    _add_batch_args(s)
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("evaluate", help="score predicted masks against the dataset's masks and physician scores",
                       description="Pooled Jaccard (the paper's), Dice, per-image Dice, steatosis-% and vacuole-count "
                                   "errors, R² of per-patient % against physician_steatosis_pct, the false share "
                                   "of predicted pixels and recall by true vacuole diameter.")
    s.add_argument("dataset", help="dataset folder with steatosis masks")
    s.add_argument("--pred", required=True, help="folder with <stem>.steatosis.png predictions")
    s.add_argument("--json", action="store_true", help="print one JSON object (jaccard, dice, pct_abs_error, "
                                                       "count_abs_error, r2, n_images, n_patients, ...)")
    s.add_argument("--out", help="also write per-image and per-patient CSVs and the plots here")
    s.add_argument("--split", choices=["all", "train", "val", "test"],
                   help="score only these patients (default: test when the dataset's split column has test "
                        "patients, else all)")
    s.add_argument("--seed", type=int, default=0, help="seed of the patient split when the dataset has no split column")
    s.add_argument("--pixel-size", type=_positive_float, help="µm per pixel for the diameter bins (default: the "
                                                              "dataset's pixel_size_um column; without it, px)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("quantify", help="per-image and per-patient steatosis (and fibrosis) report",
                       description="Detect steatosis (U-Net or classical), split merged vacuoles, and write per_image.csv, "
                                   "per_patient.csv (area-weighted, NAFLD grade), vacuoles.csv, masks and QuPath GeoJSON. "
                                   "A slide is analysed block by block: OUT/<stem>.steatosis.ome.tif (and .fibrosis.ome.tif), "
                                   "<stem>.steatosis.geojson, <stem>.vacuoles.csv and one per_image.csv row.")
    s.add_argument("inputs", nargs="+", help="dataset folders, folders of images or slides, or their files")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--method", choices=["unet", "classical"], default="unet", help="default: %(default)s")
    s.add_argument("--model", help="model file (U-Net default: the shipped model; classical: required)")
    s.add_argument("--pixel-size", type=_positive_float,
                   help="µm per pixel (default: the dataset.csv pixel_size_um column, else TIFF metadata, else px)")
    s.add_argument("--macro-cutoff", type=_positive_float,
                   help="macrovesicular if the equivalent diameter is at least this (default 15 µm, or 30 px)")
    s.add_argument("--fibrosis", choices=["none", "trichrome", "sirius-red"], default="none",
                   help="also measure fibrosis with this preset (default: %(default)s)")
    s.add_argument("--threshold", type=float, help="U-Net decision threshold (default: the model card's)")
    s.add_argument("--scale", type=_scale, help="U-Net: resize images by this factor first, or 'auto' (see predict; "
                                               "the same default)")
    s.add_argument("--json-progress", action="store_true", help="report progress as JSON lines (for the napari dock)")
    _add_batch_args(s)
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
        _close_bars()
        print(f"steatosis {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a vanished network share: the system's words, one line
        _close_bars()
        print(f"steatosis {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _close_bars()
        print(f"steatosis {args.command}: interrupted; finished images keep their outputs "
              "(run the same command with --resume to go on)", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
