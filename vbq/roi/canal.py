"""The thecal sac along the whole lumbar spine, and the CSF ROI placed in it.

Owns finding the sac on a sagittal T1 slice as one continuous structure
behind the vertebral bodies (:func:`trace_canal`), placing the CSF ROI in it at
the middle of a level (:func:`place_csf`) and sampling the sac's CSF signal
along the canal (the reference the CSF ROI is checked against,
:mod:`vbq.roi.plausibility` gate (c)).

Method
    The column's axis is the line through the body centres given (one per
    level, in level order), extended by half a level at both ends and
    resampled every millimetre; at each station a profile runs posteriorly,
    perpendicular to the axis, so the canal becomes a straight band in a
    "straightened" image (station x depth). On T1 the sac's CSF is darker
    than marrow, muscle, the cord, roots and epidural fat but brighter than
    cortex, the posterior longitudinal ligament and the dura, so its level is
    the mode of the dark signal behind the bodies (below
    :data:`MARROW_FRACTION` of the marrow), refined on the pixels near it.
    The sac is then the connected region of the straightened image within
    :data:`CSF_WINDOW` of that level which spans the most stations (the
    canal is continuous; cortex, ligament and dura are thin and darker, fat
    brighter); at each station its walls are the ends of the longest run of
    that region, smoothed along the canal.
CSF ROI
    At the middle of the CSF level (the station nearest its body centre) an
    ellipse aligned with the sac: its half-length along the sac is
    :data:`CSF_HALF_LENGTH_FRACTION` of the distance between neighbouring
    body centres (at most :data:`CSF_HALF_LENGTH_MAX_MM`); its half-depth is
    the largest that keeps it :data:`CSF_WALL_MARGIN_MM` from the walls at
    every station it crosses and off the depths where the sac's median
    signal there is brighter than the CSF by more than
    :data:`ROOT_EXCESS` (the roots of the cauda equina run along the sac).
Reference
    ``(median, spread)`` of the central third of the sac's depth at every
    station where it was found (spread: 1.4826 x MAD).

References
----------
Ehresman J, Pennington Z, Schilling A, et al. Novel MRI-based score for
assessment of bone density in operative spine patients. Spine J.
2020;20(4):556-562. doi:10.1016/j.spinee.2019.10.018 (CSF ROI in the thecal
sac at L3 on the mid-sagittal T1 slice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vbq.dicom.geometry import SliceGeometry
from vbq.errors import CsfNotFoundError
from vbq.levels import VERTEBRAL_LEVELS as LEVELS
from vbq.roi.roimasks import MIN_ROI_PIXELS

__all__ = ["CanalTrack", "CsfPlacement", "trace_canal", "place_csf", "ellipse_mask",
           "CSF_WINDOW", "MARROW_FRACTION", "CSF_WALL_MARGIN_MM", "ROOT_EXCESS",
           "CSF_HALF_LENGTH_FRACTION", "CSF_HALF_LENGTH_MAX_MM"]

#: Signal window of the sac's CSF, relative to its level (low, high).
CSF_WINDOW = (0.82, 1.30)
#: CSF candidates are darker than this fraction of the median marrow signal.
MARROW_FRACTION = 0.8
#: Least distance (mm) of the CSF ROI from the sac's walls.
CSF_WALL_MARGIN_MM = 1.5
#: Depths where the sac's median signal exceeds its darker CSF by this fraction hold roots.
ROOT_EXCESS = 0.15
#: Half-length of the CSF ROI along the sac, as a fraction of the level spacing.
CSF_HALF_LENGTH_FRACTION = 0.3
#: Largest half-length (mm) of the CSF ROI along the sac.
CSF_HALF_LENGTH_MAX_MM = 12.0

_ROOT_GAP_MM = 3.0      # roots (or the cord) narrower than this are bridged across the sac
_STEP_MM = 0.5          # sampling along each profile
_DEPTH_MM = (-4.0, 60.0)
_SEARCH_MM = (2.0, 48.0)  # where the sac is looked for, behind the axis


@dataclass(frozen=True)
class CanalTrack:
    """The sac found on one slice, in the straightened frame of the column's axis.

    Attributes
    ----------
    points
        ``(n, 2)`` stations on the axis, in mm (row x row spacing, column x
        column spacing), one per mm from cranial to caudal.
    tangents, normals
        ``(n, 2)`` unit vectors (mm frame): along the axis (caudal) and
        posterior, perpendicular to it.
    arc_mm
        Arc length of each station from the first.
    depths_mm
        Distances along the normals at which the profiles are sampled.
    straight
        ``(n, len(depths_mm))`` the straightened image.
    front_mm, back_mm
        Depth of the sac's anterior and posterior wall at each station (NaN
        where it was not found).
    csf_level
        The sac's CSF signal level.
    marrow
        Median marrow signal near the body centres.
    level_arc
        Level -> arc length of its body centre.
    spacing
        Pixel spacing (row, column) in mm.
    """

    points: np.ndarray
    tangents: np.ndarray
    normals: np.ndarray
    arc_mm: np.ndarray
    depths_mm: np.ndarray
    straight: np.ndarray
    front_mm: np.ndarray
    back_mm: np.ndarray
    csf_level: float
    marrow: float
    level_arc: Mapping[str, float]
    spacing: tuple[float, float]

    def pixel(self, station: float, depth_mm: float) -> tuple[float, float]:
        """Pixel ``(row, column)`` at a (fractional) station index and depth."""
        i = int(np.clip(round(station), 0, len(self.arc_mm) - 1))
        p = self.points[i] + depth_mm * self.normals[i]
        return float(p[0] / self.spacing[0]), float(p[1] / self.spacing[1])

    def sample(self, image: np.ndarray) -> np.ndarray:
        """Straighten another slice of the same grid (same stations and depths)."""
        return _straighten(image, self.points, self.normals, self.depths_mm, self.spacing)

    @property
    def found(self) -> np.ndarray:
        """Boolean per station: the sac's walls are known there."""
        return np.isfinite(self.front_mm) & np.isfinite(self.back_mm)

    def centre_mm(self) -> np.ndarray:
        """Depth of the sac's centre at each station (NaN where not found)."""
        return 0.5 * (self.front_mm + self.back_mm)


