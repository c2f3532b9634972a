"""Outputs shared by the phantoms (part of :mod:`vbq.phantom`).

The membership rules of ``vbq-rois/1`` shapes on pixel centres (implemented here on
their own, apart from the scoring code), pixel-to-patient conversion of ROIs, JSON
output, the distractor list and :class:`PhantomInfo`, the description of what a
phantom wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vbq.errors import InputError
from vbq.phantom.anatomy import Grid

__all__ = ["roi_membership", "boundary_margin", "write_json", "PhantomInfo", "stats",
           "parse_distractors", "to_patient_roi", "DISTRACTORS"]

DISTRACTORS: tuple[str, ...] = ("t2", "t1_post", "axial")


# --------------------------------------------------------------------------- ROI membership
def roi_membership(roi: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a pixel-space ``vbq-rois/1`` ROI, by the format's rules on pixel centres.

    Ellipse/circle: ``((r-r0)/ry)^2 + ((c-c0)/rx)^2 <= 1`` with ``radii = [ry, rx]``;
    rectangle: ``corner <= centre < corner + size``; polygon: even-odd rule.
    """
    rr, cc = np.meshgrid(np.arange(shape[0], dtype=np.float64),
                         np.arange(shape[1], dtype=np.float64), indexing="ij")
    shape_name = roi["shape"]
    if shape_name in ("ellipse", "circle"):
        r0, c0 = roi["center"]
        ry, rx = (roi["radius"], roi["radius"]) if shape_name == "circle" else roi["radii"]
        return ((rr - r0) / ry) ** 2 + ((cc - c0) / rx) ** 2 <= 1.0
    if shape_name == "rectangle":
        (r0, c0), (h, w) = roi["corner"], roi["size"]
        return (rr >= r0) & (rr < r0 + h) & (cc >= c0) & (cc < c0 + w)
    if shape_name == "polygon":
        pts = np.asarray(roi["points"], dtype=np.float64)
        inside = np.zeros(shape, dtype=bool)
        n = len(pts)
        for i in range(n):
            (ra, ca), (rb, cb) = pts[i], pts[(i + 1) % n]
            if ra == rb:
                continue
            crosses = (rr >= min(ra, rb)) & (rr < max(ra, rb))
            c_at = ca + (rr - ra) * (cb - ca) / (rb - ra)
            inside ^= crosses & (cc < c_at)
        return inside
    raise ValueError(f"unknown ROI shape {shape_name!r}")


def boundary_margin(roi: dict[str, Any], shape: tuple[int, int]) -> float:
    """Smallest distance (in the membership function's units) of a pixel centre from the edge."""
    rr, cc = np.meshgrid(np.arange(shape[0], dtype=np.float64),
                         np.arange(shape[1], dtype=np.float64), indexing="ij")
    if roi["shape"] in ("ellipse", "circle"):
        r0, c0 = roi["center"]
        ry, rx = (roi["radius"], roi["radius"]) if roi["shape"] == "circle" else roi["radii"]
        return float(np.min(np.abs(((rr - r0) / ry) ** 2 + ((cc - c0) / rx) ** 2 - 1.0)))
    if roi["shape"] == "rectangle":
        (r0, c0), (h, w) = roi["corner"], roi["size"]
        return float(min(np.min(np.abs(rr - r0)), np.min(np.abs(rr - r0 - h)),
                         np.min(np.abs(cc - c0)), np.min(np.abs(cc - c0 - w))))
    pts = np.asarray(roi["points"], dtype=np.float64)
    m = np.inf
    for i in range(len(pts)):
        a, b = pts[i], pts[(i + 1) % len(pts)]
        d = b - a
        t = np.clip(((rr - a[0]) * d[0] + (cc - a[1]) * d[1]) / float(d @ d), 0, 1)
        m = min(m, float(np.min(np.hypot(rr - a[0] - t * d[0], cc - a[1] - t * d[1]))))
    return m


# --------------------------------------------------------------------------- output helpers
def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    from vbq.fileio import write_text

    write_text(path, json.dumps(data, indent=2) + "\n")


@dataclass(frozen=True)
class PhantomInfo:
    """What :func:`make_phantom` wrote, and the truth it was built from."""

    out_dir: Path
    series_dir: Path
    rois_path: Path
    rois_patient_path: Path
    seeds_path: Path
    mask_path: Path
    expected_path: Path
    expected: dict[str, Any]
    series_instance_uid: str
    slice: int
    files: dict[str, list[Path]] = field(default_factory=dict)
    distractor_uids: dict[str, str] = field(default_factory=dict)
    tissue: np.ndarray | None = field(default=None, repr=False)
    reference_rois_path: Path | None = None
    variants: dict[str, bool] = field(default_factory=dict)

    @property
    def vbq(self) -> float:
        """The VBQ of the written pixels (``expected.json``)."""
        return float(self.expected["vbq"])


def stats(values: np.ndarray) -> dict[str, float | int]:
    """Mean, median and pixel count of ROI values."""
    return {"mean": float(np.mean(values)), "median": float(np.median(values)),
            "n_pixels": int(values.size)}


def parse_distractors(distractors: str | Iterable[str] | None) -> tuple[str, ...]:
    """Distractor series names from a list or a comma-separated string (``"none"``: none)."""
    if distractors is None:
        return ()
    if isinstance(distractors, str):
        items = [d.strip() for d in distractors.split(",") if d.strip()]
    else:
        items = [str(d).strip() for d in distractors]
    if items in (["none"], []):
        return ()
    bad = [d for d in items if d not in DISTRACTORS]
    if bad:
        raise InputError(f"unknown distractor series {bad[0]!r}; choose from "
                         f"{', '.join(DISTRACTORS)} or none")
    return tuple(dict.fromkeys(items))


def to_patient_roi(roi: dict[str, Any], grid: Grid, k: int) -> dict[str, Any]:
    """Convert a pixel-space ROI on slice ``k`` of ``grid`` to patient space (mm)."""
    sr, sc = grid.spacing
    out: dict[str, Any] = {key: roi[key] for key in ("label", "level") if key in roi}
    out["shape"] = roi["shape"]
    if roi["shape"] in ("ellipse", "circle"):
        out["center"] = grid.pixel_to_patient(k, roi["center"])
        if roi["shape"] == "circle":
            out["radius"] = roi["radius"] * sr
        else:
            out["radii"] = [roi["radii"][0] * sr, roi["radii"][1] * sc]
    elif roi["shape"] == "rectangle":
        out["corner"] = grid.pixel_to_patient(k, roi["corner"])
        out["size"] = [roi["size"][0] * sr, roi["size"][1] * sc]
    else:
        out["points"] = [grid.pixel_to_patient(k, p) for p in roi["points"]]
    return out
