"""Overlays for reports: a mask drawn on its image as a tinted fill with an outline."""

from __future__ import annotations

import cv2
import numpy as np

COLOURS = {"steatosis": (255, 220, 0), "fibrosis": (0, 170, 255), "tissue": (0, 200, 0)}


def draw_overlay(rgb: np.ndarray, masks: dict[str, np.ndarray], alpha: float = 0.35) -> np.ndarray:
    """The image with each mask tinted (``alpha``) and outlined in its colour from ``COLOURS``."""
    out = rgb.astype(np.float32)
    outlines = []
    for name, mask in masks.items():
        colour = np.array(COLOURS.get(name, (255, 0, 255)), np.float32)
        m = np.asarray(mask, bool)
        out[m] = out[m] * (1 - alpha) + colour * alpha
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        outlines.append((contours, tuple(int(c) for c in colour)))
    out = np.clip(out, 0, 255).astype(np.uint8)
    for contours, colour in outlines:
        cv2.drawContours(out, contours, -1, colour, 1)
    return out