@dataclass(frozen=True)
class CsfPlacement:
    """A CSF ROI placed in the sac.

    Attributes
    ----------
    mask
        Boolean mask of the ROI on the slice.
    level
        The level it was placed at.
    centre
        Pixel ``(row, column)`` of its centre.
    half_length_mm, half_depth_mm
        Semi-axes along the sac and across it.
    axis
        Unit ``(d_row, d_column)`` (mm frame) of the long axis, caudal.
    reference
        ``(median, spread)`` of the sac's CSF along the canal on this slice.
    note
        One sentence saying where the ROI went.
    """

    mask: np.ndarray
    level: str
    centre: tuple[float, float]
    half_length_mm: float
    half_depth_mm: float
    axis: tuple[float, float]
    reference: tuple[float, float]
    note: str

    def angle_deg(self) -> float:
        """Counter-clockwise angle (as displayed, rows down) from the row axis to the long axis."""
        return math.degrees(math.atan2(self.axis[1], self.axis[0]))

    def shape(self, spacing: tuple[float, float]) -> dict[str, Any]:
        """Return the ROI as a ``vbq-rois/1`` pixel ellipse (``radii`` in pixels, row first)."""
        return {"label": "CSF", "level": self.level, "shape": "ellipse",
                "center": [round(self.centre[0], 3), round(self.centre[1], 3)],
                "radii": [round(self.half_length_mm / spacing[0], 3),
                          round(self.half_depth_mm / spacing[1], 3)],
                "angle_deg": round(self.angle_deg(), 3)}


# --------------------------------------------------------------------------- helpers


def _posterior_mm(geometry: SliceGeometry) -> np.ndarray:
    """Return the unit posterior direction on the slice (mm frame: row, column)."""
    v = np.array([0.0, 1.0, 0.0])
    d = np.array([float(v @ geometry.col_dir), float(v @ geometry.row_dir)])
    n = float(np.hypot(*d))
    if n < 0.5:
        raise CsfNotFoundError("the slice is not sagittal enough to follow the spinal canal "
                               "behind the bodies; choose a sagittal series")
    return d / n


