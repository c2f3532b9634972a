"""Choose the series to score: sagittal, T1-weighted, no contrast; say why.

Owns the choice among the series of a folder and the warnings about the chosen
series' acquisition. :func:`choose_series` looks at every series of a
:class:`vbq.dicom.series.SeriesIndex`
and keeps the sagittal (slice normal mostly along LPS x), T1-weighted (TR <= 1000
ms and TE <= 30 ms; no "T2"/"STIR"/"FLAIR"/"PD" description without "T1"),
non-contrast (no ContrastBolusAgent, no "+C"/"GAD"/"POST" in the description)
ones, ranks them, and reports the reason for the choice, the reason for each
rejected series, and the warnings of DESIGN.md's "Checks".

References
----------
Ehresman J, Pennington Z, Schilling A, et al. Novel MRI-based score for
assessment of bone density in operative spine patients. Spine J.
2020;20(4):556-562. doi:10.1016/j.spinee.2019.10.018 (non-contrast sagittal
T1-weighted images; the normative TR/TE window used for warnings).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

import numpy as np

from vbq.cutoffs import field_strength_rule, is_field_strength
from vbq.dicom.index import index_folder
from vbq.dicom.series import SeriesIndex, SeriesInfo, iso_date
from vbq.errors import (
    ContrastAgent,
    InputError,
    LostFile,
    NoFieldStrength,
    NotSagittal,
    NotT1,
    OutsideNormativeWindow,
    RescaleDiffers,
    SeriesStructure,
    SliceIndexesUnsafe,
    SliceUnreadable,
    T1Unverified,
    VbqWarning,
    ZeroRescaleSlope,
)
from vbq.fileio import shown_number

__all__ = ["SeriesChoice", "choose_series", "load_series", "describe_choice", "select_study",
           "NORMATIVE_TR_MS", "NORMATIVE_TE_MS", "T1_MAX_TR_MS", "T1_MAX_TE_MS"]

#: Normative acquisition window of the original VBQ protocol (warn outside).
NORMATIVE_TR_MS: tuple[float, float] = (400.0, 850.0)
NORMATIVE_TE_MS: tuple[float, float] = (8.0, 20.0)
#: Limits of a T1-like acquisition (reject/warn above).
T1_MAX_TR_MS = 1000.0
T1_MAX_TE_MS = 30.0
_NO_AGENT = {"", "NONE", "NO", "N/A", "NA", "NIL", "-"}

_T1_HINT = re.compile(r"T1(?!\d)")
_T2_HINT = re.compile(r"T2(?!\d)|STIR|TIRM|FLAIR|\bPD\b|\bPDW")
_CONTRAST_HINT = re.compile(r"\+ ?C\b|\bC ?\+|GAD|\bGD\b|POST(?!ERIOR)|CONTRAST")


@dataclass(frozen=True)
class SeriesChoice:
    """The chosen series, why, which series were rejected and why, and warnings."""

    series: SeriesInfo
    reason: str
    rejected: tuple[tuple[str, str, str], ...]
    warnings: tuple[VbqWarning, ...]


# --------------------------------------------------------------------------- choice
def _fmt(v: float | None) -> str:
    if v is None:
        return "?"
    return f"{v:g}"


def _contrast(s: SeriesInfo) -> str | None:
    """Why the series looks post-contrast, or None."""
    agent = (s.contrast_agent or "").strip()
    if agent.upper() not in _NO_AGENT:
        return f"contrast agent '{agent}' (ContrastBolusAgent)"
    m = _CONTRAST_HINT.search(s.description.upper())
    if m:
        return f"description '{s.description}' says post-contrast ('{m.group(0).strip()}')"
    return None


def _t1_like(s: SeriesInfo) -> bool:
    return ((s.tr_ms is None or s.tr_ms <= T1_MAX_TR_MS)
            and (s.te_ms is None or s.te_ms <= T1_MAX_TE_MS))


def _weighting(s: SeriesInfo) -> tuple[bool, str]:
    """Return (acceptable as T1-weighted, explanation)."""
    desc = s.description.upper()
    t1_hint = bool(_T1_HINT.search(desc))
    t2 = _T2_HINT.search(desc)
    trte = f"TR {_fmt(s.tr_ms)} ms, TE {_fmt(s.te_ms)} ms"
    if t2 and not t1_hint:
        return False, f"not T1-weighted: description '{s.description}' says {t2.group(0)} ({trte})"
    if not _t1_like(s):
        if t1_hint:
            return True, f"T1-weighted by its description, though {trte} is not T1-like"
        return False, (f"not T1-weighted: {trte} (T1 needs TR <= {T1_MAX_TR_MS:g} ms and "
                       f"TE <= {T1_MAX_TE_MS:g} ms)")
    if s.tr_ms is None or s.te_ms is None:
        if t1_hint:
            return True, f"T1-weighted by its description ({trte})"
        return True, f"T1-weighted as far as its headers tell ({trte})"
    return True, f"T1-weighted ({trte})"


def _structure_problem(s: SeriesInfo) -> str | None:
    if s.modality and s.modality.upper() != "MR":
        return f"modality {s.modality}, not MR"
    g0 = s.slices[0].geometry
    if any(not g0.same_plane_grid(sl.geometry, tol=1e-3) for sl in s.slices[1:]):
        return "slices differ in orientation, spacing or size (a localizer?)"
    pos = np.array([sl.position for sl in s.slices])
    if len(pos) > 1 and np.min(np.diff(pos)) < 1e-3:
        return "several images share one slice position (multiple echoes or time points)"
    return None


def _acquisition_warnings(s: SeriesInfo) -> list[VbqWarning]:
    """Return the checks of the chosen series' acquisition that did not pass."""
    w: list[VbqWarning] = []
    name = s.label()
    if not _t1_like(s):
        w.append(NotT1(f"series {name} is not T1-like: TR {_fmt(s.tr_ms)} ms, TE "
                       f"{_fmt(s.te_ms)} ms (T1 needs TR <= {T1_MAX_TR_MS:g} ms and TE <= "
                       f"{T1_MAX_TE_MS:g} ms)"))
    if s.tr_ms is None:
        w.append(T1Unverified(f"series {name} has no RepetitionTime; the T1 weighting is not "
                              "verified"))
    elif not NORMATIVE_TR_MS[0] <= s.tr_ms <= NORMATIVE_TR_MS[1]:
        w.append(OutsideNormativeWindow(
            f"TR {s.tr_ms:g} ms is outside the normative window "
            f"{NORMATIVE_TR_MS[0]:g}-{NORMATIVE_TR_MS[1]:g} ms of the VBQ protocol"))
    if s.te_ms is None:
        w.append(T1Unverified(f"series {name} has no EchoTime; the T1 weighting is not "
                              "verified"))
    elif not NORMATIVE_TE_MS[0] <= s.te_ms <= NORMATIVE_TE_MS[1]:
        w.append(OutsideNormativeWindow(
            f"TE {s.te_ms:g} ms is outside the normative window "
            f"{NORMATIVE_TE_MS[0]:g}-{NORMATIVE_TE_MS[1]:g} ms of the VBQ protocol"))
    rescales = {(sl.rescale_slope, sl.rescale_intercept) for sl in s.slices}
    if len(rescales) > 1:
        shown = ", ".join(f"{a:g}/{b:g}" for a, b in sorted(rescales))
        w.append(RescaleDiffers(f"slices of series {name} differ in rescale slope/intercept "
                                f"({shown}); signal intensities compare only within a slice"))
    zero = [i for i, sl in enumerate(s.slices) if sl.zero_slope]
    if zero:
        shown = ", ".join(str(i) for i in zero[:5]) + (" ..." if len(zero) > 5 else "")
        w.append(ZeroRescaleSlope(f"slice(s) {shown} of series {name} have RescaleSlope 0, "
                                  "which is not a valid slope; it was read as 1"))
    if s.field_strength_t is None:
        w.append(NoFieldStrength(f"series {name} has no MagneticFieldStrength; cut-offs by "
                                 "field strength cannot be matched"))
    elif not is_field_strength(s.field_strength_t):
        w.append(NoFieldStrength(
            f"series {name} has MagneticFieldStrength {shown_number(s.field_strength_t)}, "
            f"which is not {field_strength_rule()} (a value in gauss or millitesla?); it is "
            "taken as unknown, so cut-offs by field strength cannot be matched"))
    for i, sl in enumerate(s.slices):
        if sl.problem is not None:
            w.append(SliceUnreadable(f"slice {i} of the chosen series cannot be measured: "
                                     f"{sl.path} {sl.problem}"))
    return w


