"""Plausibility gates of a VBQ score: numbers a T1-weighted lumbar MRI cannot give.

Owns the checks every score goes through, whatever its source (a ROI file, a
label mask, seed points, or signal intensities read in a PACS): the one
refusal (a CSF at least as bright as the marrow) and the warnings that a
score, a ROI or a slice looks wrong. :func:`assess` runs them all; the score
(:func:`vbq.score.combine_levels`) calls it for every result.

The gates, with the limits named below:

(a) CSF signal at or above the median marrow signal (VBQ <= 1): on T1 the
    CSF is dark and marrow bright, so such a score comes from a wrong series
    (T2, post-contrast) or a CSF ROI in fat. It is refused
    (:class:`~vbq.errors.ImplausibleScoreError`) unless forced; a forced score
    carries :class:`~vbq.errors.ImplausibleScoreForced`.
(b) VBQ below :data:`VBQ_LOW` (:data:`VBQ_LOW_3T` at 3 T) or above
    :data:`VBQ_HIGH`: outside the range published for T1 VBQ (about 1.5-5.5).
(c) A CSF ROI whose coefficient of variation (sample SD / mean) exceeds
    :data:`CSF_CV_MAX`, or that is brighter than the sac's CSF sampled along
    the canal (when that reference is known) by more than
    ``max(CSF_REFERENCE_SPREADS x spread, CSF_REFERENCE_MIN_EXCESS x median)``:
    it may hold epidural fat or nerve roots.
(d) Two ROIs sharing pixels on one slice; more than :data:`ROI_OUTSIDE_BODY_MAX`
    of a vertebral ROI's pixels outside its body (when the body is known); a
    measured slice more than :data:`MIDLINE_MAX_MM` from the mid-sagittal
    plane (when that distance is known); a used level whose signal differs
    from the median of the other used levels by more than
    :data:`LEVEL_DEVIATION_MAX` of that median.

References
----------
Ehresman J, Pennington Z, Schilling A, et al. Novel MRI-based score for
assessment of bone density in operative spine patients. Spine J.
2020;20(4):556-562. doi:10.1016/j.spinee.2019.10.018 (the score; mid-sagittal
slice; CSF at L3).

Field strength and VBQ in 2400 patients without fracture (J Orthop Surg Res
2023, doi:10.1186/s13018-023-04268-5): 2.769 +/- 0.494 at 1.5 T and 2.199 +/-
0.432 at 3.0 T, so the 3 T lower limit is lower.

The fragility- and subsequent-fracture studies tabulated in J Clin Med
2025;14(18):6477 (doi:10.3390/jcm14186477) and Sci Rep 2025
(doi:10.1038/s41598-025-86721-5) report group means of 2.88-4.69: together
with the above, published T1 VBQ spans about 1.5-5.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from vbq.errors import (
    CsfRoiBrighterThanCanal,
    CsfRoiHeterogeneous,
    ImplausibleScoreError,
    ImplausibleScoreForced,
    LevelSignalOutlier,
    RoiOutsideBody,
    RoisOverlap,
    SliceOffMidline,
    VbqOutsidePublishedRange,
    VbqWarning,
)

__all__ = ["RoiEvidence", "assess", "check_csf_darker", "check_vbq_range",
           "check_level_signals", "check_csf_roi", "check_overlaps", "check_inside_bodies",
           "check_midline", "VBQ_LOW", "VBQ_LOW_3T", "VBQ_HIGH", "CSF_CV_MAX",
           "CSF_REFERENCE_SPREADS", "CSF_REFERENCE_MIN_EXCESS", "ROI_OUTSIDE_BODY_MAX",
           "MIDLINE_MAX_MM", "LEVEL_DEVIATION_MAX"]

#: A VBQ below this (at 1.5 T, or when the field strength is unknown) is warned about.
VBQ_LOW = 1.5
#: A VBQ below this at 3 T is warned about (3 T scores run lower).
VBQ_LOW_3T = 1.3
#: A VBQ above this is warned about.
VBQ_HIGH = 6.0
#: Field strength (T) from which the 3 T lower limit applies.
HIGH_FIELD_T = 2.5
#: Largest coefficient of variation (sample SD / mean) of a plausible CSF ROI.
CSF_CV_MAX = 0.25
#: A CSF ROI brighter than the canal's CSF median by more than this many spreads ...
CSF_REFERENCE_SPREADS = 2.0
#: ... and by more than this fraction of that median is warned about.
CSF_REFERENCE_MIN_EXCESS = 0.10
#: Largest fraction of a vertebral ROI's pixels that may lie outside its body.
ROI_OUTSIDE_BODY_MAX = 0.05
#: Farthest (mm) the measured slice may lie from the mid-sagittal plane.
MIDLINE_MAX_MM = 3.0
#: Largest relative difference of a level's signal from the median of the other levels.
LEVEL_DEVIATION_MAX = 0.30

_FORCE_HINT = ("force the score with --force (force=True in Python, a 'force' column in a "
               "batch manifest or values table)")


@dataclass(frozen=True)
class RoiEvidence:
    """What the ROI checks need to know of ROIs measured on an image.

    Attributes
    ----------
    masks
        Label -> boolean mask (``"CSF"`` included), each on the slice ``slices`` names.
    slices
        Label -> slice index of its mask.
    csf_mean, csf_sd
        Mean and sample SD of the CSF ROI's signal.
    csf_reference
        ``(median, spread)`` of the sac's CSF signal sampled along the canal on
        the CSF ROI's slice, or None when unknown.
    body_masks
        Level -> the whole body's mask on the slice of that level's ROI, for
        the levels where it is known.
    midline_offset_mm
        Distance of the measured slice from the mid-sagittal plane, or None
        when unknown.
    midline_source
        How that plane was found (``"bodies"``, ``"canal"``, ``"labels"``), or None.
    slice_offsets_mm
        Label -> distance from that plane of the slice of each ROI measured on
        another slice than the others.
    """

    masks: Mapping[str, np.ndarray]
    slices: Mapping[str, int]
    csf_mean: float | None = None
    csf_sd: float | None = None
    csf_reference: tuple[float, float] | None = None
    body_masks: Mapping[str, np.ndarray] = field(default_factory=dict)
    midline_offset_mm: float | None = None
    midline_source: str | None = None
    slice_offsets_mm: Mapping[str, float] = field(default_factory=dict)


def check_csf_darker(median_marrow: float, csf_si: float, *, force: bool = False
                     ) -> list[VbqWarning]:
    """Gate (a): refuse a CSF at least as bright as the median marrow, unless forced.

    Raises
    ------
    ImplausibleScoreError
        When ``csf_si >= median_marrow`` (VBQ <= 1) and not ``force``.

    Examples
    --------
    >>> check_csf_darker(400.0, 130.0)
    []
    >>> [w.code for w in check_csf_darker(120.0, 130.0, force=True)]
    ['implausible_score_forced']
    """
    if csf_si < median_marrow:
        return []
    vbq = median_marrow / csf_si
    what = (f"the CSF signal intensity ({csf_si:g}) is at or above the median marrow signal "
            f"intensity ({median_marrow:g}), so VBQ = {vbq:.3f} <= 1.0")
    if not force:
        raise ImplausibleScoreError(
            f"{what}, which a T1-weighted image cannot give (CSF is dark, marrow bright): "
            f"check that the series is T1-weighted and that the CSF ROI lies in the CSF, or "
            f"{_FORCE_HINT}")
    return [ImplausibleScoreForced(
        f"{what}, implausible on a T1-weighted image; the score is reported only because it "
        "was forced")]


def check_vbq_range(vbq: float, field_strength_t: float | None = None) -> list[VbqWarning]:
    """Gate (b): warn when the VBQ lies outside the range published for T1 VBQ.

    Examples
    --------
    >>> check_vbq_range(3.2)
    []
    >>> check_vbq_range(1.4, 3.0), [w.code for w in check_vbq_range(1.4, 1.5)]
    ([], ['vbq_outside_published_range'])
    """
    high_field = field_strength_t is not None and field_strength_t >= HIGH_FIELD_T
    low = VBQ_LOW_3T if high_field else VBQ_LOW
    if low <= vbq <= VBQ_HIGH:
        return []
    at = f" at {field_strength_t:g} T" if field_strength_t is not None else ""
    unknown = ("" if field_strength_t is not None
               else f" (field strength unknown: the 1.5 T limit {VBQ_LOW:g} applies)")
    return [VbqOutsidePublishedRange(
        f"VBQ {vbq:.2f} lies outside {low:g}-{VBQ_HIGH:g}{at}, beyond the range published for "
        f"T1 VBQ (about 1.5-5.5){unknown}: check the series weighting and the ROIs on the QC "
        "figure")]


def check_level_signals(si: Mapping[str, float]) -> list[VbqWarning]:
    """Gate (d), levels: warn for each used level far from the median of the other used levels.

    Parameters
    ----------
    si
        Level -> signal intensity of the levels used in the score (excluded
        levels left out).

    Examples
    --------
    >>> check_level_signals({"L1": 400, "L2": 410, "L3": 395, "L4": 405})
    []
    >>> [str(w).split("'")[0] for w in check_level_signals({"L1": 400, "L2": 600, "L3": 410})]
    ['L2']
    """
    out: list[VbqWarning] = []
    for level, value in si.items():
        others = [float(v) for k, v in si.items() if k != level]
        if not others:
            continue
        ref = float(np.median(others))
        if ref <= 0 or not math.isfinite(ref):
            continue
        deviation = abs(float(value) - ref) / ref
        if deviation > LEVEL_DEVIATION_MAX:
            out.append(LevelSignalOutlier(
                f"{level}'s signal intensity {float(value):g} differs by {deviation:.0%} from "
                f"the median of the other used levels ({ref:g}), more than "
                f"{LEVEL_DEVIATION_MAX:.0%}: check its ROI on the QC figure, or exclude the "
                f"level with its reason (fracture, hemangioma, ...)"))
    return out


def check_csf_roi(csf_si: float, csf_mean: float | None, csf_sd: float | None,
                  reference: tuple[float, float] | None = None) -> list[VbqWarning]:
    """Gate (c): warn for a CSF ROI too heterogeneous, or brighter than the canal's CSF.

    Parameters
    ----------
    csf_si
        The CSF signal used in the score (the ROI's mean or median).
    csf_mean, csf_sd
        Mean and sample SD of the ROI (None: the CV is not checked).
    reference
        ``(median, spread)`` of the sac's CSF sampled along the canal, or None.

    Examples
    --------
    >>> check_csf_roi(100.0, 100.0, 10.0, (98.0, 6.0))
    []
    >>> [w.code for w in check_csf_roi(160.0, 160.0, 56.0, (98.0, 6.0))]
    ['csf_roi_heterogeneous', 'csf_roi_brighter_than_canal']
    """
    out: list[VbqWarning] = []
    if (csf_mean is not None and csf_sd is not None and math.isfinite(csf_sd)
            and csf_mean > 0):
        cv = float(csf_sd) / float(csf_mean)
        if cv > CSF_CV_MAX:
            out.append(CsfRoiHeterogeneous(
                f"the CSF ROI's signal varies by {cv:.0%} (SD / mean), more than "
                f"{CSF_CV_MAX:.0%}: it may include epidural fat or nerve roots; check it on "
                "the QC figure"))
    if reference is not None:
        median, spread = (float(x) for x in reference)
        limit = median + max(CSF_REFERENCE_SPREADS * spread, CSF_REFERENCE_MIN_EXCESS * median)
        if csf_si > limit:
            out.append(CsfRoiBrighterThanCanal(
                f"the CSF ROI's signal intensity {csf_si:g} is brighter than the sac's CSF "
                f"sampled along the canal ({median:g}, spread {spread:g}; limit {limit:g}): it "
                "may include epidural fat or nerve roots; check it on the QC figure"))
    return out


def check_overlaps(masks: Mapping[str, np.ndarray], slices: Mapping[str, int]
                   ) -> list[VbqWarning]:
    """Gate (d), overlap: warn for every two ROIs that share pixels on the same slice.

    Examples
    --------
    >>> a = np.zeros((5, 5), bool); a[1:3, 1:3] = True
    >>> b = np.zeros((5, 5), bool); b[2:4, 2:4] = True
    >>> [str(w)[:37] for w in check_overlaps({"L1": a, "L2": b}, {"L1": 0, "L2": 0})]
    ['ROIs L1 and L2 share 1 pixel on slice']
    >>> check_overlaps({"L1": a, "L2": b}, {"L1": 0, "L2": 1})
    []
    """
    out: list[VbqWarning] = []
    for a, b in combinations(list(masks), 2):
        if slices.get(a) != slices.get(b):
            continue
        ma, mb = np.asarray(masks[a], dtype=bool), np.asarray(masks[b], dtype=bool)
        if ma.shape != mb.shape:
            continue
        n = int(np.count_nonzero(ma & mb))
        if n:
            out.append(RoisOverlap(
                f"ROIs {a} and {b} share {n} pixel{'s' if n != 1 else ''} on slice "
                f"{slices.get(a)}: a region may have leaked into its neighbour; check the QC "
                "figure"))
    return out


def check_inside_bodies(masks: Mapping[str, np.ndarray],
                        body_masks: Mapping[str, np.ndarray]) -> list[VbqWarning]:
    """Gate (d), containment: warn for a ROI with too many pixels outside its body.

    Examples
    --------
    >>> body = np.zeros((6, 6), bool); body[1:5, 1:5] = True
    >>> roi = np.zeros((6, 6), bool); roi[2:4, 2:6] = True
    >>> [w.code for w in check_inside_bodies({"L1": roi}, {"L1": body})]
    ['roi_outside_body']
    """
    out: list[VbqWarning] = []
    for level, body in body_masks.items():
        roi = masks.get(level)
        if roi is None:
            continue
        roi = np.asarray(roi, dtype=bool)
        body = np.asarray(body, dtype=bool)
        n = int(np.count_nonzero(roi))
        if not n or roi.shape != body.shape:
            continue
        outside = int(np.count_nonzero(roi & ~body))
        if outside > ROI_OUTSIDE_BODY_MAX * n:
            out.append(RoiOutsideBody(
                f"{outside / n:.0%} of the {level} ROI ({outside} of {n} pixels) lies outside "
                f"the {level} body (at most {ROI_OUTSIDE_BODY_MAX:.0%} may): it measures "
                "another tissue or level; check the QC figure"))
    return out


def check_midline(offset_mm: float | None, source: str | None = None,
                  others: Mapping[str, float] | None = None) -> list[VbqWarning]:
    """Gate (d), slice: warn when the slice lies too far from the mid-sagittal plane.

    ``source`` says how the plane was found (:attr:`vbq.roi.midline.Midline.source`);
    the warning names it, and when it is ``"canal"`` (the bodies could not be
    followed across the slices) says that a spine turned about its long axis
    puts the canal a few millimetres to one side of the plane through the bodies.
    ``others`` (label -> distance) are the slices of ROIs measured on another
    slice than the rest; each too far from the plane is warned about by name.

    Examples
    --------
    >>> check_midline(2.0), [w.code for w in check_midline(-4.5)]
    ([], ['slice_off_midline'])
    >>> print(check_midline(0.4, "bodies", {"L4": 4.8, "L2": -1.0})[0])  # doctest: +ELLIPSIS
    L4 is measured on another slice than the other ROIs, 4.8 mm from the mid-sagittal ... there
    """
    out: list[VbqWarning] = []
    for label, off in sorted((others or {}).items()):
        if abs(float(off)) > MIDLINE_MAX_MM:
            out.append(SliceOffMidline(
                f"{label} is measured on another slice than the other ROIs, "
                f"{abs(float(off)):.1f} mm from the mid-sagittal plane{_found(source)} (more "
                f"than {MIDLINE_MAX_MM:g} mm); VBQ is defined on the mid-sagittal slice: "
                f"measure {label} there"))
    if offset_mm is None or abs(float(offset_mm)) <= MIDLINE_MAX_MM:
        return out
    return [SliceOffMidline(
        f"the measured slice lies {abs(float(offset_mm)):.1f} mm from the mid-sagittal plane"
        f"{_found(source)} (more than {MIDLINE_MAX_MM:g} mm); VBQ is defined on the "
        "mid-sagittal slice: choose it with --slice"), *out]


def _found(source: str | None) -> str:
    """How the mid-sagittal plane was found, as the midline warnings say it."""
    return {"bodies": " found through the vertebral bodies",
            "labels": " found from the mask's labels",
            "canal": " found at the canal (the vertebral bodies could not be followed "
                     "across the slices, and a spine turned about its long axis puts the "
                     "canal a few millimetres to one side of the plane through the bodies: "
                     "check the slice on the QC figure)"}.get(source or "", "")


def assess(vbq: float, level_si: Mapping[str, float], csf_si: float, *,
           median_si: float | None = None, field_strength_t: float | None = None,
           force: bool = False, roi: RoiEvidence | None = None) -> list[VbqWarning]:
    """Run every plausibility gate on a score; return the warnings, in gate order.

    Parameters
    ----------
    vbq
        The score, ``median(level_si) / csf_si``.
    level_si
        Level -> signal intensity of the levels used.
    csf_si
        The CSF signal intensity.
    median_si
        The median of ``level_si`` as the score computed it (default: computed here).
    field_strength_t
        Field strength of the acquisition (None: unknown, the 1.5 T limits apply).
    force
        Score even when the CSF is at least as bright as the marrow.
    roi
        The ROIs, when measured on an image (None for values read in a PACS).

    Raises
    ------
    ImplausibleScoreError
        Gate (a), when not forced.

    Examples
    --------
    >>> assess(3.04, {"L1": 410, "L2": 395, "L3": 402, "L4": 388}, 131.0)
    []
    """
    median = (float(np.median([float(v) for v in level_si.values()])) if median_si is None
              else float(median_si))
    out = check_csf_darker(median, float(csf_si), force=force)
    out += check_vbq_range(vbq, field_strength_t)
    out += check_level_signals(level_si)
    if roi is not None:
        out += check_csf_roi(float(csf_si), roi.csf_mean, roi.csf_sd, roi.csf_reference)
        out += check_overlaps(roi.masks, roi.slices)
        out += check_inside_bodies(roi.masks, roi.body_masks)
        out += check_midline(roi.midline_offset_mm, roi.midline_source, roi.slice_offsets_mm)
    return out
