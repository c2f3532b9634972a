"""Reading the JSON input files and writing every output file of :mod:`vbq`.

Two helpers that every module goes through:

- :func:`read_json_file` reads a ROI, seed or label-mapping file strictly
  (through :func:`loads_strict`, which the workstation's request bodies use too):
  malformed JSON, a key given twice in one object, ``NaN``/``Infinity``, a
  number too large for a double (each with its line and column), and nesting
  deeper than :data:`MAX_JSON_DEPTH` are each one :class:`~vbq.errors.InputError`
  sentence naming the file.
- :func:`atomic_write` / :func:`atomic_path` write a file through a
  temporary file in the same folder and :func:`os.replace`, so a reader sees
  either the old file or the complete new one, never a part. The file gets a
  new file's usual mode (``0o666`` less the process umask: ``0o644`` under
  umask 022), not the owner-only mode of :func:`tempfile.mkstemp`.

:func:`captured_log` keeps a library's log records (nibabel's header checks,
for one) off stderr while a file is read, so that what they say can go into
the one error sentence or a warning instead; the logger is restored after.

:func:`refuse_output_clash` refuses, before anything is written, an output
path of a command that is one of its inputs, lies inside a folder it scans for
images, or is another output of the same command.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vbq.errors import InputError

#: Deepest nesting of arrays and objects accepted in a JSON input file (the
#: formats need 4: file -> list of ROIs -> ROI -> list of points -> point).
MAX_JSON_DEPTH = 32

#: Most digits accepted in one JSON number: more cannot be a finite double
#: (the largest, about 1.8e308, has 309 digits).
_MAX_DIGITS = 309

__all__ = ["MAX_JSON_DEPTH", "NUMBER_LIMIT", "StrictJsonError", "loads_strict", "read_json_file",
           "shown", "shown_number", "shown_text", "in_limit", "atomic_write", "atomic_path",
           "current_umask", "captured_log", "refuse_output_clash", "check_output_file"]

#: Largest coordinate, size or point accepted in a ROI or seed file (pixels or mm).
NUMBER_LIMIT = 1e6


class _RefusedError(Exception):
    """Raised inside the JSON parser's hooks; turned into one sentence by the reader."""


# A refusal of the parser's hooks carries (sentence, kind, token): kind "constant" for
# NaN/Infinity, "number" for a number too large; the token (as written) is found in the
# text again for its line and column.


def _parse_int(text: str) -> int | float:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise _RefusedError(f"a number with {len(text.lstrip('-'))} digits is too large",
                            "number", text)
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise _RefusedError(f"the number {text[:12]}... is too large", "number", text) from None
    return value


def _parse_float(text: str) -> float:
    if len(text) > 4 * _MAX_DIGITS:
        raise _RefusedError(f"a number written with {len(text)} characters is too long",
                            "number", text)
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _RefusedError(f"the number {text[:24]} is too large for a double", "number", text)
    return value


def _parse_constant(name: str) -> Any:
    raise _RefusedError(f"{name} is not a finite number (JSON has no NaN or Infinity)",
                        "constant", name)


#: A JSON string, or a JSON number, or one of the constants Python's parser takes.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"'
                    r"|-?(?:Infinity|NaN|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)")


def _where(text: str, token: str) -> tuple[int, int] | None:
    """Line and column (1-based) of the first ``token`` outside JSON strings, or None.

    ``token`` is a whole number or constant as written: ``1e400`` is not found
    inside ``11e400``. The parser reads in order and stops at the first value it
    refuses, so the first such token is the one refused.
    """
    for found in _TOKEN.finditer(text):
        if found.group() == token:
            start = found.start()
            line = text.count("\n", 0, start) + 1
            return line, start - (text.rfind("\n", 0, start) + 1) + 1
    return None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RefusedError(f'key "{key}" appears twice in one object')
        out[key] = value
    return out