def _known_field(s: SeriesInfo) -> SeriesInfo:
    """Return ``s`` with a field strength that is no MRI field strength in tesla taken as unknown.

    :func:`_acquisition_warnings` says so; the value would otherwise select the
    3 T plausibility limit and the cut-offs compared as if it were right.
    """
    if s.field_strength_t is None or is_field_strength(s.field_strength_t):
        return s
    return replace(s, field_strength_t=None)


def _summary(s: SeriesInfo) -> str:
    return f"{s.plane}, {len(s.slices)} slices"


def _with_losses(s: SeriesInfo, index: SeriesIndex) -> tuple[SeriesInfo, list[VbqWarning]]:
    """Mark ``s`` incomplete when a file that may be one of its slices could not be used.

    A lost file of the same SeriesInstanceUID is one of its slices; a lost file of
    unknown series (a header cut short) may be, unless the series' InstanceNumbers
    run 1..n without a gap. Slice indexes of an incomplete series may be shifted.
    """
    numbers = sorted(sl.instance_number for sl in s.slices if sl.instance_number is not None)
    whole = numbers == list(range(1, len(s.slices) + 1))
    if all(sl.frame_number is not None for sl in s.slices):
        # frames of multi-frame files: whole when the files' InstanceNumbers run 1..m
        # and each file has all its frames
        frames: dict[str, list[int]] = {}
        files: dict[str, tuple[int | None, int]] = {}
        for sl in s.slices:
            frames.setdefault(sl.sop_instance_uid, []).append(int(sl.frame_number or 0))
            files[sl.sop_instance_uid] = (sl.instance_number, sl.n_frames)
        file_numbers = sorted(n for n, _ in files.values() if n is not None)
        whole = (file_numbers == list(range(1, len(files) + 1))
                 and all(sorted(f) == list(range(1, files[uid][1] + 1))
                         for uid, f in frames.items()))
    for path, why, uid in index.lost:
        if uid == s.series_instance_uid or (uid is None and not whole):
            mine = "is" if uid is not None else "may be"
            note = f"{path} ({why}) {mine} one of its slices"
            return replace(s, incomplete=note), [SliceIndexesUnsafe(
                f"slice indexes of series {s.label()} may be shifted: {note}")]
    gap = _position_gap(s)
    if gap is not None:
        return replace(s, incomplete=gap), [SliceIndexesUnsafe(
            f"slice indexes of series {s.label()} may be shifted: {gap}")]
    return s, []


