"""Run U-Net prediction in a separate process and report progress as JSON lines.

napari runs the network through this (``python -m napari_steatosis.unet.worker``): TensorFlow
and Qt 6 in one process crash on some systems, and a process can be stopped at once.

    python -m napari_steatosis.unet.worker --input IMAGE.npy --output PROB.npy [--model M.keras] [--tile N] [--scale S|auto]
    python -m napari_steatosis.unet.worker --slide SLIDE --region R0,C0,R1,C1 --output PROB.npy --tissue-output T.npy [--rgb-output RGB.npy]

(the second form reads a level-0 region of a whole slide itself: napari's "Run on visible region")

stdout: {"event": "device", ...}, {"event": "tile", "done": k, "total": n}, {"event": "done", ...}
(with ``--scale auto`` the done event carries the factor the image ran at, ``scale``, and
``scale_note``, why it fell back to the model's working scale, else null)
"""

from __future__ import annotations

import argparse
import sys

from ..cli import _scale


def _read_input(a):
    import numpy as np  # noqa: PLC0415

    from ..errors import SteatosisError  # noqa: PLC0415

    if a.slide is None:
        if a.input is None:
            raise SteatosisError("give --input IMAGE.npy, or --slide SLIDE --region R0,C0,R1,C1")
        return np.load(a.input, allow_pickle=False)
    from ..data.slides import open_slide  # noqa: PLC0415

    try:
        r0, c0, r1, c1 = (int(v) for v in (a.region or "").split(","))
    except ValueError:
        raise SteatosisError(f"--region must be R0,C0,R1,C1 (level-0 pixels), got {a.region!r}") from None
    with open_slide(a.slide, warn_no_mpp=False) as slide:
        return slide.read(r0, c0, r1, c1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m napari_steatosis.unet.worker")
    p.add_argument("--input", help="RGB uint8 image as .npy")
    p.add_argument("--slide", help="a whole slide, with --region: the level-0 region to read instead of --input")
    p.add_argument("--region", help="R0,C0,R1,C1: level-0 rows R0..R1 and columns C0..C1 of --slide")
    p.add_argument("--tissue-output", help="where to write the image's tissue mask (bool .npy)")
    p.add_argument("--rgb-output", help="where to write the pixels read from --slide (RGB uint8 .npy): napari "
                                        "completes detections to the white regions they sit in on them")
    p.add_argument("--output", required=True, help="where to write the float32 probability map (.npy)")
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--tile", type=int, default=1036)
    p.add_argument("--scale", type=_scale, default=1.0,
                   help="resize by this factor before the network, on top of the model card's working scale; "
                        "'auto': from the size of the image's nuclei")
    a = p.parse_args(argv)
    from . import quiet_tensorflow  # noqa: PLC0415
    from ..worker_lines import reported  # noqa: PLC0415

    quiet_tensorflow()
    return reported(lambda: _run(a))


def _save_npy(path, array) -> None:
    import numpy as np  # noqa: PLC0415

    from ..data.atomic import atomic_write  # noqa: PLC0415

    with atomic_write(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def _run(a) -> int:
    import numpy as np  # noqa: PLC0415

    from ..worker_lines import emit  # noqa: PLC0415
    from .detector import Detector  # noqa: PLC0415

    det = Detector.load(a.model, scale=a.scale, tile=a.tile)
    emit(event="device", device=det.device, model=det.path, threshold=det.threshold,
         scale=det.scale, val_jaccard=det.card.get("val_jaccard"))
    rgb = _read_input(a)
    prob = det.probability(rgb, progress=lambda k, n: emit(event="tile", done=k, total=n))
    _save_npy(a.output, prob.astype(np.float32))
    if a.tissue_output:
        from ..preprocess import tissue_mask  # noqa: PLC0415

        _save_npy(a.tissue_output, tissue_mask(rgb))
    if a.rgb_output:
        _save_npy(a.rgb_output, rgb)
    emit(event="done", output=a.output, complete_min_cover=det.complete_min_cover, **det.last_choice)
    return 0

if __name__ == "__main__":
    sys.exit(main())
