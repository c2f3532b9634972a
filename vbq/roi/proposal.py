"""From one click per level to the ellipses a reader would draw: :func:`propose`.

Owns turning a ``vbq-seeds/1`` document (one point inside each vertebral body,
and optionally one in the CSF) into a ``vbq-rois/1`` document in pixel space,
with notes on what was done. The document is scored as any ROI file is.

One body, from one click (:func:`fit_body`; all lengths in mm):

1. *Marrow or not.* The click's signal (median within 1.5 mm) is compared
   with the marrow level (the median of every body click's 3 mm
   neighbourhood). A click whose "body" is lower than :data:`MIN_HEIGHT_MM`
   (a disc between two endplates), or darker than :data:`DARK_FRACTION` of it
   and less than 4 mm inside the borders of the body found around it with the
   typical marrow level (a dark click deep inside a body, on the basivertebral
   vein or a dark island, stays there), is on an endplate or in a disc: it is
   moved into the body it belongs to (the nearest marrow along the spine's
   axis, which is the side of the disc's middle the click lies on; with a
   note), or refused when it lies within 1 mm of the disc's middle and no
   other click tells the two bodies apart. Clicks inside their bodies are
   fitted first, each from its own click with no height bound from the
   others (only whether the click is darker or brighter than the marrow is
   judged against the median of every click's neighbourhood), so that moving
   one click within its body changes no other body; each is then checked against the
   spine through its neighbours' bodies (step 3). A click is never moved into
   a body another click leads to: when no other body is left, it stays in the
   body found around it if it lies inside that body, and is refused otherwise.
   For the clicks that are moved, the marrow level is the median of the
   bodies found in place (when two or more were), and the distance between
   the centres of the first and last of them, over the levels between them,
   bounds the inner height (:data:`HEIGHT_TO_PITCH`). A body found lower
   than :data:`LOW_BODY_FRACTION` of the pitch of the others (a disc as bright
   as the marrow taken for it, an endplate zone, or a crushed body) is looked
   for again as a moved click is, and the body so found is taken when it lies
   nearer one pitch from its neighbours (:func:`_relocated`: a disc lies half
   a pitch off, a crushed body where its level lies); otherwise it stays and
   is warned about (``body_low``).
2. *Four borders.* In the body's frame (antero-posterior axis ``a``,
   craniocaudal axis ``t``; the patient's posterior and superior directions
   at first), the signal is averaged (median) across a band of parallel rays
   through the centre, along ``t`` over the middle 60 % of the depth and along
   ``a`` over the middle 60 % of the height (each border fitted as a line across
   the body). Each profile's dark bands (below :data:`EDGE_FRACTION` of the
   marrow level) are candidates, their inner edge half-way down from the marrow
   level to the band's floor (the middle of the blurred step); the pair of
   opposite bands whose distance apart fits a lumbar body
   (:data:`HEIGHT_RANGE_MM`, :data:`DEPTH_RANGE_MM`; the height at most
   :data:`MAX_HEIGHT_TO_DEPTH` of the depth found) with the darkest bands is
   taken, passing over only bands no darker than :data:`SKIPPABLE_FRACTION`
   (marrow texture) and the narrow, closely spaced struts of a haemangioma
   (:data:`STRIPE_WIDTH_MM`); without one, the pair nearest to fitting. Fat beyond the
   body (:data:`FAT_FRACTION`) ends the search.
3. *Endplate tilt.* The superior and inferior borders are found again in five
   narrow bands across the depth; the mean slope of the two lines (which
   cancels wedging; endplate concavity is symmetric and cancels too) turns
   the frame, or, when they disagree by more than about 6 degrees (one line
   following a Modic zone's wavy edge or a texture band), the slope of the
   straighter line. Steps 2-3 are repeated three times, each from the middle of
   the borders found, so the result hardly depends on where in the body the
   click was. An axis turned further than :data:`MAX_TILT_FROM_SPINE_DEG`
   from the spine through the neighbouring bodies' centres is fitted again
   square to it.
4. *Ellipse.* Centred between the four borders and aligned with the endplates,
   semi-axes :data:`AXIS_FRACTION` of the inner height and depth found, or
   less so as to stay :data:`CLEARANCE_MM` inside the borders. Focal structures
   (the basivertebral vein and its fat, Modic zones, haemangiomas, fat
   islands: connected areas of at least :data:`LESION_MIN_AREA_MM2` whose
   signal, smoothed by :data:`LESION_SMOOTH_MM`, lies above
   :data:`LESION_BRIGHT` or below :data:`LESION_DARK` of the body's usual
   marrow signal, a plane across the body that follows coil shading, and
   beyond :data:`LESION_SPREADS` robust standard deviations of its texture)
   are cut out of it with a margin of :data:`LESION_MARGIN_MM` (marrow they
   enclose with it goes too), as polygons along the pixel edges in the ROI's
   ``minus`` list, rather than shrinking or
   moving the ellipse to clear them: an ellipse clear of them is often a third
   of the body's marrow or less, and its mean then strays from the body's by
   the marrow's texture (on the realistic phantom, even ellipses drawn clear
   of the true lesions miss the reference by more than 3 % in 14 of 160
   anatomies, against 1 in 160 for the full ellipse less those lesions). When
   they fill three quarters of the ellipse, the body is refused with a
   sentence saying so.

Ellipses of different levels never overlap: two clicks in one body are
refused. ``vbq score --seeds`` (:func:`vbq.roi.seeds.rois_from_seeds`) scores this
proposal's ROI file. The CSF ROI is :mod:`vbq.roi.csfroi`'s: grown from a CSF seed
(:mod:`vbq.roi.growing`) and written as the largest ellipse inside that region, or
placed in the sac traced along the canal (:func:`vbq.roi.canal.place_csf`).

References
----------
Ehresman J, et al. Novel MRI-based score for assessment of bone density in
operative spine patients. Spine J. 2020;20(4):556-562.
doi:10.1016/j.spinee.2019.10.018 (ROIs in the medullary portion of L1-L4 on
the mid-sagittal T1 slice, CSF at L3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vbq.dicom.geometry import SliceGeometry
from vbq.dicom.series import SeriesInfo
from vbq.dicom.sliceref import SliceLike
from vbq.errors import (
    AnalysisError,
    BodyLow,
    BodyNotFoundError,
    InputError,
    LevelMissing,
    LevelSpacingUneven,
    SeedMoved,
    VbqWarning,
)
from vbq.levels import CSF, check_level_order
from vbq.protocol import Protocol, get_protocol
from vbq.roi.anatomy import protocol_levels
from vbq.roi.csfroi import propose_csf, roi_entry
from vbq.roi.morphology import true_runs
from vbq.roi.seedfile import SeedFile, place_seed
from vbq.roi.shapes import ellipse_mask, mask_rings, polygon_mask

__all__ = ["Proposal", "BodyFit", "SeedMoved", "propose", "fit_body", "EDGE_FRACTION",
           "BRIGHT_FRACTION", "DARK_FRACTION", "CLEARANCE_MM", "AXIS_FRACTION",
           "MIN_HEIGHT_MM", "AIR_FRACTION", "AIR_RADIUS_MM", "MAX_TILT_FROM_SPINE_DEG"]

#: A profile leaves the body where it falls below this fraction of the marrow level.
EDGE_FRACTION = 0.8
#: Inner height and depth (mm, between the inner edges of the endplates and of the
#: cortices) of a lumbar body: 20-32 mm high and 25-45 mm deep outside, less the
#: cortex and the blur of the edge.
HEIGHT_RANGE_MM = (14.0, 31.0)
#: A profile (a median across the body) above this fraction of the marrow is fat
#: outside the body; marrow texture and focal lesions crossed by a few rays are not.
FAT_FRACTION = 1.4
#: A dark band no darker than this fraction of the marrow may be marrow texture.
SKIPPABLE_FRACTION = 0.65
DEPTH_RANGE_MM = (18.0, 46.0)
#: Inner height of a body as a fraction of the distance between neighbouring
#: body centres (about 0.55-0.8: the body less its cortices over the body and a disc).
HEIGHT_TO_PITCH = (0.45, 0.9)
#: Inner height over inner depth of a lumbar body is at most this (0.6-0.95 usually).
MAX_HEIGHT_TO_DEPTH = 1.05
#: A ray also stops where the image rises above this fraction (a bright focal lesion).
BRIGHT_FRACTION = 1.15
#: A click darker than this fraction of the marrow level is not in marrow.
DARK_FRACTION = 0.75
#: A click darker than this fraction of the slice's bright tissue (its 99th percentile,
#: fat on T1) is in air or background, never in a body (marrow is 0.3-0.9 of fat).
AIR_FRACTION = 0.1
#: ... within this radius (mm) of the click as well as within 1.5 mm: a dark line inside a
#: body is narrower.
AIR_RADIUS_MM = 5.0
#: Least distance (mm) of the ellipse from every border found.
CLEARANCE_MM = 2.0
#: Largest angle (degrees) between a body's axis and the spine's direction through its
#: neighbours' bodies (their centres as found, not their clicks): a lumbar body's
#: endplates lie square to the spine's curve within about half a segment's lordosis (a
#: few degrees). A steeper fitted tilt followed something else (a Modic edge, a texture
#: band): the body is then fitted square to the spine.
MAX_TILT_FROM_SPINE_DEG = 15.0
#: Semi-axes as a fraction of the body's height and depth.
AXIS_FRACTION = 0.4
#: A "body" lower than this (mm) is a disc between two endplates.
MIN_HEIGHT_MM = 10.0
#: A body found lower than this fraction of the distance between the centres of the
#: other bodies found (their pitch) is warned about (``body_low``): no body of the
#: realistic phantom's 1,600 is (its inner height is 0.54 of the pitch or more), and a
#: body crushed by a third or more, or a disc taken for one, is.
LOW_BODY_FRACTION = 0.4
#: A body whose centre lies further than this fraction of the other bodies' depth from
#: the line through their centres is not a vertebral body (the posterior elements).
OFF_SPINE_FRACTION = 0.8
#: The other bodies' spacing per level, between neighbours, within this ratio is even:
#: their pitch is known (a crushed body shortens its two gaps by a fifth at most).
EVEN_SPACING = 1.3
#: Consecutive levels found further apart per level than this times the shortest such
#: distance on their slice are warned about (``level_spacing_uneven``: a level skipped in
#: the labels doubles a distance).
UNEVEN_SPACING = 1.5
#: Focal structures (vein, its fat, Modic zones, haemangiomas, fat islands): lightly
#: smoothed signal above or below these fractions of the body's median marrow.
LESION_BRIGHT = 1.10
LESION_DARK = 0.7
#: ... or further from it than this many robust SDs of the body's smoothed texture.
LESION_SPREADS = 2.0
#: Smallest area (mm2) of a focal structure (smaller spots are texture or noise).
LESION_MIN_AREA_MM2 = 2.0
#: Smoothing (mm, Gaussian sigma) before looking for focal structures.
LESION_SMOOTH_MM = 1.0
#: Margin (mm) around a focal structure cut out with it.
LESION_MARGIN_MM = 1.5
_INSIDE_MM = 4.0     # a dark click this far inside a body's borders is in that body
_STEP = 0.5          # mm between samples along a profile
_REACH = 32.0        # mm searched from the centre along a profile
_SKIP_COST = 0.05    # added to a border pair's cost per dark band passed over
_TILT_DISAGREE = 0.1  # endplate slopes further apart than this (about 6 degrees) disagree
_MISS_COST = 0.2     # added per mm by which a pair misses the size range
#: Dark bands at most this wide (mm below the edge level), two or more of them each at
#: most :data:`STRIPE_GAP_MM` from the next, are the struts of a haemangioma (0.5 mm
#: struts 2.2 mm apart on the realistic phantom; a cortex is followed by the soft tissue,
#: disc or canal beyond it, not by another narrow band so near).
STRIPE_WIDTH_MM = 1.5
STRIPE_GAP_MM = 2.5


@dataclass(frozen=True)
class Proposal:
    """ROIs proposed from clicks, as a reader would draw them.

    Attributes
    ----------
    rois
        A valid ``vbq-rois/1`` document in pixel space (turned ellipses,
        ``angle_deg`` aligned with the endplates, and the CSF ellipse).
    notes
        What was done, one sentence each (e.g. a click moved into its body).
    warnings, warning_codes
        :class:`~vbq.errors.VbqWarning` texts and their codes, same order.
    csf_reference
        The sac's CSF signal (median, spread) sampled along the canal on this
        slice, when known, else None.
    midline_offset_mm
        Distance of the slice from the mid-sagittal plane, when known.
    midline_source
        How that plane was found (:attr:`vbq.roi.midline.Midline.source`).
    bodies
        Level -> :class:`BodyFit`, the body found from each click.
    """

    rois: dict[str, Any]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    warning_codes: tuple[str, ...]
    csf_reference: tuple[float, float] | None = None
    midline_offset_mm: float | None = None
    bodies: Mapping[str, BodyFit] | None = None
    midline_source: str | None = None
    warning_objects: tuple[VbqWarning, ...] = ()


@dataclass(frozen=True)
class BodyFit:
    """A vertebral body found from one click (pixel coordinates, lengths in mm).

    Attributes
    ----------
    centre
        ``(row, column)`` of the middle of the four borders.
    axis, ap
        Unit vectors ``(d_row, d_col)`` in millimetres: craniocaudal (superior +)
        and antero-posterior (posterior +), aligned with the endplates.
    height_mm, depth_mm
        Distances between the endplates and between the cortices through the centre.
    marrow
        Median marrow signal between the borders.
    ellipse_centre, radii_mm, angle_deg
        The ellipse: centre ``(row, column)``, semi-axes along ``axis`` and
        ``ap`` (mm), and its angle as written in ``vbq-rois/1``.
    mask
        The ellipse's pixels on the slice.
    region
        Pixels inside the four borders (the body as found), for the CSF search.
    click, moved_mm
        The click used (after any move) and how far it was moved.
    minus
        Polygons (``[row, column]`` vertices) of the focal structures cut out of
        the ellipse; ``mask`` is the ellipse less them.
    cut_pixels
        How many of the ellipse's pixels they remove.
    """

    centre: tuple[float, float]
    axis: tuple[float, float]
    ap: tuple[float, float]
    height_mm: float
    depth_mm: float
    marrow: float
    ellipse_centre: tuple[float, float]
    radii_mm: tuple[float, float]
    angle_deg: float
    mask: np.ndarray
    region: np.ndarray
    click: tuple[float, float]
    moved_mm: float = 0.0
    minus: tuple[np.ndarray, ...] = ()
    cut_pixels: int = 0


# --------------------------------------------------------------------------- sampling
class _Slice:
    """One slice's image in millimetre coordinates, with the patient's directions."""

    def __init__(self, image: np.ndarray, geometry: SliceGeometry) -> None:
        self.image = np.asarray(image, dtype=float)
        self._smooth: np.ndarray | None = None
        self._bright: float | None = None
        self.spacing = (float(geometry.spacing[0]), float(geometry.spacing[1]))
        self.geometry = geometry
        self.sup = self._direction((0.0, 0.0, 1.0))
        self.post = self._direction((0.0, 1.0, 0.0))

    @property
    def smooth(self) -> np.ndarray:
        """The image lightly smoothed (Gaussian, sigma 0.6 pixel), made when first asked for."""
        from scipy import ndimage

        if self._smooth is None:
            self._smooth = ndimage.gaussian_filter(self.image, 0.6)
        return self._smooth

    @property
    def bright(self) -> float:
        """The slice's bright tissue level (99th percentile of its pixels), made once.

        Taken on every 4th row and column (a 16th of the pixels: the same level within
        the scatter of a percentile, at a hundredth of the cost of the whole slice).
        """
        if self._bright is None:
            self._bright = float(np.percentile(self.image[::4, ::4], 99.0))
        return self._bright

    def _direction(self, lps: Sequence[float]) -> np.ndarray:
        """Return the unit ``(d_row, d_col)`` (mm) of a patient direction projected on the slice."""
        v = np.asarray(lps, dtype=float)
        d = np.array([float(v @ self.geometry.col_dir), float(v @ self.geometry.row_dir)])
        n = float(np.hypot(*d))
        if n < 0.3:
            raise BodyNotFoundError("the slice is not sagittal enough to find a vertebral body "
                                    "from a click; use a sagittal series")
        return d / n

    def sample(self, centre_px: Sequence[float] | np.ndarray, pts_mm: np.ndarray,
               smooth: bool = False
               ) -> np.ndarray:
        """Image values at ``centre + pts_mm`` (``(..., 2)`` offsets in mm), linear."""
        from scipy import ndimage

        r = centre_px[0] + pts_mm[..., 0] / self.spacing[0]
        c = centre_px[1] + pts_mm[..., 1] / self.spacing[1]
        img = self.smooth if smooth else self.image
        out = ndimage.map_coordinates(img, [r.ravel(), c.ravel()], order=1, mode="nearest")
        rows, cols = img.shape
        off = (r.ravel() < 0) | (r.ravel() > rows - 1) | (c.ravel() < 0) | (c.ravel() > cols - 1)
        out[off] = 0.0
        return np.asarray(out.reshape(r.shape))

    def _near(self, rc: Sequence[float] | np.ndarray, radius_mm: float) -> np.ndarray:
        """Values of the pixels whose centre lies within ``radius_mm`` of ``rc``, row by row.

        Only a window of rows and columns that holds every such pixel is looked
        at; the distances are those of the whole image's grid, so the pixels and
        their order are the same as from the whole image.
        """
        rows, cols = self.image.shape
        sr, sc = self.spacing
        r0, c0 = float(rc[0]), float(rc[1])
        if not (math.isfinite(r0) and math.isfinite(c0)):
            return self.image[:0, :0].ravel()
        rlo = min(max(math.floor(r0 - radius_mm / sr) - 1, 0), rows)
        rhi = max(min(math.ceil(r0 + radius_mm / sr) + 2, rows), rlo)
        clo = min(max(math.floor(c0 - radius_mm / sc) - 1, 0), cols)
        chi = max(min(math.ceil(c0 + radius_mm / sc) + 2, cols), clo)
        rr = (np.arange(rlo, rhi) - rc[0])[:, None] * sr
        cc = (np.arange(clo, chi) - rc[1])[None, :] * sc
        near = rr * rr + cc * cc <= radius_mm * radius_mm
        return np.asarray(self.image[rlo:rhi, clo:chi][near])

    def local_mode(self, rc: Sequence[float] | np.ndarray, radius_mm: float) -> float:
        """Usual signal (:func:`_marrow_mode`) of the pixels within ``radius_mm`` of ``rc``."""
        values = self._near(rc, radius_mm)
        if values.size == 0:
            return self.local_median(rc, radius_mm)
        return _marrow_mode(values)

    def local_median(self, rc: Sequence[float] | np.ndarray, radius_mm: float) -> float:
        """Median of the pixels within ``radius_mm`` of ``rc`` (else of its nearest pixel)."""
        values = self._near(rc, radius_mm)
        if values.size == 0:
            values = self.image[int(round(rc[0])), int(round(rc[1]))][None]
        return float(np.median(values))


def _candidates(profile: np.ndarray, m: float, most: int = 4, fat_ends: bool = True,
                behind: np.ndarray | None = None) -> list[tuple[float, float]]:
    """Dark bands along ``profile`` (0 outwards, step ``_STEP``): cortex, endplates or texture.

    Returns up to ``most`` ``(edge, dip)`` pairs (struts not counted), nearest
    first: the distance (mm) where the profile falls below :data:`EDGE_FRACTION`
    of the marrow level ``m`` (the band's inner edge) and the band's lowest value
    as a fraction of ``m``.
    Fat beyond the body (above :data:`FAT_FRACTION` of ``m``, past any bright run
    where the profile starts, and past a bright run with no dark band before it
    and 2 mm of marrow after it that starts nearer than half the shallowest
    body, a focal structure inside it) ends the search: the
    last dark band before it (a cortex thinned by partial volume) is kept as a
    border that may not be passed over (its ``dip`` is set to 0). With ``fat_ends``
    False (profiles towards the endplates, beyond which lies a disc, never fat) a
    bright run ends nothing: it is fatty marrow along the endplate (a Modic type 2
    zone), inside the body, and the border is the dark endplate beyond it.
    Two or more narrow dark bands close together (:data:`STRIPE_WIDTH_MM`,
    :data:`STRIPE_GAP_MM`: the struts of a haemangioma) are marrow texture: their
    ``dip`` is raised to :data:`SKIPPABLE_FRACTION` at least, so that the pair
    search may pass over them to the cortex beyond, and they do not count towards
    ``most``; a bright run between two of them (the lesion) is not fat. They are
    told on the whole line through the centre: ``behind``, when given, is the
    profile the other way from the same centre (a lesion may straddle it).
    """
    level = EDGE_FRACTION * m
    # a bright run where the profile starts is a focal structure around the click
    # (a haemangioma, a fat island), not fat beyond the body
    lead = np.flatnonzero(profile <= BRIGHT_FRACTION * m)
    first = int(lead[0]) if lead.size else profile.size
    bright = first + np.flatnonzero(profile[first:] > FAT_FRACTION * m)
    if not fat_ends:
        bright = bright[:0]
    # so is one that starts nearer than half the shallowest body with no dark band
    # (a cortex) before it and marrow after it (2 mm of it): fat beyond the body lies
    # beyond its cortex, and the sac or muscle lie beyond the fat
    marrow_mm = 2.0
    while bright.size and bright[0] * _STEP < 0.5 * DEPTH_RANGE_MM[0] and not np.any(
            profile[:bright[0]] < level):
        after = bright[0] + np.flatnonzero(profile[bright[0]:] <= BRIGHT_FRACTION * m)
        k = int(round(marrow_mm / _STEP))
        if after.size == 0 or not np.all(profile[after[0]:after[0] + k] >= level) or (
                after[0] + k > profile.size):
            break
        bright = bright[bright > after[0]]
    below = profile < level
    # nor is a bright run between two struts of a haemangioma (its lesion between them)
    # struts are told on the whole line through the centre (``behind`` is the profile
    # the other way, from the same centre): a lesion may straddle it
    back = np.asarray(behind[:0:-1] if behind is not None and behind.size else profile[:0])
    o = back.size
    all_runs = true_runs(np.concatenate((back < level, below)))
    struts = [(i - o, j - o) for (i, j), flag in
              zip(all_runs, _struts(all_runs), strict=True) if flag]
    gap = STRIPE_GAP_MM / _STEP
    while bright.size:
        end = int(bright[0])
        while end + 1 < profile.size and profile[end + 1] > FAT_FRACTION * m:
            end += 1
        if not (any(0 <= bright[0] - j <= gap for _, j in struts)
                and any(0 <= i - end - 1 <= gap for i, _ in struts)):
            break
        bright = bright[bright > end]
    n = int(bright[0]) if bright.size else profile.size
    out: list[tuple[float, float]] = []
    runs: list[tuple[int, int]] = []
    i = start = 0
    while i < n:
        if not below[i]:
            i += 1
            continue
        j = i
        while j < n and below[j]:
            j += 1
        low = int(i + np.argmin(profile[i:j]))
        half = 0.5 * (m + float(profile[low]))
        # the edge is half-way down from the marrow to the band's floor (the
        # blurred step's middle): before where the profile falls below ``level``
        # for a shallow band, past it for a deep one
        k = i
        if half >= level:
            while k > start and profile[k - 1] <= half:
                k -= 1
        else:
            while k < low and profile[k] > half:
                k += 1
        if k == 0:
            edge = 0.0
        else:
            a, b = profile[k - 1], profile[k]
            frac = (a - half) / (a - b) if a != b else 0.0
            edge = (k - 1 + float(min(max(frac, 0.0), 1.0))) * _STEP
        out.append((edge, float(profile[low]) / m))
        runs.append((i, j))
        i = start = j
    # the struts of a haemangioma: narrow dark bands, each a short run of marrow or
    # lesion from another, inside the body: texture that may be passed over
    strut = [any(j == sj for _, sj in struts) for _, j in runs]
    # the nearest ``most`` bands, struts not counted
    kept: list[tuple[float, float]] = []
    counted = 0
    for k, (edge, dip) in enumerate(out):
        if counted == most:
            break
        kept.append((edge, max(dip, SKIPPABLE_FRACTION) if strut[k] else dip))
        counted += not strut[k]
    ended = len(kept) < len(out)
    out = kept
    if bright.size and not ended and counted < most:
        # fat outside the body (epidural, paravertebral): the body ends at the last
        # dark band before it (a thin cortex), or where the signal starts to rise
        if out and all(e < n * _STEP for e, _ in out):
            out[-1] = (out[-1][0], 0.0)
        else:
            rise = np.flatnonzero(profile[:n] <= BRIGHT_FRACTION * m)
            out.append(((int(rise[-1]) if rise.size else 0) * _STEP, 0.0))
    return out


def _struts(runs: Sequence[tuple[int, int]]) -> list[bool]:
    """Which dark runs (indices along a profile) are struts of a haemangioma.

    A run at most :data:`STRIPE_WIDTH_MM` wide with another such run at most
    :data:`STRIPE_GAP_MM` from it.
    """
    narrow = [(j - i) * _STEP <= STRIPE_WIDTH_MM for i, j in runs]
    return [narrow[k] and any(
        0 <= q < len(runs) and narrow[q]
        and (runs[max(q, k)][0] - runs[min(q, k)][1]) * _STEP <= STRIPE_GAP_MM
        for q in (k - 1, k + 1)) for k in range(len(runs))]


def _pick(near: list[tuple[float, float]], far: list[tuple[float, float]],
          span: tuple[float, float]) -> tuple[float | None, float | None]:
    """Choose the two opposite borders from their candidate bands, with a size prior.

    Among the pairs whose distance apart lies within ``span`` (mm; the vertebral
    body's inner height or depth), the pair with the darkest bands (cortex and
    endplates are darker than any marrow texture; a band passed over costs a
    little) is taken; only bands no darker than :data:`SKIPPABLE_FRACTION` of
    the marrow (texture, not cortex) may be passed over. Without such a pair,
    the pair nearest to fitting (a marrow darkening towards the endplates may
    put both a little inside them), not the nearest texture band.
    """
    if not near or not far:
        return (near[0][0] if near else None), (far[0][0] if far else None)
    best: tuple[float, float, float] | None = None
    for i, (e1, d1) in enumerate(near):
        if i > 0 and near[i - 1][1] < SKIPPABLE_FRACTION:
            break
        for j, (e2, d2) in enumerate(far):
            if j > 0 and far[j - 1][1] < SKIPPABLE_FRACTION:
                break
            size = e1 + e2
            miss = max(span[0] - size, size - span[1], 0.0)
            cost = d1 + d2 + _SKIP_COST * (i + j) + _MISS_COST * miss + (2.0 if miss else 0.0)
            if best is None or cost < best[0]:
                best = (cost, e1, e2)
    assert best is not None
    return best[1], best[2]


def _borders(sl: _Slice, centre: np.ndarray, a: np.ndarray, t: np.ndarray, m: float,
             half_d: float, half_h: float, pitch: float | None = None
             ) -> dict[str, float | None]:
    """Distances (mm) from ``centre`` to the four borders along +-t and +-a.

    Each border is fitted as a line across the body: the profile is the median of
    13 parallel rays over the middle 60 % of the other dimension, so a vein, an
    island or a lesion crossing a few rays does not move it. ``pitch`` (mm), the
    distance between the centres of neighbouring bodies when known, narrows the
    height to :data:`HEIGHT_TO_PITCH` of it.
    """
    s = np.arange(0.0, _REACH, _STEP)
    cands: dict[str, list[tuple[float, float]]] = {}
    profs: dict[str, np.ndarray] = {}
    us = np.linspace(-0.6 * half_d, 0.6 * half_d, 13)
    vs = np.linspace(-0.6 * half_h, 0.6 * half_h, 13)
    for name, d, across, offs in (("sup", t, a, us), ("inf", -t, a, us),
                                  ("post", a, t, vs), ("ant", -a, t, vs)):
        pts = s[None, :, None] * d[None, None, :] + offs[:, None, None] * across[None, None, :]
        prof = np.median(sl.sample(centre, pts), axis=0)
        profs[name] = prof
    for name, other in (("sup", "inf"), ("inf", "sup"), ("post", "ant"), ("ant", "post")):
        cands[name] = _candidates(profs[name], m, fat_ends=name in ("post", "ant"),
                                  behind=profs[other])
    post, ant = _pick(cands["post"], cands["ant"], DEPTH_RANGE_MM)
    span = HEIGHT_RANGE_MM
    if pitch is not None and pitch > 0:
        lo, hi = HEIGHT_TO_PITCH
        span = (max(span[0], lo * pitch), max(span[0], lo * pitch, min(span[1], hi * pitch)))
    if post is not None and ant is not None:
        # a lumbar body is not higher than it is deep
        span = (span[0], max(span[0], min(span[1], MAX_HEIGHT_TO_DEPTH * (post + ant))))
    sup, inf = _pick(cands["sup"], cands["inf"], span)
    return {"sup": sup, "inf": inf, "post": post, "ant": ant}


def _tilt(sl: _Slice, centre: np.ndarray, a: np.ndarray, t: np.ndarray, m: float,
          half_d: float, sup: float, inf: float) -> float | None:
    """Endplate tilt (radians, turning ``a`` towards ``t``) from five bands across the depth.

    In each band, the dark band nearest the endplate found across the whole body
    (``sup``, ``inf``: mm from ``centre``) and within 3 mm of it is the endplate.
    """
    s = np.arange(0.0, _REACH, _STEP)
    us = np.linspace(-0.5 * half_d, 0.5 * half_d, 5)
    offs = us[:, None] + np.linspace(-1.5, 1.5, 5)[None, :]          # band, ray
    signs = np.array([1.0, -1.0])
    pts = (signs[:, None, None, None, None] * s[None, None, None, :, None] * t
           + offs[None, :, :, None, None] * a)                        # side, band, ray, step
    profs = np.median(sl.sample(centre, pts), axis=2)                # side, band, step
    slopes = []
    for side, (sign, expect) in enumerate(((1.0, sup), (-1.0, inf))):
        found = []
        for band, u in enumerate(us):
            prof = profs[side, band]
            near = [e for e, _ in _candidates(prof, m, fat_ends=False)
                    if abs(e - expect) <= 3.0]
            if near:
                e = min(near, key=lambda x: abs(x - expect))
                found.append((u, sign * e))
        if len(found) >= 3:
            uu, vv = np.array(found).T
            if np.all(np.isfinite(uu)) and np.all(np.isfinite(vv)) and np.ptp(uu) > 0:
                coef, resid = np.polyfit(uu, vv, 1, full=True)[:2]
                slopes.append((float(coef[0]), float(resid[0]) / uu.size if resid.size else 0.0))
    if not slopes:
        return None
    if len(slopes) == 2 and abs(slopes[0][0] - slopes[1][0]) > _TILT_DISAGREE:
        # the endplates disagree: one line follows something else (the wavy edge of a
        # Modic zone, a texture band); keep the straighter one
        return float(math.atan(min(slopes, key=lambda x: x[1])[0]))
    return float(math.atan(float(np.mean([x[0] for x in slopes]))))


def _turn(a: np.ndarray, t: np.ndarray, ang: float) -> tuple[np.ndarray, np.ndarray]:
    """Turn the frame so that ``a`` moves by ``ang`` towards ``t``."""
    c, s = math.cos(ang), math.sin(ang)
    a2 = c * a + s * t
    t2 = -s * a + c * t
    return a2 / np.hypot(*a2), t2 / np.hypot(*t2)


@dataclass
class _Frame:
    centre: np.ndarray      # pixels
    a: np.ndarray
    t: np.ndarray
    half_d: float
    half_h: float
    marrow: float
    borders: dict[str, float]


def _find_frame(sl: _Slice, click: Sequence[float] | np.ndarray, name: str,
                marrow: float | None = None, pitch: float | None = None,
                spine: np.ndarray | None = None) -> _Frame:
    """Borders and tilt of the body around ``click`` (steps 2-3 of the module docstring).

    ``marrow`` is the marrow level to start from (default: the click's neighbourhood);
    ``pitch`` as for :func:`_borders`. ``spine``, the unit ``(d_row, d_col)`` (mm) of
    the spine's direction through the neighbouring bodies when known: a body whose
    axis turns further than :data:`MAX_TILT_FROM_SPINE_DEG` from it is fitted again
    with its axis along the spine (unless no border is found that way: a wedged body).
    """
    frame = _frame_search(sl, click, name, marrow, pitch)
    if spine is None:
        return frame
    if abs(float(frame.t @ spine)) >= math.cos(math.radians(MAX_TILT_FROM_SPINE_DEG)):
        return frame
    try:
        return _frame_search(sl, click, name, marrow, pitch, spine)
    except BodyNotFoundError:
        # a wedged body whose borders do not lie square to the spine: the turned fit,
        # which found all four, stands
        return frame


def _frame_search(sl: _Slice, click: Sequence[float] | np.ndarray, name: str,
                  marrow: float | None, pitch: float | None,
                  fixed: np.ndarray | None = None) -> _Frame:
    """Search as :func:`_find_frame` does; with ``fixed`` the axis is that direction, unturned."""
    centre = np.array([float(click[0]), float(click[1])])
    a, t = sl.post.copy(), sl.sup.copy()
    if fixed is not None:
        t = fixed if float(fixed @ sl.sup) >= 0 else -fixed
        a = np.array([t[1], -t[0]])
        a = a if float(a @ sl.post) >= 0 else -a
    half_d, half_h = 8.0, 6.0
    m = marrow if marrow is not None and marrow > 0 else sl.local_mode(centre, 6.0)
    if m <= 0:
        raise BodyNotFoundError(f"{name}: the signal at the click is not above zero, so it is "
                                "not inside a vertebral body; click inside the body")
    found: dict[str, float] = {}
    for _ in range(3):
        b = _borders(sl, centre, a, t, m, half_d, half_h, pitch)
        missing = [k for k, v in b.items() if v is None]
        if missing:
            raise _NoBorderError(name, " or ".join(_BORDER_NAMES[k] for k in missing))
        found = {k: float(v) for k, v in b.items() if v is not None}
        shift = (0.5 * (found["post"] - found["ant"]) * a
                 + 0.5 * (found["sup"] - found["inf"]) * t)
        centre = centre + shift / np.array(sl.spacing)
        half_d = 0.5 * (found["post"] + found["ant"])
        half_h = 0.5 * (found["sup"] + found["inf"])
        ang = None if fixed is not None else _tilt(sl, centre, a, t, m, half_d, found["sup"],
                                                   found["inf"])
        if ang is not None:
            a, t = _turn(a, t, ang)
        m = _central_marrow(sl, centre, a, t, half_d, half_h, m)
    b = _borders(sl, centre, a, t, m, half_d, half_h, pitch)
    if all(v is not None for v in b.values()):
        found = {k: float(v) for k, v in b.items() if v is not None}
        centre = centre + (0.5 * (found["post"] - found["ant"]) * a
                           + 0.5 * (found["sup"] - found["inf"]) * t) / np.array(sl.spacing)
        half_d = 0.5 * (found["post"] + found["ant"])
        half_h = 0.5 * (found["sup"] + found["inf"])
    return _Frame(centre, a, t, half_d, half_h, m, found)


def _central_marrow(sl: _Slice, centre: np.ndarray, a: np.ndarray, t: np.ndarray,
                    half_d: float, half_h: float, fallback: float) -> float:
    """Median signal of the middle half of the body (height and depth)."""
    us = np.linspace(-0.5 * half_d, 0.5 * half_d, 9)
    vs = np.linspace(-0.5 * half_h, 0.5 * half_h, 9)
    pts = us[None, :, None] * a[None, None, :] + vs[:, None, None] * t[None, None, :]
    vals = sl.sample(centre, pts)
    m = float(np.median(vals))
    return m if m > 0 else fallback


# --------------------------------------------------------------------------- one body
def _ellipse(sl: _Slice, frame: _Frame, click: Sequence[float] | np.ndarray, moved: float,
             name: str = "the click") -> BodyFit:
    """Place the ellipse in a body found, less its focal structures (module docstring, step 4)."""
    a = frame.a if frame.a[1] >= 0 else -frame.a        # the column axis, turned
    angle = math.degrees(math.atan2(-a[0], a[1]))
    rv = min(2.0 * AXIS_FRACTION * frame.half_h, frame.half_h - CLEARANCE_MM)
    ru = min(2.0 * AXIS_FRACTION * frame.half_d, frame.half_d - CLEARANCE_MM)
    sr, sc = sl.spacing
    centre = (float(frame.centre[0]), float(frame.centre[1]))
    whole = ellipse_mask(sl.image.shape, centre, (rv, ru), angle, (sr, sc))
    rows, cols, near = _focal(sl, frame)
    cut = np.zeros_like(whole)
    cut[np.ix_(rows, cols)] = near
    cut &= whole
    minus = tuple(ring for ring in mask_rings(cut))
    mask = whole.copy()
    for ring in minus:
        mask &= ~polygon_mask(mask.shape, ring)
    if mask.sum() < max(whole.sum() // 4, 1):
        raise BodyNotFoundError(
            f"{name}: focal structures (the basivertebral vein, Modic zones, fat) fill "
            f"{int(whole.sum() - mask.sum())} of the {int(whole.sum())} pixels of the body's "
            "ellipse; draw its ROI by hand or exclude the level")
    # the body as found: the box between the four borders, in the body's frame (its
    # pixels lie within the box's half-diagonal of its centre: only that window is looked at)
    n_rows, n_cols = sl.image.shape
    half = math.hypot(frame.half_d, frame.half_h)
    r0, c0 = centre
    rlo = min(max(math.floor(r0 - half / sr) - 1, 0), n_rows)
    rhi = max(min(math.ceil(r0 + half / sr) + 2, n_rows), rlo)
    clo = min(max(math.floor(c0 - half / sc) - 1, 0), n_cols)
    chi = max(min(math.ceil(c0 + half / sc) + 2, n_cols), clo)
    rr = (np.arange(rlo, rhi, dtype=float) - frame.centre[0])[:, None] * sr
    cc = (np.arange(clo, chi, dtype=float) - frame.centre[1])[None, :] * sc
    region = np.zeros((n_rows, n_cols), dtype=bool)
    region[rlo:rhi, clo:chi] = ((np.abs(rr * frame.a[0] + cc * frame.a[1]) <= frame.half_d)
                                & (np.abs(rr * frame.t[0] + cc * frame.t[1]) <= frame.half_h))
    return BodyFit(
        centre=centre,
        axis=(float(frame.t[0]), float(frame.t[1])), ap=(float(frame.a[0]), float(frame.a[1])),
        height_mm=2.0 * frame.half_h, depth_mm=2.0 * frame.half_d, marrow=frame.marrow,
        ellipse_centre=centre, radii_mm=(rv, ru),
        angle_deg=angle, mask=mask, region=region,
        click=(float(click[0]), float(click[1])), moved_mm=moved, minus=minus,
        cut_pixels=int(whole.sum() - mask.sum()))


def _focal(sl: _Slice, frame: _Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of a body's focal structures, with their margin, in a window around it.

    The body's usual marrow signal is a plane across it (coil shading tilts it by
    up to a third across a body), fitted to the pixels within 20 % of it
    (:func:`_marrow_plane`); a focal structure is a connected area of at least
    :data:`LESION_MIN_AREA_MM2` whose smoothed signal departs from that plane
    beyond :data:`LESION_BRIGHT` or :data:`LESION_DARK` (diffuse texture, a few
    to 15 %, stays in; where the texture is strong, the bounds widen to
    :data:`LESION_SPREADS` of its robust standard deviation).

    Returns the window's rows and columns, and which of its pixels lie within
    :data:`LESION_MARGIN_MM` of a focal structure.
    """
    from scipy import ndimage

    sr, sc = sl.spacing
    reach = math.hypot(frame.half_d, frame.half_h) + 2.0
    r0, c0 = frame.centre
    rows = np.arange(max(int(r0 - reach / sr) - 1, 0), min(int(r0 + reach / sr) + 2,
                                                           sl.image.shape[0]))
    cols = np.arange(max(int(c0 - reach / sc) - 1, 0), min(int(c0 + reach / sc) + 2,
                                                           sl.image.shape[1]))
    dr = (rows[:, None] - r0) * sr + 0.0 * cols[None, :]
    dc = (cols[None, :] - c0) * sc + 0.0 * rows[:, None]
    u = dr * frame.a[0] + dc * frame.a[1]
    v = dr * frame.t[0] + dc * frame.t[1]
    inside = ((np.abs(u) <= frame.half_d - CLEARANCE_MM)
              & (np.abs(v) <= frame.half_h - CLEARANCE_MM))
    win = sl.image[np.ix_(rows, cols)]
    smooth = ndimage.gaussian_filter(win, LESION_SMOOTH_MM / min(sr, sc))
    body = (np.abs(u) <= frame.half_d) & (np.abs(v) <= frame.half_h)
    level = _marrow_plane(u, v, win, body, frame.marrow)
    ratio = smooth / np.maximum(level, 1e-9)
    core = inside & body
    spread = 0.0
    if core.any():
        rel = ratio[core]
        spread = 1.4826 * float(np.median(np.abs(rel - np.median(rel))))
    bright = max(LESION_BRIGHT, 1.0 + LESION_SPREADS * spread)
    dark = min(LESION_DARK, 1.0 - LESION_SPREADS * spread)
    odd = body & ((ratio > bright) | (ratio < dark))
    lab, n = ndimage.label(odd)
    if n:
        area = np.bincount(lab.ravel())[1:] * (sr * sc)
        focal = np.isin(lab, 1 + np.flatnonzero(area >= LESION_MIN_AREA_MM2))
    else:
        focal = odd
    if focal.any():
        near = ndimage.distance_transform_edt(~focal, sampling=(sr, sc)) <= LESION_MARGIN_MM
    else:
        near = focal
    return rows, cols, near


def _marrow_plane(u: np.ndarray, v: np.ndarray, values: np.ndarray, body: np.ndarray,
                  fallback: float) -> np.ndarray:
    """Return the body's usual marrow signal as a plane in ``(u, v)`` at every pixel.

    Starts from :func:`_marrow_mode` and refits the plane to the body's pixels within
    20 % of it (focal structures and the borders left out), three times.
    """
    uu, vv, x = u[body], v[body], values[body]
    m = _marrow_mode(x) if x.size else fallback
    coef = np.array([m, 0.0, 0.0])
    for _ in range(3):
        fit = coef[0] + coef[1] * uu + coef[2] * vv
        keep = np.abs(x - fit) <= 0.2 * np.abs(fit)
        if keep.sum() < 10:
            break
        design = np.column_stack((np.ones(int(keep.sum())), uu[keep], vv[keep]))
        coef = np.linalg.lstsq(design, x[keep], rcond=None)[0]
    return np.asarray(coef[0] + coef[1] * u + coef[2] * v)


def _marrow_mode(values: np.ndarray) -> float:
    """Return the body's usual marrow signal: a median trimmed to 20 % of itself, repeated.

    Focal bright or dark zones covering part of the body (Modic zones, fat) pull a
    plain median towards them; trimming settles on the commonest signal.
    """
    m = float(np.median(values))
    for _ in range(5):
        near = values[(values >= 0.8 * m) & (values <= 1.2 * m)]
        if near.size == 0:
            break
        m = float(np.median(near))
    return m


def _well_inside(sl: _Slice, frame: _Frame, click: Sequence[float] | np.ndarray) -> bool:
    """Whether ``click`` lies at least :data:`_INSIDE_MM` inside the body's four borders."""
    d = (np.asarray(click, dtype=float) - frame.centre) * np.array(sl.spacing)
    u, v = float(d @ frame.a), float(d @ frame.t)
    return abs(v) <= frame.half_h - _INSIDE_MM and abs(u) <= frame.half_d - _INSIDE_MM


def _is_body(frame: _Frame) -> bool:
    return 2.0 * frame.half_h >= MIN_HEIGHT_MM and 2.0 * frame.half_d >= MIN_HEIGHT_MM


def _along(sl: _Slice, click: np.ndarray, sign: float, m: float
           ) -> tuple[float, np.ndarray] | None:
    """Distance (mm) to the first marrow past a dark border along ``sign`` x superior.

    Returns the distance and the point 3 mm into that marrow, or None.
    """
    s = np.arange(0.0, 45.0, _STEP)
    d = sign * sl.sup
    across = sl.post
    offs = np.linspace(-3.0, 3.0, 7)
    pts = s[None, :, None] * d[None, None, :] + offs[:, None, None] * across[None, None, :]
    prof = np.median(sl.sample(click, pts), axis=0)
    dark = np.flatnonzero(prof < EDGE_FRACTION * m)
    if dark.size == 0:
        return None
    after = np.flatnonzero(prof[dark[0]:] >= EDGE_FRACTION * m)
    if after.size == 0:
        return None
    dist = float(s[dark[0] + after[0]])
    return dist, click + (dist + 3.0) * d / np.array(sl.spacing)


class _OnlyTakenError(BodyNotFoundError):
    """The only bodies a click could be moved into are other clicks'."""


#: What a refusal of a click says to try on another slice (a seed without a slice of its own).
_OTHER_SLICE = "choose another slice with --slice"


class _NoneNearError(BodyNotFoundError):
    """No body was found above or below a click to move it into."""


#: How messages name the four borders of a body.
_BORDER_NAMES = {"sup": "upper endplate", "inf": "lower endplate", "post": "posterior wall",
                 "ant": "anterior wall"}


class _NoBorderError(BodyNotFoundError):
    """No border of a body (``missing``: their names) was found around a click."""

    def __init__(self, name: str, missing: str) -> None:
        super().__init__(f"{name}: no {missing} of a vertebral body was found within "
                         f"{_REACH:.0f} mm of the click; click inside the body, or check the "
                         "slice")
        self.missing = missing


def _is_taken(sl: _Slice, frame: _Frame, taken: Sequence[BodyFit]) -> bool:
    """Whether ``frame`` is the body of one of ``taken`` (centres within 30 % of its height)."""
    sp = np.array(sl.spacing)
    return any(math.dist(frame.centre * sp, np.array(b.centre) * sp) < 0.3 * b.height_mm
               for b in taken)


def _inside(sl: _Slice, frame: _Frame, click: Sequence[float] | np.ndarray) -> bool:
    """Whether ``click`` lies inside the body's four borders."""
    d = (np.asarray(click, dtype=float) - frame.centre) * np.array(sl.spacing)
    return abs(float(d @ frame.t)) <= frame.half_h and abs(float(d @ frame.a)) <= frame.half_d


def _move(sl: _Slice, click: np.ndarray, name: str, m: float,
          taken: Sequence[BodyFit], pitch: float | None = None,
          spine: np.ndarray | None = None, other_slice: str = _OTHER_SLICE
          ) -> tuple[_Frame, np.ndarray, str]:
    """Move a click that is not in marrow into the body it belongs to, or refuse."""
    cands: list[tuple[float, str, _Frame, np.ndarray]] = []
    for sign, way in ((1.0, "up"), (-1.0, "down")):
        start = click
        travelled = 0.0
        for _hop in range(3):
            hit = _along(sl, start, sign, m)
            if hit is None:
                break
            dist, point = hit
            try:
                frame = _find_frame(sl, point, name, pitch=pitch, spine=spine)
            except AnalysisError:
                break
            travelled += dist
            if _is_body(frame):
                cands.append((travelled, way, frame, point))
                break
            # a disc that looks like marrow: go on past it
            reach = frame.half_h * 2.0 + 1.0
            start = frame.centre + sign * (frame.half_h + 1.0) * sl.sup / np.array(sl.spacing)
            travelled += reach * 0.5
    where = f"[{click[0]:.1f}, {click[1]:.1f}]"
    if not cands:
        raise _NoneNearError(f"{name}: the click at {where} (row, column) is not inside a "
                                "vertebral body and no body was found above or below it; "
                                f"click inside the body or {other_slice}")
    cands.sort(key=lambda c: c[0])
    free = [c for c in cands if not _is_taken(sl, c[2], taken)]
    if not free:
        raise _OnlyTakenError(name)
    if len(free) < len(cands):
        # a body another click leads to is not this click's
        cands = free
    if len(cands) == 2 and cands[1][0] - cands[0][0] < 2.0:
        # within 1 mm of the disc's middle: another click may tell the bodies apart
        free = [c for c in cands if not any(
            math.dist(c[2].centre * np.array(sl.spacing),
                      np.array(b.centre) * np.array(sl.spacing)) < 0.3 * b.height_mm
            for b in taken)]
        if len(free) != 1:
            raise BodyNotFoundError(
                f"{name}: the click at {where} (row, column) lies in the middle of a disc, so "
                "it is not clear which body it belongs to; click inside the body")
        cands = free
    dist, way, frame, _ = cands[0]
    side = "upper" if way == "down" else "lower"
    note = (f"{name}: the click at {where} (row, column) was not in marrow (on the {side} "
            f"endplate or in the disc next to it); moved {dist + 3.0:.1f} mm {way} into the "
            "body it belongs to")
    return frame, click, note


def fit_body(image: np.ndarray, geometry: SliceGeometry, click: Sequence[float] | np.ndarray, *,
             name: str = "body", marrow: float | None = None,
             taken: Sequence[BodyFit] = (), pitch: float | None = None
             ) -> tuple[BodyFit, str | None]:
    """Find the body around one click and place its ellipse.

    Parameters
    ----------
    image, geometry
        The slice's pixel values and geometry.
    click
        ``(row, column)`` of the click.
    name
        How messages name the click (e.g. ``"seeds.json: seed 2 (L2)"``).
    marrow
        The typical marrow signal (from the other bodies); None takes the click's own.
    taken
        Bodies already found from other clicks (to tell two bodies apart when a
        click lies in the middle of a disc).
    pitch
        Distance (mm) between the centres of neighbouring bodies, when known
        (from the other bodies): the body's inner height is sought within
        :data:`HEIGHT_TO_PITCH` of it.

    Returns
    -------
    body, note
        The body and its ellipse, and a sentence when the click was moved.

    Raises
    ------
    BodyNotFoundError
        When no body can be found from the click, saying what to try.
    """
    sl = _Slice(image, geometry)
    fit = _fit(sl, np.asarray(click, dtype=float), name, marrow, taken, pitch)
    assert fit is not None
    return fit


def _fit(sl: _Slice, click: np.ndarray, name: str, marrow: float | None,
         taken: Sequence[BodyFit], pitch: float | None = None, move: bool = True,
         spine: np.ndarray | None = None, other_slice: str = _OTHER_SLICE
         ) -> tuple[BodyFit, str | None] | None:
    """Fit the body around ``click``, moving the click when it is not in marrow.

    With ``move`` False, a click that would have to be moved gives None. A click
    whose move leads only into bodies already found from other clicks (``taken``)
    stays in the body found around it, when it lies inside that body.
    """
    here = sl.local_median(click, 1.5)
    # air or background is wide; a thin dark structure inside a body (a flow void of the
    # basivertebral vein, a cleft) is not, and is dealt with as a dark click below
    if not (here >= AIR_FRACTION * sl.bright
            or sl.local_median(click, AIR_RADIUS_MM) >= AIR_FRACTION * sl.bright):
        raise BodyNotFoundError(
            f"{name}: the click at [{click[0]:.1f}, {click[1]:.1f}] (row, column) is not inside "
            f"a vertebral body but in air or background (signal {here:.4g}, under a tenth of the "
            f"slice's bright tissue); click inside the body or {other_slice}")
    m = marrow if marrow is not None and marrow > 0 else sl.local_median(click, 3.0)
    frame: _Frame | None = None
    no_border: _NoBorderError | None = None
    dark = here < DARK_FRACTION * m
    try:
        # a dark click may still lie well inside a body (the basivertebral vein,
        # a dark island): find the body with the typical marrow level, and keep
        # it only if the click is at least _INSIDE_MM inside its endplates; so may a
        # click on a bright focal lesion (brighter than a ray may pass)
        frame = _find_frame(sl, click, name, m if dark or here > BRIGHT_FRACTION * m else None,
                            pitch, spine)
    except _NoBorderError as err:
        # a click with the marrow's signal and no border around it: a body whose borders
        # are not seen (a dark or bright click is elsewhere: the canal, a disc, fat)
        if not dark and here <= BRIGHT_FRACTION * m:
            no_border = err
    except BodyNotFoundError:
        frame = None
    around = frame
    if frame is not None and not _is_body(frame):
        frame = None
    if frame is not None and dark and not _well_inside(sl, frame, click):
        frame = None
    if frame is not None:
        return _ellipse(sl, frame, click, 0.0, name), None
    if not move:
        return None
    where = f"the click at [{click[0]:.1f}, {click[1]:.1f}] (row, column)"
    try:
        frame, _, note = _move(sl, click, name, m, taken, pitch, spine, other_slice)
    except _OnlyTakenError:
        if no_border is not None:
            # marrow at the click and no border around it: the borders are what was not seen
            raise BodyNotFoundError(
                f"{name}: no {no_border.missing} of a vertebral body was found within "
                f"{_REACH:.0f} mm of {where}, and the bodies above and below it are other "
                "clicks' (at this resolution the endplates may be too faint, or the discs as "
                f"bright as the marrow); click nearer the middle of the body, {other_slice}, "
                "or draw the ROIs in a ROI file") from None
        if around is None or not _inside(sl, around, click):
            raise BodyNotFoundError(
                f"{name}: {where} is not inside a vertebral body, and the bodies above and "
                "below it are other clicks'; click inside the body") from None
        return _ellipse(sl, around, click, 0.0, name), None
    except _NoneNearError:
        if no_border is None:
            raise
        raise BodyNotFoundError(
            f"{name}: no {no_border.missing} of a vertebral body was found within "
            f"{_REACH:.0f} mm of {where}, nor a body above or below it; click inside the "
            f"body, or {other_slice}") from None
    moved = float(np.hypot(*((frame.centre - click) * np.array(sl.spacing))))
    return _ellipse(sl, frame, click, moved, name), note


# --------------------------------------------------------------------------- propose
def _pitch(series: SeriesInfo, points: Sequence[tuple[str, int, Sequence[float]]],
           levels: Sequence[str]) -> float | None:
    """Mean distance (mm) between neighbouring body centres, from the first and last level.

    ``points`` are ``(level, slice index, (row, column))``: the centres of the bodies
    found, or clicks. The points of the first and last of ``levels`` given (on the
    same slice) are divided by the number of levels between them. None with fewer
    than two.
    """
    order = sorted((levels.index(lv), idx, rc) for lv, idx, rc in points)
    if len(order) < 2 or order[0][1] != order[-1][1] or order[-1][0] == order[0][0]:
        return None
    (i0, idx, p0), (i1, _, p1) = order[0], order[-1]
    sr, sc = (float(v) for v in series.slices[idx].geometry.spacing[:2])
    dist = math.hypot((p1[0] - p0[0]) * sr, (p1[1] - p0[1]) * sc)
    return dist / (i1 - i0)


def _spine(series: SeriesInfo, points: Mapping[str, tuple[int, Sequence[float]]],
           level: str, levels: Sequence[str]) -> np.ndarray | None:
    """Return the unit ``(d_row, d_col)`` (mm) of the spine through the points beside ``level``'s.

    ``points`` maps a level to ``(slice index, (row, column))``: the centre of its
    body when found, else its click. The line runs from the nearest level above to
    the nearest below on the same slice (``level``'s own point standing in for a
    missing one); None without two.
    """
    if level not in levels or level not in points:
        return None
    idx = points[level][0]
    same = [lv for lv in levels if lv in points and points[lv][0] == idx]
    i = same.index(level)
    ends = same[max(i - 1, 0)], same[min(i + 1, len(same) - 1)]
    if ends[0] == ends[1]:
        return None
    sr, sc = (float(v) for v in series.slices[idx].geometry.spacing[:2])
    p0, p1 = points[ends[0]][1], points[ends[1]][1]
    d = np.array([(float(p1[0]) - float(p0[0])) * sr, (float(p1[1]) - float(p0[1])) * sc])
    n = float(np.hypot(*d))
    return d / n if n > 0 else None


def _gaps(series: SeriesInfo, points: Sequence[tuple[str, int, Sequence[float]]],
          levels: Sequence[str]) -> list[tuple[str, str, float]]:
    """Distances (mm) between the centres of consecutive levels found, per level between.

    ``points`` are ``(level, slice index, (row, column))`` on one slice; returns
    ``(upper level, lower level, distance / levels apart)`` down the spine.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> series = NS(slices=[NS(geometry=NS(spacing=(1.0, 1.0)))])
    >>> _gaps(series, [("L1", 0, (0.0, 0.0)), ("L3", 0, (70.0, 0.0)), ("L4", 0, (105.0, 0.0))],
    ...       ["L1", "L2", "L3", "L4"])
    [('L1', 'L3', 35.0), ('L3', 'L4', 35.0)]
    """
    order = sorted((levels.index(lv), lv, idx, rc) for lv, idx, rc in points)
    out = []
    for (i0, l0, idx, p0), (i1, l1, _, p1) in zip(order, order[1:], strict=False):
        sr, sc = (float(v) for v in series.slices[idx].geometry.spacing[:2])
        dist = math.hypot((float(p1[0]) - float(p0[0])) * sr, (float(p1[1]) - float(p0[1])) * sc)
        out.append((l0, l1, dist / (i1 - i0)))
    return out


def _even_pitch(series: SeriesInfo, placed: Mapping[str, Any], fits: Mapping[str, BodyFit],
                level: str, levels: Sequence[str]) -> float | None:
    """Return the pitch of the other bodies found on ``level``'s slice, when evenly spaced.

    At least two other bodies (:func:`_pitch`); None when their spacing per level
    differs by more than :data:`EVEN_SPACING` between neighbours (a level
    skipped or repeated in the labels: the pitch is then not known).
    """
    idx = placed[level][1]
    others = [(lv, idx, fits[lv].centre) for lv in levels
              if lv != level and lv in fits and placed[lv][1] == idx]
    if len(others) < 2:
        return None
    gaps = [g for _, _, g in _gaps(series, others, levels)]
    if min(gaps) <= 0 or max(gaps) > EVEN_SPACING * min(gaps):
        return None
    return _pitch(series, others, levels)


def _uneven_levels(series: SeriesInfo, placed: Mapping[str, Any],
                   fits: Mapping[str, BodyFit], levels: Sequence[str]) -> str | None:
    """Say where the bodies found are spaced unevenly for their labels, or return None.

    On each slice, the distance between consecutive levels found (per level
    between them) is compared with the shortest: beyond :data:`UNEVEN_SPACING`
    times it, a level was skipped (or clicked twice) in the labels.
    """
    by_slice: dict[int, list[tuple[str, int, Sequence[float]]]] = {}
    for lv in levels:
        if lv in fits:
            by_slice.setdefault(placed[lv][1], []).append((lv, placed[lv][1], fits[lv].centre))
    for points in by_slice.values():
        gaps = _gaps(series, points, levels)
        if len(gaps) < 2:
            continue
        short = min(gaps, key=lambda g: g[2])
        long = max(gaps, key=lambda g: g[2])
        if short[2] > 0 and long[2] > UNEVEN_SPACING * short[2]:
            return (f"the bodies found for {long[0]} and {long[1]} are {long[2]:.1f} mm apart "
                    f"per level, {long[2] / short[2]:.1f} times the {short[2]:.1f} mm from "
                    f"{short[0]} to {short[1]}: a level may be skipped or clicked twice in "
                    "the labels; check them on the QC figure")
    return None


def _off_spine(series: SeriesInfo, placed: Mapping[str, Any], fits: Mapping[str, BodyFit],
               levels: Sequence[str]) -> tuple[str, str] | None:
    """Find a body found off the line of the others; return its level and why, or None.

    On each slice with three or more bodies found, the straight line is fitted
    (least squares) through the centres of all bodies but one, for each one in
    turn; the body whose leaving out lets the others lie nearest their line
    (the least RMS distance; with three bodies, the furthest of the three from
    the line through the other two) is off the spine when its centre lies
    beyond :data:`OFF_SPINE_FRACTION` of the others' median depth from that
    line (the posterior elements, a spinous process: 30 mm or more behind the
    bodies; lordosis keeps a body within 0.3 of it on the realistic phantoms).
    """
    by_slice: dict[int, list[str]] = {}
    for lv in levels:
        if lv in fits:
            by_slice.setdefault(placed[lv][1], []).append(lv)
    worst: tuple[float, str, str] | None = None
    for idx, names in by_slice.items():
        if len(names) < 3:
            continue
        sp = np.array([float(v) for v in series.slices[idx].geometry.spacing[:2]])
        mm = {lv: np.asarray(fits[lv].centre, dtype=float) * sp for lv in names}

        def cross(rel: np.ndarray, axis: np.ndarray) -> np.ndarray:
            return np.abs(rel[..., 0] * axis[1] - rel[..., 1] * axis[0])

        fitted = []
        for lv in names:
            others = [n for n in names if n != lv]
            pts = np.array([mm[n] for n in others])
            mid = pts.mean(axis=0)
            axis = np.linalg.svd(pts - mid)[2][0]
            spread = float(np.sqrt(np.mean(cross(pts - mid, axis) ** 2)))
            off = float(cross(mm[lv] - mid, axis))
            fitted.append((round(spread, 3), -off, lv, others, mid))
        _, neg_off, lv, others, mid = min(fitted)
        off = -neg_off
        depth = float(np.median([fits[n].depth_mm for n in others]))
        if depth > 0 and off > OFF_SPINE_FRACTION * depth and (
                worst is None or off / depth > worst[0]):
            ap = np.mean([np.asarray(fits[n].ap, dtype=float) for n in others], axis=0)
            side = "behind" if float((mm[lv] - mid) @ ap) > 0 else "in front of"
            worst = (off / depth, lv,
                     f"lies {off:.1f} mm {side} the line through the centres of "
                     f"{', '.join(others)} found on its slice, more than "
                     f"{OFF_SPINE_FRACTION:g} of their depth ({depth:.1f} mm): it is not "
                     "that level's vertebral body (the posterior elements, or outside the "
                     "spine)")
    return None if worst is None else (worst[1], worst[2])


def _low_body(series: SeriesInfo, placed: Mapping[str, Any], fits: Mapping[str, BodyFit],
              level: str, levels: Sequence[str]) -> str | None:
    """Say why the body found at ``level`` is low for its spine, or return None.

    The pitch is that of the other bodies found on its slice, when their spacing
    is even (:func:`_even_pitch`); the body is low when its inner height is
    under :data:`LOW_BODY_FRACTION` of it.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> geo = NS(geometry=NS(spacing=(1.0, 1.0)))
    >>> series = NS(slices=[geo])
    >>> placed = {lv: (None, 0, (40.0 * i, 50.0)) for i, lv in enumerate(["L1", "L2", "L3"])}
    >>> fits = {lv: NS(centre=placed[lv][2], height_mm=h)
    ...         for lv, h in (("L1", 25.0), ("L2", 12.0), ("L3", 25.0))}
    >>> _low_body(series, placed, fits, "L2", ["L1", "L2", "L3"])[:38]
    'body found 12.0 mm high, under 0.4 of '
    >>> _low_body(series, placed, fits, "L1", ["L1", "L2", "L3"]) is None
    True
    """
    pitch = _even_pitch(series, placed, fits, level, levels)
    height = float(fits[level].height_mm)
    if pitch is None or height >= LOW_BODY_FRACTION * pitch:
        return None
    return (f"body found {height:.1f} mm high, under {LOW_BODY_FRACTION:g} of the {pitch:.1f} mm "
            "between the centres of the other bodies found: a disc or an endplate zone taken "
            "for the body, or a crushed body (exclude a fractured level); check the QC figure")


def _relocated(series: SeriesInfo, placed: Mapping[str, Any], fits: Mapping[str, BodyFit],
               level: str, levels: Sequence[str], sl: _Slice, name: str
               ) -> tuple[BodyFit, str] | None:
    """Find again a body found low for its spine, as a moved click is; None to keep it.

    When the body at ``level`` is lower than :data:`LOW_BODY_FRACTION` of the pitch
    of the other bodies found on its slice (:func:`_low_body`), its click is moved
    as a click in a disc is (:func:`_move`, with those bodies' marrow and pitch).
    The body so found is taken when it is not low and lies nearer to where the
    level lies: one pitch per level from the nearest other body, along the line
    between them. A crushed body lies there and stays; a disc between two bodies
    lies half a pitch off.
    """
    idx = placed[level][1]
    others = {lv: fits[lv] for lv in levels
              if lv != level and lv in fits and placed[lv][1] == idx}
    pitch = _even_pitch(series, placed, fits, level, levels)
    here = fits[level]
    if pitch is None or here.height_mm >= LOW_BODY_FRACTION * pitch:
        return None
    sp = np.array(sl.spacing)

    def off(centre: Sequence[float] | np.ndarray) -> float:
        # the distance from one pitch per level to the nearest other body
        gaps = [(math.dist(np.asarray(centre) * sp, np.asarray(f.centre) * sp),
                 abs(levels.index(lv) - levels.index(level))) for lv, f in others.items()]
        dist, n = min(gaps)
        return abs(dist - n * pitch)

    click = np.asarray(placed[level][2], dtype=float)
    m = float(np.median([f.marrow for f in others.values()]))
    points = {lv: (idx, f.centre) for lv, f in others.items()} | {level: (idx, here.centre)}
    try:
        frame, _, _ = _move(sl, click, name, m, list(others.values()), pitch,
                            _spine(series, points, level, levels))
    except BodyNotFoundError:
        return None
    if 2.0 * frame.half_h < LOW_BODY_FRACTION * pitch or off(frame.centre) >= off(here.centre):
        return None
    moved = float(np.hypot(*((frame.centre - click) * sp)))
    note = (f"{name}: the body found around the click at [{click[0]:.1f}, {click[1]:.1f}] "
            f"(row, column) was {here.height_mm:.1f} mm high, under {LOW_BODY_FRACTION:g} of "
            f"the {pitch:.1f} mm between the other bodies (a disc or an endplate zone); the "
            f"body {moved:.1f} mm from the click, one pitch from its neighbours, is taken")
    return _ellipse(sl, frame, click, moved, name), note


def propose(series: SeriesInfo, seeds: Any, *,
            slice: SliceLike | None = None,
            protocol: str | Protocol = "lumbar", grow_csf: Any = None,
            find_csf: bool = True, exclude: Iterable[str] = ()) -> Proposal:
    """One click per level -> the ellipses a reader would draw (see the module docstring).

    Parameters
    ----------
    series
        The chosen :class:`~vbq.dicom.series.SeriesInfo`.
    seeds
        A ``vbq-seeds/1`` document (path or mapping) or a
        :class:`~vbq.roi.seeds.SeedFile`: vertebra seeds and an optional CSF seed.
    slice
        Overrides the file's slice for pixel-space seeds without their own.
    protocol
        A protocol name or object (levels and the CSF level with its fallbacks).
    grow_csf
        ``f(image, (row, col), spacing, limit, name) -> mask`` growing the CSF
        region from a CSF seed (default :func:`vbq.roi.growing.grow_csf`, limited to
        the CSF level's body height).
    find_csf
        Without a CSF seed, find the CSF behind the CSF level's body (default);
        False proposes no CSF ROI.
    exclude
        Levels the score will leave out (a fracture, an implant), besides the
        seed file's own ``exclude``: a body that cannot be found from such a
        level's click, or that lies off the spine, is left out with a note
        instead of refusing the proposal.

    Returns
    -------
    Proposal
        ``rois`` is a ``vbq-rois/1`` document in pixel space.

    Raises
    ------
    InputError
        A malformed seed file or a seed off the image.
    BodyNotFoundError
        A click from which no body can be found, two clicks in one body, or a
        click in the middle of a disc, with what to try.
    CsfNotFoundError
        No CSF seed and no CSF found behind the CSF level's body.
    """
    sf = seeds if isinstance(seeds, SeedFile) else SeedFile.from_json(seeds)
    levels, csf_levels = protocol_levels(protocol)
    sf.check_csf_level(csf_levels, get_protocol(protocol or "lumbar").name)
    default_index = (None if slice is None
                     else series.resolve(slice, "the slice asked for (--slice)"))
    placed = {s.label: (s, *place_seed(series, s, sf.space, default_index, sf.slice, sf.source))
              for s in sf.seeds}
    counts: dict[int, int] = {}
    for _, idx, _ in placed.values():
        counts[idx] = counts.get(idx, 0) + 1
    main = max(counts, key=lambda i: counts[i])
    slices_cache: dict[int, _Slice] = {}

    def slice_of(index: int) -> _Slice:
        if index not in slices_cache:
            slices_cache[index] = _Slice(np.asarray(series.pixels(index), dtype=float),
                                         series.slices[index].geometry)
        return slices_cache[index]

    warnings: list[VbqWarning] = []
    notes: list[str] = []
    excluded = dict(sf.exclude)
    spare = set(exclude) | set(excluded)
    wanted = list(levels) + [lvl for lvl in csf_levels if lvl not in levels]
    todo = []
    for lvl in wanted:
        if lvl not in placed:
            if lvl in levels and lvl not in excluded:
                warnings.append(LevelMissing(f"{sf.source}: no seed for {lvl}; {lvl} is excluded"))
                excluded[lvl] = "other"
            continue
        todo.append(lvl)
    unused = [lvl for lvl in placed if lvl not in wanted and lvl != CSF]
    if unused and not any(lvl in levels for lvl in placed):
        raise InputError(
            f"{sf.source}: no seed at a level of protocol "
            f"{get_protocol(protocol or 'lumbar').name} ({', '.join(levels)}); "
            f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not scored by it")
    for lvl, (seed, _, _) in placed.items():
        if lvl not in wanted and lvl != CSF:
            # a note, not a warning: a seed file may click the neighbours of the levels
            # scored (the phantom's clicks T12 and L5 for the lumbar protocol)
            notes.append(f"{sf.source}: {seed.name}: {lvl} is not a level of protocol "
                         f"{get_protocol(protocol or 'lumbar').name}; its click was not used")
    # the marrow level from the clicks of the levels scored (an excluded level's click may
    # lie on a crushed body, or anywhere)
    judged = [lvl for lvl in todo if lvl not in spare] or todo
    local = {lvl: slice_of(placed[lvl][1]).local_median(placed[lvl][2], 3.0) for lvl in judged}
    marrow = float(np.median(list(local.values()))) if local else None
    left_out: set[str] = set()
    fits: dict[str, BodyFit] = {}

    def fit(lvl: str, move: bool, m: float | None, pitch: float | None,
            spine: np.ndarray | None) -> None:
        seed, idx, rc = placed[lvl]
        # --slice moves only pixel-space seeds without a slice of their own
        fixed = seed.slice is not None or sf.space != "pixel"
        where = "its \"slice\"" if seed.slice is not None else "its point"
        other = (f"check {where} (the click lies on slice {idx}, "
                 + (f"the other clicks on slice {main})" if idx != main else "as most clicks do)")
                 if fixed else _OTHER_SLICE)
        try:
            got = _fit(slice_of(idx), np.asarray(rc, dtype=float),
                       f"{sf.source}: {seed.name}" + (f" on slice {idx}" if idx != main else ""),
                       m, [f for lv, f in fits.items() if lv != lvl and placed[lv][1] == idx],
                       pitch, move, spine, other)
        except BodyNotFoundError as err:
            if lvl not in spare:
                raise
            notes.append(f"{lvl} is excluded, and its body could not be found ({err}); it is "
                         "left out")
            left_out.add(lvl)
            return
        if got is None:
            return
        body, note = got
        if note:
            notes.append(note)
            warnings.append(SeedMoved(note))
        fits[lvl] = body

    def points() -> dict[str, tuple[int, Sequence[float]]]:
        # the centre of each body found, else its click (not an excluded level's: it may lie
        # anywhere)
        return {lv: (placed[lv][1], fits[lv].centre if lv in fits else placed[lv][2])
                for lv in todo if lv in fits or lv not in spare}

    # clicks inside their bodies first, each fitted on its own (so that moving one
    # click within its body never changes another body), then each checked against
    # the spine through its neighbours' bodies
    for lvl in todo:
        fit(lvl, False, marrow, None, None)
    found = points()
    for lvl in list(fits):
        spine = _spine(series, found, lvl, levels)
        if spine is not None and abs(float(np.asarray(fits[lvl].axis) @ spine)) < math.cos(
                math.radians(MAX_TILT_FROM_SPINE_DEG)):
            before = fits.pop(lvl)
            fit(lvl, False, marrow, None, spine)
            fits.setdefault(lvl, before)
    # a body found low for the spacing of the others (a disc as bright as the marrow
    # between two bodies, taken for one) is looked for again as a moved click is
    for lvl in [lv for lv in todo if lv in fits and lv in levels]:
        seed, idx, rc = placed[lvl]
        again = _relocated(series, placed, fits, lvl, levels, slice_of(idx),
                           f"{sf.source}: {seed.name}")
        if again is not None:
            fits[lvl], note = again
            notes.append(note)
            warnings.append(SeedMoved(note))
    # then clicks on an endplate or in a disc, which are told from their neighbours:
    # the marrow level and the pitch are those of the bodies found (the clicks' when
    # fewer than two were)
    rest = [lvl for lvl in todo if lvl not in fits and lvl not in left_out]
    if rest:
        found = points()
        body_marrow = [fits[lv].marrow for lv in fits]
        m_rest = float(np.median(body_marrow)) if len(body_marrow) >= 2 else marrow
        on_levels = [(lv, found[lv][0], found[lv][1]) for lv in todo
                     if lv in levels and lv in found]
        pitch = _pitch(series, [p for p in on_levels if p[0] in fits], levels)
        if pitch is None:
            pitch = _pitch(series, on_levels, levels)
        for lvl in rest:
            fit(lvl, True, m_rest, pitch, _spine(series, points(), lvl, levels))
    names = [lv for lv in wanted if lv in fits]
    for i, l1 in enumerate(names):
        for l2 in names[i + 1:]:
            if placed[l1][1] == placed[l2][1] and (fits[l1].mask & fits[l2].mask).any():
                raise BodyNotFoundError(
                    f"{sf.source}: the {l1} and {l2} clicks lead to the same vertebral body; "
                    f"click inside the middle of each body")
    off = _off_spine(series, placed, fits, levels)
    if off is not None and off[0] in spare:
        notes.append(f"{off[0]} is excluded, and the body found from its click {off[1]}; it "
                     "is left out")
        fits.pop(off[0])
        names.remove(off[0])
        off = None
    if off is not None:
        lvl, why = off
        c = placed[lvl][2]
        raise BodyNotFoundError(
            f"{sf.source}: {placed[lvl][0].name}: the body found from the click at "
            f"[{float(c[0]):.1f}, {float(c[1]):.1f}] (row, column) {why}; click inside the "
            "body")
    uneven = _uneven_levels(series, placed, fits, levels)
    if uneven is not None:
        warnings.append(LevelSpacingUneven(f"{sf.source}: {uneven}"))
    for lvl in names:
        low = _low_body(series, placed, fits, lvl, levels)
        if low is not None:
            warnings.append(BodyLow(f"{sf.source}: {placed[lvl][0].name}: {low}"))
    # bodies found in an order the spine does not have: labels swapped between clicks
    check_level_order({lv: float(series.slices[placed[lv][1]].geometry.pixel_to_patient(
        np.asarray(fits[lv].centre, dtype=float))[2]) for lv in names},
        f"{sf.source}: the clicks")
    notes.extend(f"{lv}: body {fits[lv].height_mm:.1f} mm high and {fits[lv].depth_mm:.1f} mm "
                 f"deep, endplates tilted {fits[lv].angle_deg:.1f} degrees"
                 + (f", {fits[lv].cut_pixels} pixels of focal structures (vein, lesions, fat) "
                    "cut out of its ellipse" if fits[lv].cut_pixels else "") for lv in names)

    rois: list[dict[str, Any]] = []
    for lvl in names:
        if lvl not in levels:
            continue
        rois.append(roi_entry(lvl, fits[lvl].ellipse_centre, fits[lvl].radii_mm,
                               fits[lvl].angle_deg, slice_of(placed[lvl][1]).spacing,
                               placed[lvl][1], main, fits[lvl].minus))
    csf = propose_csf(series, sf, placed, fits, slice_of, csf_levels, grow_csf, warnings,
                      notes, main, find_csf)
    if csf.entry is not None:
        rois.append(csf.entry)
    doc: dict[str, Any] = {"format": "vbq-rois/1", "space": "pixel", "slice": int(main),
                           "rois": rois}
    if excluded:
        doc["exclude"] = excluded
    return Proposal(rois=doc, notes=tuple(notes), warnings=tuple(str(w) for w in warnings),
                    warning_codes=tuple(w.code for w in warnings), bodies=fits,
                    csf_reference=csf.reference, midline_offset_mm=csf.midline_offset_mm,
                    midline_source=csf.midline_source,
                    warning_objects=tuple(warnings))