#: Two neighbouring slices further apart than this many times the series' usual
#: spacing have a slice missing between them (a lost file doubles the gap).
GAP_FACTOR = 1.5


def _position_gap(s: SeriesInfo) -> str | None:
    """Say where the slice positions jump (a slice file missing from the folder), else None.

    The positions along the slice normal of a series of three or more slices are
    evenly spaced; a step over :data:`GAP_FACTOR` times the median step leaves a
    slice out, and every slice index past it is off by one.
    """
    if len(s.slices) < 3:
        return None
    pos = np.array([float(sl.position) for sl in s.slices])
    if not np.all(np.isfinite(pos)):
        return None
    steps = np.abs(np.diff(pos))
    # the usual step: the median of three or more, else the smaller of two (with three
    # slices left, a doubled step would otherwise set the median itself)
    usual = float(np.median(steps) if steps.size >= 3 else np.min(steps))
    if not usual > 0:
        return None
    k = int(np.argmax(steps))
    if steps[k] <= GAP_FACTOR * usual:
        return None
    return (f"the slice positions jump by {steps[k]:.1f} mm between slices {k} and {k + 1} "
            f"({usual:.1f} mm elsewhere): a slice file may be missing from the folder")


# --------------------------------------------------------------------------- studies
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DA_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


def _studies(index: SeriesIndex) -> dict[str, list[SeriesInfo]]:
    """StudyInstanceUID ("" when absent) -> its series, in index order."""
    out: dict[str, list[SeriesInfo]] = {}
    for s in index.series:
        out.setdefault(s.study_instance_uid or "", []).append(s)
    return out


