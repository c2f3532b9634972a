"""The parts every ROI input file shares: how it is read, its format, space, slice and exclusions.

Owns the top level of the ``vbq-rois/1`` and ``vbq-seeds/1`` files (and the
``format`` of ``vbq-labels/1`` files): the JSON is read strictly by
:func:`vbq.fileio.read_json_file`, a mapping already loaded is taken as is, and
every message starts with the file's name. :func:`read_document` checks the
top-level keys, ``format``, ``space``, the list of items, ``slice`` (one
:class:`~vbq.dicom.sliceref.SliceRef`) and ``exclude``; each format then reads
its own items (:mod:`vbq.roi.rois`, :mod:`vbq.roi.seeds`).

Examples
--------
>>> doc = read_document({"format": "vbq-seeds/1", "slice": 3,
...                      "seeds": [{"label": "L1", "point": [4, 5]}]},
...                     fmt="vbq-seeds/1", items="seeds", what="seed file", source="seeds")
>>> doc.space, doc.slice, len(doc.items)
('pixel', SliceRef(index=3), 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vbq.dicom.sliceref import SliceRef
from vbq.errors import InputError
from vbq.fileio import NUMBER_LIMIT, in_limit, read_json_file, shown
from vbq.levels import LABELS, check_level, check_reason

__all__ = ["SPACES", "InputDocument", "load_document", "check_format", "read_document",
           "read_slice", "check_label", "check_csf_level", "number_list"]

#: Coordinate spaces of ROI and seed files: pixel ``[row, column]`` or patient ``[x, y, z]`` mm.
SPACES = ("pixel", "patient")


@dataclass(frozen=True)
class InputDocument:
    """The top level of a ROI or seed file, checked.

    Attributes
    ----------
    source
        The file's name, for messages.
    space
        ``"pixel"`` or ``"patient"``.
    items
        The list of ROIs or seeds, still as written.
    slice
        The file's default slice, or None.
    exclude
        Level -> reason for levels to leave out of the score.
    """

    source: str
    space: str
    items: Sequence[Any]
    slice: SliceRef | None = None
    exclude: Mapping[str, str] = field(default_factory=dict)


def load_document(obj: str | Path | Mapping[str, Any], what: str, source: str | None = None,
                  default_source: str = "input") -> tuple[Any, str]:
    """Return the document (read strictly from a path, or a mapping as given) and its name.

    Raises
    ------
    InputError
        The file is missing, unreadable or not strict JSON (naming it).
    """
    if isinstance(obj, str | Path):
        path = Path(obj)
        return read_json_file(path, what), source or path.name
    return obj, source or default_source


def check_format(data: Mapping[str, Any], fmt: str, where: str, *,
                 required: bool = True) -> None:
    """Refuse a document whose ``"format"`` is not ``fmt`` (absent is allowed unless required).

    Raises
    ------
    InputError
        ``{where}: "format" must be "{fmt}", got ...``.
    """
    if "format" not in data and not required:
        return
    if data.get("format") != fmt:
        raise InputError(f'{where}: "format" must be "{fmt}", got {shown(data.get("format"))}')


def read_slice(value: object, where: str) -> SliceRef:
    """Read the ``slice`` of a file or of one of its items (see :meth:`SliceRef.parse`)."""
    return SliceRef.parse(value, where, in_file=True)


def read_document(obj: str | Path | Mapping[str, Any], *, fmt: str, items: str, what: str,
                  source: str | None = None, default_source: str | None = None,
                  item_noun: str | None = None) -> InputDocument:
    """Read and check the top level of a ROI or seed file.

    Parameters
    ----------
    obj
        A path, or the mapping already loaded.
    fmt
        The format string the file must carry (``"vbq-rois/1"``).
    items
        The key of the list of items (``"rois"``, ``"seeds"``).
    what
        What the file is, for messages (``"ROI file"``).
    source, default_source
        The name used in messages (default: the file's name, else ``default_source``,
        else ``items``).
    item_noun
        The items in a message (default ``items``): ``"ROIs"``.

    Raises
    ------
    InputError
        Malformed JSON, not an object, an unknown key, a wrong ``format`` or
        ``space``, an empty item list, a bad ``slice`` or ``exclude``.
    """
    data, src = load_document(obj, what, source, default_source or items)
    if not isinstance(data, Mapping):
        raise InputError(f"{src}: a {what} must be a JSON object")
    allowed = ("format", "space", "slice", items, "exclude")
    for key in data:
        if key not in allowed:
            raise InputError(f'{src}: unknown key "{key}"')
    check_format(data, fmt, src)
    space = data.get("space", "pixel")
    if space not in SPACES:
        raise InputError(f'{src}: "space" must be "pixel" or "patient", got {space!r}')
    raw = data.get(items)
    if not isinstance(raw, list) or not raw:
        raise InputError(f'{src}: "{items}" must be a non-empty list of {item_noun or items}')
    slice_ref = read_slice(data["slice"], src) if "slice" in data else None
    exclude_raw = data.get("exclude", {})
    if not isinstance(exclude_raw, dict):
        raise InputError(f'{src}: "exclude" must be an object like {{"L2": "fracture"}}')
    exclude = {check_level(k, f"{src}: exclude"): check_reason(v, f"{src}: exclude {k}")
               for k, v in exclude_raw.items()}
    return InputDocument(src, space, raw, slice_ref, exclude)


def check_label(label: object, where: str) -> str:
    """Return ``label`` if it is a level or ``"CSF"``.

    Raises
    ------
    InputError
        ``{where}: unknown label ...`` listing the labels.
    """
    if not isinstance(label, str) or label not in LABELS:
        raise InputError(f"{where}: unknown label {label!r} "
                         "(expected one of C1-C7, T1-T12, L1-L5, S1, CSF)")
    return label


def check_csf_level(where: str, level: str | None, csf_levels: Sequence[str],
                    protocol: str) -> None:
    """Refuse the ``level`` of a CSF ROI or seed that is not one of ``csf_levels``.

    Parameters
    ----------
    where
        How the message names the file and the item (``"rois.json: ROI 6 (CSF)"``).
    level
        The item's ``level`` (None: not given, nothing to check).
    csf_levels
        The levels at which ``protocol`` measures the CSF, preferred first.
    protocol
        The protocol's name, as the error sentence names it.

    Raises
    ------
    InputError
        ``{where}: "level" is T12, which protocol lumbar does not allow for the
        CSF (allowed: L3, L2, L1)``.
    """
    if level is not None and level not in csf_levels:
        raise InputError(f'{where}: "level" is {level}, which protocol {protocol} does not '
                         f"allow for the CSF (allowed: {', '.join(csf_levels)})")


def number_list(value: Any, n: int | None, where: str, key: str) -> np.ndarray:
    """Return ``value`` as floats when it is a list of ``n`` numbers within the limit.

    Raises
    ------
    InputError
        ``{where}: 'key' must be a list of n numbers (each between -1e+06 and 1e+06), got ...``.
    """
    ok = isinstance(value, list) and (n is None or len(value) == n)
    if ok:
        ok = all(in_limit(v) for v in value)
    if not ok:
        want = f"a list of {n} numbers" if n else "a list of numbers"
        want += f" (each between {-NUMBER_LIMIT:g} and {NUMBER_LIMIT:g})"
        raise InputError(f"{where}: {key!r} must be {want}, got {shown(value)}")
    return np.asarray(value, dtype=float)
