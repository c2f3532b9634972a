"""Validated tables of diagnostic-accuracy studies (one 2x2 table per study).

A :class:`StudyTable` is valid once built: every count is a non-negative whole
number, every study has at least one diseased (TP + FN > 0) and one
non-diseased (FP + TN > 0) subject, study names are unique and there are at
least two studies. Any other column is kept as a study-level covariate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from metaanalysis.errors import InputError

#: The four cells of a study's 2x2 table, in the order the package stores them.
COUNT_COLUMNS: tuple[str, ...] = ("TP", "FP", "FN", "TN")
#: Every column a table must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("study", *COUNT_COLUMNS)
#: Largest count accepted: beyond 2**53 a float no longer holds every whole number.
MAX_COUNT: int = 2**53
#: Continuity-correction rules understood by :meth:`StudyTable.corrected`.
CORRECTIONS: tuple[str, ...] = ("all", "single", "none")


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def _study_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _guess_encoding(name: str) -> str | None:
    """Return the encoding of a CSV file that is not UTF-8 (None for UTF-8).

    Spreadsheets on Windows save "Unicode text" as UTF-16 (with a byte-order
    mark) and plain CSV in the Windows-1252 code page; both are read rather
    than refused. A file with NUL bytes and no UTF-16 mark is not text.
    """
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror or err}).") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in data[:65536]:
        raise InputError(f"{name}: not a CSV file (it holds binary data; save the sheet as "
                         "CSV).")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            data.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"
        return "cp1252"
    return None


_DECIMAL_COMMA = r"^\s*[-+]?\d+(,\d+)?\s*$"


def _decimal_comma_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Read text columns written with decimal commas (``1,5``) as numbers.

    A ``;``-separated CSV comes from a locale whose decimal mark is the comma;
    pandas reads ``1,5`` as the text ``"1,5"``, which would make a continuous
    covariate categorical. A column is converted only when every non-empty
    value is a number in that notation and at least one has a comma.
    """
    out = df.copy()
    for col in df.columns:
        if str(col).strip().lower() == "study" or pd.api.types.is_numeric_dtype(df[col]):
            continue
        values = df[col].dropna().astype(str)
        values = values[values.str.strip() != ""]
        if values.empty or not values.str.match(_DECIMAL_COMMA).all() or \
                not values.str.contains(",", regex=False).any():
            continue
        text = df[col].astype("string").str.strip().str.replace(",", ".", regex=False)
        out[col] = pd.to_numeric(text.replace("", pd.NA)).astype(float)
    return out


