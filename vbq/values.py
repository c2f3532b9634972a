"""Score a table of signal intensities read in a PACS: one row a patient.

Table format (CSV; ``,``, ``;`` or tab separated; header names are matched
case-insensitively):

``id``
    Patient or study identifier (required).
``L1`` ... ``L4`` (or the levels of the chosen protocol; any of C1-S1)
    Vertebral signal intensities; an empty cell means not measured.
``CSF``
    CSF signal intensity (required, > 0).
``csf_level`` (optional)
    Level the CSF was measured at; default the protocol's (L3 for lumbar).
``exclude`` (optional; ``exclusions`` also accepted)
    Levels to leave out, ``LEVEL=REASON`` items separated by ``;``, e.g.
    ``L2=fracture;L3=other``. Reasons: fracture, hemangioma,
    instrumentation, schmorl_node, lesion, other.
``field_strength_t`` (optional)
    Field strength of the acquisition in tesla (``1.5``, ``3``); it selects
    the published-range limit and the cut-offs compared. A value outside 0.05
    to 11.7 T (:func:`vbq.cutoffs.is_field_strength`) is a bad cell.
``force`` (optional)
    ``yes``/``no`` (also ``true``/``false``, ``1``/``0``; empty = no): score
    the row even when its CSF is at least as bright as the median marrow
    (VBQ <= 1, refused otherwise), with a warning.

A signal intensity is a plain decimal number: ASCII digits with an optional
sign, decimal point and exponent (``410``, ``410.5``, ``-3``, ``.5``,
``4.1e2``); spaces and tabs around it are ignored. In a ``;``-separated table
(the CSV of decimal-comma locales) the decimal mark may be a comma instead
(``410,5``), as the study tables of :mod:`metaanalysis` are read. Anything
else is a malformed cell: digit separators (``1_000``, ``1,000`` in a
``,``- or tab-separated table, ``1.000,5``), ``nan``, ``inf``, hexadecimal,
non-ASCII digits or spaces. Every row must have exactly as many cells as the
header has names.

Other columns are ignored. Each bad row is reported by its number (1 = the
first row under the header) and the column at fault; the other rows are still
scored.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vbq.cutoffs import field_strength_rule, is_field_strength
from vbq.errors import AnalysisError, ImplausibleScoreError, InputError
from vbq.fileio import lookalike_columns, shown_text
from vbq.levels import CSF, VERTEBRAL_LEVELS, parse_exclusions
from vbq.protocol import Protocol, get_protocol
from vbq.result import VBQResult
from vbq.score import score_values

_EXCLUDE_NAMES = ("exclude", "exclusions")
#: The table's columns besides the levels (matched in lower case)
_OTHER_COLUMNS = ("id", "csf", "csf_level", *_EXCLUDE_NAMES, "field_strength_t", "force")


@dataclass(frozen=True)
class RowOutcome:
    """The score of one table row, or why it could not be scored."""

    row: int
    id: str
    result: VBQResult | None
    error: str | None
    #: ``"input"`` (the row is malformed) or ``"analysis"`` (well formed, but no
    #: score can be computed from it); None when the row was scored.
    error_type: str | None = None

    def to_record(self) -> dict[str, object]:
        """Return the output-table row: one flat record."""
        r = self.result
        if r is None:
            return {"id": self.id, "vbq": None, "error": self.error}
        return {
            "id": self.id,
            "vbq": r.vbq,
            "protocol": r.protocol,
            "levels_used": ";".join(r.used_levels),
            "n_levels_used": len(r.used_levels),
            "excluded": ";".join(f"{k}={v}" for k, v in r.excluded.items()),
            "csf_level": r.csf.level,
            "csf_si": r.csf.si,
            "cutoffs_above": ";".join(f"{c['id']}" for c in r.cutoffs if c["above"]),
            "warnings": " | ".join(r.warnings),
            "error": None,
        }


#: Columns of the output table, in order.
OUTPUT_COLUMNS = ("id", "vbq", "protocol", "levels_used", "n_levels_used", "excluded",
                  "csf_level", "csf_si", "cutoffs_above", "warnings", "error")


#: A plain decimal number: ASCII digits, optional sign, point and exponent.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: The same with a decimal comma instead of the point (``;``-separated tables).
_NUMBER_COMMA = re.compile(r"[+-]?(?:[0-9]+(?:,[0-9]*)?|,[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(text: str, decimal_comma: bool = False) -> float:
    """Read one signal intensity written as a plain decimal number.

    Parameters
    ----------
    text
        The cell, with any surrounding spaces and tabs already removed.
    decimal_comma
        Accept a comma as the decimal mark (``410,5``) as well as a point;
        meant for ``;``-separated tables.

    Returns
    -------
    float
        The value; it may be infinite when the exponent overflows a double.

    Raises
    ------
    ValueError
        When ``text`` is not a plain decimal number. Python's :func:`float`
        alone would also accept ``1_000``, ``nan``, ``infinity`` and
        surrounding Unicode spaces; none of those is a measured intensity.
    """
    if _NUMBER.fullmatch(text):
        return float(text)
    if decimal_comma and _NUMBER_COMMA.fullmatch(text):
        return float(text.replace(",", "."))
    raise ValueError(f"{text!r} is not a plain decimal number")


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    """Return the header, the non-empty data rows with their numbers, and the delimiter.

    Row numbers count every record under the header, empty ones included, so
    they stay the numbers a reader counts in the file.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the table ({err})") from None
    if not text.strip():
        raise InputError(f"{path}: the table is empty")
    first = text.splitlines()[0]
    if not first.strip(" \t,;"):
        raise InputError(f"{path.name}: the first line is blank; the header (id, the levels, "
                         "CSF) must be the first line")
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as err:
        raise InputError(f"{path.name} line {reader.line_num}: not a readable CSV row "
                         f"({err})") from None
    header = [h.strip() for h in rows[0]]
    data = [(number, r) for number, r in enumerate(rows[1:], start=1)
            if any(cell.strip() for cell in r)]
    if not data:
        raise InputError(f"{path}: the table has a header but no data rows")
    return header, data, delimiter


