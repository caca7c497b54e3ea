"""Run U-Net prediction in a separate process and report progress as JSON lines.

napari runs the network through this (``python -m napari_steatosis.unet.worker``): TensorFlow
and Qt 6 in one process crash on some systems, and a process can be stopped at once.

    python -m napari_steatosis.unet.worker --input IMAGE.npy --output PROB.npy [--model M.keras] [--tile N]

stdout: {"event": "device", ...}, {"event": "tile", "done": k, "total": n}, {"event": "done", ...}
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m napari_steatosis.unet.worker")
    p.add_argument("--input", required=True, help="RGB uint8 image as .npy")
    p.add_argument("--output", required=True, help="where to write the float32 probability map (.npy)")
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--tile", type=int, default=1036)
    p.add_argument("--scale", type=float, default=1.0, help="resize by this factor before the network, on top of the model card's working scale")
    a = p.parse_args(argv)
    from . import quiet_tensorflow  # noqa: PLC0415

    quiet_tensorflow()
    import numpy as np  # noqa: PLC0415

    from ..data.atomic import atomic_write  # noqa: PLC0415
    from ..errors import SteatosisError  # noqa: PLC0415
    from .detector import Detector  # noqa: PLC0415
    from .predict import device_description  # noqa: PLC0415

    def emit(**d):
        print(json.dumps(d), flush=True)

    try:
        det = Detector.load(a.model, scale=a.scale, tile=a.tile)
        emit(event="device", device=device_description(), model=det.path, threshold=det.threshold,
             scale=det.scale, val_jaccard=det.card.get("val_jaccard"))
        rgb = np.load(a.input, allow_pickle=False)
        prob = det.probability(rgb, progress=lambda k, n: emit(event="tile", done=k, total=n))
        with atomic_write(a.output) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, prob.astype(np.float32), allow_pickle=False)
        emit(event="done", output=a.output)
        return 0
    except SteatosisError as exc:
        emit(event="error", message=str(exc))
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
