"""The thecal sac along the whole lumbar spine, and the CSF ROI placed in it.

Owns finding the sac on a sagittal T1 slice as one continuous structure
behind the vertebral bodies (:func:`trace_canal`), placing the CSF ROI in it at
a level, between its endplates (:func:`place_csf`) and sampling the sac's CSF signal
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
    :data:`CSF_WINDOW` of that level which spans the most stations and is
    thick (the canal is continuous; cortex, ligament and dura are thin and
    darker, fat brighter; a dark cortex joined to dark discs can span the
    canal too, but is thin; roots inside the sac count towards its
    thickness); at each station its walls are the ends of the longest run
    of that region, smoothed along the canal.
CSF ROI
    A rectangle turned along the sac at the CSF level, between the planes of
    the body's endplates (craniocaudally) and across the sac's CSF from
    front to back: the sac's median signal at each depth over those
    stations is followed from its calm middle to the front until it leaves
    the CSF (below :data:`CSF_FLOOR` or above ``1 +`` :data:`WALL_EXCESS`
    of the CSF beside it) and to the back until it stands more than
    :data:`ROOT_EXCESS` above it (the posterior sac is brighter where roots
    of the cauda equina lie near the slice and is still CSF; a root in the
    slice, or the wall, stands higher); of the CSF on both sides of such a
    root stripe the larger piece is kept, and the ends are moved in by
    :data:`CSF_WALL_MARGIN_MM` and :data:`CSF_BACK_MARGIN_MM`. The roots
    found on the sac's signal averaged along and across it
    (:func:`_root_blocks`; a root beside the slice adds a third of its
    signal to a voxel) are then cut out of the rectangle with a margin of
    :data:`ROOT_MARGIN_MM`, and so is any piece of CSF they part from the
    largest (:func:`_less_roots`): the ROI is the rectangle less those
    cut-outs (its ``minus`` polygons). It covers what the realistic
    phantom's reference CSF ROI covers (the sac's CSF 1 mm inside the dura
    and clear of the roots, between the endplates).
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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vbq.dicom.geometry import SliceGeometry
from vbq.errors import CsfNotFoundError
from vbq.levels import VERTEBRAL_LEVELS as LEVELS
from vbq.roi.morphology import true_runs
from vbq.roi.roimasks import MIN_ROI_PIXELS
from vbq.roi.shapes import mask_rings, polygon_mask, rectangle_mask

__all__ = ["CanalTrack", "CsfPlacement", "trace_canal", "place_csf", "ellipse_mask",
           "CSF_WINDOW", "MARROW_FRACTION", "CSF_WALL_MARGIN_MM", "CSF_BACK_MARGIN_MM",
           "ROOT_EXCESS", "WALL_EXCESS", "ROOT_ZONE_EXCESS", "ROOT_ZONE_MM", "CSF_FLOOR",
           "CSF_CALM", "BASE_PCT", "FRONT_PCT",
           "CSF_HALF_LENGTH_FRACTION", "CSF_HALF_LENGTH_MAX_MM", "ROOT_SD", "ROOT_FLOOR",
           "ROOT_MARGIN_MM", "ROOT_SMOOTH_MM"]

#: Signal window of the sac's CSF, relative to its level (low, high).
CSF_WINDOW = (0.82, 1.30)
#: CSF candidates are darker than this fraction of the median marrow signal.
MARROW_FRACTION = 0.8
#: How far (mm) the CSF ROI's front is moved in from where the signal leaves the CSF.
CSF_WALL_MARGIN_MM = 1.0
#: How far (mm) its back is moved in from where the signal leaves the CSF.
CSF_BACK_MARGIN_MM = 0.75
#: Narrowest CSF ROI (mm across the sac) placed at a level; a narrower sac falls back to the
#: next level.
CSF_MIN_WIDTH_MM = 2.0
#: Behind the sac's middle, signal this fraction above its CSF is a root in the slice or the wall.
ROOT_EXCESS = 0.16
#: In front of the sac's middle, signal this fraction above its CSF is the wall.
WALL_EXCESS = 0.10
#: A zone at the back of the CSF ROI this fraction brighter (on the sac's CSF) than the CSF
#: in front of it ...
ROOT_ZONE_EXCESS = 0.10
#: ... with both at least this thick (mm) holds roots beside the slice: it is left out.
ROOT_ZONE_MM = 3.0
#: Signal below this fraction of the sac's CSF is dura, ligament or cortex.
CSF_FLOOR = 0.96
#: The sac's calm CSF lies within this fraction of its CSF signal.
CSF_CALM = 0.08
#: The sac's CSF is this percentile of the depths within 15 % of its level (the darker CSF).
BASE_PCT = 25.0
#: The front is followed on this percentile over the stations (a wall bright at some of them).
FRONT_PCT = 80.0
#: Half-length of the CSF ROI along the sac, as a fraction of the level spacing.
CSF_HALF_LENGTH_FRACTION = 0.3
#: Largest half-length (mm) of the CSF ROI along the sac.
CSF_HALF_LENGTH_MAX_MM = 12.0
#: Roots are looked for in the sac's signal averaged over this length (mm) along and across it.
ROOT_SMOOTH_MM = (3.0, 1.5)
#: A sample of the CSF ROI this many noise SDs above the sac's CSF holds a root ...
ROOT_SD = 3.0
#: ... and at least this fraction above it.
ROOT_FLOOR = 0.10
#: The CSF ROI keeps this far (mm) from a pixel holding a root.
ROOT_MARGIN_MM = 1.0

_ROOT_GAP_MM = 3.0      # roots (or the cord) narrower than this are bridged across the sac
_THICK_MM = 5.0         # the sac is at least this thick (cortex, ligament and dura are thinner)
_THIN_MM = 3.0          # a band of one signal this thin along the sac is a ligament or the dura
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
    """A CSF ROI placed in the sac: a rectangle turned along it.

    Attributes
    ----------
    mask
        Boolean mask of the ROI on the slice (the pixels :meth:`shape` selects).
    level
        The level it was placed at.
    centre
        Pixel ``(row, column)`` of its centre.
    half_length_mm, half_depth_mm
        Half the rectangle's length along the sac and its width across it.
    axis
        Unit ``(d_row, d_column)`` (mm frame) along the sac, caudal.
    reference
        ``(median, spread)`` of the sac's CSF along the canal on this slice.
    note
        One sentence saying where the ROI went.
    minus
        Polygons (``[row, column]`` pixel-edge vertices, :func:`vbq.roi.shapes.mask_rings`)
        of the roots cut out of the rectangle; ``mask`` is the rectangle less them.
    """

    mask: np.ndarray
    level: str
    centre: tuple[float, float]
    half_length_mm: float
    half_depth_mm: float
    axis: tuple[float, float]
    reference: tuple[float, float]
    note: str
    minus: tuple[np.ndarray, ...] = ()

    def angle_deg(self) -> float:
        """Counter-clockwise angle (as displayed, rows down) from the row axis to the long axis."""
        return math.degrees(math.atan2(self.axis[1], self.axis[0]))

    def shape(self, spacing: tuple[float, float]) -> dict[str, Any]:
        """Return the ROI as a ``vbq-rois/1`` pixel rectangle turned along the sac.

        Lengths in pixels are millimetres over the mean pixel spacing (as the
        proposal's ellipses); ``size`` is (along the sac, across it) and
        ``corner`` the centre minus half the size, so the rectangle turns
        about its centre.
        """
        px = 0.5 * (spacing[0] + spacing[1])
        size = (round(2.0 * self.half_length_mm / px, 4), round(2.0 * self.half_depth_mm / px, 4))
        entry: dict[str, Any] = {
            "label": "CSF", "level": self.level, "shape": "rectangle",
            "corner": [round(self.centre[0] - 0.5 * size[0], 4),
                       round(self.centre[1] - 0.5 * size[1], 4)],
            "size": [size[0], size[1]], "angle_deg": round(self.angle_deg(), 3)}
        if self.minus:
            entry["minus"] = [{"shape": "polygon",
                               "points": [[float(r), float(c)] for r, c in ring]}
                              for ring in self.minus]
        return entry


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

    # (point + depth x normal) / spacing along each axis, computed in place
    coords = np.empty((2, len(points), len(depths)))
    for axis in (0, 1):
        np.multiply(depths[None, :], normals[:, axis, None], out=coords[axis])
        coords[axis] += points[:, axis, None]
        coords[axis] /= spacing[axis]
    return np.asarray(ndimage.map_coordinates(np.asarray(image, dtype=float), coords, order=1,
                                              mode="nearest"))


def _ordered_centres(centres: Mapping[str, Sequence[float]]) -> list[tuple[str, np.ndarray]]:
    order = {lvl: i for i, lvl in enumerate(LEVELS)}
    known = [(lvl, np.asarray(rc, dtype=float)) for lvl, rc in centres.items() if lvl in order]
    known.sort(key=lambda kv: order[kv[0]])
    return known


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

    Only the band's columns are labelled (outside them nothing is in the
    window), which numbers the regions as the whole image would. A connected
    region's stations are a run (it steps one station at a time), so the
    stations it spans are its bounding box's; its thickness and depths are
    counted inside that box.
    """
    from scipy import ndimage

    lo, hi = CSF_WINDOW
    cols = np.flatnonzero(band)
    if cols.size == 0:
        return np.zeros(smooth.shape, dtype=bool), 0, 0.0, 0.0
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    part = smooth[:, c0:c1]
    like = (part >= lo * level) & (part <= hi * level)
    like[:, ~band[c0:c1]] = False
    lab, n = ndimage.label(like)
    if n == 0:
        return np.zeros(smooth.shape, dtype=bool), 0, 0.0, 0.0
    areas = np.bincount(lab.ravel(), minlength=n + 1).astype(float)
    boxes = ndimage.find_objects(lab)
    spans = np.array([-1.0] + [float(b[0].stop - b[0].start) for b in boxes])

    known: dict[int, float] = {}

    def thickness(i: int) -> float:
        if i not in known:
            rs, cs = boxes[i - 1]
            known[i] = float(np.median(_bridged(lab[rs, cs] == i,
                                                part[rs, cs] > hi * level).sum(axis=1)))
        return known[i]

    best = _most_continuous(spans, areas, thickness, smooth.shape[0])
    rs, cs = boxes[best - 1]
    inside = lab[rs, cs] == best
    region = np.zeros(smooth.shape, dtype=bool)
    region[rs, c0 + cs.start:c0 + cs.stop] = inside
    depth = np.nonzero(inside)[1] + (c0 + cs.start)
    return region, int(spans[best]), thickness(best), float(np.median(depth))


def _most_continuous(spans: np.ndarray, areas: np.ndarray, thickness: Any, n: int) -> int:
    """Return the region spanning the most stations (then the largest), thick ones first.

    ``spans`` and ``areas`` are indexed by label (0: background, span -1);
    ``thickness(label)`` gives a region's median thickness in samples. Regions
    spanning at least half of the ``n`` stations and :data:`_THICK_MM` thick are
    preferred: a dark cortex joined through dark discs can span the canal too,
    but is thin.
    """
    order = np.lexsort((areas, spans))[::-1]
    for i in order:
        if spans[i] < 0.5 * n:
            break
        if thickness(int(i)) * _STEP_MM >= _THICK_MM:
            return int(i)
    return int(order[0])


def _bridged(inside: np.ndarray, bright: np.ndarray) -> np.ndarray:
    """Return the samples of a region along each station, with roots in it counted in.

    In a gap across the sac shorter than :data:`_ROOT_GAP_MM` between samples
    of the region, the samples brighter than the CSF window are a root (or
    the cord) lying in the sac: they count towards the sac's thickness.
    """
    n_cols = inside.shape[1]
    idx = np.arange(n_cols)
    # per sample, the region's nearest sample at or before it and at or after it
    last = np.maximum.accumulate(np.where(inside, idx, -1), axis=1)
    after = np.where(inside, idx, 2 * n_cols)
    nxt = np.minimum.accumulate(after[:, ::-1], axis=1)[:, ::-1]
    gap = (last >= 0) & (nxt < n_cols) & (nxt - last - 1 <= _root_gap_samples())
    return np.asarray(inside | (gap & bright))


def _root_gap_samples() -> int:
    """Longest gap (samples) across the sac that a root or the cord may leave."""
    return int(round(_ROOT_GAP_MM / _STEP_MM))


def _bridged_closing(inside: np.ndarray, bright: np.ndarray) -> np.ndarray:
    """Compute :func:`_bridged` by a morphological closing along each station (reference)."""
    from scipy.ndimage import binary_closing

    k = _root_gap_samples() + 1
    closed = binary_closing(np.pad(inside, ((0, 0), (k, k))), np.ones((1, k), dtype=bool))
    return np.asarray(inside | (closed[:, k:-k] & bright))


def _band_of_full(smooth: np.ndarray, band: np.ndarray, level: float
                  ) -> tuple[np.ndarray, int, float, float]:
    """Compute :func:`_band_of` on the whole image, counting each region's stations (reference)."""
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

    def thickness(i: int) -> float:
        region = lab == i
        counts = _bridged_closing(region, smooth > hi * level).sum(axis=1)
        return float(np.median(counts[region.any(axis=1)]))

    best = _most_continuous(spans, areas, thickness, smooth.shape[0])
    region = lab == best
    cols = np.nonzero(region)[1]
    return region, int(spans[best]), thickness(best), float(np.median(cols))


def _sac_region(smooth: np.ndarray, cand: np.ndarray, band: np.ndarray,
                depths: np.ndarray, *, fast: bool = True) -> tuple[np.ndarray, float]:
    """Find the sac in the straightened image and its CSF level.

    Each mode of the dark signal is a candidate level; the sac is the region
    of the darkest one that runs along most of the canal and is thick (at
    least 6 mm, else 5 mm: cortex, ligament and dura are darker but thin;
    discs, muscle, cord and fat brighter), its level moved off a dark ligament
    or dura along its front (:func:`_recentred`); failing that, the most
    continuous region of the darkest mode.
    """
    n = smooth.shape[0]
    fallback: tuple[np.ndarray, float] | None = None
    passing: list[tuple[float, np.ndarray, float]] = []
    ordered = np.sort(cand)
    found: dict[float, tuple[np.ndarray, int, float, float]] = {}
    for mode in _modes(cand):
        level = _refine(ordered, mode)
        # two modes refined to the same level find the same region: it is looked for once
        if level not in found:
            found[level] = (_band_of if fast else _band_of_full)(smooth, band, level)
        region, span, thick, _ = found[level]
        if fallback is None and span:
            fallback = (region, level)
        if span >= 0.5 * n and thick * _STEP_MM >= 5.0:
            passing.append((thick * _STEP_MM, region, level))
    for least in (6.0, 5.0):
        for thick, region, level in passing:
            if thick >= least:
                return _recentred(smooth, ordered, band, region, level, fast=fast)
    if fallback is None:
        raise CsfNotFoundError("no band of CSF signal was found behind the bodies")
    return fallback


def _calm_mm(smooth: np.ndarray, region: np.ndarray, level: float) -> float:
    """Median thickness (mm) across the sac of the samples within :data:`CSF_CALM` of ``level``.

    Counted at each station between the region's first and last sample, over
    the stations it holds.
    """
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return 0.0
    idx = np.arange(region.shape[1])
    sub = region[rows]
    first = np.where(sub, idx, region.shape[1]).min(axis=1)
    last = np.where(sub, idx, -1).max(axis=1)
    between = (idx >= first[:, None]) & (idx <= last[:, None])
    calm = between & (np.abs(smooth[rows] / level - 1.0) <= CSF_CALM)
    return float(np.median(calm.sum(axis=1))) * _STEP_MM


def _recentred(smooth: np.ndarray, ordered: np.ndarray, band: np.ndarray, region: np.ndarray,
               level: float, *, fast: bool = True) -> tuple[np.ndarray, float]:
    """Move the sac's level off a dark ligament or dura lying along its front.

    A dark posterior longitudinal ligament or dura (some 0.75-0.85 of the CSF on
    T1) can be the darkest signal behind the bodies, and its CSF window then
    takes in the sac beside it, making one thick region whose level is the
    ligament's. Within the region the samples near that level then form a band
    thinner than :data:`_THIN_MM`, while those near a brighter mode of the
    region's signal form one at least :data:`_THICK_MM` thick: that mode is the
    sac's CSF, and the sac is found again at it (when it still runs along half
    the canal, :data:`_THICK_MM` thick). Otherwise ``region`` and ``level`` are
    returned unchanged.
    """
    if _calm_mm(smooth, region, level) >= _THIN_MM:
        return region, level
    for mode in _modes(smooth[region]):
        if mode <= (1.0 + CSF_CALM) * level or _calm_mm(smooth, region, mode) < _THICK_MM:
            continue
        new = _refine(ordered, mode)
        found, span, thick, _ = (_band_of if fast else _band_of_full)(smooth, band, new)
        if span >= 0.5 * smooth.shape[0] and thick * _STEP_MM >= _THICK_MM:
            return found, new
    return region, level


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
    """3 x 3 median filter with the edge samples repeated (``mode="nearest"``).

    Each column of three is sorted first; the median of the nine is then the
    median of the largest of the three lows, the median of the three middles and
    the smallest of the three highs beside each sample (the same value a full
    selection takes; ``a`` holds no NaN).
    """
    p = np.pad(a, 1, mode="edge")
    top, mid, low = p[:-2], p[1:-1], p[2:]
    lo, hi = np.minimum(top, mid), np.maximum(top, mid)
    mid = np.minimum(hi, low)
    hi = np.maximum(hi, low)
    lo, mid = np.minimum(lo, mid), np.maximum(lo, mid)
    w = a.shape[1]
    most_low = np.maximum(np.maximum(lo[:, :w], lo[:, 1:w + 1]), lo[:, 2:])
    least_high = np.minimum(np.minimum(hi[:, :w], hi[:, 1:w + 1]), hi[:, 2:])
    x, y, z = mid[:, :w], mid[:, 1:w + 1], mid[:, 2:]
    middle = np.maximum(np.minimum(x, y), np.minimum(np.maximum(x, y), z))
    return np.maximum(np.minimum(most_low, middle),
                      np.minimum(np.maximum(most_low, middle), least_high))


def _median3_sorted(a: np.ndarray) -> np.ndarray:
    """Compute :func:`_median3` by selecting the middle of each 3 x 3 window (reference)."""
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
    has[run_row[hits > 0]] = True
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
        runs = true_runs(like[i])
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
    sac, csf = _sac_region(smooth, cand, band, depths, fast=fast)
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


def _csf_base(profile: np.ndarray, depths: np.ndarray, front: float, back: float,
              level: float) -> float:
    """Return the sac's CSF beside a level: the :data:`BASE_PCT` percentile of its profile.

    Over the depths between the walls (2 mm beyond them) whose signal lies within
    15 % of the canal's CSF ``level`` (the darker CSF; roots lift the rest).
    """
    inside = (depths >= front - 2.0) & (depths <= back + 2.0)
    near = inside & (profile >= 0.85 * level) & (profile <= 1.15 * level)
    return float(np.percentile(profile[near], BASE_PCT)) if near.sum() >= 4 else float(level)


def _root_zone(q: np.ndarray, ka: int, kb: int) -> int | None:
    """Return the first sample of a brighter zone at the back of ``q[ka:kb + 1]``, or None.

    The split is the least-squares step (the one leaving the least squared
    deviation of the two parts from their means), each part at least
    :data:`ROOT_ZONE_MM` thick; it is returned when the mean behind it exceeds
    the mean in front of it by :data:`ROOT_ZONE_EXCESS`.

    Examples
    --------
    >>> q = np.r_[np.ones(8), np.full(6, 1.12)]
    >>> _root_zone(q, 0, q.size - 1), _root_zone(q - np.r_[np.zeros(8), np.full(6, 0.05)],
    ...                                          0, q.size - 1)
    (8, None)
    """
    k = int(round(ROOT_ZONE_MM / _STEP_MM))
    seg = np.asarray(q[ka:kb + 1], dtype=float)
    if seg.size < 2 * k:
        return None
    total = np.concatenate(([0.0], np.cumsum(seg)))
    j = np.arange(k, seg.size - k + 1)
    n = seg.size
    excess = (total[-1] - total[j]) / (n - j) - total[j] / j
    # the least-squares step: the split that explains most of the profile's spread
    best = int(np.argmax(j * (n - j) * excess * np.abs(excess)))
    return ka + int(j[best]) if excess[best] >= ROOT_ZONE_EXCESS - 1e-12 else None


def _across(profile: np.ndarray, depths: np.ndarray, front: float, back: float,
            level: float, upper: np.ndarray | None = None
            ) -> tuple[float, float, bool, bool] | None:
    """Depth range (mm) of the CSF ROI across the sac, from its signal profile.

    ``profile`` is the sac's median signal at each depth over the level's
    stations (``upper``: its :data:`FRONT_PCT` percentile there), ``front``
    and ``back`` the traced walls, ``level`` the sac's CSF level. The
    profile is scaled by the CSF beside the level (the :data:`BASE_PCT`
    percentile of the depths within 15 % of ``level``); the middle of its
    longest calm run (within :data:`CSF_CALM` of that CSF) is followed to the
    front while the profile stays above :data:`CSF_FLOOR` and ``upper``
    below ``1 +`` :data:`WALL_EXCESS` (the anterior wall is steep: fat,
    ligament or cortex, bright along part of the level at times) and to the
    back while it stays within :data:`CSF_FLOOR` and ``1 +`` :data:`ROOT_EXCESS`
    (the posterior sac is brighter where roots of the cauda equina lie near
    the slice, and is still CSF; a root in the slice stands higher). A piece
    of CSF behind such a stripe, inside the walls and wider than the front
    one, is taken instead (the largest piece). A dip below the floor of one
    sample (noise) does not end the CSF. Ends darker than the CSF by
    a quarter of :data:`CSF_CALM` (the blurred edge of a dark dura or
    ligament) are left out, and the ends are then moved in by
    :data:`CSF_WALL_MARGIN_MM` (front) and :data:`CSF_BACK_MARGIN_MM`
    (back). A back part whose mean exceeds that of the CSF in front of it by
    :data:`ROOT_ZONE_EXCESS` of the sac's CSF, the two split at the
    least-squares step and each at least :data:`ROOT_ZONE_MM` thick
    (:func:`_root_zone`), is left out too: roots lie beside the slice there,
    and their partial volume lifts the CSF's signal (a band thinner than
    :data:`ROOT_ZONE_MM` counts when it lifts the back part's mean enough with
    the CSF before it). The ROI then keeps the CSF in front, and at least
    :data:`CSF_MIN_WIDTH_MM` from its front, into the zone's blurred edge if
    the front is narrower.

    Returns ``(low, high, stripe, zone)`` (``stripe``: a root stripe bounds
    the range; ``zone``: a brighter zone of roots beside the slice was left
    out behind it) or None when no calm CSF lies between the walls.
    """
    inside = (depths >= front - 2.0) & (depths <= back + 2.0)
    base = _csf_base(profile, depths, front, back, level)
    if not base > 0:
        return None
    q = profile / base
    calm = true_runs(inside & (np.abs(q - 1.0) <= CSF_CALM))
    if not calm:
        return None
    a, b = max(calm, key=lambda r: r[1] - r[0])
    k0 = (a + b) // 2
    n = len(q)

    def dark(k: int, step: int) -> bool:
        """Whether the profile falls below the floor at ``k + step`` and stays there.

        A dip of one sample (half a millimetre) is noise: on 8-bit images the sac's
        CSF spans some 30 grey levels, so one level is 3 % of it.
        """
        after = k + 2 * step
        return bool(q[k + step] < CSF_FLOOR and (not 0 <= after < n or q[after] < CSF_FLOOR))

    def walk(k: int, step: int, top: float, bright: np.ndarray) -> int:
        """Move ``k`` while the profile is above the floor and ``bright`` below ``top``."""
        while 0 <= k + step < n and not dark(k, step) and bright[k + step] <= top:
            k += step
        return k

    top = 1.0 + ROOT_EXCESS
    ka = walk(k0, -1, 1.0 + WALL_EXCESS, q if upper is None else upper / base)
    kb = walk(k0, 1, top, q)
    k = kb + 1
    while k < n and q[k] > top and depths[k] < back:
        k += 1
    stripe = False
    if k > kb + 1 and k < n and depths[k] < back and CSF_FLOOR <= q[k] <= top:
        stripe = True
        kb2 = walk(k, 1, top, q)
        if kb2 - k > kb - ka:
            ka, kb = k, kb2
    # a dark dura or ligament: its blurred edge (a quarter of the calm band below the CSF) is no CSF
    while kb > k0 and q[kb] < 1.0 - 0.25 * CSF_CALM:
        kb -= 1
    while ka < k0 and q[ka] < 1.0 - 0.25 * CSF_CALM:
        ka += 1
    low = float(depths[ka]) - 0.5 * _STEP_MM + CSF_WALL_MARGIN_MM
    high = float(depths[kb]) + 0.5 * _STEP_MM - CSF_BACK_MARGIN_MM
    zone = False
    split = _root_zone(q, ka, kb)
    if split is not None:
        # the CSF in front of the zone, at least as wide as the narrowest ROI (into the
        # zone's blurred edge if need be)
        clean = float(depths[split - 1]) + 0.5 * _STEP_MM - CSF_BACK_MARGIN_MM
        high, zone = min(high, max(clean, low + CSF_MIN_WIDTH_MM)), True
    return low, high, stripe, zone


@dataclass(frozen=True)
class _RootBlocks:
    """Samples of the straightened sac a CSF ROI keeps clear of (:func:`_root_blocks`).

    ``blocked[i, j]``: station ``stations[i]``, depth sample ``cols[j]``;
    ``n_roots`` samples of the ROI's own stations hold a root.
    """

    stations: np.ndarray
    cols: np.ndarray
    blocked: np.ndarray
    n_roots: int


def _root_blocks(track: CanalTrack, span: np.ndarray, low: float, high: float,
                 base: float) -> _RootBlocks | None:
    """Return the samples of a CSF ROI that hold a root or lie within the margin of one.

    The sac's straightened signal over the ROI's stations ``span`` and depths
    ``low``-``high`` (mm) is averaged over :data:`ROOT_SMOOTH_MM` along the sac
    and across it (an odd number of samples each way; roots of the cauda equina
    run along the sac). A sample brighter than the sac's CSF ``base``
    (:func:`_csf_base`) by :data:`ROOT_SD` noise SDs and by :data:`ROOT_FLOOR`
    of it holds a root (in the slice or in the slab beside it: that voxel is
    not CSF); the noise is the spread of the averaged samples below ``base``
    (1.4826 x the median of their deviations from it, which roots do not
    reach). Roots are also looked for on the stations just beyond the ROI's
    ends (the sac goes on there; across it, the ROI's depths already stop
    short of the walls and of a root stripe). Samples within
    :data:`ROOT_MARGIN_MM` of a root (a box of whole samples) are blocked.

    Returns None when no sample holds a root or blocks the ROI's stations.
    """
    from scipy.ndimage import binary_dilation

    cols = np.flatnonzero((track.depths_mm >= low - 1e-9) & (track.depths_mm <= high + 1e-9))
    if cols.size == 0 or span.size == 0:
        return None
    station_mm = float(np.median(np.diff(track.arc_mm))) if track.arc_mm.size > 1 else 1.0
    size = tuple(2 * int(round(0.5 * (length / step - 1.0))) + 1
                 for length, step in zip(ROOT_SMOOTH_MM, (station_mm, _STEP_MM), strict=True))
    grow = (int(math.ceil(ROOT_MARGIN_MM / station_mm)), int(math.ceil(ROOT_MARGIN_MM / _STEP_MM)))
    reach = grow[0] + size[0] // 2
    first = max(int(span[0]) - reach, 0)
    last = min(int(span[-1]) + reach, len(track.arc_mm) - 1)
    stations = np.arange(first, last + 1)
    inner = (int(span[0]) - first, int(span[-1]) - first + 1)
    bright = _root_samples(track, stations, cols, base, inner, size)
    if not bright.any():
        return None
    blocked = binary_dilation(bright, np.ones((2 * grow[0] + 1, 2 * grow[1] + 1), dtype=bool))
    if not blocked[inner[0]:inner[1]].any():
        return None
    return _RootBlocks(stations, cols, blocked, int(bright[inner[0]:inner[1]].sum()))


def _cut_roots(track: CanalTrack, mask: np.ndarray, blocks: _RootBlocks) -> np.ndarray:
    """Return the pixels of ``mask`` whose nearest sample of the straightened sac is blocked.

    A pixel's station is the one whose line across the sac passes nearest its
    centre (the least distance along that station's tangent), its sample the
    depth along that station's normal rounded to the sampling step (the
    nearest of the ROI's depths, for a pixel at its edge).
    """
    rr, cc = np.nonzero(mask)
    out = np.zeros(mask.shape, dtype=bool)
    if rr.size == 0:
        return out
    pix = np.column_stack([rr * track.spacing[0], cc * track.spacing[1]]).astype(float)
    rel = pix[:, None, :] - track.points[blocks.stations][None, :, :]
    along = np.einsum("psk,sk->ps", rel, track.tangents[blocks.stations])
    nearest = np.argmin(np.abs(along), axis=1)
    picked = rel[np.arange(rr.size), nearest]
    depth = np.einsum("pk,pk->p", picked, track.normals[blocks.stations[nearest]])
    sample = np.rint((depth - float(track.depths_mm[0])) / _STEP_MM).astype(int)
    # the ROI's depths are the samples' (cols, consecutive); a pixel at its edge may lie a
    # little beyond the last sample on its station's normal: it takes the nearest one
    j = np.clip(sample - int(blocks.cols[0]), 0, blocks.cols.size - 1)
    hit = blocks.blocked[nearest, j]
    out[rr[hit], cc[hit]] = True
    return out


def _less_roots(track: CanalTrack, mask: np.ndarray, blocks: _RootBlocks
                ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Cut the roots out of a CSF ROI: the ROI left and the cut-outs, as polygons.

    The pixels on blocked samples (:func:`_cut_roots`) are cut out, and so is
    every piece of CSF they part from the largest one (as the reference CSF
    ROI keeps the sac's largest piece). The cut-outs are the pixel-edge rings
    of what is cut (:func:`vbq.roi.shapes.mask_rings`), and the ROI left is
    the rectangle less those rings, as the ``vbq-rois/1`` document reads it.
    """
    from scipy.ndimage import label

    left = mask & ~_cut_roots(track, mask, blocks)
    lab, n = label(left)
    if n > 1:
        sizes = np.bincount(lab.ravel())[1:]
        left = lab == 1 + int(np.argmax(sizes))
    rings = tuple(mask_rings(mask & ~left))
    kept = mask.copy()
    for ring in rings:
        kept &= ~polygon_mask(mask.shape, ring)
    return kept, rings


def _roots_note(blocks: _RootBlocks, area_mm2: float, cut: int) -> str:
    """Say what was cut out of a CSF ROI for roots (appended to its note).

    ``area_mm2``: the area of the ROI's own samples holding a root; roots found
    only beyond its ends (their margin reaching into it) are said so.

    Examples
    --------
    >>> blocks = _RootBlocks(np.arange(3), np.arange(2), np.ones((3, 2), bool), 0)
    >>> _roots_note(blocks, 0.0, 4)
    ', less the 1 mm around roots found just beyond its ends (4 pixels cut out)'
    """
    if blocks.n_roots:
        return (f", less the roots found over {area_mm2:.1f} mm2 of the sac there and "
                f"{ROOT_MARGIN_MM:g} mm around them ({cut} pixels cut out)")
    return (f", less the {ROOT_MARGIN_MM:g} mm around roots found just beyond its ends "
            f"({cut} pixels cut out)")


def _root_samples(track: CanalTrack, stations: np.ndarray, cols: np.ndarray, base: float,
                  inner: tuple[int, int], size: tuple[int, ...]) -> np.ndarray:
    """Return which samples of ``stations`` x ``cols`` hold a root (:func:`_root_blocks`).

    ``inner`` (start, stop) are the rows of the ROI's own stations, on which
    the noise is measured; ``size`` the averaging window (samples).
    """
    from scipy.ndimage import uniform_filter

    raw = track.straight[np.ix_(stations, cols)].astype(float)
    smooth = uniform_filter(raw, size=size, mode="nearest")
    own = smooth[inner[0]:inner[1]]
    below = base - own[own <= base]
    sd = 1.4826 * float(np.median(below)) if below.size else 0.0
    return np.asarray(smooth > base + max(ROOT_SD * sd, ROOT_FLOOR * base))


def _rectangle(track: CanalTrack, shape: tuple[int, ...], level: str, span: np.ndarray,
               low: float, high: float, reference: tuple[float, float]
               ) -> tuple[CsfPlacement, np.ndarray]:
    """Return the CSF rectangle over stations ``span``, depths ``low``-``high``, and its mask.

    Its ends are where the first and last stations cross the sac at the ROI's
    middle depth, each widened by half the stations' spacing there (behind a
    lordotic curve the stations lie closer together than on the column's axis),
    so it covers those stations' samples and no more.
    """
    spacing = track.spacing
    empty = np.zeros((int(shape[0]), int(shape[1])), dtype=bool)
    if span.size == 0 or high <= low:
        return CsfPlacement(empty, level, (0.0, 0.0), 0.0, 0.0, (1.0, 0.0), reference, ""), empty
    depth = 0.5 * (low + high)
    i0, i1 = int(span[0]), int(span[-1])
    start = track.points[i0] + depth * track.normals[i0]
    end = track.points[i1] + depth * track.normals[i1]
    chord = float(np.hypot(*(end - start)))
    if span.size > 1:
        step = chord / float(span.size - 1)
        axis_v = (end - start) / chord if chord > 0 else track.tangents[(i0 + i1) // 2]
    else:
        j = i0 + 1 if i0 + 1 < len(track.arc_mm) else i0 - 1
        other = track.points[j] + depth * track.normals[j]
        step = float(np.hypot(*(other - start))) if j >= 0 else 1.0
        axis_v = track.tangents[i0]
    length = chord + step
    centre_mm = 0.5 * (start + end)
    centre = (float(centre_mm[0] / spacing[0]), float(centre_mm[1] / spacing[1]))
    axis = (float(axis_v[0]), float(axis_v[1]))
    placement = CsfPlacement(empty, level, centre, 0.5 * length, 0.5 * (high - low), axis,
                             reference, "")
    entry = placement.shape(spacing)
    mask = rectangle_mask((int(shape[0]), int(shape[1])), (entry["corner"][0], entry["corner"][1]),
                          (entry["size"][0], entry["size"][1]), entry["angle_deg"])
    return placement, mask


def _level_stations(track: CanalTrack, level: str, names: Sequence[str],
                    bodies: Mapping[str, Any] | None) -> np.ndarray:
    """Stations of the CSF ROI at ``level``: between the planes of its body's endplates.

    With the body found (``bodies[level]``: ``centre`` in pixels, unit
    craniocaudal ``axis`` in mm, ``height_mm``) the stations whose point lies
    within half the body's height of its centre along that axis; without it
    :data:`CSF_HALF_LENGTH_FRACTION` of the distance to the neighbouring body
    centres either side of the level's (at most :data:`CSF_HALF_LENGTH_MAX_MM`).
    """
    body = (bodies or {}).get(level)
    if body is not None and float(getattr(body, "height_mm", 0.0)) > 2.0:
        c = np.array([float(body.centre[0]) * track.spacing[0],
                      float(body.centre[1]) * track.spacing[1]])
        ax = np.asarray(body.axis, dtype=float)
        ax = ax / float(np.hypot(*ax))
        along = (track.points - c) @ ax
        return np.flatnonzero(np.abs(along) <= 0.5 * float(body.height_mm))
    arcs = [track.level_arc[n] for n in names]
    j = names.index(level)
    gaps = [abs(arcs[j] - arcs[i]) for i in (j - 1, j + 1) if 0 <= i < len(arcs)]
    half_len = min(CSF_HALF_LENGTH_FRACTION * float(np.mean(gaps)), CSF_HALF_LENGTH_MAX_MM)
    return np.flatnonzero(np.abs(track.arc_mm - track.level_arc[level]) <= half_len)


def place_csf(image: np.ndarray, geometry: SliceGeometry,
              centres: Mapping[str, Sequence[float]],
              csf_levels: Sequence[str] = ("L3", "L2", "L1"), *,
              track: CanalTrack | None = None,
              bodies: Mapping[str, Any] | None = None) -> CsfPlacement:
    """Place the CSF ROI in the sac at the first level of ``csf_levels`` possible.

    The ROI is a rectangle turned along the sac: craniocaudally between the
    planes of the level's endplates (:func:`_level_stations`), across the
    sac's CSF from front to back, a margin inside its walls, leaving out a
    root lying in the slice and keeping the larger piece of CSF beside it
    (:func:`_across`), less the roots found in it and a margin around them
    (cut out as polygons, :func:`_less_roots`).

    Parameters
    ----------
    image, geometry, centres
        As for :func:`trace_canal`.
    csf_levels
        The protocol's CSF level followed by its fallbacks.
    track
        An already traced canal of this slice.
    bodies
        Level -> the body found there (``centre`` in pixels, craniocaudal unit
        ``axis`` in mm, ``height_mm``), e.g. a proposal's
        :class:`vbq.roi.proposal.BodyFit`; without it the ROI's length is a
        fraction of the level spacing.

    Raises
    ------
    CsfNotFoundError
        With a sentence saying what to try, when the sac cannot be found or
        holds no room for a ROI at any of the levels.

    References
    ----------
    Ehresman J, et al. Novel MRI-based score for assessment of bone density in
    operative spine patients. Spine J. 2020;20(4):556-562.
    doi:10.1016/j.spinee.2019.10.018 (CSF ROI in the thecal sac at L3).
    """
    img = np.asarray(image, dtype=float)
    if track is None:
        track = trace_canal(img, geometry, centres)
    reference = canal_reference(track)
    names = [lvl for lvl, _ in _ordered_centres(centres)]
    tried: list[str] = []
    for level in csf_levels:
        if level not in track.level_arc:
            tried.append(f"no body centre for {level}")
            continue
        span = _level_stations(track, level, names, bodies)
        if span.size < 4 or track.found[span].mean() < 0.8:
            tried.append(f"the sac was not found beside the middle of {level}")
            continue
        found = span[track.found[span]]
        profile = np.median(track.straight[span], axis=0)
        upper = np.percentile(track.straight[span], FRONT_PCT, axis=0)
        front = float(np.median(track.front_mm[found]))
        back = float(np.median(track.back_mm[found]))
        cut = _across(profile, track.depths_mm, front, back, track.csf_level, upper)
        if cut is None or cut[1] - cut[0] < CSF_MIN_WIDTH_MM:
            tried.append(f"the sac at {level} leaves no room {CSF_WALL_MARGIN_MM:g} mm from its "
                         "walls" + (" and roots" if cut is not None and cut[2] else ""))
            continue
        low, high, stripe, zone = cut
        placement, mask = _rectangle(track, img.shape, level, span, low, high, reference)
        if mask.sum() < MIN_ROI_PIXELS:
            tried.append(f"the sac at {level} holds only {int(mask.sum())} pixels of CSF")
            continue
        roots = ""
        base = _csf_base(profile, track.depths_mm, front, back, track.csf_level)
        blocks = _root_blocks(track, span, low, high, base)
        if blocks is not None:
            kept, rings = _less_roots(track, mask, blocks)
            area = blocks.n_roots * float(np.median(np.diff(track.arc_mm))) * _STEP_MM
            # a small ROI clear of roots (flagged small when scored) beats a larger one
            # holding them; too small a one keeps the rectangle whole, and says so
            if kept.sum() >= MIN_ROI_PIXELS // 2:
                roots = _roots_note(blocks, area, int(mask.sum() - kept.sum()))
                placement, mask = replace(placement, minus=rings), kept
            else:
                roots = (f", holding roots found over {area:.1f} mm2 of the sac there (the "
                         f"part clear of them has only {int(kept.sum())} pixels)")
        centre = placement.centre
        length = 2.0 * placement.half_length_mm
        note = (f"CSF ROI in the thecal sac at {level}, between its endplates: "
                f"centre row {centre[0]:.1f}, column {centre[1]:.1f}, {length:.1f} mm along "
                f"the sac x {high - low:.1f} mm across ({int(mask.sum())} pixels)")
        if stripe:
            note += ", beside a root lying in the slice"
        if zone:
            note += ", in front of a brighter zone of roots beside the slice"
        note += roots
        if tried:
            note += f", not at {csf_levels[0]} (" + "; ".join(tried) + ")"
        return replace(placement, mask=mask, note=note)
    raise CsfNotFoundError(
        "no CSF ROI could be placed in the sac at " + ", ".join(csf_levels) + ": "
        + "; ".join(tried) + "; give a CSF point (--csf-point ROW,COL) or a CSF seed, or "
        "choose another slice (--slice)")
