"""The VBQ score: from ROI masks on a series, or from signal intensities read in a PACS.

Owns the arithmetic of the score (exclusions, the median, the CSF quotient) and
the two ways into it: :func:`score_series` (a DICOM folder and a ROI source,
through :mod:`vbq.dicom` and :mod:`vbq.roi`) and :func:`score_values` (numbers
read in a PACS). Every check that does not pass is a coded warning on the
:class:`~vbq.result.VBQResult` (:class:`vbq.errors.VbqWarning`).

``VBQ = median(SI of the protocol's levels left after exclusions) / SI(CSF)``

References
----------
Ehresman J, Pennington Z, Schilling A, et al. Novel MRI-based score for
assessment of bone density in operative spine patients. Spine J.
2020;20(4):556-562. doi:10.1016/j.spinee.2019.10.018
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vbq.cutoffs import compare_cutoffs, field_strength_rule, is_field_strength
from vbq.dicom.choice import load_series
from vbq.dicom.series import SeriesInfo
from vbq.dicom.sliceref import SliceLike, SliceRef
from vbq.errors import (
    AnalysisError,
    BodyNotFoundError,
    CsfFallback,
    CsfLevelAssumed,
    CsfNotFoundError,
    ImplausibleScoreError,
    InputError,
    LevelNotMeasured,
    LevelsExcluded,
    MidlineUnknown,
    NonPositiveSignal,
    NotProtocolLevel,
    NotSagittalError,
    RoiAtEdge,
    RoiSmall,
    VBQError,
    VbqWarning,
    as_warning,
)
from vbq.fileio import shown, shown_number
from vbq.levels import CSF, VERTEBRAL_LEVELS, check_level_order, parse_exclusions
from vbq.measure import Measurement, measure
from vbq.protocol import STATISTICS, Protocol, get_protocol
from vbq.result import CsfResult, LevelResult, VBQResult
from vbq.roi.anatomy import cc_band
from vbq.roi.labelmask import LabelVolume, rois_from_mask
from vbq.roi.labels import LabelScheme
from vbq.roi.plausibility import RoiEvidence, assess
from vbq.roi.roimasks import MIN_ROI_PIXELS, RoiMasks, mask_touches_edge
from vbq.roi.rois import RoiFile
from vbq.roi.seedfile import check_in_image
from vbq.roi.seeds import Seed, SeedFile, grow_csf, rois_from_seeds

Exclusions = Mapping[str, str] | Iterable[str] | str | None


def _statistic(statistic: str | None, protocol: Protocol) -> str:
    stat = statistic or protocol.statistic
    if stat not in STATISTICS:
        raise InputError(f"unknown statistic {stat!r} (expected 'mean' or 'median')")
    return stat


def _csf_level(level: str | None, protocol: Protocol, warnings: list[VbqWarning]) -> str:
    """Return the CSF level, refused when the protocol does not allow it, warned when a fallback."""
    if level is None:
        warnings.append(CsfLevelAssumed(
            f"the CSF ROI does not name its level; assumed {protocol.csf_level}"
        ))
        return protocol.csf_level
    if level not in protocol.csf_levels:
        raise InputError(
            f"the CSF was measured at {level}, which protocol {protocol.name} does not allow "
            f"(CSF levels: {', '.join(protocol.csf_levels)})"
        )
    if level != protocol.csf_level:
        warnings.append(CsfFallback(
            f"CSF measured at {level}, a fallback: protocol {protocol.name} prefers "
            f"{protocol.csf_level}"
        ))
    return level


def combine_levels(
    protocol: Protocol,
    si: Mapping[str, float],
    csf_si: float,
    exclude: Mapping[str, str],
    *,
    measurements: Mapping[str, Measurement] | None = None,
    slices: Mapping[str, int] | None = None,
    force: bool = False,
    field_strength_t: float | None = None,
    roi: RoiEvidence | None = None,
) -> tuple[float, dict[str, LevelResult], list[VbqWarning]]:
    """Apply exclusions, compute ``median(SI) / SI_CSF`` and run the plausibility gates.

    Every score goes through here, so every score passes the gates of
    :mod:`vbq.roi.plausibility` (:func:`~vbq.roi.plausibility.assess`).

    Parameters
    ----------
    protocol
        The protocol (its levels and ``min_levels``).
    si
        Level -> signal intensity for the levels measured (any subset).
    csf_si
        Signal intensity of the CSF.
    exclude
        Level -> reason for levels to leave out.
    measurements, slices
        Optional ROI statistics and slice of each level, carried onto the result.
    force
        Score even when the CSF is at least as bright as the median marrow
        (VBQ <= 1); the result then carries a warning.
    field_strength_t
        Field strength of the acquisition, for the published-range gate.
    roi
        The ROIs, when measured on an image, for the ROI gates.

    Returns
    -------
    vbq, levels, warnings

    Raises
    ------
    InputError
        Excluding a level that is not part of the protocol, or a CSF signal
        <= 0.
    AnalysisError
        Fewer than ``protocol.min_levels`` levels left, or a VBQ that is not
        a finite number (e.g. a CSF signal so close to 0 that the quotient
        overflows).
    ImplausibleScoreError
        The CSF is at least as bright as the median marrow and ``force`` is
        False (an :class:`AnalysisError`, exit 1).
    """
    measurements = measurements or {}
    slices = slices or {}
    warnings: list[VbqWarning] = []
    for level in exclude:
        if level not in protocol.levels:
            raise InputError(
                f"cannot exclude {level}: it is not a level of protocol {protocol.name} "
                f"({', '.join(protocol.levels)})"
            )
    for level, given in si.items():
        if not math.isfinite(given):
            raise InputError(f"the signal intensity of {level} is {given}, not a finite number")
    if not math.isfinite(csf_si) or csf_si <= 0:
        raise InputError(
            f"the CSF signal intensity is {csf_si:g}, but it must be > 0 to divide by it; "
            f"check the CSF ROI and the image's rescale"
        )
    levels: dict[str, LevelResult] = {}
    used: list[float] = []
    missing: list[str] = []
    for level in protocol.levels:
        value: float | None = si.get(level)
        m = measurements.get(level)
        idx = slices.get(level)
        if level in exclude:
            levels[level] = LevelResult(level, value, False, exclude[level], m, idx)
        elif value is None:
            missing.append(level)
        else:
            levels[level] = LevelResult(level, value, True, None, m, idx)
            used.append(float(value))
            if value <= 0:
                warnings.append(NonPositiveSignal(f"{level} has a signal intensity of {value:g} "
                                                  "(<= 0)"))
    if missing:
        warnings.append(LevelNotMeasured(f"not measured: {', '.join(missing)}"))
    if exclude:
        gone = ", ".join(f"{k} ({v})" for k, v in exclude.items())
        used_names = ", ".join(k for k, v in levels.items() if v.used) or "none"
        warnings.append(LevelsExcluded(f"excluded: {gone}; the score uses {used_names}"))
    if len(used) < protocol.min_levels:
        left = ", ".join(k for k, v in levels.items() if v.used) or "none"
        raise AnalysisError(
            f"only {len(used)} level(s) left ({left}) after exclusions and missing levels, "
            f"but protocol {protocol.name} needs at least {protocol.min_levels}"
        )
    median = _median(used)
    vbq = median / float(csf_si)
    if not math.isfinite(vbq):
        raise AnalysisError(
            f"the VBQ is not a finite number (median signal intensity {median:g} / CSF "
            f"signal intensity {float(csf_si):g} = {vbq}); check the signal intensities"
        )
    used_si = {k: float(v.si) for k, v in levels.items() if v.used and v.si is not None}
    warnings.extend(assess(vbq, used_si, float(csf_si), median_si=median,
                           field_strength_t=field_strength_t, force=force, roi=roi))
    return vbq, levels, warnings


def _median(values: list[float]) -> float:
    """Median, as :func:`numpy.median`, without overflow for values near the largest double.

    The mean of the two middle values is ``(a + b) / 2`` as numpy computes it;
    only when ``a + b`` overflows is it ``a / 2 + b / 2`` (exact halves, one
    rounding: the same correctly rounded mean).
    """
    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    a, b = ordered[n // 2 - 1], ordered[n // 2]
    total = a + b
    return total / 2.0 if math.isfinite(total) else a / 2.0 + b / 2.0


def score_values(
    values: Mapping[str, Any],
    *,
    protocol: str | Protocol = "lumbar",
    exclude: Exclusions = None,
    csf_level: str | None = None,
    statistic: str | None = None,
    force: bool = False,
    field_strength_t: float | None = None,
) -> VBQResult:
    """Score signal intensities already read in a PACS.

    Parameters
    ----------
    values
        Label -> SI, e.g. ``{"L1": 410, "L2": 395, "L3": 402, "L4": 388,
        "CSF": 131}``. None (or NaN) means not measured.
    protocol
        Protocol name or object (default ``"lumbar"``).
    exclude
        Levels to leave out, ``{"L2": "fracture"}`` or ``["L2=fracture"]``.
    csf_level
        Level the CSF was measured at (default: the protocol's preferred one).
    statistic
        Which ROI statistic the values are (recorded on the result only).
    force
        Score even when the CSF is at least as bright as the median marrow
        (VBQ <= 1, refused otherwise); the result then carries a warning.
    field_strength_t
        Field strength (T) of the acquisition, if known: it selects the
        published-range limit and the cut-offs compared. It must lie within
        0.05 to 11.7 T (:func:`vbq.cutoffs.is_field_strength`).

    Raises
    ------
    InputError
        Unknown label, a value that is not a number, no CSF value, CSF <= 0,
        a field strength that is not a plausible MRI field strength.
    AnalysisError
        Too few levels after exclusions, or a VBQ that is not finite.
    ImplausibleScoreError
        CSF at or above the median marrow (VBQ <= 1) and not ``force``.

    Examples
    --------
    >>> r = score_values({"L1": 410, "L2": 395, "L3": 402, "L4": 388, "CSF": 131})
    >>> round(r.vbq, 6)  # median(388, 395, 402, 410) = 398.5
    3.041985
    """
    if field_strength_t is not None and not is_field_strength(field_strength_t):
        given = (shown(field_strength_t) if isinstance(field_strength_t, bool)
                 or not isinstance(field_strength_t, numbers.Real)
                 else shown_number(field_strength_t if isinstance(field_strength_t, int)
                                   else float(field_strength_t)))
        raise InputError(f"field_strength_t {given} is not {field_strength_rule()}")
    proto = get_protocol(protocol)
    stat = _statistic(statistic, proto)
    excl = parse_exclusions(exclude)
    si: dict[str, float] = {}
    csf_si: float | None = None
    warnings: list[VbqWarning] = []
    keys: dict[str, Any] = {}
    for key, raw in values.items():
        label = str(key).strip()
        if label.upper() == CSF or label.upper() in VERTEBRAL_LEVELS:
            label = label.upper()
        if label != CSF and label not in VERTEBRAL_LEVELS:
            raise InputError(
                f"unknown label {key!r} (expected one of C1-C7, T1-T12, L1-L5, S1, CSF)"
            )
        if label in keys:
            raise InputError(f"{label} is given twice (as {keys[label]!r} and {key!r})")
        keys[label] = key
        if raw is None:
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise InputError(f"the value of {label} is {raw!r}, not a number") from None
        if math.isnan(value):
            continue
        if label == CSF:
            csf_si = value
        elif label in proto.levels:
            si[label] = value
        else:
            warnings.append(NotProtocolLevel(f"{label} is not a level of protocol {proto.name} "
                                             "and was not used"))
    if csf_si is None:
        raise InputError("no CSF signal intensity was given")
    level = _csf_level(csf_level or proto.csf_level, proto, warnings)
    vbq, levels, more = combine_levels(proto, si, csf_si, excl, force=force,
                                       field_strength_t=field_strength_t)
    texts, codes = _carried(warnings + more)
    return VBQResult(
        vbq=vbq,
        protocol=proto.name,
        statistic=stat,
        levels=levels,
        csf=CsfResult(level, csf_si),
        warnings=texts,
        warning_codes=codes,
        cutoffs=compare_cutoffs(vbq, proto.name, field_strength_t),
        roi_source="values",
    )


def _carried(warnings: Iterable[VbqWarning | str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Texts and codes of the warnings, in order, each (code, text) once."""
    unique = dict.fromkeys((w.code, str(w)) for w in map(as_warning, warnings))
    return tuple(text for _, text in unique), tuple(code for code, _ in unique)


def measure_roi_masks(series: SeriesInfo, roi_masks: RoiMasks,
                      images: dict[int, np.ndarray] | None = None
                      ) -> tuple[dict[str, Measurement], dict[str, int]]:
    """Measure every ROI on its slice, without scoring (what a score measures).

    Parameters
    ----------
    series
        The series the masks are on.
    roi_masks
        The ROIs (any labels, any number of levels).
    images
        Slices already read, by index; filled with those read here.

    Returns
    -------
    (measurements, slices)
        Label -> :class:`vbq.measure.Measurement` and label -> slice index.

    Raises
    ------
    InputError
        A mask whose shape is not the image's, or with no pixel.
    """
    images = {} if images is None else images
    measurements: dict[str, Measurement] = {}
    slices: dict[str, int] = {}
    for label, mask in roi_masks.masks.items():
        idx = roi_masks.slice_of(label)
        if idx not in images:
            images[idx] = series.pixels(idx)
        image = images[idx]
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise InputError(
                f"ROI {label}: mask shape {mask.shape} does not match the image {image.shape}"
            )
        if not mask.any():
            raise InputError(f"ROI {label} has no pixels on slice {idx}")
        measurements[label] = measure(image, mask, _spacing(series, idx))
        slices[label] = idx
    return measurements, slices


def score_roi_masks(
    series: SeriesInfo,
    roi_masks: RoiMasks,
    *,
    protocol: str | Protocol = "lumbar",
    exclude: Exclusions = None,
    statistic: str | None = None,
    extra_warnings: Iterable[VbqWarning | str] = (),
    force: bool = False,
) -> VBQResult:
    """Measure ROI masks on a series and score them.

    Only the pixel data of the slices the ROIs lie on is decoded. When
    ``roi_masks.midline_offset_mm`` is None (the mid-sagittal plane was not
    found, or the series has one slice), the result carries
    ``midline_unknown``: whether the slice is mid-sagittal is unchecked.

    Parameters
    ----------
    series
        A :class:`~vbq.dicom.series.SeriesInfo`.
    roi_masks
        The ROIs (from a ROI file, a label mask or seed points).
    protocol, statistic
        As for :func:`score_values`.
    exclude
        Exclusions added to (and overriding) those carried by ``roi_masks``.
    extra_warnings
        Warnings to carry first (e.g. from the series choice); a plain text gets
        the code ``"other"``.
    force
        Score even when the CSF is at least as bright as the median marrow.

    Raises
    ------
    ImplausibleScoreError
        CSF at or above the median marrow (VBQ <= 1) and not ``force``.
    """
    proto = get_protocol(protocol)
    stat = _statistic(statistic, proto)
    excl = dict(roi_masks.excluded)
    excl.update(parse_exclusions(exclude))
    warnings: list[VbqWarning] = [as_warning(w) for w in (*extra_warnings, *roi_masks.warnings)]
    for label in roi_masks.masks:
        if label != CSF and label not in VERTEBRAL_LEVELS:
            raise InputError(
                f"ROI {label!r}: unknown label (expected one of C1-C7, T1-T12, L1-L5, S1, CSF)"
            )
    if CSF not in roi_masks.masks:
        raise InputError(
            f"no CSF ROI was given; protocol {proto.name} needs one at "
            f"{' or '.join(proto.csf_levels)}"
        )
    images: dict[int, np.ndarray] = {}
    measurements, slices = measure_roi_masks(series, roi_masks, images)
    for label, mask in roi_masks.masks.items():
        m = measurements[label]
        if m.n_pixels < MIN_ROI_PIXELS:
            warnings.append(RoiSmall(
                f"ROI {label} has only {m.n_pixels} pixels (fewer than {MIN_ROI_PIXELS})"
            ))
        if mask_touches_edge(np.asarray(mask, dtype=bool)):
            warnings.append(RoiAtEdge(f"ROI {label} touches the image edge"))
    if series.plane == "sagittal":   # on a forced axial or coronal slice levels share a height
        check_level_order(_heights(series, roi_masks, slices), _what(roi_masks))
    level = _csf_level(roi_masks.csf_level, proto, warnings)
    other = {k: v for k, v in measurements.items() if k != CSF and k not in proto.levels}
    for label in other:
        warnings.append(NotProtocolLevel(
            f"ROI {label} is not a level of protocol {proto.name}; measured but not used"
        ))
    si = {k: v.statistic(stat) for k, v in measurements.items() if k in proto.levels}
    csf_m = measurements[CSF]
    csf_value = float(csf_m.statistic(stat))
    if not math.isfinite(csf_value) or csf_value <= 0:
        raise AnalysisError(
            f"the CSF ROI's signal intensity ({stat}) is {csf_value:g}, but it must be > 0 to "
            f"divide by it; check the CSF ROI and the image's rescale"
        )
    meta = dict(series.metadata())
    field_t = meta.get("field_strength_t", series.field_strength_t)
    evidence = RoiEvidence(
        masks={k: np.asarray(v, dtype=bool) for k, v in roi_masks.masks.items()},
        slices=slices, csf_mean=csf_m.mean, csf_sd=csf_m.sd,
        csf_reference=roi_masks.csf_reference, body_masks=dict(roi_masks.body_masks or {}),
        midline_offset_mm=roi_masks.midline_offset_mm, midline_source=roi_masks.midline_source,
        slice_offsets_mm={label: off for label, off in (roi_masks.slice_offsets_mm or {}).items()
                          if label == CSF or (label in proto.levels
                                              and label not in roi_masks.excluded)})
    vbq, levels, more = combine_levels(
        proto, si, csf_m.statistic(stat), excl, measurements=measurements, slices=slices,
        force=force, field_strength_t=field_t, roi=evidence,
    )
    warnings.extend(more)
    main = int(roi_masks.slice_index)
    if roi_masks.midline_offset_mm is None:
        warnings.append(_midline_unknown(series, main))
    if main not in images:
        images[main] = series.pixels(main)
    texts, codes = _carried(warnings)
    return VBQResult(
        vbq=vbq,
        protocol=proto.name,
        statistic=stat,
        levels=levels,
        csf=CsfResult(level, csf_m.statistic(stat), csf_m, slices[CSF]),
        warnings=texts,
        warning_codes=codes,
        cutoffs=compare_cutoffs(vbq, proto.name, field_t),
        series=meta,
        slice_index=main,
        sop_instance_uid=series.slices[main].sop_instance_uid,
        frame_number=series.slices[main].frame_number,
        instance_number=series.slices[main].instance_number,
        midline_offset_mm=roi_masks.midline_offset_mm,
        midline_source=(roi_masks.midline_source if roi_masks.midline_offset_mm is not None
                        else None),
        study=series.study_metadata(),
        roi_source=roi_masks.source,
        other_rois=other,
        image=images[main],
        masks={k: np.asarray(v, dtype=bool) for k, v in roi_masks.masks.items()},
        outlines=dict(roi_masks.outlines) if roi_masks.outlines else None,
        cut_outlines=dict(roi_masks.cut_outlines) if roi_masks.cut_outlines else None,
        mask_slices=slices,
        pixel_spacing=_spacing(series, main),
        series_info=series,
    )


def _heights(series: SeriesInfo, roi_masks: RoiMasks, slices: Mapping[str, int]
             ) -> dict[str, float]:
    """Level -> patient z (mm, cranial positive) of its ROI's centroid."""
    from vbq.roi.midline import level_centres

    centres = level_centres({k: roi_masks.masks[k] for k in slices if k != CSF})
    return {label: float(series.slices[slices[label]].geometry.pixel_to_patient(
        np.asarray(rc, dtype=float))[2]) for label, rc in centres.items()}


def _what(roi_masks: RoiMasks) -> str:
    """How an error names where the ROIs came from."""
    return {"mask": "the label mask", "seeds": "the seed points"}.get(
        roi_masks.source, "the ROI file")


def _midline_unknown(series: SeriesInfo, index: int) -> MidlineUnknown:
    """Return the warning for a slice whose distance from the mid-sagittal plane is unknown."""
    why = ("the series has a single slice" if len(series.slices) == 1
           else "neither the vertebral bodies nor the thecal sac located it on this series")
    return MidlineUnknown(f"the mid-sagittal plane could not be found ({why}), so whether "
                          f"slice {index} is mid-sagittal is unchecked; check it on the QC "
                          "figure")


def _refuse_not_sagittal(series: SeriesInfo, force: bool) -> None:
    """Refuse a series that is not sagittal unless forced (its warning then stays on the result).

    VBQ is defined on the mid-sagittal T1 slice (Ehresman et al. 2020); the
    automatic choice only takes sagittal series, so this concerns a series
    named by UID.
    """
    if series.plane != "sagittal" and not force:
        raise NotSagittalError(
            f"series {series.label()} is {series.plane}, not sagittal: VBQ is measured on the "
            "mid-sagittal T1 slice; name a sagittal series, or force it (--force, force=True, "
            "a force column) to score it anyway")


def _spacing(series: SeriesInfo, index: int) -> tuple[float, float]:
    """(row, column) pixel spacing of slice ``index`` in mm."""
    row, col = series.slices[index].geometry.spacing[:2]
    return float(row), float(col)


def _csf_hint(source: str) -> str:
    """Say what to try when no CSF ROI could be placed automatically."""
    first = {"mask": "add the spinal canal to the mask (a canal label)",
             "seeds": "add a CSF seed to the seed file"}.get(source, "draw the CSF ROI")
    return (f"to place it, {first}, or give a point in the CSF with --csf-point ROW,COL or "
            "--csf-seed FILE (csf_point= or csf_seed= in Python), or measure another slice "
            "with --slice")


def _csf_origin(seeds: Any, csf_point: Sequence[float] | None, csf_seed: Any) -> str:
    """Say where a CSF ROI refused by gate (a) came from, when a click placed it ("" else).

    Examples
    --------
    >>> _csf_origin(None, (127.5, 210.0), None)
    'placed from --csf-point 127.5,210'
    """
    if csf_point is not None:
        return f"placed from --csf-point {float(csf_point[0]):g},{float(csf_point[1]):g}"
    if csf_seed is not None:
        where = csf_seed.source if isinstance(csf_seed, SeedFile) else (
            "--csf-seed" if isinstance(csf_seed, Mapping) else f"--csf-seed {csf_seed}")
        return f"placed from the CSF seed of {where}"
    if seeds is None:
        return ""
    sf = seeds if isinstance(seeds, SeedFile) else None
    if sf is None:
        try:
            sf = SeedFile.from_json(seeds)
        except InputError:
            return ""
    clicked = [s for s in sf.seeds if s.label == CSF]
    if not clicked:
        return ""
    return f"placed from {sf.source}: {clicked[0].name}"


def _with_hint(message: str, hint: str) -> str:
    """Return ``message`` with ``hint`` appended, unless it already says what to try."""
    says = ("click ", "--slice", "--csf-point", "--csf-seed", "give a ", "move the seed")
    return message if any(w in message for w in says) else f"{message}; {hint}"


_BODY_HINT = ("move the seed into the middle of the body, away from the endplates, or measure "
              "another slice with --slice")


def _csf_seed(csf_seed: str | Path | Mapping[str, Any] | SeedFile, proto: Protocol
              ) -> tuple[SeedFile, Seed, str]:
    """Return the file, its one CSF seed and how errors name it; refuse other seeds or none.

    A file given by its path is named as the option and the path
    (``--csf-seed PATH``), so that no message about it names the seed file;
    a ``level`` the protocol ``proto`` does not allow is refused naming the
    file, the seed and the key.
    """
    sf = csf_seed if isinstance(csf_seed, SeedFile) else SeedFile.from_json(csf_seed)
    sf.check_csf_level(proto.csf_levels, proto.name)
    others = [s.label for s in sf.seeds if s.label != CSF]
    if others:
        raise InputError(f"{sf.source}: a CSF seed file must hold only the CSF seed, but it also "
                         f"has seeds for {', '.join(others)}")
    csf = [s for s in sf.seeds if s.label == CSF]
    if not csf:
        raise InputError(f"{sf.source}: the CSF seed file has no seed labelled CSF")
    if isinstance(csf_seed, str | Path):
        name = f"--csf-seed {os.fspath(csf_seed)}"
    else:
        name = f"{sf.source}: {csf[0].name}"
    return sf, csf[0], name


def _csf_seed_place(series: SeriesInfo, sf: SeedFile, seed: Seed, name: str,
                    default_index: int | None) -> tuple[int, tuple[float, float]]:
    """Slice index and pixel ``(row, column)`` of a CSF seed; errors name it as ``name``.

    A pixel point lies on its own slice, else its file's, else ``default_index``
    (None: the series' middle slice); a patient point on the slice it lies in,
    within half a slice gap. A point off the image is refused.
    """
    if sf.space == "pixel":
        ref = seed.slice if seed.slice is not None else sf.slice
        if ref is not None:
            index = series.resolve(ref, name)
        else:
            index = series.mid_slice if default_index is None else int(default_index)
        rc = (float(seed.point[0]), float(seed.point[1]))
    else:
        found, rc_arr = series.locate(np.asarray(seed.point, dtype=float))
        index = int(found)
        _, dist = series.slices[index].geometry.patient_to_pixel(np.asarray(seed.point))
        positions = sorted(sl.position for sl in series.slices)
        gap = float(np.median(np.diff(positions))) if len(positions) > 1 else 2.0
        if abs(float(dist)) > 0.5 * gap + 1e-3:
            raise InputError(f"{name}: point {list(seed.point)} lies outside the image stack "
                             f"({abs(float(dist)):.1f} mm from the nearest slice plane)")
        rc = (float(rc_arr[0]), float(rc_arr[1]))
    check_in_image(name, rc, series.slices[index].geometry.shape)
    return int(index), rc


def _csf_point(csf_point: Sequence[float]) -> tuple[str, tuple[float, float]]:
    """Return how errors name ``--csf-point`` and its ``(row, column)``; refuse a malformed one.

    Messages show each number short (:func:`vbq.fileio.shown_number`), however large.
    """
    given = list(csf_point)
    try:
        values = [float(v) for v in given]
    except (TypeError, ValueError, OverflowError):
        values = []
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        text = ", ".join(shown_number(v) if isinstance(v, int | float) else shown(v)
                         for v in given)
        raise InputError(f"--csf-point must be two finite numbers ROW,COL, got ({text})")
    return f"--csf-point {values[0]:g},{values[1]:g}", (values[0], values[1])


def _point(series: SeriesInfo, roi_masks: RoiMasks, csf_point: Sequence[float] | None,
           csf_seed: str | Path | Mapping[str, Any] | SeedFile | None, proto: Protocol
           ) -> tuple[str, int, tuple[float, float], str | None]:
    """Name, slice index, pixel ``(row, column)`` and named level of the CSF point."""
    if csf_point is not None:
        name, rc = _csf_point(csf_point)
        index, level = int(roi_masks.slice_index), None
        check_in_image(name, rc, series.slices[index].geometry.shape)
        return name, index, rc, level
    assert csf_seed is not None
    sf, seed, name = _csf_seed(csf_seed, proto)
    index, rc = _csf_seed_place(series, sf, seed, name, int(roi_masks.slice_index))
    return name, index, rc, seed.level


def _with_csf_seed(series: SeriesInfo, seed_file: SeedFile, slice: SliceLike | None,
                   csf_point: Sequence[float] | None,
                   csf_seed: str | Path | Mapping[str, Any] | SeedFile | None, proto: Protocol
                   ) -> tuple[SeedFile, str]:
    """Return the seed file with the CSF seed a point or a CSF seed file gives, in the file's space.

    Also returns how messages name that point: ``--csf-point ROW,COL``, or
    ``--csf-seed PATH``. A pixel point lies on the slice the file's seeds
    without their own slice are placed on; converting between pixel and
    patient space goes through that slice's geometry (pixel to patient) or the
    slice a patient point lies in (patient to pixel). A slice outside the
    series, a point off the image or outside the stack is refused here, naming
    the point, not the seed file.
    """
    if any(s.label == CSF for s in seed_file.seeds):
        raise InputError(f"{seed_file.source} already has a CSF seed; give --csf-point or "
                         "--csf-seed only for a seed file without one")
    number = len(seed_file.seeds) + 1
    point: tuple[float, ...]
    if csf_point is not None:
        name, point = _csf_point(csf_point)
        level, ref, space = None, None, "pixel"
        # the slice it lies on is the file's (below); every slice of a series has its shape
        check_in_image(name, point, series.slices[series.mid_slice].geometry.shape)
    else:
        assert csf_seed is not None
        sf, seed, name = _csf_seed(csf_seed, proto)
        point, level, space = tuple(seed.point), seed.level, sf.space
        ref = seed.slice if seed.slice is not None else sf.slice
        # its slice and place are checked now, so that errors name it (the default
        # slice stands in for the seed file's: every slice of a series has its shape)
        _csf_seed_place(series, sf, seed, name, None)
    if space == seed_file.space:
        return replace(seed_file, seeds=(*seed_file.seeds, Seed(number, CSF, point, level,
                                                                ref))), name
    if space == "patient":   # into a pixel-space file: the slice the point lies in
        index, rc = series.locate(np.asarray(point, dtype=float))
        return replace(seed_file, seeds=(*seed_file.seeds, Seed(
            number, CSF, (float(rc[0]), float(rc[1])), level, SliceRef(index=int(index))))), name
    # a pixel point into a patient-space file: on the slice asked for, else where most seeds lie
    asked: SliceLike | None = ref if ref is not None else slice
    if asked is not None:
        index = series.resolve(asked, f"{name}: its slice" if ref is not None else "--slice")
    else:
        found = [int(series.locate(np.asarray(s.point, dtype=float))[0])
                 for s in seed_file.seeds]
        index = max(set(found), key=found.count) if found else series.mid_slice
    xyz = series.slices[index].geometry.pixel_to_patient(np.asarray(point, dtype=float))
    return replace(seed_file, seeds=(*seed_file.seeds, Seed(
        number, CSF, tuple(float(v) for v in xyz), level, None))), name


def _renamed(text: str, source: str, seed: str, name: str) -> str:
    """``text`` with the CSF seed added to seed file ``source`` as ``seed`` called ``name``.

    The proposal names a seed by its file and number (``seeds.json: seed 6
    (CSF)``); a CSF point given by ``--csf-point`` or ``--csf-seed`` is named
    as the user gave it.
    """
    return (text.replace(f"{source}: the CSF click {seed} at", f"{name}: the CSF point at")
            .replace(f"{source}: {seed}", name)
            .replace(f"{source}: the CSF seed does not name", f"{name}: the CSF seed does not name")
            .replace(f"from {seed} (", f"from {name} ("))


def _seeds_with_own_csf(series: SeriesInfo, seed_file: SeedFile, proto: Protocol,
                        slice: SliceLike | None, csf_point: Sequence[float] | None,
                        csf_seed: str | Path | Mapping[str, Any] | SeedFile | None,
                        exclude: Iterable[str] = ()) -> RoiMasks:
    """ROIs from seeds whose CSF seed a point or a CSF seed file gives; messages name it so."""
    with_csf, name = _with_csf_seed(series, seed_file, slice, csf_point, csf_seed, proto)
    seed = f"seed {len(with_csf.seeds)} ({CSF})"
    try:
        roi_masks = rois_from_seeds(series, with_csf, proto, slice, exclude=exclude)
    except VBQError as err:
        text = _renamed(str(err), seed_file.source, seed, name)
        if text == str(err):
            raise
        raise type(err)(text) from None
    notes = tuple(w if (t := _renamed(str(w), seed_file.source, seed, name)) == str(w)
                  else type(w)(t) for w in roi_masks.warnings)
    return replace(roi_masks, warnings=notes)


def place_csf_at_point(series: SeriesInfo, roi_masks: RoiMasks, protocol: str | Protocol,
                       csf_point: Sequence[float] | None = None,
                       csf_seed: str | Path | Mapping[str, Any] | SeedFile | None = None
                       ) -> RoiMasks:
    """Add a CSF ROI grown from one point in the CSF to ROIs found without one.

    The ROI is grown by :func:`vbq.roi.seeds.grow_csf`, as from a CSF seed in
    a seed file, within the craniocaudal extent of its level's ROI when that
    level has one on the same slice.

    Parameters
    ----------
    series, roi_masks
        The series and the vertebral ROIs (from a label mask or seeds).
    protocol
        Its CSF levels name the level of the point: the one whose vertebral
        ROI spans the point's craniocaudal position, else the preferred one
        (with a warning), unless a CSF seed names its level.
    csf_point
        ``(row, column)`` on ``roi_masks.slice_index``.
    csf_seed
        A ``vbq-seeds/1`` file (or mapping) holding only a CSF seed, placed
        by the seed file's rules (pixel points on its slice, else on the
        scored slice; patient points on the slice they lie in).

    Raises
    ------
    InputError
        A point outside the image, or a seed file with other seeds or none.
    AnalysisError
        When too few CSF-like pixels surround the point.
    """
    proto = get_protocol(protocol)
    if (csf_point is None) == (csf_seed is None):
        raise InputError("give one CSF point: --csf-point ROW,COL or --csf-seed FILE")
    name, index, rc, level = _point(series, roi_masks, csf_point, csf_seed, proto)
    geometry = series.slices[index].geometry
    spacing = (float(geometry.spacing[0]), float(geometry.spacing[1]))
    notes: list[VbqWarning] = []
    row, col = int(round(rc[0])), int(round(rc[1]))
    bands = {}
    for lvl in proto.csf_levels:
        mask = (roi_masks.body_masks or {}).get(lvl, roi_masks.masks.get(lvl))
        if mask is not None and roi_masks.slice_of(lvl) == index and np.any(mask):
            bands[lvl] = cc_band(np.asarray(mask, dtype=bool), geometry)
    if level is None:
        level = next((lvl for lvl, band in bands.items() if band[row, col]), None)
        if level is None:
            level = proto.csf_level
            notes.append(CsfLevelAssumed(
                f"{name}: the point lies beside none of the ROIs of "
                f"{', '.join(proto.csf_levels)} on slice {index}; its level was assumed to be "
                f"{level}"))
    image = np.asarray(series.pixels(index), dtype=float)
    for lvl, body in {**roi_masks.masks, **(roi_masks.body_masks or {})}.items():
        if (lvl != CSF and roi_masks.slice_of(lvl) == index
                and 0 <= row < body.shape[0] and 0 <= col < body.shape[1] and body[row, col]):
            raise CsfNotFoundError(f"{name}: the CSF point [{rc[0]:g}, {rc[1]:g}] (row, column) "
                                   f"lies inside the {lvl} vertebral body, not in the CSF; give "
                                   "a point in the thecal sac behind the bodies")
    csf = grow_csf(image, rc, spacing, bands.get(level), name)
    return replace(roi_masks, masks={**roi_masks.masks, CSF: csf}, csf_level=level,
                   slices={**(roi_masks.slices or {}), CSF: index},
                   warnings=(*roi_masks.warnings, *notes))


def score_series(
    path: str | Path,
    rois: str | Path | Mapping[str, Any] | RoiFile | None = None,
    *,
    mask: str | Path | np.ndarray | LabelVolume | None = None,
    labels: str | Path | Mapping[str, object] | LabelScheme | None = None,
    seeds: str | Path | Mapping[str, Any] | SeedFile | None = None,
    protocol: str | Protocol = "lumbar",
    exclude: Exclusions = None,
    slice: SliceLike | None = None,
    series_uid: str | None = None,
    statistic: str | None = None,
    study: str | None = None,
    force: bool = False,
    phi: bool = True,
    csf_point: Sequence[float] | None = None,
    csf_seed: str | Path | Mapping[str, Any] | SeedFile | None = None,
) -> VBQResult:
    """Score a folder of DICOM files.

    The sagittal, T1-weighted, non-contrast series is chosen (or the one
    named by ``series_uid``); ROIs come from exactly one of a ROI file
    (``rois``), a label mask (``mask`` + ``labels``) or seed points
    (``seeds``); all are measured and drawn the same way.

    Parameters
    ----------
    path
        Folder searched recursively for DICOM files.
    rois
        A ``vbq-rois/1`` file, its parsed mapping, or a :class:`RoiFile`.
    mask, labels
        A label map and its label scheme (see :mod:`vbq.roi.labelmask`).
    seeds
        A ``vbq-seeds/1`` file (see :mod:`vbq.roi.seeds`).
    protocol
        ``"lumbar"`` (default), ``"cervical"``, ``"thoracic"``, ``"s1"`` or a
        :class:`~vbq.protocol.Protocol`.
    exclude
        Levels to leave out with a reason, e.g. ``{"L2": "fracture"}``.
    slice
        Slice to measure (0-based index, SOP Instance UID, or any form of
        :meth:`vbq.dicom.sliceref.SliceRef.parse`); default the ROI file's,
        else mid-sagittal.
    series_uid
        Series to use instead of the automatic choice (it implies its study).
    statistic
        ``"mean"`` or ``"median"`` ROI signal (default: the protocol's).
    study
        The study to score when the folder holds several: a
        StudyInstanceUID, or a StudyDate (``YYYY-MM-DD`` or ``YYYYMMDD``)
        that exactly one of them has.
    force
        Score even when the CSF is at least as bright as the median marrow,
        or when the series named by ``series_uid`` is not sagittal (each
        refused otherwise); the result then carries a warning
        (``implausible_score_forced``, ``not_sagittal``).
    phi
        False: the result carries no patient ID, study date or accession
        number (:meth:`VBQResult.without_phi`), nor do error messages.
    csf_point, csf_seed
        With ``mask`` or ``seeds``: the CSF ROI grown from this ``(row,
        column)`` on the measured slice, or from the CSF seed of this
        ``vbq-seeds/1`` file (see :func:`place_csf_at_point`), instead of the
        automatic search.

    Returns
    -------
    VBQResult

    Raises
    ------
    InputError
        Bad input (exit 2), among them a folder with several studies and no
        ``study`` or ``series_uid``.
    AnalysisError
        No score can be computed (exit 1), among them
        :class:`~vbq.errors.ImplausibleScoreError` (VBQ <= 1, not forced),
        :class:`~vbq.errors.NotSagittalError` (an axial, coronal or oblique
        series, not forced) and :class:`~vbq.errors.CsfNotFoundError` (the
        sentence says what to try).

    Examples
    --------
    A phantom whose VBQ is known by construction (``expected.json`` holds the
    value of the pixels written, 3.0035):

    >>> import json, tempfile
    >>> from vbq.phantom import make_phantom
    >>> info = make_phantom(tempfile.mkdtemp(), vbq=3.0, seed=1, n_slices=7, distractors=())
    >>> res = score_series(info.series_dir, rois=info.rois_path)
    >>> round(res.vbq, 4), res.used_levels, res.warning_codes
    (3.0035, ('L1', 'L2', 'L3', 'L4'), ())
    >>> round(json.loads((info.out_dir / "expected.json").read_text())["vbq"], 4)
    3.0035
    """
    given = [name for name, v in (("rois", rois), ("mask", mask), ("seeds", seeds))
             if v is not None]
    if len(given) != 1:
        raise InputError(
            "give exactly one source of ROIs: a ROI file, a label mask, or seed points"
            + (f" (got {' and '.join(given)})" if given else "")
        )
    own_csf = csf_point is not None or csf_seed is not None
    if own_csf and rois is not None:
        raise InputError("--csf-point and --csf-seed apply to --mask and --seeds; a ROI file "
                         "draws its own CSF ROI")
    if csf_point is not None and csf_seed is not None:
        raise InputError("give either --csf-point or --csf-seed, not both")
    proto = get_protocol(protocol)
    choice = load_series(path, series_uid, study=study, phi=phi)
    series = choice.series
    _refuse_not_sagittal(series, force)
    source = "rois" if rois is not None else "mask" if mask is not None else "seeds"
    try:
        if rois is not None:
            roi_file = rois if isinstance(rois, RoiFile) else RoiFile.from_json(rois)
            roi_file.check_csf_level(proto.csf_levels, proto.name)
            roi_masks = roi_file.masks(series, slice=slice)
        elif mask is not None:
            roi_masks = rois_from_mask(series, mask, labels, proto, slice, find_csf=not own_csf)
        else:
            assert seeds is not None
            seed_file = seeds if isinstance(seeds, SeedFile) else SeedFile.from_json(seeds)
            spare = tuple(parse_exclusions(exclude))
            if own_csf:
                roi_masks = _seeds_with_own_csf(series, seed_file, proto, slice, csf_point,
                                                csf_seed, spare)
            else:
                roi_masks = rois_from_seeds(series, seed_file, proto, slice, exclude=spare)
    except CsfNotFoundError as err:
        raise CsfNotFoundError(_with_hint(str(err), _csf_hint(source))) from None
    except BodyNotFoundError as err:
        raise BodyNotFoundError(_with_hint(str(err), _BODY_HINT)) from None
    if own_csf and source == "mask":
        roi_masks = place_csf_at_point(series, roi_masks, proto, csf_point, csf_seed)
    try:
        result = score_roi_masks(
            series,
            roi_masks,
            protocol=proto,
            exclude=exclude,
            statistic=statistic,
            extra_warnings=choice.warnings,
            force=force,
        )
    except ImplausibleScoreError as err:
        origin = _csf_origin(seeds, csf_point, csf_seed)
        text = str(err)
        if origin:
            text = text.replace("that the CSF ROI lies in the CSF",
                                f"that the CSF ROI, {origin}, lies in the CSF")
        raise ImplausibleScoreError(text) from None
    rejected = [{"series_instance_uid": uid, "description": desc, "why": why}
                for uid, desc, why in choice.rejected]
    result = replace(result, series_choice={"reason": choice.reason, "rejected": rejected})
    return result if phi else result.without_phi()