def _depth(data: Any) -> int:
    """Nesting depth of lists and dicts, found without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children
                         if isinstance(child, dict | list))
    return deepest


class StrictJsonError(ValueError):
    """Why a JSON text was refused by :func:`loads_strict`, as the end of one sentence."""


def loads_strict(text: str) -> Any:
    r"""Parse JSON text strictly: every key once per object, finite doubles, shallow nesting.

    The one strict parser of the project's JSON inputs: the ROI, seed and
    label-mapping files (:func:`read_json_file`) and the workstation's request
    bodies.

    Raises
    ------
    StrictJsonError
        Saying what is wrong (to follow the name of the file or body): malformed
        JSON (with its line and column), a key twice in one object, ``NaN`` or
        ``Infinity`` or a number too large for a double such as ``1e400`` (each with
        its line and column), or nesting deeper than :data:`MAX_JSON_DEPTH`.

    Examples
    --------
    >>> loads_strict('{"a": [1, 2.5, null]}')
    {'a': [1, 2.5, None]}
    >>> try:
    ...     loads_strict('{"a": 1, "a": 2}')
    ... except StrictJsonError as err:
    ...     print(err)
    key "a" appears twice in one object
    >>> try:
    ...     loads_strict('{"a":\n  [1, 1e400]}')
    ... except StrictJsonError as err:
    ...     print(err)
    the number 1e400 is too large for a double (line 2, column 7)
    """
    too_deep = (f"the JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays "
                "and objects)")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_parse_int,
                          parse_float=_parse_float, parse_constant=_parse_constant)
    except _RefusedError as err:
        kind, token = (err.args[1], err.args[2]) if len(err.args) > 2 else (None, None)
        at = _where(text, token) if token else None
        if at is not None and kind == "constant":
            raise StrictJsonError(f"{token} at line {at[0]}, column {at[1]} is not a finite "
                                  "number (JSON has no NaN or Infinity)") from None
        if at is not None:
            raise StrictJsonError(f"{err.args[0]} (line {at[0]}, column {at[1]})") from None
        raise StrictJsonError(str(err.args[0])) from None
    except json.JSONDecodeError as err:
        raise StrictJsonError(f"malformed JSON at line {err.lineno}, column {err.colno}: "
                              f"{err.msg}") from None
    except RecursionError:
        raise StrictJsonError(too_deep) from None
    except ValueError as err:  # any other number the parser could not convert
        raise StrictJsonError(f"a value cannot be read ({err})") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise StrictJsonError(too_deep)
    return data


def read_json_file(path: str | Path, what: str) -> Any:
    """Read a JSON input file strictly.

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages (``"ROI file"``, ``"seed file"``,
        ``"label mapping file"``).

    Returns
    -------
    Any
        The parsed document (dicts, lists, str, int, float, bool, None).

    Raises
    ------
    InputError
        One sentence naming the file: missing or unreadable, malformed JSON
        (with its line and column), a key twice in one object, ``NaN``,
        ``Infinity`` or a number too large for a double (each with its line and
        column), or nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        # a device or pipe could be read for ever
        raise InputError(f"{what} {path} is not a regular file (a device, pipe or socket)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a folder, not a file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path.name}: cannot read the {what} ({err})") from None
    try:
        return loads_strict(text)
    except StrictJsonError as err:
        raise InputError(f"{path.name}: {err}") from None


#: A JSON string (kept as it is), or an integer of 16 digits or more in JSON text.
_LONG_INT = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![0-9.])-?[0-9]{16,}(?![0-9.eE])')