def _straighten(image: np.ndarray, points: np.ndarray, normals: np.ndarray,
                depths: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    from scipy import ndimage

    pts = points[:, None, :] + depths[None, :, None] * normals[:, None, :]
    coords = np.stack([pts[..., 0] / spacing[0], pts[..., 1] / spacing[1]])
    return np.asarray(ndimage.map_coordinates(np.asarray(image, dtype=float), coords, order=1,
                                              mode="nearest"))


def _ordered_centres(centres: Mapping[str, Sequence[float]]) -> list[tuple[str, np.ndarray]]:
    order = {lvl: i for i, lvl in enumerate(LEVELS)}
    known = [(lvl, np.asarray(rc, dtype=float)) for lvl, rc in centres.items() if lvl in order]
    known.sort(key=lambda kv: order[kv[0]])
    return known


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges ``[a, b)`` of the True runs of a 1-D boolean array."""
    f = np.concatenate([[False], flags.astype(bool), [False]])
    edges = np.flatnonzero(f[1:] != f[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _modes(values: np.ndarray, least: float = 0.15) -> list[float]:
    """Modes of positive values (peaks of a smoothed histogram of their logarithm).

    Peaks lower than ``least`` x the highest are left out; darkest first.
    """
    from scipy import ndimage

    logs = np.log(values[values > 0])
    hist, edges = np.histogram(logs, bins=np.arange(logs.min(), logs.max() + 0.04, 0.02))
    smooth = ndimage.gaussian_filter1d(hist.astype(float), 2.0)
    padded = np.concatenate([[-1.0], smooth, [-1.0]])
    peaks = np.flatnonzero((padded[1:-1] > padded[:-2]) & (padded[1:-1] >= padded[2:])
                           & (smooth >= least * smooth.max()))
    return [float(math.exp(0.5 * (edges[k] + edges[k + 1]))) for k in peaks]


def _refine(cand: np.ndarray, level: float) -> float:
    """Move a level to the median of the candidates near it (a few times).

    ``cand`` is sorted (ascending, no NaN): the candidates near a level are a
    run of it, and their median its middle value (or the mean of the middle
    two), as :func:`numpy.median` takes it.
    """
    for _ in range(4):
        lo = int(np.searchsorted(cand, 0.8 * level, side="left"))
        hi = int(np.searchsorted(cand, 1.25 * level, side="right"))
        n = hi - lo
        if n <= 0:
            break
        mid = lo + n // 2
        level = float(cand[mid]) if n % 2 else (float(cand[mid - 1]) + float(cand[mid])) / 2.0
    return level


def _refine_unsorted(cand: np.ndarray, level: float) -> float:
    """Compute :func:`_refine` by masking and :func:`numpy.median` (reference)."""
    for _ in range(4):
        near = cand[(cand >= 0.8 * level) & (cand <= 1.25 * level)]
        if near.size == 0:
            break
        level = float(np.median(near))
    return level


def _band_of(smooth: np.ndarray, band: np.ndarray, level: float
             ) -> tuple[np.ndarray, int, float, float]:
    """Find the most continuous region within the CSF window of ``level``.

    Returns the region, the number of stations it spans, its median
    thickness (samples) and its median depth index.
    """
    from scipy import ndimage

    lo, hi = CSF_WINDOW
    like = (smooth >= lo * level) & (smooth <= hi * level)
    like[:, ~band] = False
    lab, n = ndimage.label(like)
    if n == 0:
        return np.zeros_like(like), 0, 0.0, 0.0
    areas = np.bincount(lab.ravel(), minlength=n + 1).astype(float)
    present = np.zeros((n + 1, lab.shape[0]), dtype=bool)
    rows = np.nonzero(lab)[0]
    present[lab[lab > 0], rows] = True
    spans = present.sum(axis=1).astype(float)
    spans[0] = -1.0
    best = int(np.lexsort((areas, spans))[-1])
    region = lab == best
    counts = region.sum(axis=1)
    counts = counts[counts > 0]
    cols = np.nonzero(region)[1]
    return region, int(spans[best]), float(np.median(counts)), float(np.median(cols))


def _sac_region(smooth: np.ndarray, cand: np.ndarray, band: np.ndarray,
                depths: np.ndarray) -> tuple[np.ndarray, float]:
    """Find the sac in the straightened image and its CSF level.

    Each mode of the dark signal is a candidate level; the sac is the region
    of the darkest one that runs along most of the canal and is thick (at
    least 6 mm, else 5 mm: cortex, ligament and dura are darker but thin;
    discs, muscle, cord and fat brighter); failing that, the most continuous
    region of the darkest mode.
    """
    n = smooth.shape[0]
    fallback: tuple[np.ndarray, float] | None = None
    passing: list[tuple[float, np.ndarray, float]] = []
    ordered = np.sort(cand)
    for mode in _modes(cand):
        level = _refine(ordered, mode)
        region, span, thick, _ = _band_of(smooth, band, level)
        if fallback is None and span:
            fallback = (region, level)
        if span >= 0.5 * n and thick * _STEP_MM >= 5.0:
            passing.append((thick * _STEP_MM, region, level))
    for least in (6.0, 5.0):
        for thick, region, level in passing:
            if thick >= least:
                return region, level
    if fallback is None:
        raise CsfNotFoundError("no band of CSF signal was found behind the bodies")
    return fallback


def _running_median(x: np.ndarray, width: int) -> np.ndarray:
    """Median of the finite values of ``x`` in a centred window, NaN where ``x`` is NaN.

    The window is ``width // 2`` samples either side, cut at the ends. One
    sort of every window at once: NaN sorts last, so the ``k`` finite values
    of a window are its first ``k``, and the median is the middle one (or the
    mean of the middle two), as :func:`numpy.median` takes it. ``x`` holds
    finite values and NaN only.
    """
    h = width // 2
    out = np.full(x.shape, np.nan)
    if x.size == 0:
        return out
    padded = np.concatenate([np.full(h, np.nan), np.asarray(x, dtype=float), np.full(h, np.nan)])
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(padded, 2 * h + 1), axis=1)
    k = np.isfinite(windows).sum(axis=1)
    use = np.isfinite(x) & (k > 0)
    rows = np.flatnonzero(use)
    kk = k[rows]
    lo = windows[rows, (kk - 1) // 2]
    hi = windows[rows, kk // 2]
    out[rows] = np.where(kk % 2 == 1, lo, (lo + hi) / 2.0)
    return out


def _running_median_loop(x: np.ndarray, width: int) -> np.ndarray:
    """Compute :func:`_running_median` with one :func:`numpy.median` per sample (reference)."""
    out = np.full_like(x, np.nan)
    h = width // 2
    for i in range(len(x)):
        w = x[max(0, i - h):i + h + 1]
        w = w[np.isfinite(w)]
        if w.size and np.isfinite(x[i]):
            out[i] = float(np.median(w))
    return out


def _marrow(img: np.ndarray, known: Sequence[tuple[str, np.ndarray]],
            spacing: tuple[float, float]) -> float:
    """Median of the per-level medians of the pixels within 4 mm of each body centre.

    Only a box around each centre is looked at (its pixels in the image's
    row-major order, as the whole image would give them).
    """
    meds = []
    for _, rc in known:
        r0 = max(0, int(math.floor(rc[0] - 4.0 / spacing[0])) - 1)
        r1 = min(img.shape[0], int(math.ceil(rc[0] + 4.0 / spacing[0])) + 2)
        c0 = max(0, int(math.floor(rc[1] - 4.0 / spacing[1])) - 1)
        c1 = min(img.shape[1], int(math.ceil(rc[1] + 4.0 / spacing[1])) + 2)
        if r0 >= r1 or c0 >= c1:
            continue
        rr = np.arange(r0, r1)[:, None]
        cc = np.arange(c0, c1)[None, :]
        near = np.hypot((rr - rc[0]) * spacing[0], (cc - rc[1]) * spacing[1]) <= 4.0
        if near.any():
            meds.append(float(np.median(img[r0:r1, c0:c1][near])))
    return float(np.median(meds))


def _marrow_full(img: np.ndarray, known: Sequence[tuple[str, np.ndarray]],
                 spacing: tuple[float, float]) -> float:
    """Compute :func:`_marrow` from the distance of every pixel of the image (reference)."""
    rr, cc = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    meds = []
    for _, rc in known:
        near = np.hypot((rr - rc[0]) * spacing[0], (cc - rc[1]) * spacing[1]) <= 4.0
        if near.any():
            meds.append(float(np.median(img[near])))
    return float(np.median(meds))


def _median3(a: np.ndarray) -> np.ndarray:
    """3 x 3 median filter with the edge samples repeated (``mode="nearest"``)."""
    p = np.pad(a, 1, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(p, (3, 3)).reshape(a.shape[0], a.shape[1], 9)
    return np.partition(win, 4, axis=2)[..., 4]


def _smooth_band(straight: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Median-filter (3 x 3) the straightened image on the band's columns, NaN elsewhere.

    Only the band's columns are ever used, so only they (with one column of
    context either side) are filtered; the band lies inside the depths, so
    every one of its samples sees the same 3 x 3 neighbourhood as in a filter
    of the whole image.
    """
    cols = np.flatnonzero(band)
    out = np.full(straight.shape, np.nan)
    if cols.size == 0:
        return out
    a, b = max(0, int(cols[0]) - 1), min(straight.shape[1], int(cols[-1]) + 2)
    filtered = _median3(straight[:, a:b])
    out[:, cols] = filtered[:, cols - a]
    return out


def _smooth_full(straight: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Filter the whole straightened image (reference for :func:`_smooth_band`)."""
    from scipy import ndimage

    return np.asarray(ndimage.median_filter(straight, size=3, mode="nearest"))


def _walls(like: np.ndarray, sac: np.ndarray, depths: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Front and back wall (mm) at each station: the run of ``like`` holding most of the sac.

    At each station the run of CSF-like samples with the most samples of the
    sac region is taken, joined with neighbouring runs (at least 2 samples
    long) within the root gap; kept when at least 2 mm deep. All runs are
    found at once; only the joining walks the few runs of each station.
    """
    n = like.shape[0]
    front = np.full(n, np.nan)
    back = np.full(n, np.nan)
    bridge = int(round(_ROOT_GAP_MM / _STEP_MM))
    f = np.zeros((n, like.shape[1] + 2), dtype=bool)
    f[:, 1:-1] = like
    rows, cols = np.nonzero(f[:, 1:] != f[:, :-1])
    if rows.size == 0:
        return front, back
    starts, ends, run_row = cols[::2], cols[1::2], rows[::2]
    csum = np.zeros((n, like.shape[1] + 1), dtype=np.int64)
    np.cumsum(sac, axis=1, out=csum[:, 1:])
    hits = csum[run_row, ends] - csum[run_row, starts]
    bounds = np.searchsorted(run_row, np.arange(n + 1))
    has = np.zeros(n, dtype=bool)
    np.maximum.at(has, run_row, hits > 0)
    st, en, hl = starts.tolist(), ends.tolist(), hits.tolist()
    for i in np.flatnonzero(has).tolist():
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        h = hl[lo:hi]
        k = lo + h.index(max(h))
        a, b = st[k], en[k]
        for j in range(k + 1, hi):
            if st[j] - b > bridge or en[j] - st[j] < 2:
                break
            b = en[j]
        for j in range(k - 1, lo - 1, -1):
            if a - en[j] > bridge or en[j] - st[j] < 2:
                break
            a = st[j]
        if (b - a) * _STEP_MM >= 2.0:
            front[i], back[i] = depths[a] - 0.5 * _STEP_MM, depths[b - 1] + 0.5 * _STEP_MM
    return front, back


def _walls_loop(like: np.ndarray, sac: np.ndarray, depths: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Find :func:`_walls` one station at a time (reference)."""
    front = np.full(like.shape[0], np.nan)
    back = np.full(like.shape[0], np.nan)
    bridge = int(round(_ROOT_GAP_MM / _STEP_MM))
    for i in range(like.shape[0]):
        runs = _runs(like[i])
        hits = [int(sac[i, a:b].sum()) for a, b in runs]
        if not runs or max(hits) == 0:
            continue
        k = int(np.argmax(hits))
        a, b = runs[k]
        for j in range(k + 1, len(runs)):
            if runs[j][0] - b > bridge or runs[j][1] - runs[j][0] < 2:
                break
            b = runs[j][1]
        for j in range(k - 1, -1, -1):
            if a - runs[j][1] > bridge or runs[j][1] - runs[j][0] < 2:
                break
            a = runs[j][0]
        if (b - a) * _STEP_MM >= 2.0:
            front[i], back[i] = depths[a] - 0.5 * _STEP_MM, depths[b - 1] + 0.5 * _STEP_MM
    return front, back


# --------------------------------------------------------------------------- tracing


def trace_canal(image: np.ndarray, geometry: SliceGeometry,
                centres: Mapping[str, Sequence[float]]) -> CanalTrack:
    """Find the thecal sac behind the bodies on one sagittal slice.

    Parameters
    ----------
    image
        The slice's signal, ``(rows, columns)``.
    geometry
        Its geometry (pixel spacing and the patient's directions).
    centres
        Level -> pixel ``(row, column)`` of a point near the centre of that
        level's body on this slice; at least two levels.

    Raises
    ------
    CsfNotFoundError
        When fewer than two body centres are given, or no continuous dark
        band of CSF is found behind them.
    """
    return _trace(image, geometry, centres, fast=True)


def _trace(image: np.ndarray, geometry: SliceGeometry,
           centres: Mapping[str, Sequence[float]], *, fast: bool) -> CanalTrack:
    """:func:`trace_canal`; ``fast=False`` is the reference (whole image, one station at a time)."""
    img = np.asarray(image, dtype=float)
    spacing = (float(geometry.spacing[0]), float(geometry.spacing[1]))
    known = _ordered_centres(centres)
    if len(known) < 2:
        raise CsfNotFoundError("the canal is followed along at least two vertebral bodies; "
                               "give the centres of two or more levels, or a CSF point")
    mm = np.array([[rc[0] * spacing[0], rc[1] * spacing[1]] for _, rc in known])
    seg = np.diff(mm, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    if np.any(seg_len < 5.0):
        raise CsfNotFoundError("two body centres lie less than 5 mm apart, so the column's "
                               "axis cannot be followed; check the points given")
    gap = float(np.median(seg_len))
    first = mm[0] - 0.5 * gap * seg[0] / seg_len[0]
    last = mm[-1] + 0.5 * gap * seg[-1] / seg_len[-1]
    poly = np.vstack([first, mm, last])
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(poly, axis=0).T))])
    arc = np.arange(0.0, cum[-1] + 1e-9, 1.0)
    points = np.column_stack([np.interp(arc, cum, poly[:, 0]), np.interp(arc, cum, poly[:, 1])])
    # tangents: differences over +-8 mm, so corners at the centres are smoothed
    k = 8
    ahead = points[np.minimum(np.arange(len(arc)) + k, len(arc) - 1)]
    behind = points[np.maximum(np.arange(len(arc)) - k, 0)]
    tang = ahead - behind
    tang /= np.hypot(tang[:, 0], tang[:, 1])[:, None]
    normals = np.column_stack([-tang[:, 1], tang[:, 0]])
    post = _posterior_mm(geometry)
    normals *= np.where(normals @ post >= 0, 1.0, -1.0)[:, None]
    depths = np.arange(_DEPTH_MM[0], _DEPTH_MM[1] + 1e-9, _STEP_MM)
    straight = _straighten(img, points, normals, depths, spacing)
    level_arc = {lvl: float(cum[i + 1])
                 for i, (lvl, _) in enumerate(known)}

    # marrow: the signal near the centres
    marrow = (_marrow if fast else _marrow_full)(img, known, spacing)
    if not marrow > 0:
        raise CsfNotFoundError("the signal at the body centres is not above zero, so the "
                               "canal behind them cannot be told from the bodies")

    band = (depths >= _SEARCH_MM[0]) & (depths <= _SEARCH_MM[1])
    smooth = (_smooth_band if fast else _smooth_full)(straight, band)
    region = smooth[:, band]
    cand = region[(region < MARROW_FRACTION * marrow) & (region > 0.05 * marrow)]
    if cand.size < 50:
        raise CsfNotFoundError("nothing darker than the marrow lies behind the bodies, so no "
                               "CSF was found; give a CSF point (--csf-point ROW,COL) or a CSF "
                               "seed, or choose another slice (--slice)")
    sac, csf = _sac_region(smooth, cand, band, depths)
    lo_w, hi_w = CSF_WINDOW
    like = (smooth >= lo_w * csf) & (smooth <= hi_w * csf) & band[None, :]
    # walls: bridge roots and the cord by joining runs of CSF close behind or in front
    front, back = (_walls if fast else _walls_loop)(like, sac, depths)
    if np.count_nonzero(np.isfinite(front)) < 0.3 * len(arc):
        raise CsfNotFoundError(
            f"the sac's CSF was found along only {np.count_nonzero(np.isfinite(front))} mm "
            f"of the {len(arc)} mm of canal behind the bodies")
    width = 9
    rmed = _running_median if fast else _running_median_loop
    front, back = rmed(front, width), rmed(back, width)
    return CanalTrack(points, tang, normals, arc, depths, straight, front, back, csf, marrow,
                      level_arc, spacing)


def canal_reference(track: CanalTrack, image: np.ndarray | None = None) -> tuple[float, float]:
    """``(median, spread)`` of the central third of the sac along the canal.

    With ``image`` (another slice of the same grid) the same stations and
    depths are sampled on it instead.
    """
    s = track.straight if image is None else track.sample(image)
    rows = np.flatnonzero(track.found)
    f, b = track.front_mm[rows, None], track.back_mm[rows, None]
    third = (b - f) / 3.0
    sel = (track.depths_mm[None, :] >= f + third) & (track.depths_mm[None, :] <= b - third)
    v = np.asarray(s[rows][sel], dtype=float)  # station by station, as the sac is walked
    if v.size == 0:
        raise CsfNotFoundError("the sac was not found along the canal")
    med = float(np.median(v))
    return med, 1.4826 * float(np.median(np.abs(v - med)))


def _canal_reference_loop(track: CanalTrack, image: np.ndarray | None = None
                          ) -> tuple[float, float]:
    """Compute :func:`canal_reference` one station at a time (reference)."""
    s = track.straight if image is None else track.sample(image)
    vals: list[np.ndarray] = []
    for i in np.flatnonzero(track.found):
        f, b = track.front_mm[i], track.back_mm[i]
        third = (b - f) / 3.0
        sel = (track.depths_mm >= f + third) & (track.depths_mm <= b - third)
        vals.append(s[i, sel])
    v = np.concatenate(vals) if vals else np.array([])
    if v.size == 0:
        raise CsfNotFoundError("the sac was not found along the canal")
    med = float(np.median(v))
    return med, 1.4826 * float(np.median(np.abs(v - med)))


# --------------------------------------------------------------------------- the ROI


def ellipse_mask(shape: tuple[int, int], centre: Sequence[float], axis: Sequence[float],
                 half_length_mm: float, half_depth_mm: float,
                 spacing: tuple[float, float]) -> np.ndarray:
    """Pixels whose centres lie in an ellipse given in the mm frame.

    ``centre`` is a pixel ``(row, column)``, ``axis`` the unit ``(d_row,
    d_column)`` (mm frame) of the semi-axis ``half_length_mm``; the other
    semi-axis ``half_depth_mm`` is perpendicular to it.

    Examples
    --------
    >>> int(ellipse_mask((9, 9), (4, 4), (1.0, 0.0), 3.0, 1.0, (1.0, 1.0)).sum())
    9
    """
    rr, cc = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    dr = (rr - float(centre[0])) * spacing[0]
    dc = (cc - float(centre[1])) * spacing[1]
    u = dr * axis[0] + dc * axis[1]
    v = -dr * axis[1] + dc * axis[0]
    return np.asarray((u / half_length_mm) ** 2 + (v / half_depth_mm) ** 2 <= 1.0)


def _roots(depths: np.ndarray, profile: np.ndarray, across: np.ndarray) -> np.ndarray:
    """Depths of ``across`` where ``profile`` exceeds its 20th percentile by :data:`ROOT_EXCESS`.

    The flagged depths are widened by :data:`CSF_WALL_MARGIN_MM`.
    """
    base = float(np.percentile(profile[across], 20))
    rooted = across & (profile > (1.0 + ROOT_EXCESS) * base)
    for _ in range(int(round(CSF_WALL_MARGIN_MM / _STEP_MM))):
        rooted[1:] |= rooted[:-1].copy()
        rooted[:-1] |= rooted[1:].copy()
    return rooted & across


def _depth_band_mask(shape: tuple[int, int], origin: np.ndarray, normal: np.ndarray,
                     depths: np.ndarray, flagged: np.ndarray,
                     spacing: tuple[float, float]) -> np.ndarray:
    """Pixels whose depth along ``normal`` from ``origin`` (mm frame) falls on a flagged sample."""
    rr, cc = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    d = (rr * spacing[0] - origin[0]) * normal[0] + (cc * spacing[1] - origin[1]) * normal[1]
    idx = np.round((d - depths[0]) / _STEP_MM).astype(int)
    ok = (idx >= 0) & (idx < depths.size)
    out = np.zeros(shape, dtype=bool)
    out[ok] = flagged[idx[ok]]
    return out


def place_csf(image: np.ndarray, geometry: SliceGeometry,
              centres: Mapping[str, Sequence[float]],
              csf_levels: Sequence[str] = ("L3", "L2", "L1"), *,
              track: CanalTrack | None = None) -> CsfPlacement:
    """Place the CSF ROI in the sac at the middle of the first level of ``csf_levels`` possible.

    Parameters
    ----------
    image, geometry, centres
        As for :func:`trace_canal`.
    csf_levels
        The protocol's CSF level followed by its fallbacks.
    track
        An already traced canal of this slice.

    Raises
    ------
    CsfNotFoundError
        With a sentence saying what to try, when the sac cannot be found or
        holds no room for a ROI at any of the levels.
    """
    img = np.asarray(image, dtype=float)
    if track is None:
        track = trace_canal(img, geometry, centres)
    spacing = track.spacing
    reference = canal_reference(track)
    known = _ordered_centres(centres)
    names = [lvl for lvl, _ in known]
    tried: list[str] = []
    for level in csf_levels:
        if level not in track.level_arc:
            tried.append(f"no body centre for {level}")
            continue
        j = names.index(level)
        arcs = [track.level_arc[n] for n in names]
        gaps = [abs(arcs[j] - arcs[i]) for i in (j - 1, j + 1) if 0 <= i < len(arcs)]
        half_len = min(CSF_HALF_LENGTH_FRACTION * float(np.mean(gaps)), CSF_HALF_LENGTH_MAX_MM)
        s0 = int(np.argmin(np.abs(track.arc_mm - track.level_arc[level])))
        span = np.flatnonzero(np.abs(track.arc_mm - track.arc_mm[s0]) <= half_len)
        ok = track.found[span]
        if ok.mean() < 0.8:
            tried.append(f"the sac was not found beside the middle of {level}")
            continue
        span = span[ok]
        depths = track.depths_mm
        front, back = track.front_mm[span], track.back_mm[span]
        d0 = float(np.median(0.5 * (front + back)))
        t = (track.arc_mm[span] - track.arc_mm[s0]) / half_len
        room = np.minimum(back - d0, d0 - front) - CSF_WALL_MARGIN_MM
        fac = np.sqrt(np.clip(1.0 - t * t, 1e-6, None))
        half_depth = float(np.min(room / fac))
        if half_depth < 1.0:
            tried.append(f"the sac at {level} leaves no room {CSF_WALL_MARGIN_MM:g} mm from its "
                         "walls")
            continue
        # roots seen on the slice: depths where the sac's median signal stands above the
        # CSF's trend across the sac (coil shading) are left out, with a margin
        depths = track.depths_mm
        across = np.abs(depths - d0) <= half_depth
        profile = np.median(track.straight[span], axis=0)
        rooted = _roots(depths, profile, across)
        runs = _runs(across & ~rooted)
        if rooted.any() and runs:
            ra, rb = max(runs, key=lambda r: r[1] - r[0])
            d_lo, d_hi = depths[ra] - 0.5 * _STEP_MM, depths[rb - 1] + 0.5 * _STEP_MM
            d0 = 0.5 * (d_lo + d_hi)
            room = np.minimum(np.minimum(back - CSF_WALL_MARGIN_MM, d_hi) - d0,
                              d0 - np.maximum(front + CSF_WALL_MARGIN_MM, d_lo))
            half_depth = float(np.min(room / fac))
            if half_depth < 1.0:
                tried.append(f"roots leave no room in the sac at {level}")
                continue
            rooted[:] = False
        centre_mm = track.points[s0] + d0 * track.normals[s0]
        centre = (float(centre_mm[0] / spacing[0]), float(centre_mm[1] / spacing[1]))
        axis = (float(track.tangents[s0][0]), float(track.tangents[s0][1]))
        mask = ellipse_mask(img.shape, centre, axis, half_len, half_depth, spacing)
        if rooted.any():
            mask &= ~_depth_band_mask(img.shape, track.points[s0], track.normals[s0],
                                      depths, rooted, spacing)
        if mask.sum() < MIN_ROI_PIXELS:
            tried.append(f"the sac at {level} holds only {int(mask.sum())} pixels of CSF")
            continue
        note = (f"CSF ROI in the thecal sac at the middle of {level}: centre row "
                f"{centre[0]:.1f}, column {centre[1]:.1f}, {2 * half_len:.1f} mm along the sac "
                f"x {2 * half_depth:.1f} mm across ({int(mask.sum())} pixels)")
        if tried:
            note += f", not at {csf_levels[0]} (" + "; ".join(tried) + ")"
        return CsfPlacement(mask, level, centre, half_len, half_depth, axis, reference, note)
    raise CsfNotFoundError(
        "no CSF ROI could be placed in the sac at " + ", ".join(csf_levels) + ": "
        + "; ".join(tried) + "; give a CSF point (--csf-point ROW,COL) or a CSF seed, or "
        "choose another slice (--slice)")
