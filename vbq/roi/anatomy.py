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

__all__ = ["BODY_EROSION_MM", "CSF_EROSION_MM", "FOCAL_CONTRAST", "FOCAL_MARGIN_MM",
           "ROOT_CONTRAST", "body_roi", "cc_band", "find_csf_behind_body", "protocol_levels",
           "without_focal", "without_roots"]

#: Erosion of each vertebral body (mm) away from cortex and endplates.
BODY_EROSION_MM = 3.0
#: Erosion of a CSF region (mm) against partial volume with the dura, the cord and fat.
CSF_EROSION_MM = 1.0
#: Relative departure from the body's usual marrow signal that makes a spot focal.
FOCAL_CONTRAST = 0.22
#: Smallest area (mm2) of a focal structure (smaller spots are noise or texture).
FOCAL_MIN_AREA_MM2 = 3.0
#: Margin (mm) kept around a focal structure or a nerve root (partial volume).
FOCAL_MARGIN_MM = 1.0
#: Relative excess over the sac's CSF level that makes a pixel a nerve root (or cord).
ROOT_CONTRAST = 0.10


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


def _dilate_mm(mask: np.ndarray, radius_mm: float, spacing: tuple[float, float]) -> np.ndarray:
    from scipy import ndimage

    from vbq.roi.morphology import ellipse_element

    if radius_mm <= 0 or not mask.any():
        return mask.copy()
    return ndimage.binary_dilation(mask, structure=ellipse_element(radius_mm, spacing))


