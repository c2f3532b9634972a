"""Spine level labels and exclusion reasons shared by ROI files, protocols and results."""

from __future__ import annotations

from collections.abc import Mapping

from vbq.errors import InputError

#: Vertebral levels that may carry a ROI, cranial to caudal.
VERTEBRAL_LEVELS: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "S1",
)

#: The label of the cerebrospinal-fluid ROI.
CSF = "CSF"

#: Every label a ROI may have.
LABELS: tuple[str, ...] = (*VERTEBRAL_LEVELS, CSF)

#: Why a level may be left out of the score.
EXCLUSION_REASONS: tuple[str, ...] = (
    "fracture",
    "hemangioma",
    "instrumentation",
    "schmorl_node",
    "lesion",
    "other",
)


def check_level(label: object, where: str) -> str:
    """Return ``label`` if it is a vertebral level, else raise :class:`InputError`.

    Parameters
    ----------
    label
        The candidate label, e.g. ``"L2"``.
    where
        Who is asking, used as the start of the error sentence
        (e.g. ``"rois.json: exclude"``).
    """
    if not isinstance(label, str) or label not in VERTEBRAL_LEVELS:
        raise InputError(
            f"{where}: unknown level {label!r} (expected one of C1-C7, T1-T12, L1-L5, S1)"
        )
    return label


def check_reason(reason: object, where: str) -> str:
    """Return ``reason`` if it is a known exclusion reason, else raise :class:`InputError`."""
    if not isinstance(reason, str) or reason not in EXCLUSION_REASONS:
        raise InputError(
            f"{where}: unknown exclusion reason {reason!r} "
            f"(expected one of {', '.join(EXCLUSION_REASONS)})"
        )
    return reason


def parse_exclusions(items: object, where: str = "exclude") -> dict[str, str]:
    """Normalise exclusions to ``{level: reason}``.

    Accepts a mapping ``{"L2": "fracture"}``, an iterable of ``"L2=fracture"``
    strings, or one string of such items separated by ``;`` or ``,``
    (``"L2=fracture;L3=other"``). None or an empty string gives ``{}``.

    Raises
    ------
    InputError
        For an item without ``=``, an unknown level or reason, or a level
        given twice.

    Examples
    --------
    >>> parse_exclusions("L2=fracture; L4=hemangioma")
    {'L2': 'fracture', 'L4': 'hemangioma'}
    """
    if items is None:
        return {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        if isinstance(items, str):
            raw = [p for chunk in items.split(";") for p in chunk.split(",")]
        else:
            raw = list(items)  # type: ignore[call-overload]
        pairs = []
        for item in raw:
            text = str(item).strip()
            if not text:
                continue
            if "=" not in text:
                raise InputError(
                    f"{where}: {text!r} is not LEVEL=REASON (for example L2=fracture)"
                )
            level, reason = (t.strip() for t in text.split("=", 1))
            pairs.append((level, reason))
    out: dict[str, str] = {}
    for level, reason in pairs:
        check_level(level, where)
        check_reason(reason, f"{where} {level}")
        if level in out and out[level] != reason:
            raise InputError(f"{where}: level {level} is excluded twice with different reasons")
        out[level] = reason
    return out


def check_level_order(heights: Mapping[str, float], what: str) -> None:
    """Refuse vertebral labels whose positions are out of craniocaudal order.

    Parameters
    ----------
    heights
        Level -> its position along the patient's superior axis (mm; DICOM's
        patient z, larger is more cranial), e.g. of each ROI's centroid.
        Labels that are not vertebral levels are ignored.
    what
        What the labels belong to, as the error sentence names it (e.g.
        ``"rois.json"``, ``"mask seg.nii.gz"``).

    Raises
    ------
    InputError
        When a level lies at or below a level that comes after it (L1 below L3:
        labels swapped or mislabelled), naming both.

    Examples
    --------
    >>> check_level_order({"L1": 40.0, "L2": 10.0, "CSF": 0.0}, "rois.json")
    >>> check_level_order({"L1": 10.0, "L3": 40.0}, "rois.json")
    Traceback (most recent call last):
    ...
    vbq.errors.InputError: rois.json: L1 lies 30 mm below L3, but L1 is above L3 in the spine; \
the levels are mislabelled (swapped?): check the labels
    """
    order = sorted((VERTEBRAL_LEVELS.index(k), k, float(v)) for k, v in heights.items()
                   if k in VERTEBRAL_LEVELS)
    for i, (_, upper, zu) in enumerate(order):
        for _, lower, zl in order[i + 1:]:
            if zu <= zl:
                raise InputError(
                    f"{what}: {upper} lies {zl - zu:.0f} mm below {lower}, but {upper} is above "
                    f"{lower} in the spine; the levels are mislabelled (swapped?): check the "
                    "labels")
