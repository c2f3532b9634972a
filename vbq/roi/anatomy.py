"""ROIs of the anatomy, shared by label masks and seed points: the body ROI and the CSF.

Owns what :mod:`vbq.roi.labelmask` and :mod:`vbq.roi.seeds` both do once they
have a vertebral body region: erode it away from cortex and endplates
(:func:`body_roi`), find the craniocaudal band beside it (:func:`cc_band`), find
the CSF in the canal behind it in the image (:func:`find_csf_behind_body`), and
read which levels a protocol scores (:func:`protocol_levels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from vbq.dicom.geometry import SliceGeometry
from vbq.errors import AnalysisError, RoiEroded, VbqWarning
from vbq.protocol import Protocol, get_protocol
from vbq.roi.morphology import erode_mm, largest_region
from vbq.roi.roimasks import MIN_ROI_PIXELS

__all__ = ["BODY_EROSION_MM", "CSF_EROSION_MM", "body_roi", "cc_band", "find_csf_behind_body",
           "protocol_levels"]

#: Erosion of each vertebral body (mm) away from cortex and endplates.
BODY_EROSION_MM = 3.0
#: Erosion of a CSF region (mm) against partial volume with the dura, the cord and fat.
CSF_EROSION_MM = 1.0


def body_roi(body: np.ndarray, spacing: tuple[float, float], name: str,
             erosion_mm: float = BODY_EROSION_MM,
             min_pixels: int = MIN_ROI_PIXELS) -> tuple[np.ndarray, list[VbqWarning]]:
    """Erode a body's region away from cortex and endplates, keeping enough pixels.

    Returns
    -------
    roi, warnings
        The eroded region (its largest connected part) and remarks when the
        erosion had to be relaxed.
    """
    from scipy import ndimage

    region = ndimage.binary_fill_holes(largest_region(body))
    warnings: list[VbqWarning] = []
    radius = erosion_mm
    while True:
        roi = largest_region(erode_mm(region, radius, spacing))
        if roi.sum() >= min_pixels or radius <= 0:
            break
        radius = radius / 2 if radius > 0.5 else 0.0
    if radius < erosion_mm:
        warnings.append(RoiEroded(
            f"{name}: the body is small, so it was eroded by {radius:.2f} mm instead of "
            f"{erosion_mm:.2f} mm to keep {int(roi.sum())} pixels"
        ))
    return roi, warnings


def _cc_coordinate(geometry: SliceGeometry) -> np.ndarray:
    """Patient z (LPS: + superior) of every pixel centre of a slice, shape (rows, cols)."""
    return geometry.pixel_centres()[..., 2]


def cc_band(body: np.ndarray, geometry: SliceGeometry) -> np.ndarray:
    """Pixels between the cranial and caudal ends of ``body`` (same slice)."""
    z = _cc_coordinate(geometry)
    zb = z[body]
    return (z >= zb.min() - 1e-6) & (z <= zb.max() + 1e-6)


def protocol_levels(protocol: str | Protocol | None
                    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(vertebral levels, CSF level followed by its fallbacks) of a protocol name or object.

    Examples
    --------
    >>> protocol_levels("lumbar")
    (('L1', 'L2', 'L3', 'L4'), ('L3', 'L2', 'L1'))
    """
    proto = get_protocol(protocol or "lumbar")
    return tuple(proto.levels), tuple(proto.csf_levels)


def _direction_px(geometry: SliceGeometry, lps: Sequence[float]) -> np.ndarray:
    """In-plane pixel step ``[d_row, d_col]`` moving 1 mm along the LPS direction ``lps``."""
    v = np.asarray(lps, dtype=float)
    d = np.array([v @ geometry.col_dir / geometry.spacing[0],
                  v @ geometry.row_dir / geometry.spacing[1]])
    mm = math.hypot(d[0] * geometry.spacing[0], d[1] * geometry.spacing[1])
    if mm < 1e-6:
        raise AnalysisError("the image plane does not contain the needed direction; "
                            "a sagittal series is required")
    return d / mm


