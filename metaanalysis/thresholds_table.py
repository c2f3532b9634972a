"""Validated long-format tables of accuracy at several cut-offs (one row per study x cut-off).

A :class:`ThresholdsTable` holds, for each study, the 2x2 table at each cut-off it
reports: columns ``study, cutoff, TP, FP, FN, TN`` (any case, any order; the study
key is ``study``, else ``study_id``, else ``id``, or the column named by
``study_column``; never ``author``, which repeats across studies). Cells are read
by the same rules as :class:`metaanalysis.table.StudyTable` (the one reader of
study tables): exact whole counts, the same encodings and separators, empty rows
skipped, messages naming the file, row, study and column.

A test is positive when the value is at or above the cut-off
(``direction="higher"``) or at or below it (``direction="lower"``). Within a study
the cut-offs must be distinct numbers, and as the cut-off moves towards fewer
positives, TP and FP must not increase (ties allowed). A study whose number of
diseased (TP + FN) or non-diseased (FP + TN) subjects differs between its rows
is kept, with a warning naming it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from metaanalysis.errors import InputError, MetaAnalysisWarning, UnequalTotalsWarning
from metaanalysis.table import (
    COUNT_COLUMNS,
    EXCEL_SUFFIXES,
    STUDY_KEYS,
    _count,
    _find_column,
    _is_missing,
    _prefix,
    _study_label,
    read_cells,
    shown_value,
)

__all__ = ["DIRECTIONS", "THRESHOLD_COLUMNS", "ThresholdsTable"]

#: Columns of a long-format table (the study key under one of its names).
THRESHOLD_COLUMNS: tuple[str, ...] = ("study", "cutoff", *COUNT_COLUMNS)
#: ``higher``: positive when the value is >= the cut-off; ``lower``: when it is <=.
DIRECTIONS: tuple[str, ...] = ("higher", "lower")


def _cutoff(v: Any, where: str) -> float:
    """Return the cut-off in ``v`` as a finite float or raise InputError naming ``where``."""
    if _is_missing(v) or (isinstance(v, str) and v.strip() == ""):
        raise InputError(f"{where}: the cut-off is missing.")
    if isinstance(v, bool | np.bool_):
        raise InputError(f"{where}: {shown_value(v)} is a true/false value, not a cut-off.")
    try:
        x = float(str(v).strip()) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {shown_value(str(v).strip())} is not a number.") from None
    if not math.isfinite(x):
        raise InputError(f"{where}: {shown_value(v)} is not a finite cut-off.")
    return x


class ThresholdsTable:
    """Studies reporting sensitivity and specificity at one or more cut-offs.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``cutoff, TP, FP, FN, TN`` and the study key (found by name,
        case-insensitively); other columns are ignored.
    source : str, optional
        Where the data came from (a file name); messages start with it.
    study_column : str, optional
        The column of study names (any case); default ``study``, else
        ``study_id``, else ``id``.
    direction : {"higher", "lower"}
        ``higher`` (default): a test is positive when the value is at or above
        the cut-off; ``lower``: at or below it.
    columns : mapping, optional
        The file's name for any of ``study, cutoff, TP, FP, FN, TN``, e.g. diagmeta's
        ``{"cutoff": "cutpoint", "TP": "tpos", "FP": "fpos", "FN": "fneg",
        "TN": "tneg"}``.
    row_numbers : sequence of int, optional
        The file row of each row of ``df``, for messages (default 1, 2, ...).

    Attributes
    ----------
    study, cutoff, tp, fp, fn, tn : numpy.ndarray
        One entry per row, sorted by study (in order of first appearance) and
        by cut-off.
    rows : numpy.ndarray
        The file row of each entry.
    warnings : tuple of str
        Caveats about the data (a study whose totals differ between rows).
    warning_codes : tuple of str
        The code of each caveat.

    Raises
    ------
    InputError
        One sentence naming the row, study and column at fault: a missing
        column, a missing or non-numeric cut-off, a cut-off given twice in a
        study, TP or FP increasing as the cut-off moves towards fewer
        positives, a bad count (as :class:`metaanalysis.table.StudyTable`), a
        row without diseased or non-diseased subjects, an unknown direction.

    Examples
    --------
    >>> t = ThresholdsTable(pd.DataFrame({"study": ["a", "a", "b"], "cutoff": [2, 3, 2.5],
    ...                                   "TP": [9, 7, 8], "FP": [4, 1, 2],
    ...                                   "FN": [1, 3, 2], "TN": [6, 9, 8]}))
    >>> t.k, t.n_rows, t.cutoffs_per_study()
    (2, 3, {'a': 2, 'b': 1})
    """

    def __init__(self, df: pd.DataFrame, *, source: str | None = None,
                 study_column: str | None = None, direction: str = "higher",
                 columns: Mapping[str, str] | None = None,
                 row_numbers: Sequence[int] | None = None) -> None:
        pre = _prefix(source)
        if direction not in DIRECTIONS:
            raise InputError(f"direction must be 'higher' or 'lower'; got {direction!r}.")
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"{pre}expected a pandas DataFrame, got {type(df).__name__}.")
        lower: dict[str, str] = {}
        for col in df.columns:
            key = str(col).strip().lower()
            if key in lower:
                raise InputError(f"{pre}column {col!r} appears twice (names are "
                                 "case-insensitive).")
            lower[key] = col
        columns = dict(columns or {})
        if "study" in columns:
            study_column = columns.pop("study")
        for ours, theirs in columns.items():
            if ours not in ("cutoff", *COUNT_COLUMNS):
                raise InputError(f"{pre}columns: {ours!r} is not one of study, cutoff, "
                                 f"{', '.join(COUNT_COLUMNS)}.")
            if str(theirs).strip().lower() not in lower:
                raise InputError(f"{pre}no column named {theirs!r} (given for {ours}); the "
                                 f"columns are: {', '.join(map(str, lower.values()))}.")
            lower[ours.lower()] = lower.pop(str(theirs).strip().lower())
        key_col = _find_column(lower, study_column, pre)
        missing = [c for c in ("cutoff", *COUNT_COLUMNS) if c.lower() not in lower]
        if not key_col:
            missing.insert(0, "study")
        if missing:
            hint = (" (the study names are read from a column named "
                    f"{', '.join(STUDY_KEYS)}; name another column with --study-column)"
                    if not key_col else "")
            raise InputError(f"{pre}missing column(s) {', '.join(missing)}; a table of several "
                             f"cut-offs needs the columns {', '.join(THRESHOLD_COLUMNS)} (one "
                             f"row per study and cut-off){hint}.")
        if len(df) == 0:
            raise InputError(f"{pre}the table has no rows.")
        rows = list(row_numbers) if row_numbers is not None else list(range(1, len(df) + 1))
        kname = str(key_col)
        studies = []
        for i, raw in zip(rows, df[key_col].tolist(), strict=True):
            if _is_missing(raw) or str(raw).strip() == "":
                raise InputError(f"{pre}row {i}, column {kname}: the study name is missing.")
            studies.append(_study_label(raw).strip())
        cut = np.array([_cutoff(v, f"{pre}row {i} (study {s!r}), column "
                                   f"{lower['cutoff']}")
                        for i, s, v in zip(rows, studies, df[lower["cutoff"]].tolist(),
                                           strict=True)])
        counts = {}
        for c in COUNT_COLUMNS:
            counts[c] = np.array([_count(v, f"{pre}row {i} (study {s!r}), column {c}")
                                  for i, s, v in zip(rows, studies, df[lower[c.lower()]].tolist(),
                                                     strict=True)], dtype=np.int64)
        for j, (i, s) in enumerate(zip(rows, studies, strict=True)):
            if counts["TP"][j] + counts["FN"][j] == 0:
                raise InputError(f"{pre}row {i} (study {s!r}), columns TP and FN: no diseased "
                                 "subjects (TP + FN = 0).")
            if counts["FP"][j] + counts["TN"][j] == 0:
                raise InputError(f"{pre}row {i} (study {s!r}), columns FP and TN: no "
                                 "non-diseased subjects (FP + TN = 0).")
        order_studies = list(dict.fromkeys(studies))
        rank = {s: r for r, s in enumerate(order_studies)}
        sign = 1.0 if direction == "higher" else -1.0
        order = sorted(range(len(studies)), key=lambda j: (rank[studies[j]], sign * cut[j]))
        caveats: list[MetaAnalysisWarning] = []
        by_study: dict[str, list[int]] = {}
        for j in order:
            by_study.setdefault(studies[j], []).append(j)
        towards = "rises" if direction == "higher" else "falls"
        for s, idx in by_study.items():
            for a, b in zip(idx, idx[1:], strict=False):
                if cut[a] == cut[b]:
                    raise InputError(f"{pre}rows {rows[a]} and {rows[b]} (study {s!r}), column "
                                     f"{lower['cutoff']}: the cut-off {cut[a]:g} is given twice; "
                                     "cut-offs within a study must be distinct.")
                for c in ("TP", "FP"):
                    if counts[c][b] > counts[c][a]:
                        raise InputError(
                            f"{pre}rows {rows[a]} and {rows[b]} (study {s!r}), column {c}: {c} "
                            f"rises from {counts[c][a]} to {counts[c][b]} as the cut-off "
                            f"{towards} from {cut[a]:g} to {cut[b]:g}; fewer subjects can only "
                            f"test positive at a stricter cut-off (is the direction "
                            f"{'lower' if direction == 'higher' else 'higher'}?).")
            n1 = {int(counts["TP"][j] + counts["FN"][j]) for j in idx}
            n0 = {int(counts["FP"][j] + counts["TN"][j]) for j in idx}
            for name, totals in (("diseased (TP + FN)", n1), ("non-diseased (FP + TN)", n0)):
                if len(totals) > 1:
                    caveats.append(UnequalTotalsWarning(
                        f"{pre}study {s!r}: the number of {name} subjects differs between its "
                        f"rows ({', '.join(map(str, sorted(totals)))}); each row is used as "
                        "given."))
        self._source = source
        self.study_column: str = kname
        self.direction: str = direction
        self.study = np.array([studies[j] for j in order], dtype=object)
        self.cutoff = cut[order]
        self.tp, self.fp, self.fn, self.tn = (counts[c][order] for c in COUNT_COLUMNS)
        self.rows = np.asarray(rows)[order]
        for arr in (self.study, self.cutoff, self.tp, self.fp, self.fn, self.tn, self.rows):
            arr.setflags(write=False)
        self.studies: tuple[str, ...] = tuple(order_studies)
        self.warnings: tuple[str, ...] = tuple(str(w) for w in caveats)
        self.warning_codes: tuple[str, ...] = tuple(w.code for w in caveats)
        self._caveats = tuple(caveats)

    # ------------------------------------------------------------ readers --
    @classmethod
    def read(cls, path: str | os.PathLike[str], *, sheet: str | int | None = None,
             study_column: str | None = None, direction: str = "higher",
             columns: Mapping[str, str] | None = None, source: str | None = None,
             **read_csv_kwargs: Any) -> ThresholdsTable:
        """Read a long-format table from a CSV file or an ``.xlsx`` workbook (by its suffix).

        The file is opened by :func:`metaanalysis.table.read_cells`, the one
        reader of study tables (the same encodings, separators, sheets, refusal
        of rows longer than the header; empty rows are skipped and row numbers
        count from the first data row).

        Parameters
        ----------
        path : str or path-like
            The file; errors name it (and the sheet, when one is chosen).
        sheet : str or int, optional
            The workbook's sheet, by name or position from 1 (default: the
            first); refused for a CSV file.
        study_column : str, optional
            The column of study names.
        direction : {"higher", "lower"}
            See :class:`ThresholdsTable`.
        columns : mapping, optional
            The file's names for ``study, cutoff, TP, FP, FN, TN`` (see
            :class:`ThresholdsTable`).
        source : str, optional
            How messages name the table (default: the path).
        **read_csv_kwargs
            For a CSV file, passed on as :meth:`metaanalysis.table.StudyTable.from_csv`
            does (``sep``, ``encoding``, ...).

        Returns
        -------
        ThresholdsTable
        """
        cells, where, decimal_comma = read_cells(path, sheet=sheet, **read_csv_kwargs)
        header = ["" if _is_missing(h) else str(h).strip() for h in cells[0]]
        body = [list(row) for row in cells[1:]]
        empty = [[_is_missing(v) or str(v).strip() == "" for v in row] for row in body]
        keep = [not all(e) for e in empty]
        cols = [j for j, h in enumerate(header) if h or not all(e[j] for e in empty)]
        kept = [row for row, k in zip(body, keep, strict=True) if k]
        frame = pd.DataFrame([[row[j] for j in cols] for row in kept],
                             columns=[header[j] or f"Unnamed: {j}" for j in cols], dtype=object)
        if decimal_comma:
            c = {k.lower(): k for k in frame.columns}.get(
                str((columns or {}).get("cutoff", "cutoff")).lower())
            if c is not None:
                frame[c] = frame[c].astype(str).str.replace(",", ".", regex=False)
        rows = [i for i in range(1, len(body) + 1) if keep[i - 1]]
        return cls(frame, source=source or where, study_column=study_column,
                   direction=direction, columns=columns, row_numbers=rows)

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], *, study_column: str | None = None,
                 direction: str = "higher", columns: Mapping[str, str] | None = None,
                 source: str | None = None, **read_csv_kwargs: Any) -> ThresholdsTable:
        """Read a long-format CSV file (one row per study and cut-off).

        As :meth:`read` for a CSV file, whatever its suffix.

        Parameters
        ----------
        path : str or path-like
            The CSV file; errors name it.
        study_column, direction, columns, source
            As for :meth:`read`.
        **read_csv_kwargs
            Passed to :func:`pandas.read_csv` (``sep``, ``encoding``, ...).

        Returns
        -------
        ThresholdsTable
        """
        name = os.fspath(path)
        if name.lower().endswith(EXCEL_SUFFIXES):
            raise InputError(f"{name}: a workbook, not a CSV file; read it with "
                             "ThresholdsTable.read.")
        return cls.read(name, study_column=study_column, direction=direction, columns=columns,
                        source=source, **read_csv_kwargs)

    # ---------------------------------------------------------- accessors --
    @property
    def source(self) -> str | None:
        """Where the table was read from, if known."""
        return self._source

    @property
    def caveats(self) -> tuple[MetaAnalysisWarning, ...]:
        """The warnings about the data, as warning objects."""
        return self._caveats

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.studies)

    @property
    def n_rows(self) -> int:
        """Number of rows (study x cut-off)."""
        return len(self.cutoff)

    def cutoffs_per_study(self) -> dict[str, int]:
        """Return the number of cut-offs each study reports."""
        return {s: int(np.sum(self.study == s)) for s in self.studies}

    @property
    def df(self) -> pd.DataFrame:
        """A copy of the table: ``study, cutoff, TP, FP, FN, TN`` (sorted)."""
        return pd.DataFrame({"study": self.study, "cutoff": self.cutoff, "TP": self.tp,
                             "FP": self.fp, "FN": self.fn, "TN": self.tn})

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        src = f", source={self._source!r}" if self._source else ""
        return (f"ThresholdsTable(k={self.k}, rows={self.n_rows}, "
                f"direction={self.direction!r}{src})")