def without_focal(roi: np.ndarray, image: np.ndarray, spacing: tuple[float, float],
                  name: str = "", *, contrast: float = FOCAL_CONTRAST,
                  min_area_mm2: float = FOCAL_MIN_AREA_MM2,
                  margin_mm: float = FOCAL_MARGIN_MM,
                  min_pixels: int = MIN_ROI_PIXELS) -> tuple[np.ndarray, float]:
    """Remove focal structures from a body ROI, as a reader's ROI leaves them out.

    A label mask labels the whole body, with its basivertebral vein, Modic
    zones, haemangiomas and fat islands. Where the image, smoothed by a 3 x 3
    median (noise), departs from the ROI's median by more than ``contrast``
    (relative) over a connected area of at least ``min_area_mm2``, the spot
    and ``margin_mm`` around it are removed. Diffuse marrow texture (a few
    percent to 15 %) stays in. When fewer than ``min_pixels`` pixels or less
    than half the ROI would remain, the ROI is returned unchanged (a body that
    is mostly "lesion" has no usual signal to tell it from).

    Returns
    -------
    roi, fraction
        The ROI without its focal structures and the fraction of it removed.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((30, 30), 100.0); img[10:14, 10:14] = 160.0   # a bright 4 x 4 spot
    >>> roi = np.zeros((30, 30), bool); roi[5:25, 5:25] = True
    >>> kept, removed = without_focal(roi, img, (1.0, 1.0))
    >>> bool(kept[12, 12]), bool(kept[9, 12]), bool(kept[8, 12]), round(removed, 3)
    (False, False, True, 0.06)

    (The median filter drops the spot's four corners, the 1 mm margin puts
    them back and adds two pixels on each side: 24 of 400 pixels.)
    """
    from scipy import ndimage

    if roi.sum() < min_pixels:
        return roi, 0.0
    r, c = np.nonzero(roi)
    pad = 2
    box = (slice(max(r.min() - pad, 0), r.max() + pad + 1),
           slice(max(c.min() - pad, 0), c.max() + pad + 1))
    sub = np.asarray(image, dtype=float)[box]
    inside = roi[box]
    smooth = ndimage.median_filter(sub, size=3, mode="nearest")
    level = float(np.median(sub[inside]))
    if level <= 0:
        return roi, 0.0
    odd = inside & (np.abs(smooth - level) > contrast * level)
    lab, n = ndimage.label(odd, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return roi, 0.0
    area = np.bincount(lab.ravel())[1:] * float(spacing[0] * spacing[1])
    focal = np.isin(lab, 1 + np.flatnonzero(area >= min_area_mm2))
    if not focal.any():
        return roi, 0.0
    kept_sub = inside & ~_dilate_mm(focal, margin_mm, spacing)
    if kept_sub.sum() < max(min_pixels, 0.5 * inside.sum()):
        return roi, 0.0
    out = np.zeros_like(roi)
    out[box] = kept_sub
    return out, float(1.0 - kept_sub.sum() / inside.sum())


def _pixel_noise(image: np.ndarray, region: np.ndarray) -> float:
    """Robust noise SD from differences of neighbouring pixels both in ``region``.

    Differences of neighbours cancel any level that is the same on both, so
    neither a second population (roots) nor a slow trend (shading) inflates
    it; only the edges between populations, a minority of pairs, differ.
    """
    img = np.asarray(image, dtype=float)
    diffs = [np.abs(img[:, 1:] - img[:, :-1])[region[:, 1:] & region[:, :-1]],
             np.abs(img[1:, :] - img[:-1, :])[region[1:, :] & region[:-1, :]]]
    d = np.concatenate(diffs)
    return 1.4826 * float(np.median(d)) / math.sqrt(2.0) if d.size else 0.0


#: Noise SD of :func:`_along_sac_mean`, relative to one pixel's (1/3 for nine independent
#: samples; more, as bilinear samples half a pixel apart and the point-spread function
#: correlate them).
_SMOOTH_NOISE = 0.4


def _along_sac_mean(img: np.ndarray, region: np.ndarray, spacing: tuple[float, float]
                    ) -> np.ndarray:
    """Return each region pixel's mean over 3 mm along the sac and 1.5 mm across it.

    The sac's direction is the region's long (principal) axis; nine samples
    (bilinear; -1, 0, 1 mm along x -0.5, 0, 0.5 mm across) are averaged, each
    weighted by how much of it lies in the region. Roots of the cauda equina
    run along the sac, so a root beside the slice, faint in one pixel, stands
    out of the noise; pixels outside the region are 0.
    """
    from scipy.ndimage import map_coordinates

    rr, cc = np.nonzero(region)
    sr, sc = spacing
    d = np.column_stack([(rr - rr.mean()) * sr, (cc - cc.mean()) * sc])
    _, vecs = np.linalg.eigh(d.T @ d)
    axis = vecs[:, -1]
    normal = np.array([-axis[1], axis[0]])
    inside = region.astype(float)
    num = np.zeros(rr.size)
    den = np.zeros(rr.size)
    for a in (-1.0, 0.0, 1.0):
        for b in (-0.5, 0.0, 0.5):
            off = a * axis + b * normal
            coords = np.vstack([rr + off[0] / sr, cc + off[1] / sc])
            den += map_coordinates(inside, coords, order=1, mode="constant")
            num += map_coordinates(img * inside, coords, order=1, mode="constant")
    out = np.zeros(img.shape)
    out[rr, cc] = num / np.maximum(den, 1e-12)
    return out


def _dark_level(vals: np.ndarray, noise: float, contrast: float) -> tuple[float, float]:
    """(level, cut) of the darker population of ``vals`` brightened by a minority.

    The level starts at the median; values above ``level + max(contrast *
    level, 3 * noise)`` are left out and the level is the median of the rest,
    until it no longer changes (at most ten passes).
    """
    level = float(np.median(vals))
    cut = np.inf
    for _ in range(10):
        cut = level + max(contrast * abs(level), 3.0 * noise)
        kept = vals[vals <= cut]
        if kept.size == 0:
            break
        new = float(np.median(kept))
        if new == level:
            break
        level = new
    return level, cut


def without_roots(region: np.ndarray, image: np.ndarray, spacing: tuple[float, float], *,
                  contrast: float = ROOT_CONTRAST, margin_mm: float = FOCAL_MARGIN_MM,
                  min_pixels: int = MIN_ROI_PIXELS) -> np.ndarray:
    """Remove the nerve roots (and any cord) from a CSF region of the thecal sac.

    On T1 the roots of the cauda equina are about twice as bright as CSF, and
    a label mask's canal label holds them, and where they are thinner than a
    pixel or than the slice, partial volume leaves them 15-30 % above the
    CSF. Each pixel is replaced by its mean over 3 mm along the sac and 1.5 mm
    across it, inside the region (:func:`_along_sac_mean`: a root beside the
    slice, faint in one pixel, stands out of the noise once averaged along its
    course); the CSF level is the median of those means after the ones
    brighter than it by more than ``contrast`` (relative) or three noise
    standard deviations (of such a mean: 0.4 of a pixel's, from differences of
    neighbouring pixels), whichever is larger, are left out (repeated from the
    region's median); those brighter pixels are roots, removed with
    ``margin_mm`` around them. Coil
    shading changes the signal by a few percent across a sac 10-15 mm deep,
    well under ``contrast``. When fewer than ``min_pixels`` would
    remain, the region is returned unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((20, 20), 100.0); img[:, 9] = 210.0               # one root
    >>> sac = np.zeros((20, 20), bool); sac[2:18, 4:16] = True
    >>> csf = without_roots(sac, img, (1.0, 1.0))
    >>> [bool(csf[10, c]) for c in (9, 8, 7, 6)], float(img[csf].mean())
    ([False, False, False, True], 100.0)

    (Averaged across the sac over 1.5 mm, the root reaches columns 8 and 10 at a
    sixth of its excess, 18 %; the 1 mm margin then takes columns 7 and 11.)
    """
    img = np.asarray(image, dtype=float)
    vals = img[region]
    if vals.size < min_pixels:
        return region
    smooth = _along_sac_mean(img, region, spacing)
    level, cut = _dark_level(smooth[region], _SMOOTH_NOISE * _pixel_noise(img, region),
                             contrast)
    bright = region & (smooth > cut)
    if not bright.any():
        return region
    kept = region & ~_dilate_mm(bright, margin_mm, spacing)
    return kept if kept.sum() >= min_pixels else region


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