def find_csf_behind_body(image: np.ndarray, body: np.ndarray, geometry: SliceGeometry, *,
                         dark_fraction: float = 0.6, cortex_mm: float = 2.5,
                         tolerance: float = 0.3, margin_mm: float = 1.0,
                         search_mm: float = 30.0,
                         erosion_mm: float = CSF_EROSION_MM) -> np.ndarray:
    """Find the CSF in the canal behind a vertebral body.

    Scan lines run posteriorly (patient +y) from the middle 70 % of the body's
    height. On each, after leaving the body, the first sample darker than
    ``dark_fraction`` x the marrow median starts the posterior cortex; past
    ``cortex_mm`` of it, the signal of the next 3 mm is taken as the CSF
    level, and the band continues while the signal stays within
    ``tolerance`` (relative) of that level, i.e. until the cord, the dura and
    epidural fat or the posterior elements. Each band loses ``margin_mm`` at
    both ends (partial volume). The ROI is the area those bands span,
    restricted to pixels within the same tolerance of the median CSF level,
    eroded by ``erosion_mm`` when enough pixels remain.

    Raises
    ------
    AnalysisError
        When fewer than three scan lines find a CSF band at least 3 mm wide.
    """
    from scipy import ndimage

    marrow = float(np.median(image[body]))
    threshold = dark_fraction * marrow
    post = _direction_px(geometry, (0.0, 1.0, 0.0))
    sup = _direction_px(geometry, (0.0, 0.0, 1.0))
    z = geometry.pixel_centres()[..., 2]
    zb = z[body]
    height = float(zb.max() - zb.min())
    centre = np.array(ndimage.center_of_mass(body))
    step = 0.5
    ts = np.linspace(-0.35 * height, 0.35 * height, 15)
    ds = np.arange(0.0, 60.0 + search_mm, step)
    lo: list[float] = []
    hi: list[float] = []
    used: list[float] = []
    levels: list[float] = []
    rows, cols = image.shape
    for t in ts:
        pts = centre[None, :] + t * sup[None, :] + ds[:, None] * post[None, :]
        inside = (pts[:, 0] >= 0) & (pts[:, 0] <= rows - 1) & (pts[:, 1] >= 0) & (
            pts[:, 1] <= cols - 1)
        ri = np.clip(np.round(pts[:, 0]).astype(int), 0, rows - 1)
        ci = np.clip(np.round(pts[:, 1]).astype(int), 0, cols - 1)
        in_body = body[ri, ci] & inside
        if not in_body.any():
            continue
        exit_i = int(np.flatnonzero(in_body)[-1]) + 1
        vals = ndimage.map_coordinates(image, pts.T, order=1, mode="nearest")
        vals = ndimage.median_filter(vals, size=3, mode="nearest")
        stop = min(exit_i + int(search_mm / step), len(ds))
        dark = np.flatnonzero((vals[exit_i:stop] < threshold) & inside[exit_i:stop])
        if dark.size == 0:
            continue
        start = exit_i + int(dark[0]) + int(round(cortex_mm / step))
        window = vals[start:start + int(3.0 / step)]
        if window.size == 0:
            continue
        level = float(np.median(window))
        if level <= 0:
            continue
        close = np.flatnonzero(np.abs(window - level) <= tolerance * level)
        if close.size == 0:
            continue
        start += int(close[0])  # skip what is left of the cortex
        k = start
        while k < len(ds) and inside[k] and abs(vals[k] - level) <= tolerance * level:
            k += 1
        if ds[k - 1] - ds[start] >= 3.0 + 2 * margin_mm:
            lo.append(float(ds[start]) + margin_mm)
            hi.append(float(ds[k - 1]) - margin_mm)
            used.append(float(t))
            levels.append(level)
    if len(used) < 3:
        raise AnalysisError("no CSF band was found behind the body")
    csf = float(np.median(levels))
    rr, cc = np.mgrid[0:rows, 0:cols].astype(float)
    dr, dc = rr - centre[0], cc - centre[1]
    basis = np.array([[sup[0], post[0]], [sup[1], post[1]]])
    tt, dd = np.linalg.solve(basis, np.vstack([dr.ravel(), dc.ravel()]))
    tt = tt.reshape(rows, cols)
    dd = dd.reshape(rows, cols)
    order = np.argsort(used)
    u = np.asarray(used)[order]
    p_lo = np.interp(tt, u, np.asarray(lo)[order])
    p_hi = np.interp(tt, u, np.asarray(hi)[order])
    region = ((tt >= u[0]) & (tt <= u[-1]) & (dd >= p_lo) & (dd <= p_hi)
              & (np.abs(image - csf) <= tolerance * csf))
    region = largest_region(region)
    if region.sum() < MIN_ROI_PIXELS:
        raise AnalysisError(f"the CSF band behind the body has only {int(region.sum())} pixels")
    spacing = (float(geometry.spacing[0]), float(geometry.spacing[1]))
    roi = largest_region(erode_mm(region, erosion_mm, spacing))
    return roi if roi.sum() >= MIN_ROI_PIXELS else region