class StudyTable:
    """Studies of one diagnostic test, each reduced to its 2x2 table.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``study, TP, FP, FN, TN`` (found by name, case-insensitively,
        in any order) plus any study-level covariates.
    source : str, optional
        Where the data came from (a file name); error messages start with it.

    Raises
    ------
    InputError
        One sentence naming the row, study and column at fault: a missing
        column, a negative, fractional, missing or non-numeric count, a
        duplicate or missing study name, a study without diseased or without
        non-diseased subjects, an empty table or a single study.

    Examples
    --------
    >>> import pandas as pd
    >>> t = StudyTable(pd.DataFrame({"study": ["a", "b"], "TP": [9, 8], "FP": [1, 2],
    ...                              "FN": [1, 2], "TN": [9, 8]}))
    >>> t.k, t.n_patients
    (2, 40)
    """

    def __init__(self, df: pd.DataFrame, *, source: str | None = None) -> None:
        pre = _prefix(source)
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"{pre}expected a pandas DataFrame, got {type(df).__name__}.")
        lower: dict[str, str] = {}
        for col in df.columns:
            key = str(col).strip().lower()
            if key in lower:
                raise InputError(f"{pre}column {col!r} appears twice (names are case-insensitive).")
            lower[key] = col
        missing = [c for c in REQUIRED_COLUMNS if c.lower() not in lower]
        if missing:
            hint = ""
            if len(df.columns) == 1:
                hint = (f" (the header was read as the single column {str(df.columns[0])!r}: "
                        "separate the columns with commas, semicolons or tabs)")
            raise InputError(
                f"{pre}missing column(s) {', '.join(missing)}; a study table needs the columns "
                f"{', '.join(REQUIRED_COLUMNS)}{hint}."
            )
        if len(df) == 0:
            raise InputError(f"{pre}the table has no studies (no data rows).")
        original = {c: lower[c.lower()] for c in REQUIRED_COLUMNS}

        studies: list[str] = []
        for i, raw in enumerate(df[original["study"]].tolist(), start=1):
            if raw is None or (isinstance(raw, float) and np.isnan(raw)) or \
                    str(raw).strip() == "" or raw is pd.NA:
                raise InputError(f"{pre}row {i}, column study: the study name is missing.")
            studies.append(_study_label(raw).strip())
        seen: dict[str, int] = {}
        for i, name in enumerate(studies, start=1):
            if name in seen:
                raise InputError(
                    f"{pre}row {i}, column study: duplicate study name {name!r} "
                    f"(also in row {seen[name]}); study names must be unique."
                )
            seen[name] = i

        counts: dict[str, np.ndarray] = {}
        for c in COUNT_COLUMNS:
            values = df[original[c]].tolist()
            out = np.empty(len(values), dtype=np.int64)
            for i, v in enumerate(values, start=1):
                where = f"{pre}row {i} (study {studies[i - 1]!r}), column {c}"
                if v is pd.NA or v is None:
                    raise InputError(f"{where}: the count is missing.")
                try:
                    x = float(v) if not isinstance(v, str) else float(v.strip())
                except (TypeError, ValueError):
                    raise InputError(f"{where}: {v!r} is not a number.") from None
                if np.isnan(x):
                    raise InputError(f"{where}: the count is missing.")
                if not np.isfinite(x):
                    raise InputError(f"{where}: {v!r} is not a finite count.")
                if x < 0:
                    raise InputError(f"{where}: the count {v!r} is negative.")
                if not float(x).is_integer():
                    raise InputError(f"{where}: the count {v!r} is not a whole number.")
                if x > MAX_COUNT:
                    raise InputError(f"{where}: the count {v!r} is too large to be a number "
                                     "of subjects.")
                out[i - 1] = int(x)
            counts[c] = out
        for i in range(len(studies)):
            where = f"{pre}row {i + 1} (study {studies[i]!r})"
            if counts["TP"][i] + counts["FN"][i] == 0:
                raise InputError(f"{where}, columns TP and FN: the study has no diseased "
                                 "subjects (TP + FN = 0).")
            if counts["FP"][i] + counts["TN"][i] == 0:
                raise InputError(f"{where}, columns FP and TN: the study has no non-diseased "
                                 "subjects (FP + TN = 0).")
        if len(studies) >= 3:
            cells = np.column_stack([counts[c] for c in COUNT_COLUMNS])
            sums = 2 * cells == cells.sum(axis=0)
            for i in np.flatnonzero(sums.all(axis=1)):
                raise InputError(f"{pre}row {i + 1} (study {studies[i]!r}) looks like a totals "
                                 "row: each of its counts is the sum of the other rows; remove "
                                 "it.")
        if len(studies) < 2:
            raise InputError(f"{pre}only one study ({studies[0]!r}); a meta-analysis needs at "
                             "least two studies.")

        others = [c for c in df.columns if c not in original.values()]
        data = {"study": studies, **{c: counts[c] for c in COUNT_COLUMNS}}
        frame = pd.DataFrame(data)
        for c in others:
            frame[str(c)] = df[c].to_numpy()
        self._df = frame
        self._source = source
        self.studies: tuple[str, ...] = tuple(studies)
        self.tp: np.ndarray = counts["TP"]
        self.fp: np.ndarray = counts["FP"]
        self.fn: np.ndarray = counts["FN"]
        self.tn: np.ndarray = counts["TN"]
        for arr in (self.tp, self.fp, self.fn, self.tn):
            arr.setflags(write=False)

    # ------------------------------------------------------------ readers --
    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], **read_csv_kwargs: Any) -> StudyTable:
        """Read a CSV file with columns ``study, TP, FP, FN, TN`` (+ covariates).

        Parameters
        ----------
        path : str or path-like
            The CSV file; errors name it.
        **read_csv_kwargs
            Passed to :func:`pandas.read_csv`. Without ``sep``, a file whose
            header only splits on ``;`` or tabs is read with that separator.
            In a ``;``-separated file (without ``decimal``), a covariate whose
            values are all numbers written with a decimal comma (``1,5``) is
            read as numbers, not as text.

        Returns
        -------
        StudyTable
        """
        name = os.fspath(path)
        if not os.path.exists(name):
            raise InputError(f"{name}: no such file.")
        if os.path.isdir(name):
            raise InputError(f"{name}: is a folder, not a CSV file.")
        if "encoding" not in read_csv_kwargs:
            encoding = _guess_encoding(name)
            if encoding is not None:
                read_csv_kwargs = {**read_csv_kwargs, "encoding": encoding}
        try:
            header = pd.read_csv(name, nrows=0, **read_csv_kwargs)
            if "sep" not in read_csv_kwargs and len(header.columns) == 1:
                # a CSV written with ';' (decimal-comma locales) or tabs
                only = str(header.columns[0])
                for sep in (";", "\t"):
                    if sep in only:
                        read_csv_kwargs = {**read_csv_kwargs, "sep": sep}
                        header = pd.read_csv(name, nrows=0, **read_csv_kwargs)
                        break
            if "header" not in read_csv_kwargs and "names" not in read_csv_kwargs:
                # pandas renames a repeated column (TP, TP.1): find repeats in the raw header
                raw = pd.read_csv(name, header=None, nrows=1, dtype=str, **read_csv_kwargs)
                seen: set[str] = set()
                for col in raw.iloc[0].tolist():
                    key = str(col).strip().lower()
                    if key in seen and key != "nan":
                        raise InputError(f"{name}: column {str(col).strip()!r} appears twice in "
                                         "the header (names are case-insensitive).")
                    seen.add(key)
            study_cols = {c: str for c in header.columns if str(c).strip().lower() == "study"}
            df = pd.read_csv(name, dtype=study_cols, **read_csv_kwargs)
            if read_csv_kwargs.get("sep") == ";" and "decimal" not in read_csv_kwargs:
                df = _decimal_comma_columns(df)
        except pd.errors.EmptyDataError:
            raise InputError(f"{name}: the file is empty.") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(f"{name}: not a readable CSV file ({first}).") from None
        return cls(df, source=name)

    # ---------------------------------------------------------- accessors --
    @property
    def df(self) -> pd.DataFrame:
        """A copy of the table: ``study, TP, FP, FN, TN`` then the covariates."""
        return self._df.copy()

    @property
    def source(self) -> str | None:
        """Where the table was read from, if known."""
        return self._source

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.studies)

    @property
    def covariates(self) -> pd.DataFrame:
        """Every column other than ``study, TP, FP, FN, TN`` (a copy)."""
        return self._df.drop(columns=list(REQUIRED_COLUMNS)).copy()

    @property
    def n_patients(self) -> int:
        """Total number of subjects over all studies."""
        return int(self.tp.sum() + self.fp.sum() + self.fn.sum() + self.tn.sum())

    @property
    def n_diseased(self) -> np.ndarray:
        """Diseased subjects per study (TP + FN)."""
        return self.tp + self.fn

    @property
    def n_nondiseased(self) -> np.ndarray:
        """Non-diseased subjects per study (FP + TN)."""
        return self.fp + self.tn

    @property
    def has_zero_cells(self) -> bool:
        """True if any cell of any study is zero."""
        return bool(np.any(self.counts() == 0))

    def counts(self) -> np.ndarray:
        """Return the counts as a (k, 4) int array, columns TP, FP, FN, TN."""
        return np.column_stack([self.tp, self.fp, self.fn, self.tn])

    def __len__(self) -> int:
        return self.k

    def __repr__(self) -> str:
        src = f", source={self._source!r}" if self._source else ""
        return f"StudyTable(k={self.k}, n_patients={self.n_patients}{src})"

    # --------------------------------------------------------- correction --
    def corrected(
        self, correction: str = "all", add: float = 0.5
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return the counts with a continuity correction, as floats ``(tp, fp, fn, tn)``.

        Parameters
        ----------
        correction : {"all", "single", "none"}
            ``"all"`` (mada's default): if any cell of any study is zero, add
            ``add`` to every cell of every study. ``"single"``: add it only to
            the studies that have a zero cell. ``"none"``: leave the counts.
        add : float
            The amount added (default 0.5).

        Returns
        -------
        tuple of numpy.ndarray
            Float arrays ``tp, fp, fn, tn``.
        """
        if correction not in CORRECTIONS:
            raise InputError(f"unknown continuity correction {correction!r}; use one of "
                             f"{', '.join(CORRECTIONS)}.")
        x = self.counts().astype(float)
        if correction == "all" and np.any(x == 0):
            x = x + add
        elif correction == "single":
            x = x + add * np.any(x == 0, axis=1)[:, None]
        return x[:, 0], x[:, 1], x[:, 2], x[:, 3]

    # ------------------------------------------------------------ subsets --
    def subset(self, mask_or_index: Sequence[bool] | Sequence[int] | np.ndarray) -> StudyTable:
        """Return a new table with the selected studies (boolean mask or row positions)."""
        sel = np.asarray(mask_or_index)
        if sel.dtype == bool:
            if sel.shape != (self.k,):
                raise InputError(f"a study mask must have {self.k} entries, got {sel.shape}.")
            sel = np.flatnonzero(sel)
        elif sel.size and (sel.dtype.kind not in "iu" or sel.min() < -self.k
                           or sel.max() >= self.k):
            raise InputError(f"study positions must be whole numbers from 0 to {self.k - 1}; "
                             f"got {sel.tolist()}.")
        return StudyTable(self._df.iloc[sel].reset_index(drop=True), source=self._source)

    def drop(self, study: str | Sequence[str]) -> StudyTable:
        """Return a new table without the named study (or studies)."""
        names = [study] if isinstance(study, str) else list(study)
        for name in names:
            if name not in self.studies:
                raise InputError(f"no study named {name!r} in the table.")
        keep = [s not in names for s in self.studies]
        return self.subset(np.asarray(keep))

    def swap_disease_labels(self) -> StudyTable:
        """Return the table with sensitivity and specificity exchanged (TP<->TN, FP<->FN).

        This swaps the disease labels *and* the test's positive/negative labels
        (the target condition becomes "no disease", detected by a negative
        test). Swapping the disease labels alone would exchange TP<->FP and
        FN<->TN instead.
        """
        df = self._df.copy()
        df["TP"], df["TN"] = self._df["TN"].to_numpy(), self._df["TP"].to_numpy()
        df["FP"], df["FN"] = self._df["FN"].to_numpy(), self._df["FP"].to_numpy()
        return StudyTable(df, source=self._source)
