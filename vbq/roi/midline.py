"""The mid-sagittal plane of the spine, found from the anatomy, and a slice's distance from it.

Owns :func:`midline_from_bodies` (image: the bodies' left-right extent, each
followed through the stack by its endplates), :func:`midline_from_canal`
(image: the thecal sac traced on one slice, :mod:`vbq.roi.canal`, is measured
on every slice of the stack; used when the bodies cannot be followed from side
to side) and :func:`midline_from_labels` (a label mask's bodies). VBQ is
defined on the mid-sagittal slice; the score's gate (d) warns when the measured
slice lies more than 3 mm from the plane found here.

Method
    A vertebral body is symmetric about the mid-sagittal plane; along the
    column's axis its endplates and the discs darken the signal within its
    left-right extent only (:func:`midline_from_bodies`). The sac is symmetric
    about the plane too, so its section is deepest on the plane and shrinks on
    either side. For every station of
    the canal between the first and last scored level, the sac's depth (the
    run of CSF signal through its centre) is measured on each slice; the
    plane's position there is the depth-weighted mean of the slice
    positions; the median over the stations is the plane's position. With
    a label mask the plane is the mean position of the scored levels' voxels
    in front of the canal (the bodies): with the spine turned about its long
    axis the canal lies to one side of the plane through the bodies, where
    the ROIs are drawn.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vbq.dicom.series import SeriesInfo
from vbq.errors import AnalysisError, InputError
from vbq.levels import VERTEBRAL_LEVELS
from vbq.roi.canal import CSF_WINDOW, CanalTrack, canal_reference, trace_canal

__all__ = ["Midline", "CanalSummary", "midline_from_bodies", "midline_from_canal",
           "midline_from_labels",
           "slice_positions", "summarise_canal", "level_centres", "canal_of_rois"]


@dataclass(frozen=True)
class Midline:
    """The mid-sagittal plane's position along the slice normal.

    Attributes
    ----------
    position_mm
        Position of the plane along the slice normal (same axis as
        :func:`slice_positions`).
    slice_index
        The slice nearest the plane.
    positions_mm
        Position of every slice.
    source
        ``"bodies"`` (the vertebral bodies followed across the slices), ``"canal"``
        (the sac in the image) or ``"labels"`` (the mask's labels).
    """

    position_mm: float
    slice_index: int
    positions_mm: tuple[float, ...]
    source: str

    def offset_mm(self, index: int) -> float:
        """Signed distance (mm) from slice ``index`` to the plane, along the slice normal."""
        return float(self.position_mm - self.positions_mm[index])


def slice_positions(series: SeriesInfo) -> np.ndarray:
    """Position (mm) of every slice along the first slice's normal, in the series' order."""
    g0 = series.slices[0].geometry
    normal = np.cross(np.asarray(g0.row_dir, dtype=float), np.asarray(g0.col_dir, dtype=float))
    return np.array([float(np.asarray(s.geometry.origin, dtype=float) @ normal)
                     for s in series.slices])


def _make(position: float, positions: np.ndarray, source: str) -> Midline:
    k = int(np.argmin(np.abs(positions - position)))
    return Midline(float(position), k, tuple(float(p) for p in positions), source)


def midline_from_canal(series: SeriesInfo, track: CanalTrack,
                       arc_range: tuple[float, float] | None = None) -> Midline:
    """Find the mid-sagittal plane from the sac's depth on every slice.

    Parameters
    ----------
    series
        The series; its slices share the grid of the slice ``track`` was traced on.
    track
        The sac traced on one slice (:func:`vbq.roi.canal.trace_canal`).
    arc_range
        Stations (arc length, mm) to use; default those between the first and
        last body centre of the track.

    Raises
    ------
    AnalysisError
        When the sac is found on no station of any slice.
    """
    positions = slice_positions(series)
    # slices that cannot be read are left out (they weigh nothing)
    if arc_range is None:
        arcs = list(track.level_arc.values())
        arc_range = (min(arcs), max(arcs))
    use = (track.arc_mm >= arc_range[0]) & (track.arc_mm <= arc_range[1]) & track.found
    stations = np.flatnonzero(use)
    if stations.size == 0:
        raise AnalysisError("the sac was not found beside the scored levels, so the "
                            "mid-sagittal plane cannot be found; choose the slice with --slice")
    centre = track.centre_mm()[stations]
    lo, hi = CSF_WINDOW
    depths = track.depths_mm
    step = float(depths[1] - depths[0])
    # only the stations used are sampled: each row of the straightened image is that
    # station's profile alone, so the samples are those of the whole track's rows
    sub = replace(track, points=track.points[stations], normals=track.normals[stations])
    idx = np.arange(depths.size)
    # per station: the sample nearest the sac's centre, and the samples within 3 mm of it
    away = np.abs(depths[None, :] - centre[:, None])
    c0 = np.argmin(away, axis=1)
    reach = (away <= 3.0) | (idx[None, :] == c0[:, None])
    gap = np.abs(idx[None, :] - c0[:, None])
    n, d = len(series.slices), depths.size
    # each station is sampled first in a window of depths around its centre's sample (its
    # reach inside); a run reaching an end of that window where the profile goes on is then
    # followed on the station's whole profile
    half = max(_RUN_HALF, int(np.max(np.where(reach, gap, 0))) + 1)
    wid = min(d, 2 * half + 1)
    s0 = np.clip(c0 - half, 0, d - wid)
    local = s0[:, None] + np.arange(wid)[None, :]
    whole: dict[int, np.ndarray] = {}   # slices sampled at every depth
    # the shortcut is checked on the first slice with structure, from the middle out; the
    # other slices are then read only where the samples lie, and sampled all at once
    fast: _Bilinear | None = None
    checked = False
    window: tuple[slice, slice] = (slice(0, 0), slice(0, 0))
    rest: list[int] = []
    for k in sorted(range(n), key=lambda j: (abs(j - n // 2), j)):
        if fast is not None:
            rest.append(k)
            continue
        try:
            pixels = np.asarray(series.pixels(k), dtype=float)
        except InputError:
            continue    # a slice that cannot be read (and is not scored): no CSF, no weight
        whole[k] = sub.sample(pixels)
        if not checked and np.ptp(whole[k]) > 0:
            checked = True
            fast, window = _same_samples(sub, pixels, whole[k])
    loc = np.full((n, stations.size, wid), np.nan)
    read: list[int] = []
    stack = np.empty((0, 0, 0))
    if fast is not None:
        parts = []
        for k in rest:
            try:
                part = series.pixel_boxes(k, [window])[0]
                if part.shape != fast.shape:    # another grid: the whole slice, as the track does
                    whole[k] = sub.sample(np.asarray(series.pixels(k), dtype=float))
                    continue
            except InputError:
                continue
            read.append(k)
            parts.append(part)
        if read:
            stack = np.stack(parts)
            loc[read] = fast.take((np.arange(stations.size)[:, None], local))(stack)
    for k, row in whole.items():
        loc[k] = np.take_along_axis(row, local, axis=1)
    like = (loc >= lo * track.csf_level) & (loc <= hi * track.csf_level)
    # on each slice and station: the CSF sample at the centre, else (the sac may be shifted
    # a little on that slice) the nearest CSF sample within 3 mm, the shallower one on a tie
    dist = np.where(like & np.take_along_axis(reach, local, axis=1),
                    np.take_along_axis(gap, local, axis=1), d)
    c = np.argmin(dist, axis=2)
    hit = np.take_along_axis(dist, c[..., None], axis=2)[..., 0] < d
    length, first, last = _run_lengths(like, c)
    # runs that reach an end of the window where the profile goes on: the whole profile
    cut = hit & (((first == 0) & (s0 > 0)) | ((last == wid - 1) & (s0 + wid < d)))
    if cut.any():
        ks, js = np.nonzero(cut)
        rows = np.empty((ks.size, d))
        for k in np.unique(ks).tolist():
            sel = ks == k
            if k in whole:
                rows[sel] = whole[k][js[sel]]
            elif fast is not None:
                picked = fast.take((js[sel][:, None], np.arange(d)[None, :]))
                rows[sel] = picked(stack[read.index(k)])
        full = (rows >= lo * track.csf_level) & (rows <= hi * track.csf_level)
        length[ks, js] = _run_lengths(full, s0[js] + c[ks, js])[0]
    depth = np.where(hit, length * step, 0.0)
    depth[depth < 3.0] = 0.0
    weight = depth.sum(axis=0)
    ok = weight > 0
    if not ok.any():
        raise AnalysisError("the sac was found on no slice, so the mid-sagittal plane cannot be "
                            "found; choose the slice with --slice")
    per_station = (positions[:, None] * depth[:, ok]).sum(axis=0) / weight[ok]
    return _make(float(np.median(per_station)), positions, "canal")


#: Half-width (samples) of the window of depths each station is sampled in first.
_RUN_HALF = 24


def _run_lengths(like: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Length, first and last index of the run of ``like`` through index ``c`` (last axis).

    The run goes from just after the last other sample before ``c`` (else the
    first sample) to just before the first other sample after it (else the last).
    """
    m = like.shape[-1]
    idx = np.arange(m)
    other = ~like
    before = other & (idx < c[..., None])
    after = other & (idx > c[..., None])
    a = np.where(before.any(axis=-1), m - np.argmax(before[..., ::-1], axis=-1), 0)
    b = np.where(after.any(axis=-1), np.argmax(after, axis=-1) - 1, m - 1)
    return b - a + 1, a, b


class _Bilinear:
    """Linear interpolation at fixed points of images of one shape, as scipy's ``order=1``.

    The neighbours and weights of each point are found once; each image (or a
    stack of them, ``(m, rows, columns)``) is then sampled with four gathers.
    The arithmetic is that of :func:`scipy.ndimage.map_coordinates` with
    ``order=1, mode="nearest"``: weights ``1 - f`` and ``1 - (1 - f)`` of the
    fraction ``f`` along each axis, neighbours beyond the edges repeating the
    edge pixel, and the four terms (value x row weight x column weight) added
    from the first neighbour in row-major order; its answers are checked
    against scipy's before it is used (:func:`_same_samples`).
    """

    def __init__(self, coords: np.ndarray, shape: tuple[int, int]) -> None:
        h, w = int(shape[0]), int(shape[1])
        r, c = coords[0], coords[1]
        fr, fc = np.floor(r), np.floor(c)
        self.wr0 = 1.0 - (r - fr)
        self.wr1 = 1.0 - self.wr0
        self.wc0 = 1.0 - (c - fc)
        self.wc1 = 1.0 - self.wc0
        ir, ic = fr.astype(np.intp), fc.astype(np.intp)
        r0, r1 = np.clip(ir, 0, h - 1) * w, np.clip(ir + 1, 0, h - 1) * w
        c0, c1 = np.clip(ic, 0, w - 1), np.clip(ic + 1, 0, w - 1)
        self.corners = (r0 + c0, r0 + c1, r1 + c0, r1 + c1)
        self.shape = (h, w)

    def take(self, index: tuple[np.ndarray, ...]) -> _Bilinear:
        """Return the interpolation at the points ``index`` picks (numpy indexing of the points)."""
        out = object.__new__(_Bilinear)
        out.wr0, out.wr1 = self.wr0[index], self.wr1[index]
        out.wc0, out.wc1 = self.wc0[index], self.wc1[index]
        i00, i01, i10, i11 = self.corners
        out.corners = (i00[index], i01[index], i10[index], i11[index])
        out.shape = self.shape
        return out

    def __call__(self, image: np.ndarray) -> np.ndarray:
        a = np.asarray(image, dtype=float)
        if a.shape[-2:] != self.shape:
            raise ValueError(f"expected images of shape {self.shape}, got {a.shape[-2:]}")
        flat = a.reshape(*a.shape[:-2], -1)
        i00, i01, i10, i11 = self.corners
        t = flat[..., i00] * self.wr0 * self.wc0
        t += flat[..., i01] * self.wr0 * self.wc1
        t += flat[..., i10] * self.wr1 * self.wc0
        t += flat[..., i11] * self.wr1 * self.wc1
        return t


def _same_samples(track: CanalTrack, pixels: np.ndarray, want: np.ndarray
                  ) -> tuple[_Bilinear | None, tuple[slice, slice]]:
    """Return an interpolation giving ``track.sample``'s answers from a window of a slice.

    The track's sample points are interpolated linearly (its straightening), so
    only the pixels around them count: the interpolation takes the window of
    the slice returned with it (the points' rows and columns, two pixels wider
    on each side, cut at the image's edges, where the interpolation repeats the
    edge pixel as on the whole slice), or a stack of such windows, with the
    points' neighbours and weights found once (:class:`_Bilinear`). Shifting a
    coordinate by a whole number of pixels is exact and leaves its fraction
    unchanged, so the samples are the very same. The shortcut is used only if
    it gives ``want``, the track's own samples of ``pixels`` (a slice that is
    not flat), exactly; otherwise None is returned (``track.sample`` is used).
    """
    pts = track.points[:, None, :] + track.depths_mm[None, :, None] * track.normals[:, None, :]
    coords = np.stack([pts[..., 0] / track.spacing[0], pts[..., 1] / track.spacing[1]])
    none = (slice(0, 0), slice(0, 0))
    if not np.isfinite(coords).all() or pixels.ndim != 2:
        return None, none
    bounds = []
    for axis, size in enumerate(pixels.shape):
        a = max(0, int(np.floor(coords[axis].min())) - 2)
        b = min(size, int(np.floor(coords[axis].max())) + 3)
        bounds.append((a, max(a, b)))
    if min(b - a for a, b in bounds) <= 0:
        return None, none
    window = (slice(*bounds[0]), slice(*bounds[1]))
    shifted = np.stack([coords[0] - bounds[0][0], coords[1] - bounds[1][0]])
    fast = _Bilinear(shifted, (bounds[0][1] - bounds[0][0], bounds[1][1] - bounds[1][0]))
    if np.array_equal(fast(pixels[window]), want):
        return fast, window
    return None, none


#: Half-width (mm) of the band along the column's axis through a body's centre whose
#: signal is followed across the slices.
BODY_BAND_MM = 1.5
#: A slice crosses a body where the band's endplate contrast there is at least this
#: fraction of the contrast on the body's own slice.
ENDPLATE_FRACTION = 0.5
_BAND_STEP_MM = 0.5     # sampling along and across the band
_CENTRE_MM = 2.0        # the band's middle (the body's marrow) lies within this of the centre


@dataclass(frozen=True)
class _Bands:
    """Where the bodies' bands are sampled on a slice.

    One box of the slice, and the interpolation of the samples (across, along)
    from it.
    """

    box: tuple[slice, slice]
    sampler: _Bilinear
    starts: np.ndarray             # where each body's samples along the bands start
    middles: np.ndarray            # (bodies, k): each body's samples nearest its centre

    def __len__(self) -> int:
        return int(self.starts.size)

    def contrast(self, patch: np.ndarray) -> np.ndarray:
        """Each band's ``1 - lowest / marrow at the centre``, from its median profile across."""
        profile = _median_rows(self.sampler(patch))
        lowest = np.minimum.reduceat(profile, self.starts)
        mid = _median_rows(profile[self.middles].T)
        out = np.zeros(mid.shape)
        np.divide(lowest, mid, out=out, where=mid > 0)
        return np.where(mid > 0, 1.0 - out, 0.0)


def _median_rows(v: np.ndarray) -> np.ndarray:
    """:func:`numpy.median` over axis 0 (the middle of each sorted column; small arrays)."""
    m = v.shape[0]
    w = np.sort(v, axis=0)
    return w[m // 2] if m % 2 else 0.5 * (w[m // 2 - 1] + w[m // 2])


def _bands(centres: Mapping[str, Sequence[float]], spacing: tuple[float, float],
           shape: tuple[int, int]) -> _Bands:
    """Lay a band along the column's axis through each body's centre.

    It runs from halfway to the centre above to halfway to the centre below (for
    the first and last body, as far on the open side as on the other), and is
    2 x :data:`BODY_BAND_MM` wide; samples are :data:`_BAND_STEP_MM` apart, and
    interpolated linearly between the four pixels around them (the image's edge
    pixels repeat beyond it).
    """
    known = sorted(((VERTEBRAL_LEVELS.index(lvl), np.asarray(rc, dtype=float))
                    for lvl, rc in centres.items() if lvl in VERTEBRAL_LEVELS),
                   key=lambda t: t[0])
    sp = np.asarray(spacing, dtype=float)
    pts_mm = [rc * sp for _, rc in known]
    across_mm = np.arange(-BODY_BAND_MM, BODY_BAND_MM + 1e-9, _BAND_STEP_MM)
    samples, starts, middles = [], [], []
    start = 0
    k = int(round(2.0 * _CENTRE_MM / _BAND_STEP_MM)) + 1
    for j, c in enumerate(pts_mm):
        ends = [0.5 * (c + pts_mm[i]) for i in (j - 1, j + 1) if 0 <= i < len(pts_mm)]
        if not ends:
            continue
        if len(ends) < 2:
            ends.append(2.0 * c - ends[0])
        lo, hi = ends
        length = float(np.hypot(*(hi - lo)))
        if not length > 2.0 * _CENTRE_MM:
            continue
        along = (hi - lo) / length
        across = np.array([-along[1], along[0]])
        t = np.arange(-0.5 * length, 0.5 * length + 1e-9, _BAND_STEP_MM)
        mid_mm = 0.5 * (lo + hi)
        samples.append((mid_mm[None, None, :] + t[None, :, None] * along[None, None, :]
                        + across_mm[:, None, None] * across[None, None, :]) / sp)
        # the body's own marrow: the k samples nearest its centre, within _CENTRE_MM of it
        # (the band's middle is its centre only when the neighbours lie evenly)
        nearest = int(np.argmin(np.abs(t - float((c - mid_mm) @ along))))
        first = min(max(nearest - k // 2, 0), t.size - k)
        starts.append(start)
        middles.append(start + first + np.arange(k))
        start += t.size
    if not samples:
        return _Bands((slice(0, 0), slice(0, 0)), _Bilinear(np.zeros((2, 0, 0)), (1, 1)),
                      np.zeros(0, np.intp), np.zeros((0, k), np.intp))
    pts = np.concatenate(samples, axis=1)
    # points beyond the image take its edge pixels (scipy's "nearest"), as inside the box
    rr = np.clip(pts[..., 0], 0.0, shape[0] - 1.0)
    cc = np.clip(pts[..., 1], 0.0, shape[1] - 1.0)
    r0, c0 = int(np.floor(rr.min())), int(np.floor(cc.min()))
    box = (slice(r0, min(int(np.floor(rr.max())) + 2, shape[0])),
           slice(c0, min(int(np.floor(cc.max())) + 2, shape[1])))
    # a whole number of pixels off the coordinates leaves their fractions as they were
    sampler = _Bilinear(np.stack([rr - r0, cc - c0]),
                        (box[0].stop - r0, box[1].stop - c0))
    return _Bands(box, sampler, np.array(starts, dtype=np.intp), np.array(middles, dtype=np.intp))


def _run_end(contrast: np.ndarray, index: int, step: int, least: float) -> int:
    """Last slice, going ``step`` from ``index``, of the run whose contrast is at least ``least``.

    One slice below it between two at or above it does not end the run (a
    focal structure crossing the band on that slice); NaN (a slice not read)
    ends it.
    """
    n = contrast.size
    k = index
    while 0 <= k + step < n and not np.isnan(contrast[k + step]):
        if contrast[k + step] >= least:
            k += step
        elif 0 <= k + 2 * step < n and contrast[k + 2 * step] >= least:
            k += 2 * step
        else:
            break
    return k


def _middle(contrast: np.ndarray, positions: np.ndarray, a: int, b: int) -> float:
    """Return a body's centre along the slice normal: its contrast-weighted mean slice position.

    Over the slices ``a``-``b`` holding it and one beyond each end (``a - 1``
    and ``b + 1`` exist), where the slab's partial volume of its sides weighs
    in by the contrast left there.
    """
    w = np.clip(contrast[a - 1:b + 2], 0.0, None)
    return float((positions[a - 1:b + 2] * w).sum() / w.sum())


def midline_from_bodies(series: SeriesInfo, index: int,
                        centres: Mapping[str, Sequence[float]]) -> Midline:
    """Find the mid-sagittal plane from the bodies' left-right extent.

    A vertebral body is symmetric about the mid-sagittal plane. Within its
    left-right extent the signal along the column's axis through its centre
    falls at its endplates (dark cortex) and at the discs; beside it (psoas,
    paravertebral tissue, whose T1 signal can match marrow's) it is flat. For
    each body given on slice ``index`` a band along the axis (from halfway to
    the centre above to halfway to the centre below, 2 x :data:`BODY_BAND_MM`
    wide, its median across) is sampled on the slices, and its contrast
    ``1 - lowest / marrow at the centre`` measures how much of the body a slice
    crosses. The body spans the run of slices through ``index`` whose contrast
    is at least :data:`ENDPLATE_FRACTION` of the contrast on ``index`` (one
    slice below between two above does not end it: a focal structure); its
    centre along the slice normal is the contrast-weighted mean slice position
    over that run and one slice beyond each end, where the slab's partial
    volume of its sides weighs in (:func:`_middle`). A body whose run reaches
    an end of the stack, or crosses a slice that cannot be read, is left out;
    the plane is the mean over the bodies, which
    puts it at their centroid when the spine is tilted sideways. Slices are
    read outwards from ``index``, only as far as the bodies reach, and only
    the bands' boxes of them.

    The canal is not used: with the spine turned about its long axis (yaw)
    the canal, 3-4 cm behind the bodies, lies to one side of the plane through
    their middle, where the ROIs are drawn.

    Raises
    ------
    AnalysisError
        When fewer than two bodies can be followed across the stack (a slice
        that cannot be read, a body cut off by the stack's ends, no endplate
        contrast at a centre).
    """
    positions = slice_positions(series)
    n = len(series.slices)
    img0 = np.asarray(series.pixels(index), dtype=float)
    sr, sc = (float(v) for v in series.slices[index].geometry.spacing)
    bands = _bands(centres, (sr, sc), (int(img0.shape[0]), int(img0.shape[1])))
    if len(bands) < 2:
        raise AnalysisError("fewer than two body centres to follow across the slices")
    contrast = np.full((len(bands), n), np.nan)
    contrast[:, index] = bands.contrast(img0[bands.box])
    first = contrast[:, index].copy()
    alive = np.isfinite(first) & (first > 0)

    def read(k: int) -> None:
        try:
            patch = series.pixel_boxes(k, [bands.box])[0]
        except InputError:
            return      # a slice that cannot be read: the bodies crossing it are left out
        contrast[:, k] = bands.contrast(patch)

    for step in (-1, 1):
        misses = np.where(alive, 0, 2)
        k = index + step
        while 0 <= k < n and (misses < 2).any():
            read(k)
            # a body goes on while the slices hold it; one slice below between two that
            # hold it is a focal structure crossing the band; two below end it
            held = contrast[:, k] >= ENDPLATE_FRACTION * first
            misses = np.where(misses >= 2, 2, np.where(held, 0, misses + 1))
            misses[~np.isfinite(contrast[:, k])] = 2
            k += step
    centres_mm = []
    for j in np.flatnonzero(alive):
        row = contrast[j]
        a = _run_end(row, int(index), -1, ENDPLATE_FRACTION * first[j])
        b = _run_end(row, int(index), 1, ENDPLATE_FRACTION * first[j])
        if a == 0 or b == n - 1 or not np.isfinite(row[a - 1:b + 2]).all():
            continue    # cut off by the stack, or beside a slice that cannot be read
        centres_mm.append(_middle(row, positions, a, b))
    if len(centres_mm) < 2:
        raise AnalysisError("fewer than two bodies could be followed from side to side "
                            "across the slices")
    return _make(float(np.mean(centres_mm)), positions, "bodies")


def midline_from_labels(labels: np.ndarray, positions: np.ndarray,
                        rows: Sequence[int] | None = None) -> Midline:
    """Find the mid-sagittal plane from a label volume ``(rows, columns, slices)``.

    The plane lies at the mean slice position of the labelled voxels (the
    bodies, or the canal), each slice weighted by its voxel count; ``rows``
    limits the count to those image rows (beside the scored levels).

    Raises
    ------
    AnalysisError
        When the label has no voxel there.

    Examples
    --------
    >>> lab = np.zeros((4, 4, 5), dtype=bool)
    >>> lab[1:3, 1:3, 1:4] = True      # three slices, centred on slice 2
    >>> m = midline_from_labels(lab, np.array([0.0, 4.0, 8.0, 12.0, 16.0]))
    >>> m.slice_index, m.position_mm
    (2, 8.0)
    """
    c = np.asarray(labels, dtype=bool)
    if rows is not None:
        keep = np.zeros(c.shape[0], dtype=bool)
        keep[np.asarray(list(rows), dtype=int)] = True
        c = c & keep[:, None, None]
    w = c.sum(axis=(0, 1)).astype(float)
    if w.sum() == 0:
        raise AnalysisError("the mask has no voxel of the bodies or canal beside the scored "
                            "levels, so the mid-sagittal plane cannot be found; choose the "
                            "slice with --slice")
    return _make(float((positions * w).sum() / w.sum()), np.asarray(positions, dtype=float),
                 "labels")


@dataclass(frozen=True)
class CanalSummary:
    """What the canal tells about a scored slice, each part None when it could not be found.

    Attributes
    ----------
    track
        The sac traced on the slice of the body centres.
    reference
        ``(median, spread)`` of the sac's CSF along the canal on that slice
        (:func:`vbq.roi.canal.canal_reference`).
    midline
        The mid-sagittal plane found from the sac on every slice.
    midline_offset_mm
        Distance of the scored slice from that plane.
    reason
        Why a part is missing (one sentence), else None.
    """

    track: CanalTrack | None
    reference: tuple[float, float] | None
    midline: Midline | None
    midline_offset_mm: float | None
    reason: str | None = None


def level_centres(masks: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Level -> pixel centroid ``(row, column)`` of each vertebral level's non-empty mask."""
    out: dict[str, tuple[float, float]] = {}
    for lvl, m in masks.items():
        if lvl not in VERTEBRAL_LEVELS:
            continue
        a = np.asarray(m)
        rows = np.flatnonzero(a.any(axis=1))
        if rows.size == 0:
            continue
        # only the mask's bounding box is searched; the indices are whole numbers, so their
        # sums (and means) are the same as over the whole image
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
        cols = np.flatnonzero(a[r0:r1].any(axis=0))
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        r, c = np.nonzero(a[r0:r1, c0:c1])
        out[lvl] = (float((r + r0).mean()), float((c + c0).mean()))
    return out


def summarise_canal(series: SeriesInfo, index: int, centres: Mapping[str, Sequence[float]],
                    scored: int | None = None, *, image: np.ndarray | None = None,
                    midline: bool = True) -> CanalSummary:
    """Trace the sac on slice ``index`` and return its CSF reference and the midline offset.

    Never raises for anatomy that cannot be found: the missing parts are None
    and ``reason`` says why, so a score is still given (without the checks
    that need them).

    The summary is remembered for the series object (the last 32 slices,
    centres and ``scored`` asked for, compared with the slice's pixels), so
    asking again with the same arguments, as a server scoring the same ROIs
    does, costs nothing; the answer is the same as computing it afresh.

    Parameters
    ----------
    series
        The series.
    index
        Slice on which the body ``centres`` lie.
    centres
        Level -> pixel ``(row, column)`` near the centre of that level's body.
    scored
        The slice whose distance from the mid-sagittal plane is wanted
        (default ``index``).
    image
        Slice ``index``'s pixels, when already read.
    midline
        False skips the mid-sagittal plane (it reads every slice).
    """
    img = np.asarray(series.pixels(index) if image is None else image, dtype=float)
    key = (int(index), tuple((str(k), float(v[0]), float(v[1])) for k, v in centres.items()),
           index if scored is None else int(scored), bool(midline))
    with _SUMMARY_LOCK:
        memo = _SUMMARIES.get(series)
        hit = memo.get(key) if memo is not None else None
        if memo is not None and hit is not None:
            memo.move_to_end(key)
    if hit is not None and (hit[0] is img or np.array_equal(hit[0], img)):
        return hit[1]
    summary = _summarise(series, index, centres, scored, img, midline)
    with _SUMMARY_LOCK:
        memo = _SUMMARIES.setdefault(series, OrderedDict())
        memo[key] = (img, summary)
        while len(memo) > _SUMMARY_MEMO:
            memo.popitem(last=False)
    return summary


#: Canal summaries remembered per series (the same series, slice and centres give the same
#: summary; a server answering one series many times traces its canal once).
_SUMMARY_MEMO = 32
_SUMMARIES: weakref.WeakKeyDictionary[SeriesInfo, OrderedDict[Any, Any]] = (
    weakref.WeakKeyDictionary())
_SUMMARY_LOCK = threading.Lock()


def _summarise(series: SeriesInfo, index: int, centres: Mapping[str, Sequence[float]],
               scored: int | None, img: np.ndarray, midline: bool) -> CanalSummary:
    """:func:`summarise_canal` without the memo."""
    try:
        track = trace_canal(img, series.slices[index].geometry, centres)
        reference = canal_reference(track)
    except AnalysisError as err:
        return CanalSummary(None, None, None, None, str(err))
    if not midline or len(series.slices) < 2:
        return CanalSummary(track, reference, None, None)
    try:
        mid = midline_from_bodies(series, index, centres)
    except AnalysisError:
        try:
            mid = midline_from_canal(series, track)
        except AnalysisError as err:
            return CanalSummary(track, reference, None, None, str(err))
    k = index if scored is None else int(scored)
    return CanalSummary(track, reference, mid, mid.offset_mm(k))


def canal_of_rois(series: SeriesInfo, masks: Mapping[str, np.ndarray],
                  slices: Mapping[str, int], main: int, *,
                  midline: bool = True) -> CanalSummary:
    """Canal summary for ROIs drawn or proposed (label -> mask, label -> slice).

    The sac is traced on the CSF ROI's slice (else the main slice) through the
    centroids of the vertebral ROIs on that slice, so a drawn CSF ROI can be
    checked against the sac's CSF (gate (c)) and the main slice's distance
    from the mid-sagittal plane reported (unless ``midline`` is False: the plane
    search reads every slice). Parts not found are None.
    """
    index = int(slices.get("CSF", main))
    centres = level_centres({lvl: m for lvl, m in masks.items()
                             if int(slices.get(lvl, main)) == index})
    if len(centres) < 2:
        return CanalSummary(None, None, None, None,
                            "fewer than two vertebral ROIs on the CSF ROI's slice")
    return summarise_canal(series, index, centres, main, midline=midline)
