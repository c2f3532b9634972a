"""Validated tables of diagnostic-accuracy studies (one 2x2 table per study).

A :class:`StudyTable` is valid once built: every count is a non-negative whole
number, every study has at least one diseased (TP + FN > 0) and one
non-diseased (FP + TN > 0) subject, study names are unique and there are at
least two studies. Any other column is kept as a study-level covariate.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from metaanalysis.errors import AnalysisError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: The four cells of a study's 2x2 table, in the order the package stores them.
COUNT_COLUMNS: tuple[str, ...] = ("TP", "FP", "FN", "TN")
#: Every column a table must have (the study key under one of its names, see below).
REQUIRED_COLUMNS: tuple[str, ...] = ("study", *COUNT_COLUMNS)
#: Column names taken as the study key, in order of preference (any case). A
#: column such as ``author`` is never taken: one author often has several studies.
STUDY_KEYS: tuple[str, ...] = ("study", "study_id", "id")
#: Largest count accepted: beyond 2**53 a float no longer holds every whole number.
MAX_COUNT: int = 2**53
#: Continuity-correction rules understood by :meth:`StudyTable.corrected`.
CORRECTIONS: tuple[str, ...] = ("all", "single", "none")


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def shown_value(v: Any, limit: int = 40) -> str:
    """Return ``repr(v)`` short enough for a message, however long the value.

    A cell's text longer than ``limit`` characters is shown by its first 20
    characters and its length; an integer of 16 digits or more in short
    scientific form (``1e+300``), so that no sentence carries hundreds of digits.

    Examples
    --------
    >>> shown_value("12"), shown_value(7), shown_value(10**300)
    ("'12'", '7', '1e+300')
    >>> shown_value("9" * 400)
    "'99999999999999999999... (400 characters)'"
    """
    if isinstance(v, str):
        return repr(v if len(v) <= limit else f"{v[:20]}... ({len(v)} characters)")
    if isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_):
        number = int(v)
        if abs(number) < 10**16:
            return str(number)
        try:
            return f"{number:.6g}"
        except OverflowError:  # beyond a double: its digits are not all written
            from decimal import Decimal

            mantissa, exponent = f"{Decimal(number):.5e}".split("e")
            return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    text = repr(v)
    return text if len(text) <= limit else f"{text[:20]}... ({len(text)} characters)"


def _study_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: A count written as text: digits, optionally with a decimal point or an exponent
#: (``12``, ``12.0``, ``1e3``); no digit separators (``1_000``, ``1,000``).
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: Text read as a missing covariate value (pandas' defaults, as before).
_MISSING_TEXT = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN",
                           "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN",
                           "None", "n/a", "nan", "null"})


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    pd = sys.modules.get("pandas")  # pandas' missing values exist only once it is imported
    if pd is not None and (v is pd.NA or v is pd.NaT):
        return True
    return isinstance(v, float | np.floating) and bool(np.isnan(v))


def _count(v: Any, where: str) -> int:
    """Return the exact whole number in ``v`` or raise InputError naming ``where``."""
    from decimal import Decimal, InvalidOperation

    if _is_missing(v):
        raise InputError(f"{where}: the count is missing.")
    if isinstance(v, bool | np.bool_):
        raise InputError(f"{where}: {shown_value(v)} is a true/false value, not a count.")
    if isinstance(v, int | np.integer):
        x = Decimal(int(v))
    elif isinstance(v, float | np.floating):
        if not np.isfinite(v):
            raise InputError(f"{where}: {shown_value(v)} is not a finite count.")
        x = Decimal(float(v))
    else:
        text = str(v).strip()
        if text == "":
            raise InputError(f"{where}: the count is missing.")
        if not _NUMBER.fullmatch(text):
            raise InputError(f"{where}: {shown_value(text)} is not a number.")
        try:
            x = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise InputError(f"{where}: {shown_value(text)} is not a number.") from None
        v = text
    if x < 0:
        raise InputError(f"{where}: the count {shown_value(v)} is negative.")
    if x != x.to_integral_value():
        raise InputError(f"{where}: the count {shown_value(v)} is not a whole number.")
    if x > MAX_COUNT:
        raise InputError(f"{where}: the count {shown_value(v)} is too large to be a number of "
                         f"subjects (at most 2**53 = {MAX_COUNT}, the largest whole number a "
                         "float holds exactly).")
    return int(x)


def _find_column(lower: dict[str, str], wanted: str | None, pre: str) -> str:
    """Return the original name of the study-key column."""
    if wanted is not None:
        key = str(wanted).strip().lower()
        if key not in lower:
            raise InputError(f"{pre}no column named {wanted!r} for the study names "
                             f"(--study-column); the columns are: "
                             f"{', '.join(map(str, lower.values()))}.")
        return lower[key]
    for key in STUDY_KEYS:
        if key in lower:
            return lower[key]
    return ""


def _covariate(values: list[Any]) -> np.ndarray:
    """Type one covariate column read as text: numbers if every value is one."""
    import pandas as pd

    cells = pd.Series([np.nan if (isinstance(v, str) and v.strip() in _MISSING_TEXT)
                       or _is_missing(v) else v for v in values], dtype=object)
    present = cells.dropna()
    if present.empty:
        return cells.astype(float).to_numpy()
    try:
        numbers = pd.to_numeric(cells)
    except (ValueError, TypeError):
        return cells.to_numpy()
    return numbers.to_numpy()


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


def _decimal_comma_columns(df: pd.DataFrame, skip: str = "study") -> pd.DataFrame:
    """Read text columns written with decimal commas (``1,5``) as numbers.

    A ``;``-separated CSV comes from a locale whose decimal mark is the comma;
    pandas reads ``1,5`` as the text ``"1,5"``, which would make a continuous
    covariate categorical. A column is converted only when every non-empty
    value is a number in that notation and at least one has a comma.
    """
    import pandas as pd

    out = df.copy()
    for col in df.columns:
        if str(col) == skip or pd.api.types.is_numeric_dtype(df[col]):
            continue
        values = df[col].dropna().astype(str)
        values = values[values.str.strip() != ""]
        if values.empty or not values.str.match(_DECIMAL_COMMA).all() or \
                not values.str.contains(",", regex=False).any():
            continue
        text = df[col].astype("string").str.strip().str.replace(",", ".", regex=False)
        out[col] = pd.to_numeric(text.replace("", pd.NA)).astype(float)
    return out


#: A count written as a thousand-grouped number with one point (``1.000``, ``12.500``).
_THOUSANDS_POINTS = re.compile(r"\d{1,3}\.\d{3}")


def _no_thousands_points(values: list[Any], column: str, rows: list[int], name: str) -> None:
    """Refuse a count like ``1.000`` in a ``;``-separated file: 1000 or 1 cannot be told.

    In the locales that separate a CSV's columns with ``;`` the point groups
    thousands, so ``1.000`` is a thousand there; read as a decimal it is one.
    """
    for row, v in zip(rows, values, strict=True):
        text = "" if _is_missing(v) else str(v).strip()
        if _THOUSANDS_POINTS.fullmatch(text):
            raise InputError(
                f"{name}: row {row}, column {column!r}: the count {text!r} in a file whose "
                "columns are separated by ';' may mean {0} (a point between thousands) or "
                "{1}; write counts as whole numbers without separators.".format(
                    text.replace(".", ""), text.rstrip("0").rstrip(".")))


def _decimal_comma_counts(values: list[Any]) -> list[Any]:
    """Read a count column's decimal commas as numbers, as :func:`_decimal_comma_columns` does.

    The same rule for a column still held as text: converted (to floats, NaN
    for an empty cell) only when every non-empty value is a number written
    ``1`` or ``1,5`` and at least one has a comma; otherwise returned as is.
    """
    present = [str(v) for v in values if not _is_missing(v) and str(v).strip() != ""]
    if not present or not all(re.match(_DECIMAL_COMMA, v) for v in present) or \
            not any("," in v for v in present):
        return values
    out: list[Any] = []
    for v in values:
        text = "" if _is_missing(v) else str(v).strip().replace(",", ".")
        out.append(float(text) if text else float("nan"))
    return out


#: read_csv options the built-in CSV reader understands; with any other option the
#: file is read by pandas.
_PLAIN_CSV_OPTIONS = frozenset({"sep", "encoding"})


def _open_quote_line(text: str) -> int | None:
    r"""Return the line (1 = the header) where a quote still open at the end was opened.

    >>> _open_quote_line('a,b\n"x,1\n2,3\n')
    2
    >>> _open_quote_line('a,b\n"x ""y""z",1\n') is None
    True
    """
    line, opened, inside = 1, None, False
    for ch in text:
        if ch == '"':
            inside = not inside
            opened = line if inside else None
        elif ch == "\n":
            line += 1
    return opened if inside else None


def _read_csv_cells(name: str, sep: str | None, encoding: str | None) -> tuple[list[list[str]],
                                                                            str]:
    """Every cell of a CSV file as text, the way pandas reads it with ``dtype=str``.

    Quoting as pandas' default (``"`` with doubled quotes inside), blank lines
    kept as empty rows, short rows padded with empty cells, a UTF-8 byte-order
    mark dropped. Without ``sep``, a header that only splits on ``;`` or a tab
    is read with that separator; a first line ``sep=X`` (as Excel writes it)
    names the separator and is skipped. Returns the rows (header first) and the
    separator used.

    Raises
    ------
    InputError
        An empty file, a row with more values than the header, a quote left
        open, or text that cannot be decoded.
    """
    enc = encoding or "utf-8"
    if enc.lower().replace("_", "-") in ("utf-8", "utf8"):
        enc = "utf-8-sig"
    try:
        with open(name, encoding=enc, newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError as err:
        raise InputError(f"{name}: not a readable CSV file ({err}).") from None
    except LookupError:
        raise InputError(f"{name}: unknown encoding {encoding!r}.") from None
    # Excel's separator line ("sep=;") before the header names the separator
    hint = re.match(r"sep=([^\r\n])\r?\n", text)
    skipped = 0
    if hint is not None:
        if sep is None:
            sep = hint.group(1)
        text, skipped = text[hint.end():], 1

    def parse(delimiter: str) -> list[list[str]]:
        try:
            return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                                   strict=True))
        except csv.Error as err:
            line = _open_quote_line(text)
            if line is not None:
                raise InputError(f"{name}: line {line + skipped}: a double quote opened there "
                                 "is never closed, so the rest of the file would be one "
                                 "cell.") from None
            raise InputError(f"{name}: not a readable CSV file ({err}).") from None

    if sep is None:
        sep = ","
        first = next(csv.reader(io.StringIO(text, newline="")), None)
        if first is not None and len(first) == 1:
            # a CSV written with ';' (decimal-comma locales) or tabs
            for other in (";", "\t"):
                if other in first[0]:
                    sep = other
                    break
    rows = parse(sep)
    if not any(rows):
        raise InputError(f"{name}: the file is empty.")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) > width:
            raise InputError(
                f"{name}: row {i} has {len(row)} values but the header has {width} "
                "columns; a value too many (often a comma inside a name, or a comma at "
                "the end of each row) would shift every column, so the file is refused; "
                "quote such names or add the missing column name.")
        if len(row) < width:
            row.extend([""] * (width - len(row)))
    return rows, sep


#: File suffixes read as Excel workbooks (openpyxl); anything else is read as CSV.
EXCEL_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm")


def _read_csv_file_cells(name: str, read_csv_kwargs: Mapping[str, Any]
                         ) -> tuple[np.ndarray | list[list[Any]], bool]:
    """Every cell of a CSV file as text (header first) and whether ``;`` separates them."""
    if not os.path.exists(name):
        raise InputError(f"{name}: no such file.")
    if os.path.isdir(name):
        raise InputError(f"{name}: is a folder, not a CSV file.")
    kw = dict(read_csv_kwargs)
    if "encoding" not in kw:
        encoding = _guess_encoding(name)
        if encoding is not None:
            kw["encoding"] = encoding
    for option in ("header", "names", "index_col", "dtype", "usecols"):
        if option in kw:
            raise InputError(f"{name}: the read_csv option {option!r} is not supported "
                             "for study tables (the first row is the header).")
    sep = kw.get("sep")
    if set(kw) <= _PLAIN_CSV_OPTIONS and (sep is None or (isinstance(sep, str)
                                                           and len(sep) == 1)):
        cells, used = _read_csv_cells(name, sep, kw.get("encoding"))
        return cells, used == ";"
    import pandas as pd

    raw_kw = {**kw, "header": None, "dtype": str, "keep_default_na": False,
              "na_filter": False, "skip_blank_lines": False, "index_col": False}
    try:
        if "sep" not in kw:
            first = StudyTable._read_raw(name, {**raw_kw, "nrows": 1})
            if first.shape[1] == 1:
                # a CSV written with ';' (decimal-comma locales) or tabs
                only = str(first.iat[0, 0])
                for sep in (";", "\t"):
                    if sep in only:
                        kw["sep"] = raw_kw["sep"] = sep
                        break
        raw = StudyTable._read_raw(name, raw_kw)
    except pd.errors.EmptyDataError:
        raise InputError(f"{name}: the file is empty.") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{name}: not a readable CSV file ({err}).") from None
    return raw.to_numpy(dtype=object), kw.get("sep") == ";" and "decimal" not in kw


def _read_excel_cells(name: str, sheet: str | int | None) -> tuple[np.ndarray, str]:
    """Every cell of a workbook's sheet (header first) and how messages name the sheet."""
    if not os.path.exists(name):
        raise InputError(f"{name}: no such file.")
    if os.path.isdir(name):
        raise InputError(f"{name}: is a folder, not a workbook.")
    try:
        import openpyxl
    except ModuleNotFoundError:  # pragma: no cover - a dependency of the package
        raise InputError(f"{name}: reading .xlsx files needs openpyxl "
                         "(pip install openpyxl); or save the sheet as CSV.") from None
    import zipfile

    try:
        book = openpyxl.load_workbook(name, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise InputError(f"{name}: not a readable .xlsx workbook "
                         f"({type(err).__name__}).") from None
    try:
        names = list(book.sheetnames)
        if sheet is None:
            chosen = names[0]
        elif isinstance(sheet, int) or str(sheet).strip().isdigit():
            pos = int(sheet)
            if not 1 <= pos <= len(names):
                raise InputError(f"{name}: there is no sheet {pos} (the workbook has "
                                 f"{len(names)}: {', '.join(names)}).")
            chosen = names[pos - 1]
        else:
            found = {n.lower(): n for n in names}.get(str(sheet).strip().lower())
            if found is None:
                raise InputError(f"{name}: no sheet named {sheet!r}; the sheets are: "
                                 f"{', '.join(names)}.")
            chosen = found
        rows = [list(r) for r in book[chosen].iter_rows(values_only=True)]
    finally:
        book.close()
    if not rows or not any(v not in (None, "") for v in rows[0]):
        raise InputError(f"{name}, sheet {chosen!r}: the sheet is empty (the first row "
                         "must be the header).")
    width = max(len(r) for r in rows)
    cells = np.empty((len(rows), width), dtype=object)
    for i, r in enumerate(rows):
        for j in range(width):
            v = r[j] if j < len(r) else None
            cells[i, j] = "" if v is None else (v if isinstance(v, int | float | str)
                                                else str(v))
    where = f"{name}, sheet {chosen!r}" if chosen != names[0] or sheet is not None else name
    return cells, where


def read_cells(path: str | os.PathLike[str], *, sheet: str | int | None = None,
               **read_csv_kwargs: Any) -> tuple[np.ndarray | list[list[Any]], str, bool]:
    """Read a table file into its cells: the header row first, then the data rows.

    The one place where a study table's file is opened: a CSV file (any other
    suffix) or an ``.xlsx`` / ``.xlsm`` workbook (by its suffix). Both
    :class:`StudyTable` and :class:`~metaanalysis.thresholds_table.ThresholdsTable`
    build their tables from what it returns.

    Parameters
    ----------
    path : str or path-like
        The file; errors name it.
    sheet : str or int, optional
        The workbook's sheet, by name or position from 1 (default: the first);
        refused for a CSV file.
    **read_csv_kwargs
        For a CSV file: ``sep``, ``encoding`` or any other
        :func:`pandas.read_csv` option (as :meth:`StudyTable.from_csv`).

    Returns
    -------
    cells : numpy.ndarray or list of list
        Rows of equal length, header first; CSV cells are text, workbook cells
        numbers or text (an empty cell is ``""``).
    where : str
        How messages name the table: the path, with the sheet when one was
        chosen or it is not the first.
    decimal_comma : bool
        Whether the cells come from a ``;``-separated CSV file (whose numbers
        may be written with a decimal comma).

    Raises
    ------
    InputError
        A missing file, a folder, an unreadable file, a sheet that does not
        exist, ``sheet`` for a CSV file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = f.write_text("study;TP" + chr(10) + "a;3" + chr(10))
    >>> cells, where, decimal_comma = read_cells(f)
    >>> [list(r) for r in cells], decimal_comma
    ([['study', 'TP'], ['a', '3']], True)
    """
    name = os.fspath(path)
    if name.lower().endswith(EXCEL_SUFFIXES):
        if read_csv_kwargs:
            raise InputError(f"{name}: the CSV options {', '.join(sorted(read_csv_kwargs))} do "
                             "not apply to a workbook.")
        book, where = _read_excel_cells(name, sheet)
        return book, where, False
    if sheet is not None:
        raise InputError(f"{name}: --sheet applies to .xlsx workbooks only; this file "
                         "is read as CSV.")
    cells, decimal_comma = _read_csv_file_cells(name, read_csv_kwargs)
    return cells, name, decimal_comma


def parse_column_map(text: str) -> dict[str, str]:
    """Parse a column mapping ``study=Trial,TP=tp,...`` (package name = name in the file).

    Parameters
    ----------
    text : str
        Comma-separated ``NAME=HEADER`` pairs. ``NAME`` is the column the
        package expects (``study``, ``TP``, ``FP``, ``FN``, ``TN``, or any
        covariate name); ``HEADER`` the column's name in the file (any case).

    Returns
    -------
    dict
        ``{NAME: HEADER}`` in the order given.

    Raises
    ------
    InputError
        A pair without ``=``, an empty name, or a name given twice.

    Examples
    --------
    >>> parse_column_map("study=Trial, TP=true pos")
    {'study': 'Trial', 'TP': 'true pos'}
    """
    out: dict[str, str] = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        target, eq, src = part.partition("=")
        target, src = target.strip(), src.strip()
        if not eq or not target or not src:
            raise InputError(f"--columns: {part.strip()!r} is not NAME=HEADER (for example "
                             "study=Trial,TP=tp).")
        if target.lower() in {t.lower() for t in out}:
            raise InputError(f"--columns: {target!r} is mapped twice.")
        out[target] = src
    if not out:
        raise InputError("--columns: no NAME=HEADER pair given (for example study=Trial,TP=tp).")
    return out


def _rename_header(header: list[str], columns: Mapping[str, str], name: str) -> list[str]:
    """Apply a column mapping ``{package name: file header}`` to a header row."""
    lower = [h.lower() for h in header]
    out = list(header)
    sources: set[int] = set()
    for target, src in columns.items():
        hits = [j for j, h in enumerate(lower) if h == str(src).strip().lower()]
        if not hits:
            present = ", ".join(h for h in header if h)
            raise InputError(f"{name}: the column mapping {target}={src} names no column of "
                             f"the file; its columns are: {present}.")
        sources.add(hits[0])
        out[hits[0]] = str(target).strip()
    for j, h in enumerate(lower):
        if j in sources:
            continue
        for target in columns:
            if h == str(target).strip().lower():
                raise InputError(f"{name}: the column mapping names {target!r} for column "
                                 f"{columns[target]!r}, but the file already has a column "
                                 f"{header[j]!r}; map or rename that one too.")
    return out


class StudyTable:
    """Studies of one diagnostic test, each reduced to its 2x2 table.

    Parameters
    ----------
    df : pandas.DataFrame
        The study key and the columns ``TP, FP, FN, TN`` (found by name,
        case-insensitively, in any order) plus any study-level covariates.
        The study key is the column ``study``, else ``study_id``, else ``id``
        (any case), unless ``study_column`` names it.
    source : str, optional
        Where the data came from (a file name); error messages start with it.
    study_column : str, optional
        The column holding the study names (any case). A column such as
        ``author`` is never chosen on its own, because one author often has
        several studies.
    row_numbers : sequence of int, optional
        The row number of each row of ``df`` in its file, used in messages
        (default 1, 2, ...). :meth:`from_csv` passes them when it skips empty
        rows.

    Attributes
    ----------
    study_column : str
        The name of the column the study names were read from, as written.

    Raises
    ------
    InputError
        One sentence naming the row, study and column at fault: a missing
        column, a negative, fractional, missing, true/false or non-numeric
        count, a count above 2**53, a duplicate or missing study name, a
        study without diseased or without non-diseased subjects, or an empty
        table.
    AnalysisError
        A single study (a meta-analysis needs two). It is an
        :class:`InputError` whose exit code is 1.

    Examples
    --------
    >>> import pandas as pd
    >>> t = StudyTable(pd.DataFrame({"study": ["a", "b"], "TP": [9, 8], "FP": [1, 2],
    ...                              "FN": [1, 2], "TN": [9, 8]}))
    >>> t.k, t.n_patients, t.study_column
    (2, 40, 'study')
    """

    def __init__(self, df: pd.DataFrame, *, source: str | None = None,
                 study_column: str | None = None,
                 row_numbers: Sequence[int] | None = None) -> None:
        pre = _prefix(source)
        pd = sys.modules.get("pandas")
        if pd is None or not isinstance(df, pd.DataFrame):
            raise InputError(f"{pre}expected a pandas DataFrame, got {type(df).__name__}.")
        others = self._setup(list(df.columns), lambda c: df[c].tolist(), len(df),
                             source=source, study_column=study_column,
                             row_numbers=row_numbers)
        self._covariate_arrays: dict[str, np.ndarray] | None = {
            str(c): df[c].to_numpy(copy=True) for c in others}

    def _setup(self, names: list[Any], column: Callable[[Any], list[Any]], n_rows: int, *,
               source: str | None, study_column: str | None,
               row_numbers: Sequence[int] | None) -> list[Any]:
        """Check the columns' cells and set the table's fields; return the covariate names.

        Parameters
        ----------
        names : list
            The column names, in order.
        column : callable
            The cells of a column (by name), one per row.
        n_rows : int
            Number of rows.
        source, study_column, row_numbers
            As for the constructor.
        """
        pre = _prefix(source)
        lower: dict[str, Any] = {}
        for col in names:
            key = str(col).strip().lower()
            if key in lower:
                raise InputError(f"{pre}column {col!r} appears twice (names are case-insensitive).")
            lower[key] = col
        key_col = _find_column(lower, study_column, pre)
        missing = [c for c in COUNT_COLUMNS if c.lower() not in lower]
        if not key_col:
            missing.insert(0, "study")
        if missing:
            hint = ""
            if len(names) == 1:
                hint = (f" (the header was read as the single column {str(names[0])!r}: "
                        "separate the columns with commas, semicolons or tabs)")
            elif not key_col:
                hint = (" (the study names are read from a column named study, study_id or "
                        "id; name another column with --study-column)")
            raise InputError(
                f"{pre}missing column(s) {', '.join(missing)}; a study table needs the columns "
                f"{', '.join(REQUIRED_COLUMNS)}{hint}."
            )
        if key_col != lower.get("study", key_col):
            raise InputError(f"{pre}the study names are read from column {str(key_col)!r}, "
                             f"but the table also has a column {str(lower['study'])!r}; "
                             "rename one of them.")
        if n_rows == 0:
            raise InputError(f"{pre}the table has no studies (no data rows).")
        rows = list(row_numbers) if row_numbers is not None else list(range(1, n_rows + 1))
        if len(rows) != n_rows:
            raise InputError(f"{pre}row_numbers has {len(rows)} entries for {n_rows} rows.")
        original = {"study": key_col, **{c: lower[c.lower()] for c in COUNT_COLUMNS}}
        kname = str(key_col)

        studies: list[str] = []
        for i, raw in zip(rows, column(key_col), strict=True):
            if _is_missing(raw) or str(raw).strip() == "":
                raise InputError(f"{pre}row {i}, column {kname}: the study name is missing.")
            studies.append(_study_label(raw).strip())
        seen: dict[str, int] = {}
        for i, name in zip(rows, studies, strict=True):
            if name in seen:
                raise InputError(
                    f"{pre}row {i}, column {kname}: duplicate study name {shown_value(name)} "
                    f"(also in row {seen[name]}); study names must be unique."
                )
            seen[name] = i

        counts: dict[str, np.ndarray] = {}
        for c in COUNT_COLUMNS:
            values = column(original[c])
            out = np.empty(len(values), dtype=np.int64)
            for j, v in enumerate(values):
                where = f"{pre}row {rows[j]} (study {shown_value(studies[j])}), column {c}"
                out[j] = _count(v, where)
            counts[c] = out
        for j in range(len(studies)):
            where = f"{pre}row {rows[j]} (study {shown_value(studies[j])})"
            if counts["TP"][j] + counts["FN"][j] == 0:
                raise InputError(f"{where}, columns TP and FN: the study has no diseased "
                                 "subjects (TP + FN = 0).")
            if counts["FP"][j] + counts["TN"][j] == 0:
                raise InputError(f"{where}, columns FP and TN: the study has no non-diseased "
                                 "subjects (FP + TN = 0).")
        if len(studies) >= 3:
            cells = np.column_stack([counts[c] for c in COUNT_COLUMNS])
            sums = 2 * cells == cells.sum(axis=0)
            for j in np.flatnonzero(sums.all(axis=1)).tolist():
                raise InputError(f"{pre}row {rows[j]} (study {shown_value(studies[j])}) looks "
                                 "like a totals row: each of its counts is the sum of the other "
                                 "rows; remove it.")
        if len(studies) < 2:
            raise AnalysisError(f"{pre}only one study ({shown_value(studies[0])}); a "
                                "meta-analysis needs at least two studies.")

        self._frame: pd.DataFrame | None = None
        self._covariate_arrays = None
        self._raw_covariates: list[tuple[str, list[Any]]] = []
        self._decimal_comma = False
        self._source = source
        self.study_column: str = kname
        self.studies: tuple[str, ...] = tuple(studies)
        self.tp: np.ndarray = counts["TP"]
        self.fp: np.ndarray = counts["FP"]
        self.fn: np.ndarray = counts["FN"]
        self.tn: np.ndarray = counts["TN"]
        for arr in (self.tp, self.fp, self.fn, self.tn):
            arr.setflags(write=False)
        return [c for c in names if c not in original.values()]

    @property
    def _df(self) -> pd.DataFrame:
        """The table as a frame (``study, TP, FP, FN, TN``, covariates), built when first used.

        A table read from a file keeps its covariates as text until then, so
        reading and fitting a table of counts never imports pandas.
        """
        if self._frame is None:
            import pandas as pd

            if self._covariate_arrays is None:
                raw = {name: _covariate(values) for name, values in self._raw_covariates}
                if self._decimal_comma and raw:
                    typed = _decimal_comma_columns(pd.DataFrame(raw))
                    raw = {name: typed[name].to_numpy() for name in raw}
                self._covariate_arrays = raw
            data: dict[str, Any] = {"study": list(self.studies), "TP": self.tp, "FP": self.fp,
                                    "FN": self.fn, "TN": self.tn}
            frame = pd.DataFrame(data)
            for c, arr in self._covariate_arrays.items():
                frame[c] = arr
            self._frame = frame
        return self._frame

    def _derived(self, df: pd.DataFrame) -> StudyTable:
        """Build a new table from ``df`` (key column ``study``), keeping the key's name."""
        new = StudyTable(df, source=self._source)
        new.study_column = self.study_column
        return new

    # ------------------------------------------------------------ readers --
    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], *, study_column: str | None = None,
                 source: str | None = None, columns: Mapping[str, str] | None = None,
                 **read_csv_kwargs: Any) -> StudyTable:
        """Read a CSV file with the study key, ``TP, FP, FN, TN`` and covariates.

        This is the one reader of study tables: every command and
        :func:`metaanalysis.datasets.load` go through it.

        Parameters
        ----------
        path : str or path-like
            The CSV file; errors name it.
        study_column : str, optional
            The column of study names (any case). Default: ``study``, else
            ``study_id``, else ``id``.
        source : str, optional
            How the table's ``source`` names it (default: the path).
        columns : mapping, optional
            Column renaming applied to the header before anything else,
            ``{name in the package: name in the file}`` (any case), e.g.
            ``{"study": "Trial", "TP": "tp"}`` (:func:`parse_column_map`).
        **read_csv_kwargs
            Passed to :func:`pandas.read_csv` (for example ``sep``,
            ``encoding``, ``comment``). Without ``sep``, a file whose header
            only splits on ``;`` or tabs is read with that separator.

        Returns
        -------
        StudyTable

        Notes
        -----
        Every cell is first read as text, so that:

        - a row with more values than the header has columns is refused,
          naming the row (pandas would otherwise shift every column);
        - counts are exact whole numbers (``12``, ``12.0`` and ``1e3`` are
          read; ``True``, ``1_000``, ``1,000`` and counts above 2**53 are
          refused);
        - a study named ``NA``, ``None`` or ``null`` keeps that name;
        - rows whose every cell is empty (a spreadsheet's trailing ``,,,,``)
          are skipped; row numbers in messages still count them.

        Covariates are numbers when every non-missing value is one, text
        otherwise. In a ``;``-separated file (without ``decimal``), a covariate
        whose values are all numbers written with a decimal comma (``1,5``) is
        read as numbers.
        """
        cells, where, decimal_comma = read_cells(path, **read_csv_kwargs)
        return cls._from_cells(cells, where, study_column=study_column, source=source,
                               columns=columns, decimal_comma=decimal_comma)

    @classmethod
    def from_excel(cls, path: str | os.PathLike[str], *, sheet: str | int | None = None,
                   study_column: str | None = None, source: str | None = None,
                   columns: Mapping[str, str] | None = None) -> StudyTable:
        """Read a study table from an ``.xlsx`` workbook (first sheet, or ``sheet``).

        The cells go through the same checks as :meth:`from_csv`: the first
        row is the header, trailing empty rows and columns are ignored, counts
        must be whole numbers. openpyxl is imported only here.

        Parameters
        ----------
        path : str or path-like
            The workbook; errors name it.
        sheet : str or int, optional
            The sheet's name, or its position counted from 1 (default: the
            first sheet).
        study_column, source, columns
            As for :meth:`from_csv`.

        Returns
        -------
        StudyTable

        Raises
        ------
        InputError
            A file that is not a workbook, a sheet that does not exist, or any
            error :meth:`from_csv` reports.
        """
        cells, where = _read_excel_cells(os.fspath(path), sheet)
        return cls._from_cells(cells, where, study_column=study_column,
                               source=source or where, columns=columns)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, sheet: str | int | None = None,
             study_column: str | None = None, columns: Mapping[str, str] | None = None,
             source: str | None = None) -> StudyTable:
        """Read a study table from a CSV file or an ``.xlsx`` workbook (by its suffix).

        Parameters
        ----------
        path : str or path-like
            ``.xlsx`` / ``.xlsm``: :meth:`from_excel`; anything else:
            :meth:`from_csv`.
        sheet : str or int, optional
            The workbook's sheet (name, or position from 1); refused for CSV.
        study_column, columns, source
            As for :meth:`from_csv`.

        Returns
        -------
        StudyTable
        """
        name = os.fspath(path)
        if name.lower().endswith(EXCEL_SUFFIXES):
            return cls.from_excel(name, sheet=sheet, study_column=study_column,
                                  source=source, columns=columns)
        if sheet is not None:
            raise InputError(f"{name}: --sheet applies to .xlsx workbooks only; this file "
                             "is read as CSV.")
        return cls.from_csv(name, study_column=study_column, source=source, columns=columns)

    @classmethod
    def _from_cells(cls, cells: np.ndarray | list[list[Any]], name: str, *,
                    study_column: str | None, source: str | None,
                    columns: Mapping[str, str] | None,
                    decimal_comma: bool = False) -> StudyTable:
        """Build a table from a file's cells (header first, rows of equal length).

        Every reader ends here. The counts and study names are checked at once;
        covariates are typed (numbers or text, decimal commas in a
        ``;``-separated file) when the table's frame is first needed.
        """
        header = ["" if _is_missing(h) else str(h).strip() for h in cells[0]]
        if columns:
            header = _rename_header(header, columns, name)
        body = [list(row) for row in cells[1:]]
        empty = [[_is_missing(v) or str(v).strip() == "" for v in row] for row in body]
        keep_rows = [not all(e) for e in empty]
        # columns with neither a name nor a value (a spreadsheet's trailing commas)
        keep_cols = [j for j, h in enumerate(header) if h or not all(e[j] for e in empty)]
        seen: set[str] = set()
        for j in keep_cols:
            key = header[j].lower()
            if key and key in seen:
                raise InputError(f"{name}: column {header[j]!r} appears twice in the header "
                                 "(names are case-insensitive).")
            seen.add(key)
        names = [header[j] or f"Unnamed: {j}" for j in keep_cols]
        rows = [i for i in range(1, len(body) + 1) if keep_rows[i - 1]]
        kept = [row for row, keep in zip(body, keep_rows, strict=True) if keep]
        data = {c: [row[j] for row in kept] for c, j in zip(names, keep_cols, strict=True)}
        lower = {c.lower(): c for c in names}
        key_col = _find_column(lower, study_column, _prefix(name))
        counts = {lower.get(c.lower()) for c in COUNT_COLUMNS}
        if decimal_comma:
            for c in counts:
                if c is not None and c != key_col:
                    _no_thousands_points(data[c], c, rows, name)
                    data[c] = _decimal_comma_counts(data[c])
        table = cls.__new__(cls)
        others = table._setup(names, data.__getitem__, len(kept), source=source or name,
                              study_column=study_column, row_numbers=rows)
        table._raw_covariates = [(str(c), data[c]) for c in others]
        table._decimal_comma = decimal_comma
        return table

    @staticmethod
    def _read_raw(name: str, kw: dict[str, Any]) -> pd.DataFrame:
        """Every cell of the file as text by pandas; a row longer than the first is refused."""
        import pandas as pd

        try:
            return pd.read_csv(name, **kw)
        except pd.errors.ParserError as err:
            text = str(err).strip()
            found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
            if found:
                ncol, line, saw = (int(g) for g in found.groups())
                raise InputError(
                    f"{name}: row {line - 1} has {saw} values but the header has {ncol} "
                    "columns; a value too many (often a comma inside a name, or a comma at "
                    "the end of each row) would shift every column, so the file is refused; "
                    "quote such names or add the missing column name.") from None
            first = text.splitlines()[0] if text else type(err).__name__
            raise InputError(f"{name}: not a readable CSV file ({first}).") from None

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
        add = np.add.reduce  # ndarray.sum without its Python wrapper
        return int(add(self.tp) + add(self.fp) + add(self.fn) + add(self.tn))

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

    def logits(self, correction: str = "all", add: float = 0.5, *,
               corrected: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Return each study's (logit sensitivity, logit FPR) and their within-study variances.

        This is the one logit transform of the package: every model and statistic
        that works on the logit scale takes its outcomes from here.

        Parameters
        ----------
        correction : {"all", "single", "none"}
            Continuity-correction rule (see :meth:`corrected`).
        add : float
            The amount added by the correction (default 0.5).
        corrected : tuple of numpy.ndarray, optional
            ``self.corrected(correction, add)`` if the caller has it already (a fit
            that needs the corrected counts for more than the logits).

        Returns
        -------
        y, S : numpy.ndarray
            (k, 2) each. ``y[:, 0] = log(TP / FN)``, ``y[:, 1] = log(FP / TN)``;
            ``S[:, 0] = 1/TP + 1/FN``, ``S[:, 1] = 1/FP + 1/TN`` (the delta-method
            variances), on the corrected counts.

        Raises
        ------
        InputError
            With ``correction="none"`` when a study has a zero cell (its logit is
            infinite).

        Examples
        --------
        >>> import pandas as pd
        >>> t = StudyTable(pd.DataFrame({"study": ["a", "b"], "TP": [9, 8], "FP": [1, 0],
        ...                              "FN": [1, 2], "TN": [9, 8]}))
        >>> y, S = t.logits("single")
        >>> [round(float(v), 4) for v in y[1]], [round(float(v), 4) for v in S[1]]
        ([1.2238, -2.8332], [0.5176, 2.1176])
        """
        tp, fp, fn, tn = self.corrected(correction, add) if corrected is None else corrected
        if correction == "none" and self.has_zero_cells:
            counts = self.counts()
            i = int(np.flatnonzero(np.any(counts == 0, axis=1))[0])
            cell = COUNT_COLUMNS[int(np.flatnonzero(counts[i] == 0)[0])]
            raise InputError(
                f"{_prefix(self._source)}study {shown_value(self.studies[i])} has a zero cell "
                f"({cell} = 0), so its logit is infinite without a continuity correction "
                "(correction='none'); use correction='all' or 'single' (--correction on the "
                "command line), or the binomial GLMM (--model glmm)."
            )
        y = np.column_stack([np.log(tp / fn), np.log(fp / tn)])
        S = np.column_stack([1.0 / tp + 1.0 / fn, 1.0 / fp + 1.0 / tn])
        return y, S

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
        return self._derived(self._df.iloc[sel].reset_index(drop=True))

    def drop(self, study: str | Sequence[str]) -> StudyTable:
        """Return a new table without the named study (or studies)."""
        names = [study] if isinstance(study, str) else list(study)
        for name in names:
            if name not in self.studies:
                raise InputError(f"no study named {shown_value(name)} in the table.")
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
        return self._derived(df)
