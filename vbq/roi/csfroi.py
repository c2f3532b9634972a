"""The CSF ROI of a click proposal: :func:`propose_csf`.

Owns the CSF part of :func:`vbq.roi.proposal.propose`: the sac traced along the
canal (its CSF reference and the slice's distance from the mid-sagittal plane),
and the CSF ROI: a rectangle turned along the traced sac between the CSF
level's endplates (:func:`vbq.roi.canal.place_csf`), at the CSF seed's level
when a CSF seed lies in that sac; a CSF seed outside it wins, and the ROI is
then the largest ellipse inside the region grown from the seed.

References
----------
Ehresman J, et al. Novel MRI-based score for assessment of bone density in
operative spine patients. Spine J. 2020;20(4):556-562.
doi:10.1016/j.spinee.2019.10.018 (CSF ROI in the thecal sac at L3 on the
mid-sagittal T1 slice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vbq.dicom.series import SeriesInfo
from vbq.errors import AnalysisError, CsfFromImage, CsfLevelAssumed, CsfNotFoundError, VbqWarning
from vbq.levels import CSF
from vbq.roi.anatomy import cc_band
from vbq.roi.roimasks import MIN_ROI_PIXELS
from vbq.roi.shapes import ellipse_mask

__all__ = ["CsfProposal", "propose_csf", "roi_entry"]


def _deepest(mask: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    """Return the first pixel (in row order) of ``mask`` farthest (mm) from any pixel outside it.

    The image's border counts as outside. The distance map is made of the
    region's bounding box with a ring of outside pixels only: moving an outside
    pixel onto that ring (clipping its row and column into the ring's) shortens
    both its row and its column distance to any pixel in the box, so the
    nearest outside pixel of every inside one is on the ring or nearer, and the
    map equals the whole image's inside the box (zero outside it).
    """
    from scipy import ndimage

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    edt = ndimage.distance_transform_edt(np.pad(box, 1), sampling=spacing)[1:-1, 1:-1]
    rb, cb = np.unravel_index(int(np.argmax(edt)), edt.shape)
    return float(rows[0] + rb), float(cols[0] + cb)


def _inscribed(mask: np.ndarray, angle_deg: float, spacing: tuple[float, float]
               ) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Largest turned ellipse inside ``mask``: centre (pixels) and semi-axes (mm, row first)."""
    if mask.sum() < 4:
        return None
    r0, c0 = _deepest(mask, spacing)
    t = math.radians(angle_deg)
    er = np.array([math.cos(t), math.sin(t)])        # the turned row axis (mm components)
    ec = np.array([-math.sin(t), math.cos(t)])
    s = np.arange(0.0, 40.0, 0.25)

    def reach(r0: float, c0: float) -> list[float]:
        """Distance (mm) to the region's edge from (r0, c0) along +-row and +-column axes."""
        lens = []
        for d in (er, -er, ec, -ec):
            r = r0 + s * d[0] / spacing[0]
            c = c0 + s * d[1] / spacing[1]
            ok = (r >= 0) & (r <= mask.shape[0] - 1) & (c >= 0) & (c <= mask.shape[1] - 1)
            inside = ok & mask[np.clip(np.round(r).astype(int), 0, mask.shape[0] - 1),
                               np.clip(np.round(c).astype(int), 0, mask.shape[1] - 1)]
            out = np.flatnonzero(~inside)
            lens.append(float(s[out[0]]) if out.size else float(s[-1]))
        return lens

    # the distance map's first maximum may sit at one end of a long, narrow region
    # (a thin sac): move the centre to the middle of its reach along both axes
    lens = reach(r0, c0)
    for _ in range(3):
        shift = 0.5 * (lens[0] - lens[1]) * er + 0.5 * (lens[2] - lens[3]) * ec
        r1, c1 = r0 + shift[0] / spacing[0], c0 + shift[1] / spacing[1]
        ri, ci = int(round(r1)), int(round(c1))
        if not (0 <= ri < mask.shape[0] and 0 <= ci < mask.shape[1] and mask[ri, ci]):
            break
        new = reach(r1, c1)
        if (min(new[0], new[1]) * min(new[2], new[3])
                < min(lens[0], lens[1]) * min(lens[2], lens[3])):
            break
        r0, c0, lens = r1, c1, new
    ry0, rx0 = max(min(lens[0], lens[1]), 0.5), max(min(lens[2], lens[3]), 0.5)
    best = None
    lo, hi = 0.05, 1.2
    outside = ~mask
    for _ in range(20):
        f = 0.5 * (lo + hi)
        m = ellipse_mask(mask.shape, (r0, c0), (f * ry0, f * rx0), angle_deg, spacing)
        if m.any() and not (m & outside).any():
            best, lo = ((r0, c0), (f * ry0, f * rx0)), f
        else:
            hi = f
    return best


def roi_entry(label: str, centre: Sequence[float], radii_mm: Sequence[float], angle: float,
               spacing: tuple[float, float], index: int, main: int,
               minus: Sequence[np.ndarray] = ()) -> dict[str, Any]:
    """One ``vbq-rois/1`` ellipse in pixels (square-pixel units: mm over the mean spacing).

    ``minus``: polygons (``[row, column]`` vertices) cut out of it.
    """
    px = 0.5 * (spacing[0] + spacing[1])
    entry: dict[str, Any] = {
        "label": label, "shape": "ellipse",
        "center": [round(float(centre[0]), 4), round(float(centre[1]), 4)],
        "radii": [round(float(radii_mm[0]) / px, 4), round(float(radii_mm[1]) / px, 4)],
        "angle_deg": round(float(angle), 3)}
    if index != main:
        entry["slice"] = int(index)
    if len(minus):
        entry["minus"] = [{"shape": "polygon", "points": [[float(r), float(c)] for r, c in ring]}
                          for ring in minus]
    return entry


@dataclass(frozen=True)
class CsfProposal:
    """The CSF ROI of a proposal (``entry``, a ``vbq-rois/1`` ROI) and what was found with it."""

    level: str | None = None
    index: int | None = None
    mask: np.ndarray | None = None
    entry: dict[str, Any] | None = None
    reference: tuple[float, float] | None = None
    midline_offset_mm: float | None = None
    midline_source: str | None = None


def _not_in_body(source: str, name: str, rc: Sequence[float],
                 bodies: Mapping[str, Any]) -> None:
    """Refuse a CSF click inside a vertebral body found on its slice.

    ``bodies``: level -> the :class:`vbq.roi.proposal.BodyFit` found there. A click
    in marrow elsewhere (an unclicked body) grows a CSF ROI as bright as marrow,
    which the plausibility gates refuse (VBQ <= 1) or warn about, as for any CSF
    ROI; a brightness rule here would also refuse true CSF at a low VBQ.
    """
    r, c = int(round(float(rc[0]))), int(round(float(rc[1])))
    where = f"the CSF click {name} at [{float(rc[0]):.1f}, {float(rc[1]):.1f}] (row, column)"
    for lvl, fit in bodies.items():
        region = getattr(fit, "region", None)
        if (region is not None and 0 <= r < region.shape[0] and 0 <= c < region.shape[1]
                and region[r, c]):
            raise CsfNotFoundError(f"{source}: {where} lies inside the {lvl} vertebral body, "
                                   "not in the CSF; click in the thecal sac behind the bodies")


def _place_csf(series: SeriesInfo, sf: Any, placed: Mapping[str, Any],
               fits: Mapping[str, Any], slice_of: Any, csf_levels: Sequence[str],
               grow_csf: Any, warnings: list[VbqWarning], notes: list[str], main: int,
               find_csf: bool = True) -> CsfProposal:
    """Place the CSF ROI: grown from a CSF seed, else in the sac traced along the canal.

    The sac is traced (:func:`vbq.roi.canal.trace_canal`) on the slice of the
    CSF level's click through the body centres found there; its CSF sampled
    along the canal is the proposal's ``csf_reference`` and the sac on every
    slice gives ``midline_offset_mm`` of the main slice, with or without a
    CSF seed. The ROI is :func:`vbq.roi.canal.place_csf`'s rectangle in the
    sac between the CSF level's endplates: at the CSF seed's level when the
    seed lies in the traced sac, else (no seed) at the CSF level or its
    fallbacks. A CSF seed outside the traced sac wins over the trace: the ROI
    is then the largest ellipse inside the region grown from the seed.
    """
    from vbq.roi.canal import place_csf
    from vbq.roi.midline import summarise_canal

    by_slice: dict[int, dict[str, tuple[float, float]]] = {}
    for lvl, fit in fits.items():
        by_slice.setdefault(int(placed[lvl][1]), {})[lvl] = fit.centre
    at = next((lvl for lvl in csf_levels if lvl in fits), None)
    canal_idx = int(placed[at][1]) if at is not None else int(main)
    if CSF in placed and by_slice.get(int(placed[CSF][1])):
        # the sac is traced through the bodies clicked on the CSF seed's slice; a seed on a
        # slice without bodies is checked against the sac traced on the bodies' slice
        canal_idx = int(placed[CSF][1])
    centres = by_slice.get(canal_idx, {})
    summary = summarise_canal(series, canal_idx, centres, main, image=slice_of(canal_idx).image)
    if summary.reason:
        notes.append(f"the sac along the canal: {summary.reason}")
    found = CsfProposal(reference=summary.reference, midline_offset_mm=summary.midline_offset_mm,
                        midline_source=None if summary.midline is None
                        else summary.midline.source)
    if CSF in placed:
        seed, idx, rc = placed[CSF]
        csf_level = seed.level
        if csf_level is None:
            csf_level = _level_beside(rc, int(idx), placed, fits, csf_levels, slice_of)
            if csf_level is not None:
                notes.append(f"{sf.source}: the CSF seed lies beside the {csf_level} body "
                             "found on its slice, its level")
        if csf_level is None and csf_levels:
            csf_level = csf_levels[0]
            warnings.append(CsfLevelAssumed(
                f"{sf.source}: the CSF seed does not name its level and lies beside none of "
                f"the bodies of {', '.join(csf_levels)} found on its slice; assumed {csf_level}"))
        sl = slice_of(idx)
        if int(idx) == canal_idx:
            spot, why = _seeded(summary.track, sl, centres, csf_level, rc, fits)
        else:
            spot, why = None, (f"it lies on slice {int(idx)}, not on slice {canal_idx} where "
                               "the sac was traced through the bodies")
        if spot is not None:
            notes.append(f"{sf.source}: {seed.name} lies in the sac traced along the canal; "
                         f"{spot.note}")
            entry = spot.shape(sl.spacing)
            if idx != main:
                entry["slice"] = int(idx)
            return CsfProposal(spot.level, idx, spot.mask, entry, found.reference,
                               found.midline_offset_mm, found.midline_source)
        _not_in_body(sf.source, seed.name, rc, {lv: f for lv, f in fits.items()
                                               if int(placed[lv][1]) == int(idx)})
        notes.append(f"{sf.source}: the CSF ROI is the largest ellipse in the region grown "
                     f"from {seed.name} ({why})")
        limit = None
        if csf_level is not None and csf_level in fits and placed[csf_level][1] == idx:
            limit = cc_band(fits[csf_level].region, sl.geometry)
        if grow_csf is None:
            from vbq.roi.growing import grow_csf as grower
        else:
            grower = grow_csf
        region = grower(sl.image, rc, sl.spacing, limit, f"{sf.source}: {seed.name}")
        return CsfProposal(csf_level, idx, np.asarray(region, dtype=bool), None,
                         found.reference, found.midline_offset_mm, found.midline_source)
    if not find_csf:
        return found
    sl = slice_of(canal_idx)
    try:
        spot = place_csf(sl.image, sl.geometry, centres, csf_levels, track=summary.track,
                         bodies=fits)
    except AnalysisError as err:
        raise CsfNotFoundError(f"{sf.source}: no CSF seed, and {err}") from None
    warnings.append(CsfFromImage(spot.note))
    entry = spot.shape(sl.spacing)
    if canal_idx != main:
        entry["slice"] = int(canal_idx)
    return CsfProposal(spot.level, canal_idx, spot.mask, entry, spot.reference,
                     found.midline_offset_mm, found.midline_source)


def _level_beside(rc: Sequence[float], idx: int, placed: Mapping[str, Any],
                  fits: Mapping[str, Any], csf_levels: Sequence[str], slice_of: Any
                  ) -> str | None:
    """Return the CSF level (of ``csf_levels``) whose body, found on slice ``idx``, spans ``rc``.

    "Spans": the point lies between the planes of the body's cranial and caudal
    ends (:func:`vbq.roi.anatomy.cc_band`), as a CSF point given with a label
    mask is named.
    """
    r, c = int(round(float(rc[0]))), int(round(float(rc[1])))
    for lvl in csf_levels:
        if lvl in fits and int(placed[lvl][1]) == idx:
            band = cc_band(fits[lvl].region, slice_of(idx).geometry)
            if 0 <= r < band.shape[0] and 0 <= c < band.shape[1] and band[r, c]:
                return lvl
    return None


def _seeded(track: Any, sl: Any, centres: Mapping[str, Sequence[float]], level: str | None,
            rc: Sequence[float], fits: Mapping[str, Any]) -> tuple[Any, str]:
    """Place the CSF ROI in the traced sac at a CSF seed's level, when the seed lies in that sac.

    Returns the :class:`vbq.roi.canal.CsfPlacement` (or None) and, when None,
    why the sac traced was not used: the seed picks the sac and the level, so
    a seed outside the traced sac (by more than 1 mm) wins over the trace.
    """
    from vbq.roi.canal import place_csf

    if track is None or level is None:
        return None, "the sac was not traced on its slice"
    if level not in track.level_arc:
        return None, f"the sac was not traced beside {level}"
    p = np.array([float(rc[0]) * track.spacing[0], float(rc[1]) * track.spacing[1]])
    i = int(np.argmin(np.hypot(*(track.points - p).T)))
    depth = float((p - track.points[i]) @ track.normals[i])
    if not (track.found[i] and track.front_mm[i] - 1.0 <= depth <= track.back_mm[i] + 1.0):
        return None, "it lies outside the sac traced along the canal"
    try:
        spot = place_csf(sl.image, sl.geometry, centres, [level], track=track, bodies=fits)
    except AnalysisError as err:
        return None, str(err)
    return spot, ""


def propose_csf(series: SeriesInfo, sf: Any, placed: Mapping[str, Any],
                fits: Mapping[str, Any], slice_of: Any, csf_levels: Sequence[str],
                grow_csf: Any, warnings: list[VbqWarning], notes: list[str], main: int,
                find_csf: bool = True) -> CsfProposal:
    """Place the CSF ROI of a proposal and write it as a ``vbq-rois/1`` entry.

    ``placed`` maps labels to ``(seed, slice index, (row, col))``, ``fits`` levels
    to the bodies found (:class:`vbq.roi.proposal.BodyFit`), ``slice_of`` slice
    indices to the proposal's slice views; warnings and notes are appended to.

    Raises
    ------
    CsfNotFoundError
        No CSF could be placed, or the region grown from the CSF seed is too
        small for a ROI, with what to try.
    """
    csf = _place_csf(series, sf, placed, fits, slice_of, csf_levels, grow_csf, warnings,
                     notes, main, find_csf)
    csf_level, csf_idx, csf_mask = csf.level, csf.index, csf.mask
    if csf.entry is not None or csf_mask is None or csf_level is None or csf_idx is None:
        return csf
    sl = slice_of(csf_idx)
    angle = fits[csf_level].angle_deg if csf_level in fits else 0.0
    ell = _inscribed(csf_mask, angle, sl.spacing)
    if ell is None or ellipse_mask(sl.image.shape, ell[0], ell[1], angle,
                                   sl.spacing).sum() < MIN_ROI_PIXELS // 2:
        raise CsfNotFoundError(f"{sf.source}: the CSF region found at {csf_level} is too "
                               "small for a CSF ROI; give a CSF seed in the canal")
    entry = roi_entry(CSF, ell[0], ell[1], angle, sl.spacing, csf_idx, main)
    entry["level"] = csf_level
    return CsfProposal(csf_level, csf_idx, csf_mask, entry, csf.reference,
                       csf.midline_offset_mm, csf.midline_source)
