"""Region growing from a point: the CSF region around a CSF seed.

A CSF seed's region grows through 8-connected pixels within a window of +-30 %
(or 3 robust SD) of the signal near the seed, within :data:`CSF_RADIUS_MM` of
it and an optional limit (the CSF level's craniocaudal extent); a 1 mm
opening cuts thin leaks, holes are filled, and the region is eroded by 2 mm
(its edge holds pixels part CSF, part dura or cortex).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vbq.errors import AnalysisError
from vbq.roi.morphology import ellipse_element, erode_mm, largest_region
from vbq.roi.roimasks import MIN_ROI_PIXELS

#: Radius (mm) of the neighbourhood whose signal sets a growth window.
SEED_STATS_MM = 3.0
#: Farthest (mm) a CSF region may grow from its seed.
CSF_RADIUS_MM = 15.0

__all__ = ["grow_csf", "CSF_RADIUS_MM", "SEED_STATS_MM"]


def _distance_mm(shape: tuple[int, int], rc: Sequence[float],
                 spacing: tuple[float, float]) -> np.ndarray:
    r = (np.arange(shape[0], dtype=float) - rc[0])[:, None] * spacing[0]
    c = (np.arange(shape[1], dtype=float) - rc[1])[None, :] * spacing[1]
    return np.hypot(r, c)


def _local_stats(image: np.ndarray, rc: Sequence[float], spacing: tuple[float, float],
                 radius_mm: float = SEED_STATS_MM) -> tuple[float, float]:
    dist = _distance_mm(image.shape, rc, spacing)
    # on coarse pixels no pixel centre may lie within the radius: the nearest ones stand in
    near = dist <= max(radius_mm, float(dist.min()) + 1e-9)
    vals = image[near]
    med = float(np.median(vals))
    sd = 1.4826 * float(np.median(np.abs(vals - med)))
    return med, sd


def _grow(image: np.ndarray, rc: Sequence[float], spacing: tuple[float, float],
          low: float, high: float, radius_mm: float,
          limit: np.ndarray | None = None) -> np.ndarray:
    from scipy import ndimage

    dist = _distance_mm(image.shape, rc, spacing)
    cand = (image >= low) & (image <= high) & (dist <= radius_mm)
    if limit is not None:
        cand &= limit
    opened = ndimage.binary_opening(cand, structure=ellipse_element(1.0, spacing))
    lab, n = ndimage.label(opened, structure=np.ones((3, 3), dtype=bool))
    r, c = int(round(rc[0])), int(round(rc[1]))
    if n == 0:
        return np.zeros_like(cand)
    k = lab[r, c]
    if k == 0:  # the seed pixel itself was opened away: take the nearest region
        d = np.where(lab > 0, dist, np.inf)
        idx = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[idx] > SEED_STATS_MM:
            return np.zeros_like(cand)
        k = lab[idx]
    return ndimage.binary_fill_holes(lab == k)


def grow_csf(image: np.ndarray, seed_rc: Sequence[float], spacing: tuple[float, float],
             limit: np.ndarray | None = None, name: str = "CSF",
             radius_mm: float = CSF_RADIUS_MM,
             erosion_mm: float = 2.0) -> np.ndarray:
    """Grow the CSF ROI from a seed inside the canal.

    Raises
    ------
    AnalysisError
        When the grown region has fewer than :data:`vbq.roi.roimasks.MIN_ROI_PIXELS`
        pixels.
    """
    med, sd = _local_stats(image, seed_rc, spacing, radius_mm=1.5)
    tol = max(3 * sd, 0.3 * abs(med))
    region = _grow(image, seed_rc, spacing, med - tol, med + tol, radius_mm, limit)
    if region.sum() < MIN_ROI_PIXELS:
        raise AnalysisError(
            f"{name}: region growing from the CSF seed found only {int(region.sum())} pixels "
            f"of signal like the seed's ({med:g}), fewer than {MIN_ROI_PIXELS}: the seed is "
            "outside the canal, on a root, or where the sac is too narrow; move it onto the "
            "dark CSF where the sac is widest")
    roi = largest_region(erode_mm(region, erosion_mm, spacing))
    return roi if roi.sum() >= MIN_ROI_PIXELS else region