def _study_label(uid: str, series: list[SeriesInfo], phi: bool) -> str:
    """``UID (patient P, 2024-03-01, 'MR L-SPINE', 4 series)``: how a study is listed."""
    first = next((s for s in series if s.study_date), series[0])
    bits = []
    if phi:
        pid = next((s.patient_id for s in series if s.patient_id), None)
        bits.append(f"patient {pid or '(no ID)'}")
        bits.append(iso_date(first.study_date) or "no date")
    desc = next((s.study_description for s in series if s.study_description), None)
    if desc is None:
        desc = "; ".join(sorted({s.description for s in series if s.description})) or None
    bits.append(f"'{desc}'" if desc else "no description")
    bits.append(f"{len(series)} series")
    return f"{uid or '(no StudyInstanceUID)'} ({', '.join(bits)})"


def _listing(studies: dict[str, list[SeriesInfo]], phi: bool) -> str:
    return "; ".join(f"{n}) {_study_label(uid, ss, phi)}"
                     for n, (uid, ss) in enumerate(studies.items(), start=1))


def _ask(phi: bool) -> str:
    return ("--study UID or --study DATE (YYYY-MM-DD or YYYYMMDD)" if phi
            else "--study UID")


def select_study(index: SeriesIndex, study: str | None = None, *,
                 phi: bool = True) -> SeriesIndex:
    """Keep the series of one study: the only one, or the one ``study`` names.

    Parameters
    ----------
    index
        Every series of a folder.
    study
        A StudyInstanceUID, or a StudyDate as ``YYYY-MM-DD`` or ``YYYYMMDD``
        that exactly one study of the folder has; None when the folder must
        hold one study.
    phi
        Whether messages may show patient IDs and study dates.

    Raises
    ------
    InputError
        Several studies and no ``study``, listing them (StudyInstanceUID,
        patient ID, date, description); a ``study`` that names none of them,
        or a date that several share.
    """
    studies = _studies(index)
    folder = index.folder if index.folder is not None else "the folder"
    if study is None:
        if len(studies) <= 1:
            return index
        raise InputError(f"folder {folder} holds {len(studies)} studies, so which one to score "
                         f"is not known: {_listing(studies, phi)}; choose one with {_ask(phi)}")
    wanted = study.strip()
    if wanted in studies and wanted:
        keep = wanted
    else:
        m = _ISO_DATE.fullmatch(wanted) or _DA_DATE.fullmatch(wanted)
        if m is None:
            raise InputError(f"--study {study!r} is neither a StudyInstanceUID of folder "
                             f"{folder} nor a date (YYYY-MM-DD or YYYYMMDD); its studies: "
                             f"{_listing(studies, phi)}")
        date = "-".join(m.groups())
        hits = [uid for uid, ss in studies.items()
                if any(iso_date(s.study_date) == date for s in ss)]
        if not hits:
            raise InputError(f"--study {study}: no study of folder {folder} is dated {date}; "
                             f"its studies: {_listing(studies, phi)}")
        if len(hits) > 1:
            shown = _listing({uid: studies[uid] for uid in hits}, phi)
            raise InputError(f"--study {study}: {len(hits)} studies of folder {folder} are dated "
                             f"{date} ({shown}); name one by its StudyInstanceUID")
        keep = hits[0]
    return _replace_series(index, studies[keep])


