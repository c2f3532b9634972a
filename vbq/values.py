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

Other columns are ignored. Each bad row is reported by its number (1 = the
first row under the header) and the column at fault; the other rows are still
scored.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vbq.errors import AnalysisError, InputError
from vbq.levels import CSF, VERTEBRAL_LEVELS, parse_exclusions
from vbq.protocol import Protocol, get_protocol
from vbq.result import VBQResult
from vbq.score import score_values

_EXCLUDE_NAMES = ("exclude", "exclusions")


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


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the table ({err})") from None
    if not text.strip():
        raise InputError(f"{path}: the table is empty")
    first = text.splitlines()[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    data = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not data:
        raise InputError(f"{path}: the table has a header but no data rows")
    return header, data


def score_table(path: str | Path, protocol: str | Protocol = "lumbar") -> Iterator[RowOutcome]:
    """Score every row of a table of PACS signal intensities.

    Yields one :class:`RowOutcome` per data row, in order; a bad row gives
    an outcome with ``error`` set (naming the row and the column) and does
    not stop the others.

    Raises
    ------
    InputError
        When the table as a whole is unusable (missing file, no ``id`` or
        ``CSF`` column, a column name given twice).
    """
    path = Path(path)
    proto = get_protocol(protocol)
    header, rows = _read_rows(path)
    names = [h.upper() if h.upper() in (*VERTEBRAL_LEVELS, CSF) else h.lower() for h in header]
    seen: set[str] = set()
    for n in names:
        if n and n in seen:
            raise InputError(f"{path.name}: column {n!r} appears twice")
        seen.add(n)
    if "id" not in names:
        raise InputError(f"{path.name}: no 'id' column (columns: {', '.join(header)})")
    if CSF not in names:
        raise InputError(f"{path.name}: no 'CSF' column (columns: {', '.join(header)})")
    col = {n: i for i, n in enumerate(names)}
    level_cols = [n for n in names if n in VERTEBRAL_LEVELS]
    exclude_col = next((n for n in _EXCLUDE_NAMES if n in col), None)
    first_row: dict[str, int] = {}
    for number, cells in enumerate(rows, start=1):
        cells = cells + [""] * (len(names) - len(cells))
        rid = cells[col["id"]].strip()
        where = f"{path.name} row {number}" + (f" (id {rid})" if rid else "")
        try:
            if len(cells) > len(names):
                raise InputError(f"{where}: {len(cells)} cells but {len(names)} columns")
            if not rid:
                raise InputError(f"{where}, column id: empty identifier")
            if rid in first_row:
                raise InputError(f"{where}, column id: {rid!r} is already the id of row "
                                 f"{first_row[rid]}")
            first_row[rid] = number
            values: dict[str, float | None] = {}
            for name in [*level_cols, CSF]:
                text = cells[col[name]].strip()
                if not text:
                    values[name] = None
                    continue
                try:
                    value = float(text)
                except ValueError:
                    raise InputError(f"{where}, column {name}: {text!r} is not a number") from None
                if not math.isfinite(value):
                    raise InputError(f"{where}, column {name}: {text!r} is not a finite number")
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
                csf_level = cells[col["csf_level"]].strip().upper() or None
            try:
                result = score_values(values, protocol=proto, exclude=exclude,
                                      csf_level=csf_level)
            except AnalysisError as err:
                column = ""
                if "level(s) left" in str(err):
                    column = f", column {exclude_col}" if exclude else ", level columns"
                yield RowOutcome(number, rid, None, f"{where}{column}: {err}", "analysis")
                continue
            except InputError as err:
                raise InputError(f"{where}: {err}") from None
            yield RowOutcome(number, rid, result, None)
        except InputError as err:
            yield RowOutcome(number, rid, None, str(err), "input")