def _shown_name(name: str) -> str:
    """Return a header name for a message: short, control characters escaped as Python does."""
    return shown_text("".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name))


#: Cells of a ``force`` column, read as yes or no (case-insensitive).
FORCE_WORDS: dict[str, bool] = {"": False, "no": False, "false": False, "0": False,
                                "n": False, "yes": True, "true": True, "1": True, "y": True}


def parse_force(text: str | None, where: str) -> bool:
    """Read a ``force`` cell: yes/no, true/false, 1/0, y/n (any case), empty = no.

    Raises
    ------
    InputError
        For anything else, naming ``where``.
    """
    value = FORCE_WORDS.get((text or "").strip().lower())
    if value is None:
        raise InputError(f"{where}: {text!r} is not yes or no")
    return value


def score_table(path: str | Path, protocol: str | Protocol = "lumbar", *,
                force: bool = False, notes: list[str] | None = None) -> Iterator[RowOutcome]:
    """Score every row of a table of PACS signal intensities.

    ``force=True`` scores every row even when its CSF is at least as bright
    as its median marrow signal (a ``force`` column does it row by row).
    A column that is ignored but named like an absent known one
    (``exclusion``, ``field_strength``) is named in ``notes``, when a list is
    given, before the first row is scored.

    Yields one :class:`RowOutcome` per data row, in order; a bad row gives
    an outcome with ``error`` set (naming the row and the column) and does
    not stop the others.

    Raises
    ------
    InputError
        When the table as a whole is unusable (missing file, a blank first
        line, no ``id`` or ``CSF`` column, a column name given twice, both
        ``exclude`` and ``exclusions``).
    """
    path = Path(path)
    proto = get_protocol(protocol)
    header, rows, delimiter = _read_rows(path)
    decimal_comma = delimiter == ";"
    # ASCII case only: "\u017f" (long s) upper-cases to "S" but names no column
    names = [h.upper() if h.isascii() and h.upper() in (*VERTEBRAL_LEVELS, CSF) else h.lower()
             for h in header]
    seen: set[str] = set()
    for n in names:
        if n and n in seen:
            raise InputError(f"{path.name}: column {_shown_name(n)!r} appears twice")
        seen.add(n)
    aliases = [n for n in _EXCLUDE_NAMES if n in seen]
    if len(aliases) > 1:
        raise InputError(f"{path.name}: columns {aliases[0]!r} and {aliases[1]!r} both give the "
                         "levels to exclude; keep one")
    columns = ", ".join(_shown_name(h) for h in header)
    if "id" not in names:
        raise InputError(f"{path.name}: no 'id' column (columns: {columns})")
    if CSF not in names:
        raise InputError(f"{path.name}: no 'CSF' column (columns: {columns})")
    col = {n: i for i, n in enumerate(names)}
    if notes is not None:
        present = [n.lower() for n in names if n]
        if aliases:
            present += _EXCLUDE_NAMES
        known = [*(c if c != "csf" else CSF for c in _OTHER_COLUMNS), *VERTEBRAL_LEVELS]
        notes.extend(f"{path.name}: {where} is not a known column and is ignored; "
                     f"did you mean {name!r}?" for name, where in
                     lookalike_columns(header, known, present).items())
        unnamed = [i for i, h in enumerate(header)
                   if not h and any(i < len(c) and c[i].strip() for _, c in rows)]
        notes.extend(f"{path.name}: column {i + 1} has values but no name in the header and is "
                     "ignored" for i in unnamed)
    level_cols = [n for n in names if n in VERTEBRAL_LEVELS]
    exclude_col = next((n for n in _EXCLUDE_NAMES if n in col), None)
    first_row: dict[str, int] = {}
    for number, cells in rows:
        rid = cells[col["id"]].strip() if col["id"] < len(cells) else ""
        where = f"{path.name} row {number}" + (f" (id {rid})" if rid else "")
        try:
            if len(cells) != len(names):
                # a cell missing or added shifts every later cell under the wrong column
                raise InputError(f"{where}: {len(cells)} cells but the header has "
                                 f"{len(names)} columns")
            if not rid:
                raise InputError(f"{where}, column id: empty identifier")
            if rid in first_row:
                raise InputError(f"{where}, column id: {rid!r} is already the id of row "
                                 f"{first_row[rid]}")
            first_row[rid] = number
            values: dict[str, float | None] = {}
            for name in [*level_cols, CSF]:
                text = cells[col[name]].strip(" \t")
                if not text:
                    values[name] = None
                    continue
                try:
                    value = parse_number(text, decimal_comma)
                except ValueError:
                    hint = ""
                    if not decimal_comma and _NUMBER_COMMA.fullmatch(text):
                        hint = " (a decimal comma is read only in a ';'-separated table)"
                    raise InputError(f"{where}, column {name}: {shown_text(text)!r} is not a "
                                     f"number{hint}") from None
                if not math.isfinite(value):
                    raise InputError(f"{where}, column {name}: {shown_text(text)!r} is not a "
                                     "finite number")
                values[name] = value
            csf = values[CSF]
            if csf is None:
                raise InputError(f"{where}, column CSF: empty")
            if csf <= 0:
                raise InputError(f"{where}, column CSF: {csf:g} is not > 0")
            exclude = {}
            if exclude_col is not None:
                exclude = parse_exclusions(cells[col[exclude_col]],
                                           f"{where}, column {exclude_col}")
            csf_level = None
            if "csf_level" in col:
                raw = cells[col["csf_level"]].strip()
                csf_level = (raw.upper() if raw.isascii() else raw) or None
                if csf_level is not None and csf_level not in proto.csf_levels:
                    raise InputError(
                        f"{where}, column csf_level: {shown_text(csf_level)!r} is not a CSF "
                        f"level of protocol {proto.name} ({', '.join(proto.csf_levels)})")
            row_force = force
            if "force" in col:
                row_force = parse_force(cells[col["force"]], f"{where}, column force") or force
            field_t = None
            if "field_strength_t" in col:
                text = cells[col["field_strength_t"]].strip(" \t")
                if text:
                    try:
                        field_t = parse_number(text, decimal_comma)
                    except ValueError:
                        raise InputError(f"{where}, column field_strength_t: "
                                         f"{shown_text(text)!r} is not a number") from None
                    if not is_field_strength(field_t):
                        raise InputError(f"{where}, column field_strength_t: "
                                         f"{shown_text(text)!r} is not "
                                         f"{field_strength_rule()}")
            try:
                result = score_values(values, protocol=proto, exclude=exclude,
                                      csf_level=csf_level, force=row_force,
                                      field_strength_t=field_t)
            except AnalysisError as err:
                column = ""
                if isinstance(err, ImplausibleScoreError):
                    column = ", column CSF"
                elif "level(s) left" in str(err):
                    column = f", column {exclude_col}" if exclude else ", level columns"
                yield RowOutcome(number, rid, None, f"{where}{column}: {err}", "analysis")
                continue
            except InputError as err:
                raise InputError(f"{where}: {err}") from None
            yield RowOutcome(number, rid, result, None)
        except InputError as err:
            yield RowOutcome(number, rid, None, str(err), "input")