def choose_series(index: SeriesIndex, series_uid: str | None = None, *,
                  study: str | None = None, phi: bool = True) -> SeriesChoice:
    """Choose the sagittal, T1-weighted, non-contrast series to score.

    Rules: the slice normal must be sagittal (dominant LPS x component); the
    weighting must be T1 (TR <= 1000 ms and TE <= 30 ms when given; a "T2",
    "STIR", "TIRM", "FLAIR" or "PD" description without "T1" rejects); no contrast
    (a ContrastBolusAgent value, or "+C", "C+", "GAD", "POST" in the description).
    Among several candidates the one with "T1" in its description wins, then the
    one inside the normative TR/TE window, then the one with the most slices.
    ``series_uid`` overrides the choice (its problems become warnings).

    A folder must hold one study (StudyInstanceUID), or ``study`` must name
    one (see :func:`select_study`); ``series_uid`` implies its study.

    Raises
    ------
    InputError
        Several studies and neither ``study`` nor ``series_uid``; a ``study``
        that does not name one, or that ``series_uid`` is not part of;
        unknown ``series_uid``; only axial (or otherwise non-sagittal) series;
        only post-contrast T1 sagittal series; no T1-weighted sagittal series.
    """
    folder = index.folder if index.folder is not None else "the folder"
    skipped_w: list[VbqWarning] = [LostFile(f"skipped {p}: it {why}") for p, why in index.skipped]
    if not index.series:
        raise InputError(f"no DICOM image series in {folder}")
    if series_uid is not None:
        named = index.get(series_uid)
        if study is not None:
            picked = select_study(index, study, phi=phi)
            if named not in picked.series:
                raise InputError(f"series {named.label()} is not part of the study --study "
                                 f"{study} names, but of study "
                                 f"{named.study_instance_uid or '(no StudyInstanceUID)'}; "
                                 "give one of them only")
        index = _replace_series(index, [s for s in index.series if s.study_instance_uid
                                        == named.study_instance_uid])
    else:
        index = select_study(index, study, phi=phi)
    if series_uid is not None:
        chosen = index.get(series_uid)
        w: list[VbqWarning] = []
        problem = _structure_problem(chosen)
        if problem:
            w.append(SeriesStructure(f"series {chosen.label()}: {problem}"))
        if chosen.plane != "sagittal":
            w.append(NotSagittal(f"series {chosen.label()} is {chosen.plane}, not sagittal"))
        ok, why = _weighting(chosen)
        if not ok:
            w.append(NotT1(f"series {chosen.label()} is {why}"))
        c = _contrast(chosen)
        if c:
            w.append(ContrastAgent(f"contrast agent present in series {chosen.label()}: {c}; "
                                   "VBQ is defined on non-contrast T1 images"))
        w.extend(_acquisition_warnings(chosen))
        others = tuple((s.series_instance_uid, s.description, "not the series named by UID")
                       for s in index.series if s is not chosen)
        chosen, lost_w = _with_losses(_known_field(chosen), index)
        w.extend(lost_w)
        return SeriesChoice(series=chosen, reason=(
            f"series {chosen.label()} named by UID ({_summary(chosen)})"),
            rejected=others, warnings=tuple(w + skipped_w))

    rejected: list[tuple[str, str, str]] = []
    candidates: list[tuple[SeriesInfo, str]] = []
    post_contrast: list[tuple[SeriesInfo, str]] = []
    planes: list[str] = []
    for s in index.series:
        planes.append(s.plane)
        problem = _structure_problem(s)
        if problem:
            rejected.append((s.series_instance_uid, s.description, problem))
            continue
        if s.plane != "sagittal":
            rejected.append((s.series_instance_uid, s.description,
                             f"{s.plane} plane, not sagittal"))
            continue
        ok, why = _weighting(s)
        if not ok:
            rejected.append((s.series_instance_uid, s.description, why))
            continue
        c = _contrast(s)
        if c:
            post_contrast.append((s, c))
            continue
        candidates.append((s, why))

    if not candidates:
        listing = "; ".join(f"{s.label()}: {why}" for (_, _, why), s in
                            zip(rejected, [index.get(u) for u, _, _ in rejected], strict=True))
        if post_contrast:
            names = ", ".join(s.label() for s, _ in post_contrast)
            raise InputError(
                f"folder {folder} has only post-contrast T1 sagittal series ({names}) and VBQ "
                "is defined on non-contrast T1 images (name one with --series to score it anyway)")
        if "sagittal" not in planes:
            kinds = sorted(set(planes))
            if kinds == ["axial"]:
                raise InputError(f"folder {folder} has only axial series and VBQ needs a "
                                 f"sagittal series ({listing}); add the sagittal T1 series to "
                                 "the folder")
            raise InputError(f"folder {folder} has no sagittal series ({listing}); add the "
                             "sagittal T1 series, or name a series with --series UID if its "
                             "orientation was misread")
        raise InputError(f"folder {folder} has no T1-weighted sagittal series ({listing}); if "
                         "one of them is T1-weighted, name it with --series UID to score it "
                         "anyway")

    for s, c in post_contrast:
        rejected.append((s.series_instance_uid, s.description, f"post-contrast: {c}"))

    def rank(item: tuple[SeriesInfo, str]) -> tuple[int, int, int]:
        s = item[0]
        in_window = (s.tr_ms is not None and s.te_ms is not None
                     and NORMATIVE_TR_MS[0] <= s.tr_ms <= NORMATIVE_TR_MS[1]
                     and NORMATIVE_TE_MS[0] <= s.te_ms <= NORMATIVE_TE_MS[1])
        return (int(bool(_T1_HINT.search(s.description.upper()))), int(in_window),
                len(s.slices))

    candidates.sort(key=rank, reverse=True)
    chosen, why = candidates[0]
    reason = (f"series {chosen.label()}: sagittal, {why}, no contrast agent, "
              f"{len(chosen.slices)} slices")
    if len(candidates) > 1:
        best = rank(candidates[0])
        for s, _ in candidates[1:]:
            other = rank((s, ""))
            if other[0] < best[0]:
                because = f"{chosen.label()} has 'T1' in its description"
            elif other[1] < best[1]:
                because = f"{chosen.label()} is inside the normative TR/TE window"
            elif other[2] < best[2]:
                because = f"{chosen.label()} has more slices ({best[2]} vs {other[2]})"
            else:
                because = f"{chosen.label()} comes first in series order"
            rejected.append((s.series_instance_uid, s.description,
                             f"also a T1 sagittal series, but {because}"))
        reason += f"; preferred over {len(candidates) - 1} other T1 sagittal series"
    w = _acquisition_warnings(chosen)
    chosen, lost_w = _with_losses(_known_field(chosen), index)
    w.extend(lost_w)
    return SeriesChoice(series=chosen, reason=reason, rejected=tuple(rejected),
                        warnings=tuple(w + skipped_w))


def _replace_series(index: SeriesIndex, series: list[SeriesInfo]) -> SeriesIndex:
    return replace(index, series=tuple(series))


def load_series(path: str | os.PathLike[str], series_uid: str | None = None, *,
                study: str | None = None, phi: bool = True) -> SeriesChoice:
    """Index ``path`` and choose the series to score (see :func:`choose_series`)."""
    return choose_series(index_folder(path), series_uid=series_uid, study=study, phi=phi)


def describe_choice(choice: SeriesChoice) -> list[str]:
    """Human-readable lines: the choice, each rejected series, each warning."""
    lines = [f"chosen: {choice.reason}"]
    for uid, desc, why in choice.rejected:
        lines.append(f"rejected: '{desc or '(no description)'}' ({uid}): {why}")
    lines.extend(f"warning: {w}" for w in choice.warnings)
    return lines