def shown(value: Any, limit: int = 80) -> str:
    """``value`` as short JSON, for a message about an input file.

    An integer of 16 digits or more is written as :func:`shown_number` writes
    it (``1e+300``), so that no number fills the message.

    Examples
    --------
    >>> shown({"sop_instance_uid": 7})
    '{"sop_instance_uid": 7}'
    >>> shown(list(range(40)), limit=20)
    '[0, 1, 2, 3, 4, 5...'
    >>> shown([10**300, 5])
    '[1e+300, 5]'
    """
    try:
        text = json.dumps(value)
    except (ValueError, TypeError, RecursionError):
        text = repr(type(value).__name__)
    else:
        text = _LONG_INT.sub(lambda m: m[0] if m[0].startswith('"')
                             else shown_number(int(m[0])), text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown_number(value: float, decimals: int | None = None) -> str:
    """Write a number for a message: as it is when small, in short scientific form when huge.

    Parameters
    ----------
    value
        An integer or a float (a user's coordinate, index or count).
    decimals
        Within +-:data:`NUMBER_LIMIT`, write the value with this many decimals
        (None: an integer as it is, a float as ``:g`` writes it).

    Returns
    -------
    str
        Beyond +-:data:`NUMBER_LIMIT`, or not finite, at most six significant
        digits (``1e+308``, ``-1e+400``, ``inf``): never hundreds of digits.

    Examples
    --------
    >>> shown_number(140.0, 1), shown_number(-3, 1), shown_number(12), shown_number(2.5)
    ('140.0', '-3.0', '12', '2.5')
    >>> shown_number(1e308, 1), shown_number(-10**300), shown_number(10**400)
    ('1e+308', '-1e+300', '1e+400')
    """
    small = abs(value) <= NUMBER_LIMIT
    if small and decimals is not None:
        return f"{value:.{decimals}f}"
    if small:
        return str(value) if isinstance(value, int) else f"{value:g}"
    try:
        return f"{value:.6g}"
    except OverflowError:  # an integer beyond a double: its digits are not all written
        from decimal import Decimal

        mantissa, exponent = f"{Decimal(value):.5e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def shown_text(text: str, limit: int = 40) -> str:
    """Write a user's token (an option value, a table cell) as given, or its start and length.

    Examples
    --------
    >>> shown_text("1e308,5")
    '1e308,5'
    >>> shown_text("9" * 400)
    '99999999999999999999... (400 characters)'
    """
    return text if len(text) <= limit else f"{text[:20]}... ({len(text)} characters)"


def csv_records(text: str, label: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    r"""Yield ``(line, cells)`` of each record of a CSV text (the header is line 1), strictly.

    A double quote never closed, or a closing quote followed by more text, is
    one :class:`~vbq.errors.InputError` naming the line (``"{label}, line
    N: ..."``), rather than a cell that swallows the rest of the file; so is
    a NUL character. Batch manifests and reader tables are read through it.

    >>> list(csv_records('a,b\n1,"x"\n', "t.csv", ","))
    [(1, ['a', 'b']), (2, ['1', 'x'])]
    """
    import csv
    import io

    from vbq.errors import InputError

    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise InputError(f"{label}, line {line}: holds a NUL character; give a text CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    ended = 0  # the last physical line of the record before
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            unclosed = "unexpected end of data" in str(err) or "EOF inside" in str(err)
            why = ("a double quote opened there is never closed" if unclosed
                   else f"malformed CSV ({err}); check the double quotes of this line")
            raise InputError(f"{label}, line {ended + 1}: {why}") from None
        yield ended + 1, cells
        ended = reader.line_num


def lookalike_columns(cells: Sequence[str], known: Sequence[str],
                      present: Sequence[str]) -> dict[str, str]:
    """Map each ``known`` column not in ``present`` to a header column whose name resembles it.

    A table's header ``cells`` may hold columns of the user's own, which are
    ignored; one whose name (stripped, in lower case) is not a known column but
    close to one that is absent (``seesd`` for ``seeds``, ``exclusion`` for
    ``exclude``) is most likely that column misspelled, and is named as
    ``column 3 'seesd'`` (the first such column for each known name).

    Examples
    --------
    >>> lookalike_columns(["id", "Seesd", "notes"], ["id", "seeds", "rois"], ["id"])
    {'seeds': "column 2 'Seesd'"}
    >>> lookalike_columns(["id", "seesd", "seeds"], ["id", "seeds"], ["id", "seeds"])
    {}
    """
    import difflib

    names = [str(c).strip().lower() for c in known]
    have = {str(c).strip().lower() for c in present}
    out: dict[str, str] = {}
    for i, cell in enumerate(cells):
        col = cell.strip().lower()
        if not col or col in names:
            continue
        close = difflib.get_close_matches(col, names, n=1, cutoff=0.75)
        if close and close[0] not in have:
            out.setdefault(known[names.index(close[0])], f"column {i + 1} {cell!r}")
    return out


def in_limit(value: Any, limit: float = NUMBER_LIMIT) -> bool:
    """Whether ``value`` is a JSON number (not a bool) within ``+-limit``; never raises.

    Examples
    --------
    >>> in_limit(3.5), in_limit(True), in_limit(10**400), in_limit(2e6)
    (True, False, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value)) and abs(float(value)) <= limit
    except OverflowError:  # an integer too large for a double
        return False


# --------------------------------------------------------------------------- writing


def current_umask() -> int:
    """Return the process umask without changing it (where the system allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # the portable way: set and restore at once
    os.umask(mask)
    return mask


def check_output_file(path: str | Path, what: str | None = None) -> None:
    """Refuse an output file path that cannot be replaced by a written file.

    A file is written beside its path and moved onto it, which would replace a
    device, a pipe or a socket (``/dev/null`` when run as root) and fail on a
    folder; a path under an existing file cannot be made. ``what`` names the
    path in the message (default the path itself).

    Raises
    ------
    InputError
        One sentence naming the path and what it is.

    Examples
    --------
    >>> try:
    ...     check_output_file("/dev/null", "--sr /dev/null")
    ... except InputError as err:
    ...     print(err)
    --sr /dev/null is not a regular file (a device, pipe or socket); give a file name
    """
    target = Path(path)
    name = what or os.fspath(path)
    if target.is_dir():
        raise InputError(f"{name} is a folder; give a file name")
    if target.exists() and not target.is_file():
        raise InputError(f"{name} is not a regular file (a device, pipe or socket); give a "
                         "file name")
    for parent in target.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{name}: {parent} is a file, not a folder")
            break


def _finish(tmp: str, target: Path) -> None:
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, target)


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    For writers that want a file name (``Dataset.save_as``, ``nibabel.save``).
    On any failure the temporary file is removed and ``path`` is untouched.

    Parameters
    ----------
    path
        The file to write; its folder is created when missing.
    suffix
        Ending of the temporary file's name (some writers pick the format
        from it, e.g. ``".nii.gz"``).
    """
    target = Path(path)
    check_output_file(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _finish(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8",
                 newline: str | None = None, fsync: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    Parameters
    ----------
    path
        The file to write; its folder is created when missing.
    mode
        ``"w"`` (text) or ``"wb"`` (bytes).
    encoding, newline
        As for :func:`open`, text mode only.
    fsync
        Force the data to the disk before the rename.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_write(d / "a.txt") as fh:
    ...     _ = fh.write("hello")
    >>> (d / "a.txt").read_text()
    'hello'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    check_output_file(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if mode == "wb":
            fh: IO[Any] = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        _finish(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_write(path, "w", newline=newline) as fh:
        fh.write(text)
    return Path(path)


def write_with(path: str | Path, writer: Callable[[Path], Any], suffix: str = ".tmp") -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path, suffix) as tmp:
        writer(tmp)
    return Path(path)


# --------------------------------------------------------------------------- output paths

#: One path given on the command line (or by a caller): what it is, and the path;
#: entries whose path is None (an option not given) are skipped.
NamedPath = tuple[str, "str | os.PathLike[str] | None"]


def _resolved(path: Path) -> Path:
    """``path`` made absolute with every symbolic link resolved (as far as it exists)."""
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop: compare the absolute path
        return Path(os.path.abspath(path.expanduser()))


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode, or the same resolved path."""
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return _resolved(a) == _resolved(b)


def refuse_output_clash(outputs: Sequence[NamedPath], *, inputs: Sequence[NamedPath] = (),
                        folders: Sequence[NamedPath] = (), of: str = "the command") -> None:
    """Refuse output paths that would overwrite an input, a scanned folder's file or each other.

    Called before anything is written. Paths are compared after making them
    absolute and resolving symbolic links; two existing paths that are hard
    links to one file are the same file too.

    Parameters
    ----------
    outputs
        ``(name, path)`` of each output, e.g. ``("--sr", "report.dcm")``; the
        name is how the message calls the path.
    inputs
        ``(description, path)`` of each input file, e.g. ``("the ROI file
        --rois", "rois.json")``.
    folders
        ``(description, path)`` of each folder scanned for images: no output
        may lie inside one.
    of
        What the inputs belong to, for the message (``"vbq score"``,
        ``"the batch"``).

    Raises
    ------
    InputError
        One sentence naming the output and what it clashes with: an input
        file, a path inside a scanned folder, or another output.

    Examples
    --------
    >>> refuse_output_clash([("--out", "a.csv")], inputs=[("the table", "b.csv")])
    >>> try:
    ...     refuse_output_clash([("--out", "./t.csv")], inputs=[("the table", "t.csv")])
    ... except InputError as err:
    ...     print(err)
    --out ./t.csv is the table t.csv, an input of the command; give --out another file name
    """
    for name, p in outputs:
        if p is not None and not os.fspath(p).strip():  # no file at all, said so
            raise InputError(f"{name}: the file name is empty; give a file name")
    given = [(name, os.fspath(p), Path(p)) for name, p in outputs if p is not None]
    for i, (name, shown_out, out) in enumerate(given):
        for what, value in inputs:
            if value is not None and _same_file(out, Path(value)):
                raise InputError(f"{name} {shown_out} is {what} {os.fspath(value)}, an input of "
                                 f"{of}; give {name} another file name")
        target = _resolved(out)
        for what, value in folders:
            if value is None:
                continue
            folder = Path(value)
            if folder.is_dir() and target.is_relative_to(_resolved(folder)):
                raise InputError(f"{name} {shown_out} lies inside {what} {os.fspath(value)}, "
                                 "which is searched for images; write it elsewhere")
        for other_name, shown_other, other in given[:i]:
            if _same_file(out, other):
                raise InputError(f"{other_name} {shown_other} and {name} {shown_out} are the "
                                 "same file; give each output its own file name")


class _Collector(logging.Handler):
    """Keeps the messages of the records it is given."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        try:
            message = " ".join(record.getMessage().split())
        except Exception:  # noqa: BLE001  a malformed record must not hide the read's outcome
            message = " ".join(str(record.msg).split())
        if message and message not in self.messages:
            self.messages.append(message)


_LOG_LOCK = threading.RLock()


@contextmanager
def captured_log(name: str, level: int = logging.WARNING) -> Iterator[list[str]]:
    """Collect the records of logger ``name`` instead of letting them print.

    For the duration of the ``with`` block, the logger's own handlers are
    detached and it does not propagate; records at ``level`` or above are
    collected (each message once, whitespace collapsed to single spaces) in
    the list that the block receives; the logger's own level still decides
    which records are made. On leaving the block, the logger's handlers and
    propagation are what they were, so library users' logging set-up is
    untouched.

    Parameters
    ----------
    name
        Logger name, e.g. ``"nibabel.global"``.
    level
        Lowest level collected (default ``logging.WARNING``: what an
        unconfigured program would print).
    """
    logger = logging.getLogger(name)
    with _LOG_LOCK:
        handlers, propagate = list(logger.handlers), logger.propagate
        collector = _Collector(level)
        try:
            for h in handlers:
                logger.removeHandler(h)
            logger.addHandler(collector)
            logger.propagate = False
            yield collector.messages
        finally:
            logger.removeHandler(collector)
            for h in handlers:
                logger.addHandler(h)
            logger.propagate = propagate
