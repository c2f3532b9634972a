"""Score a cohort: a manifest of series in, one CSV row per manifest row out.

Manifest (CSV, header required; relative paths are resolved against the
manifest's folder):

=============  ==========================================================
column         meaning
=============  ==========================================================
id             unique name of the row (required)
series         folder of DICOM files (required)
rois           ``vbq-rois/1`` file, or
mask           label mask (NIfTI, DICOM SEG, .npy) with ``labels``
               (preset or JSON mapping; default ``totalspineseg``), or
seeds          ``vbq-seeds/1`` file; exactly one of the three per row
exclude        optional, ``L2=fracture;L4=hemangioma``
protocol       optional, default ``lumbar`` (or ``--protocol``)
slice          optional slice index or SOP Instance UID
series_uid     optional series to use instead of the automatic choice
               (it implies its study)
study          optional study, when the folder holds several: its
               StudyInstanceUID or its date (YYYY-MM-DD or YYYYMMDD)
statistic      optional ``mean`` or ``median``
force          optional ``yes``/``no``: score even when the CSF is at
               least as bright as the marrow (VBQ <= 1), or the series
               named by ``series_uid`` is not sagittal, with a warning
=============  ==========================================================

Column names are read without surrounding spaces and in any case. Other
columns are ignored, so notes may live there; one whose name resembles a
manifest column that the header lacks (``seesd``, ``series uid``: a
:mod:`difflib` close match) is reported as a note (on stderr from the command
line). Refused, before the output file is opened (exit 2, one sentence naming
the manifest and the line or column): malformed CSV (a double quote never
closed, a closing quote followed by text, a NUL character, a cell over several
lines), a row with fewer cells than the header has columns (a line of empty
cells only is a blank line) or more filled cells, and a manifest column given
twice (``seeds`` and ``Seeds`` included).

Output columns are :func:`output_columns`; among them the study
(``study_instance_uid``, ``patient_id``, ``study_date`` as YYYY-MM-DD,
``accession_number``; with ``no_phi`` the patient ID, date and accession
number are left empty), ``series_number``, ``instance_number`` of the
measured slice, ``midline_offset_mm`` and ``midline_source`` (how the
mid-sagittal plane was found: ``bodies``, ``canal`` or ``labels``) when known,
and ``warning_codes``. ``--resume`` also reads outputs written before these
columns existed (:data:`LEGACY_TAILS`) and rewrites them with the current
header.

Output: one row per manifest row, with ``status`` ``ok`` and the score, or
``status`` ``error`` and the ``error`` sentence (``error_type`` ``input``,
``analysis`` or ``internal``). A bad row never stops the batch.

Nothing finished is lost: every finished row is appended to the output file
as one complete line and handed to the operating system at once (forced to
disk at least every second; a line cut short by a hard kill is dropped on the
next ``--resume``); when the batch ends, the file is
rewritten in manifest order through a temporary file and an atomic rename.
SIGTERM or SIGINT stops the batch (:class:`BatchInterrupted`): the worker
processes are ended at once (none is left running), the rows finished stay in
the output (in completion order, not rewritten), and the command line exits
with 128 + the signal's number (143, 130) and one sentence saying so.
``--resume`` keeps the rows already scored (``status`` ``ok`` and a finite
number in ``vbq``) and redoes only the rest, so no series is scored twice; a
row with status ``ok`` whose ``vbq`` is empty or not a number (an edited or
damaged output) is redone, with a note naming its id.

Workers: ``workers=1`` scores in this process; more use a process pool
(``spawn`` start method, so it behaves the same on every platform); ``dask``
sends the same tasks to an existing Dask distributed cluster, a few rows per
Dask task (:data:`DASK_GROUP`), whose rows reach the output file together.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vbq.dicom.sliceref import SliceRef
from vbq.errors import InputError

if TYPE_CHECKING:
    from vbq.result import VBQResult

#: Manifest columns understood (other columns are ignored, so notes may live there).
MANIFEST_COLUMNS: tuple[str, ...] = (
    "id", "series", "rois", "mask", "labels", "seeds", "exclude", "protocol", "slice",
    "series_uid", "statistic", "study", "force",
)
_SOURCES = ("rois", "mask", "seeds")

#: Output columns before the per-level signal columns.
HEAD_COLUMNS: tuple[str, ...] = (
    "id", "status", "vbq", "protocol", "statistic", "roi_source", "levels_used", "excluded",
    "csf_level", "csf_si", "csf_n_pixels",
)
#: Output columns after the per-level signal columns.
TAIL_COLUMNS: tuple[str, ...] = (
    "slice_index", "instance_number", "midline_offset_mm", "midline_source",
    "sop_instance_uid", "study_instance_uid", "patient_id", "study_date", "accession_number",
    "series_instance_uid", "series_number", "series_description",
    "manufacturer", "model", "field_strength_t", "tr_ms", "te_ms", "pixel_bandwidth",
    "n_warnings", "warnings", "warning_codes", "error_type", "error", "seconds",
)
#: The tail of outputs written before the study, instance number and warning
#: codes were added; ``--resume`` still reads them.
LEGACY_TAIL_COLUMNS: tuple[str, ...] = (
    "slice_index", "sop_instance_uid", "series_instance_uid", "series_description",
    "manufacturer", "model", "field_strength_t", "tr_ms", "te_ms", "pixel_bandwidth",
    "n_warnings", "warnings", "error_type", "error", "seconds",
)
#: The tail of outputs written before ``midline_source`` was added; read too.
MIDLINE_TAIL_COLUMNS: tuple[str, ...] = tuple(c for c in TAIL_COLUMNS if c != "midline_source")
#: Every earlier tail ``--resume`` reads, newest first.
LEGACY_TAILS: tuple[tuple[str, ...], ...] = (MIDLINE_TAIL_COLUMNS, LEGACY_TAIL_COLUMNS)
#: Output columns that identify the patient (left empty with ``no_phi``).
PHI_COLUMNS: tuple[str, ...] = ("patient_id", "study_date", "accession_number")

__all__ = ["BatchTask", "BatchSummary", "BatchInterrupted", "read_manifest", "process_task",
           "process_tasks", "run_batch", "output_columns", "MANIFEST_COLUMNS"]


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class BatchTask:
    """One manifest row, with its paths resolved.

    Attributes
    ----------
    id
        The row's id.
    line
        Line number of the row in the manifest (the header is line 1).
    series, rois, mask, labels, seeds
        Paths (absolute) or None; ``labels`` may be a preset name.
    exclude, protocol, slice, series_uid, statistic, study, force
        As written, or None.
    phi
        False: the output row leaves the patient ID, study date and
        accession number empty.
    """

    id: str
    line: int
    series: str
    rois: str | None = None
    mask: str | None = None
    labels: str | None = None
    seeds: str | None = None
    exclude: str | None = None
    protocol: str = "lumbar"
    slice: str | None = None
    series_uid: str | None = None
    statistic: str | None = None
    study: str | None = None
    force: str | None = None
    phi: bool = True


def _resolve(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p))


def _manifest_rows(text: str, name: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line, cells)`` of each record of a manifest (:func:`vbq.fileio.csv_records`)."""
    from vbq.fileio import csv_records

    return csv_records(text, f"manifest {name}", delimiter)


def _manifest_header(cells: Sequence[str], name: str) -> tuple[list[str], dict[str, str]]:
    """Return the manifest's column names (stripped, lower case) and the look-alikes.

    A manifest column given twice is refused. The second value maps each
    manifest column absent from the header to the first other column whose
    name resembles it (``seesd`` -> ``seeds``), as ``column 3 'seesd'``.
    """
    from vbq.fileio import lookalike_columns

    header = [h.strip().lower() for h in cells]
    first: dict[str, int] = {}
    for i, col in enumerate(header):
        if col in MANIFEST_COLUMNS and col in first:
            j = first[col]
            raise InputError(f"manifest {name} has the column {col!r} twice (columns {j + 1} "
                             f"{cells[j]!r} and {i + 1} {cells[i]!r}); keep one")
        first.setdefault(col, i)
    return header, lookalike_columns(cells, MANIFEST_COLUMNS, list(first))


def read_manifest(path: str | Path, default_protocol: str = "lumbar", *,
                  notes: list[str] | None = None) -> list[BatchTask]:
    """Read a batch manifest.

    Problems of a single row (a missing folder, two ROI sources, ...) are not
    raised here: they become that row's error when it is processed.

    Column names are read without surrounding spaces and in any case
    (``Seeds`` is ``seeds``). Other columns are ignored, so notes may live
    there; one whose name resembles a manifest column that the header lacks
    (``seesd``, ``series uid``) is named in ``notes`` (when a list is given).

    Raises
    ------
    InputError
        Missing or unreadable manifest, malformed CSV (a double quote never
        closed, a NUL character, a cell over several lines or over the CSV
        module's size limit, a row with fewer cells than the header has
        columns or more filled cells), no ``id`` or ``series`` column, no ROI
        source column, a manifest column given twice, an empty or repeated id
        (naming the lines).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"manifest {path} " + ("is not a regular file" if path.exists()
                                                 else "does not exist"))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"manifest {path} cannot be read: {err}") from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max((",", ";", "\t"), key=first.count)  # as spreadsheets export it
    rows = _manifest_rows(text, path.name, delimiter) if first else iter(())
    head = next(rows, None)
    header, alike = _manifest_header(head[1], path.name) if head else ([], {})
    if not any(header):
        raise InputError(f"manifest {path.name} is empty; it needs a header row")

    def hint(cols: Sequence[str]) -> str:
        seen = [f"; is {alike[c]} meant to be {c!r}?" for c in cols if c in alike]
        return seen[0] if seen else ""

    for col in ("id", "series"):
        if col not in header:
            raise InputError(f"manifest {path.name} has no {col!r} column "
                             f"(header: {', '.join(header)}){hint([col])}")
    if not any(c in header for c in _SOURCES):
        raise InputError(f"manifest {path.name} needs a 'rois', 'mask' or 'seeds' column "
                         f"(header: {', '.join(header)}){hint(_SOURCES)}")
    if notes is not None:
        notes.extend(f"manifest {path.name}: {where} is not a manifest column and is ignored; "
                     f"did you mean {col!r}?" for col, where in alike.items())
    base = path.resolve().parent
    tasks: list[BatchTask] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            raise InputError(f"manifest {path.name}, line {line}: {len(cells)} cells but the "
                             f"header has {len(header)} columns (an unquoted "
                             f"{delimiter!r} in a cell?)")
        if len(cells) < len(header) and any(c.strip() for c in cells):
            # a cell left out shifts every later cell under the wrong column
            raise InputError(f"manifest {path.name}, line {line}: {len(cells)} cells but the "
                             f"header has {len(header)} columns (a missing {delimiter!r}?)")
        for col, cell in zip(header, cells, strict=False):
            if "\n" in cell or "\r" in cell:
                raise InputError(f"manifest {path.name}, line {line}: the cell of column "
                                 f"{col or '(unnamed)'!r} runs over several lines (a double "
                                 "quote not closed on its line?)")
        row: dict[str, str] = {}
        for col, cell in zip(header, cells, strict=False):
            row.setdefault(col, cell.strip())
        if not any(row.values()):
            continue  # blank line
        rid = row.get("id", "")
        if not rid:
            raise InputError(f"manifest {path.name}, line {line}: the 'id' column is empty")
        if rid in seen:
            raise InputError(f"manifest {path.name}, line {line}: id {rid!r} already used on "
                             f"line {seen[rid]}; ids must be unique")
        seen[rid] = line

        def get(col: str, row: dict[str, str] = row) -> str | None:
            value = row.get(col, "")
            return value or None

        labels = get("labels")
        if labels is not None and labels.lower().endswith(".json"):
            labels = _resolve(labels, base)
        tasks.append(BatchTask(
            id=rid, line=line, series=_resolve(get("series"), base) or "",
            rois=_resolve(get("rois"), base), mask=_resolve(get("mask"), base), labels=labels,
            seeds=_resolve(get("seeds"), base), exclude=get("exclude"),
            protocol=get("protocol") or default_protocol, slice=get("slice"),
            series_uid=get("series_uid"), statistic=get("statistic"), study=get("study"),
            force=get("force"),
        ))
    return tasks


# --------------------------------------------------------------------------- one row

#: Exceptions a row's failure must never swallow: they stop the batch itself.
_NEVER_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if value == value else ""
    return str(value)


def result_record(task: BatchTask, result: VBQResult, seconds: float) -> dict[str, str]:
    """Build the output row of a scored task."""
    rec: dict[str, Any] = {
        "id": task.id, "status": "ok", "vbq": result.vbq, "protocol": result.protocol,
        "statistic": result.statistic, "roi_source": result.roi_source,
        "levels_used": ";".join(result.used_levels),
        "excluded": ";".join(f"{k}={v}" for k, v in result.excluded.items()),
        "csf_level": result.csf.level, "csf_si": result.csf.si,
        "csf_n_pixels": result.csf.measurement.n_pixels if result.csf.measurement else None,
        "slice_index": result.slice_index, "sop_instance_uid": result.sop_instance_uid,
        "instance_number": result.instance_number,
        "midline_offset_mm": result.midline_offset_mm,
        "midline_source": result.midline_source,
        "n_warnings": len(result.warnings), "warnings": " | ".join(result.warnings),
        "warning_codes": ";".join(result.warning_codes),
        "seconds": round(seconds, 4),
    }
    st = dict(result.study or {})
    rec.update({k: st.get(k) for k in ("study_instance_uid", *PHI_COLUMNS)})
    s = dict(result.series or {})
    rec.update(series_number=s.get("series_number"),
               series_instance_uid=s.get("series_instance_uid"),
               series_description=s.get("description"), manufacturer=s.get("manufacturer"),
               model=s.get("model"), field_strength_t=s.get("field_strength_t"),
               tr_ms=s.get("tr_ms"), te_ms=s.get("te_ms"),
               pixel_bandwidth=s.get("pixel_bandwidth"))
    for level, lr in result.levels.items():
        rec[f"si_{level}"] = lr.si
    return {k: _fmt(v) for k, v in rec.items()}


def error_record(task: BatchTask, err: BaseException, seconds: float) -> dict[str, str]:
    """Build the output row of a task that failed."""
    from vbq.errors import AnalysisError

    if isinstance(err, InputError):
        kind, text = "input", str(err)
    elif isinstance(err, AnalysisError):
        kind, text = "analysis", str(err)
    else:
        kind, text = "internal", f"{type(err).__name__}: {err}"
    text = " ".join(text.split())
    return {"id": task.id, "status": "error", "protocol": task.protocol, "error_type": kind,
            "error": text, "seconds": _fmt(round(seconds, 4))}


def score_task(task: BatchTask) -> VBQResult:
    """Score one manifest row (raises on failure)."""
    from vbq.score import score_series

    given = [name for name in _SOURCES if getattr(task, name)]
    if not given:
        raise InputError(f"manifest line {task.line} (id {task.id}): no 'rois', 'mask' or "
                         f"'seeds' given")
    if len(given) > 1:
        raise InputError(f"manifest line {task.line} (id {task.id}): give one of 'rois', "
                         f"'mask', 'seeds', not {' and '.join(given)}")
    if not task.series:
        raise InputError(f"manifest line {task.line} (id {task.id}): the 'series' column is "
                         "empty")
    if not Path(task.series).is_dir():
        what = "is not a folder" if Path(task.series).exists() else "does not exist"
        raise InputError(f"manifest line {task.line} (id {task.id}): series folder "
                         f"{task.series} {what}")
    where = f"manifest line {task.line} (id {task.id}): slice"
    sl = None if task.slice is None else SliceRef.parse(task.slice, where)
    from vbq.values import parse_force

    force = parse_force(task.force, f"manifest line {task.line} (id {task.id}), column force")
    return score_series(task.series, task.rois, mask=task.mask, labels=task.labels,
                        seeds=task.seeds, protocol=task.protocol, exclude=task.exclude,
                        slice=sl, series_uid=task.series_uid, statistic=task.statistic,
                        study=task.study, force=force, phi=task.phi)


def process_task(task: BatchTask) -> dict[str, str]:
    """Score one manifest row and return its output row; never raises.

    This is the function workers run (process pool or Dask); it must stay a
    module-level function so that it pickles.
    """
    import warnings

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = score_task(task)
        return result_record(task, result, time.perf_counter() - t0)
    except _NEVER_CAUGHT:
        raise
    except BaseException as err:  # noqa: BLE001  one bad row never stops the batch
        # BaseException too: a decoder written in Rust signals a damaged file by a
        # panic (pyo3's PanicException), which derives from BaseException only
        return error_record(task, err, time.perf_counter() - t0)


# --------------------------------------------------------------------------- output


def output_columns(levels: Iterable[str]) -> list[str]:
    """Output header for a batch whose protocols use ``levels``."""
    from vbq.levels import VERTEBRAL_LEVELS

    wanted = set(levels)
    per_level = [f"si_{lvl}" for lvl in VERTEBRAL_LEVELS if lvl in wanted]
    return [*HEAD_COLUMNS, *per_level, *TAIL_COLUMNS]


def _protocol_levels(tasks: Sequence[BatchTask]) -> set[str]:
    from vbq.protocol import PROTOCOLS

    levels: set[str] = set()
    for t in tasks:
        p = PROTOCOLS.get(str(t.protocol).strip().lower())
        if p is not None:
            levels.update(p.levels)
    return levels


def is_batch_header(fields: Sequence[str], *, legacy: bool = True) -> bool:
    """Whether ``fields`` is exactly a header :func:`output_columns` writes.

    With ``legacy`` (default), the headers of outputs written by earlier versions
    (ending in one of :data:`LEGACY_TAILS`) are accepted too.
    """
    tails = (TAIL_COLUMNS, *LEGACY_TAILS) if legacy else (TAIL_COLUMNS,)
    return any(_is_header(fields, t) for t in tails)


def _is_header(fields: Sequence[str], tail_columns: tuple[str, ...]) -> bool:
    head, tail = len(HEAD_COLUMNS), len(tail_columns)
    if len(fields) < head + tail or tuple(fields[:head]) != HEAD_COLUMNS \
            or tuple(fields[len(fields) - tail:]) != tail_columns:
        return False
    middle = list(fields[head:len(fields) - tail])
    levels = [f[3:] for f in middle if f.startswith("si_")]
    per_level = [f"si_{lvl}" for lvl in _level_order(levels)]
    return (len(levels) == len(middle) and len(set(levels)) == len(levels)
            and per_level == middle)


def _level_order(levels: Iterable[str]) -> list[str]:
    from vbq.levels import VERTEBRAL_LEVELS

    wanted = set(levels)
    if not wanted <= set(VERTEBRAL_LEVELS):
        return []
    return [lvl for lvl in VERTEBRAL_LEVELS if lvl in wanted]


def _read_existing(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and complete rows of an earlier output (a cut-off last line is dropped)."""
    if not path.is_file():
        return [], []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"--resume: cannot read the earlier output {path} ({err}); "
                         "repair it or give another --out") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    fields = list(reader.fieldnames or [])
    if text.strip() and not is_batch_header(fields):
        raise InputError(f"--resume: {path} is not an output of vbq batch (its header is not "
                         "the one vbq batch writes); give another --out")
    rows = [dict(r) for r in reader if r.get("id")]
    for r in rows:
        if r.get("status") not in ("ok", "error") or None in r or None in r.values():
            raise InputError(f"--resume: {path}, row of id {r['id']!r}, is not a row vbq batch "
                             "writes (its status or its number of cells is wrong); give "
                             "another --out")
    return fields, rows


def _check_out_is_not_an_input(out: Path, manifest: Path, tasks: Sequence[BatchTask]) -> None:
    """Refuse an ``--out`` that is the manifest or a file it lists, before writing anything."""
    from vbq.fileio import refuse_output_clash

    inputs: list[tuple[str, str | None]] = [("the manifest", str(manifest))]
    folders: list[tuple[str, str | None]] = []
    for t in tasks:
        row = f"manifest line {t.line} (id {t.id})"
        for col in ("rois", "mask", "seeds", "labels"):
            value = getattr(t, col)
            if value and (col != "labels" or Path(value).is_absolute()):
                inputs.append((f"the {col} file of {row}", value))
        folders.append((f"the series folder of {row}", t.series or None))
    refuse_output_clash([("--out", out)], inputs=inputs, folders=folders, of="the batch")


def _line(columns: Sequence[str], record: Mapping[str, str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([record.get(c, "") for c in columns])
    return buf.getvalue()


def _write_atomic(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    from vbq.fileio import atomic_write

    try:
        with atomic_write(path, "w", newline="", fsync=True) as fh:
            fh.write(_line(columns, {c: c for c in columns}))
            for row in rows:
                fh.write(_line(columns, row))
    except OSError as err:
        raise InputError(f"cannot write --out {path}: {err.strerror or err}") from None


class _Appender:
    """Appends finished rows to the output, one complete flushed line each.

    Each line is handed to the operating system at once (so it survives the
    process being interrupted or killed); it is forced to the disk itself at
    most every ``sync_seconds`` and when the file is closed.
    """

    def __init__(self, path: Path, columns: Sequence[str], sync_seconds: float = 1.0) -> None:
        self.columns = list(columns)
        self.fh: TextIO = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        self.sync_seconds = sync_seconds
        self.last_sync = time.monotonic()

    def add(self, record: Mapping[str, str]) -> None:
        self.fh.write(_line(self.columns, record))
        self.fh.flush()
        now = time.monotonic()
        if now - self.last_sync >= self.sync_seconds:
            os.fsync(self.fh.fileno())
            self.last_sync = now

    def close(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()


class _Progress:
    """A one-line progress bar on stderr, drawn only on a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.done, self.failed = total, 0, 0
        self.t0 = time.monotonic()

    def update(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / max(time.monotonic() - self.t0, 1e-9)
        self.stream.write(f"\rvbq batch [{'#' * filled}{'.' * (width - filled)}] "
                          f"{self.done}/{self.total}  {self.failed} failed  {rate:.1f}/s ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did.

    Attributes
    ----------
    out
        The output CSV.
    n_rows
        Manifest rows.
    n_ok, n_failed
        Rows scored / failed (including rows kept from an earlier run).
    n_run
        Rows processed in this run (the others were kept by ``--resume``).
    seconds
        Wall time of this run.
    """

    out: Path
    n_rows: int
    n_ok: int
    n_failed: int
    n_run: int
    seconds: float
    failed_ids: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        d = asdict(self)
        d["out"] = str(self.out)
        d["failed_ids"] = list(self.failed_ids)
        return d


class BatchInterrupted(KeyboardInterrupt):
    """The batch was stopped by SIGTERM or SIGINT: its workers were ended, finished rows kept.

    A :class:`KeyboardInterrupt` (a row's failure never swallows it); ``str()`` is
    one sentence and :attr:`exit_code` is ``128 + signum``, as a shell reports a
    process ended by that signal.
    """

    def __init__(self, signum: int, message: str = "") -> None:
        import signal

        self.signum = int(signum)
        self.signal_name = signal.Signals(self.signum).name
        super().__init__(message or f"stopped by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        """``128 + signum`` (143 for SIGTERM, 130 for SIGINT)."""
        return 128 + self.signum


@contextmanager
def _signals_stop_the_batch() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`BatchInterrupted` while the batch runs.

    Only in the main thread (where Python runs signal handlers), and not for a
    signal the process ignores (``nohup``). The first signal raises; later ones
    are ignored, so that ending the workers and closing the output is not cut
    short. The former handlers are restored on leaving.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [sig for sig in (signal.SIGTERM, signal.SIGINT)
              if signal.getsignal(sig) is not signal.SIG_IGN]
    former = {sig: signal.getsignal(sig) for sig in wanted}

    def stop(signum: int, frame: object) -> None:
        for sig in wanted:
            signal.signal(sig, signal.SIG_IGN)
        raise BatchInterrupted(signum)

    for sig in wanted:
        signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in former.items():
            signal.signal(sig, handler)


def _worker_start() -> None:
    """Run in each pool worker: leave SIGINT to the batch, which ends the workers itself.

    A Ctrl-C reaches every process of the terminal's group; the workers would
    each print a traceback.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _end_pool(pool: Any) -> None:
    """End a process pool's workers at once (the batch was stopped) and reap them."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)


def _serial(tasks: Sequence[BatchTask]) -> Iterator[tuple[BatchTask, dict[str, str]]]:
    for task in tasks:
        yield task, process_task(task)  # looked up at call time (tests count calls)


def _pool(tasks: Sequence[BatchTask], workers: int,
          fn: Callable[[BatchTask], dict[str, str]] | None = None
          ) -> Iterator[tuple[BatchTask, dict[str, str]]]:
    """Run tasks on a process pool (spawn); survive workers that die.

    A worker that dies (a crash in a native library, the out-of-memory
    killer) breaks the whole pool and fails every unfinished task with it.
    Those tasks are run again on a fresh pool, for as long as each round
    finishes at least one of them; after a round that finishes none, each
    remaining task runs alone in its own one-process pool, so only a task
    that itself kills its worker is reported as an error of its row.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    fn = fn or process_task
    ctx = multiprocessing.get_context("spawn")
    pending = list(tasks)
    isolate = False
    while pending:
        rounds = [[t] for t in pending] if isolate else [pending]
        broken: list[tuple[BatchTask, BaseException]] = []
        finished = 0
        for group in rounds:
            size = 1 if isolate else min(workers, len(group))
            pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx,
                                       initializer=_worker_start)
            ended = False
            try:
                futures = {pool.submit(fn, t): t for t in group}
                for fut in as_completed(futures):
                    task = futures[fut]
                    try:
                        record = fut.result()
                    except BrokenProcessPool as err:
                        if isolate:  # this task alone killed its worker
                            record = error_record(task, RuntimeError(
                                f"the worker process scoring this row died ({err})"), 0.0)
                        else:
                            broken.append((task, err))
                            continue
                    except Exception as err:  # e.g. a result that cannot be sent back
                        record = error_record(task, err, 0.0)
                    finished += 1
                    yield task, record
                ended = True
            finally:
                if ended:
                    pool.shutdown(wait=True, cancel_futures=True)
                else:  # stopped (a signal, the caller closing the stream): end the workers
                    _end_pool(pool)
        if isolate:
            return
        isolate = bool(broken) and not finished
        pending = [task for task, _ in broken]


def _connect_dask(address: Any) -> tuple[Any, bool]:
    """Connect to the Dask scheduler at ``address``; return the client and whether we own it."""
    if hasattr(address, "submit"):
        return address, False
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError("--dask needs the 'dask[distributed]' package "
                         "(pip install 'vbq-toolkit[dask]')") from None
    try:
        return Client(address, timeout="10s"), True
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(f"cannot connect to the Dask scheduler at {address}: {err}") from None


def process_tasks(tasks: Sequence[BatchTask]) -> list[dict[str, str]]:
    """Score several manifest rows one after the other (:func:`process_task` each).

    What a Dask worker runs: one Dask task per group of rows, because the
    scheduler's cost per task (about 3 ms of CPU between the scheduler, the
    worker and this process) is a fifth of the scoring of a small series.
    """
    return [process_task(task) for task in tasks]


#: Most rows per Dask task: small enough that a group is scored in well under a
#: second (the rows of a group reach the output file together), large enough that
#: the scheduler's cost per task is a few per cent of the scoring.
DASK_GROUP = 8


def _groups(tasks: Sequence[BatchTask], slots: int) -> list[list[BatchTask]]:
    """Split ``tasks`` in order into groups of at most :data:`DASK_GROUP`.

    At least four groups per worker slot where there are enough rows, so that
    the workers stay busy to the end.
    """
    size = max(1, min(DASK_GROUP, len(tasks) // (4 * max(slots, 1))))
    return [list(tasks[i:i + size]) for i in range(0, len(tasks), size)]


def _dask(tasks: Sequence[BatchTask], client: Any
          ) -> Iterator[tuple[BatchTask, dict[str, str]]]:
    from dask.distributed import as_completed

    try:
        slots = sum(client.nthreads().values())
    except Exception:  # noqa: BLE001  (an older or a fake client: one slot)
        slots = 1
    groups = _groups(tasks, slots)
    futures = client.map(process_tasks, groups, pure=False)
    by_key = {f.key: g for f, g in zip(futures, groups, strict=True)}
    for fut in as_completed(futures):
        group = by_key[fut.key]
        try:
            records = fut.result()
        except Exception as err:  # a worker died or the task was lost
            records = [error_record(task, err, 0.0) for task in group]
        yield from zip(group, records, strict=True)


def _not_scored(row: Mapping[str, str]) -> str | None:
    """Why an earlier output row with status ``ok`` holds no score, or None if it does."""
    text = row.get("vbq", "")
    if not text.strip():
        return "its vbq is empty"
    try:
        value = float(text)
    except ValueError:
        return f"its vbq {text[:40]!r} is not a number"
    if not math.isfinite(value):
        return f"its vbq {text[:40]!r} is not a finite number"
    # a ratio of two mean signals, both positive
    return None if value > 0 else f"its vbq {text[:40]!r} is not positive"


def _note(text: str, on_note: Callable[[str], None] | None) -> None:
    """Hand one note to ``on_note``, else issue it as a :class:`~vbq.errors.BatchNote`."""
    if on_note is not None:
        on_note(text)
        return
    import warnings

    from vbq.errors import BatchNote

    warnings.warn(BatchNote(text), stacklevel=3)


def run_batch(manifest: str | Path, out: str | Path, *, workers: int = 1,
              resume: bool = False, dask: Any = None, protocol: str = "lumbar",
              progress: bool | None = None, no_phi: bool = False,
              on_row: Callable[[dict[str, str]], None] | None = None,
              on_note: Callable[[str], None] | None = None) -> BatchSummary:
    """Score every row of a manifest into a CSV.

    Parameters
    ----------
    manifest
        The manifest CSV (see the module docstring).
    out
        Output CSV; one row per manifest row.
    workers
        1 = in this process; more = a process pool of that size.
    resume
        Keep rows of ``out`` already scored and do only the others.
    dask
        A Dask scheduler address (``tcp://host:8786``) or ``Client``; when
        given, ``workers`` is ignored.
    protocol
        Protocol of rows that do not name one.
    progress
        Draw a progress bar on stderr; default: only when stderr is a terminal.
    on_row
        Called with each finished output row (in completion order).
    no_phi
        Leave the patient ID, study date and accession number out of every
        row (rows kept by ``resume`` included).
    on_note
        Called with each note (one sentence) about the input that is not an
        error: a manifest column whose name resembles a known one, a row of
        the earlier output that ``resume`` redoes because its status is ``ok``
        but its ``vbq`` is empty or not a finite number. Default: each is
        issued as a :class:`vbq.errors.BatchNote` warning.

    Returns
    -------
    BatchSummary

    Raises
    ------
    InputError
        A bad manifest (see :func:`read_manifest`) or ``workers < 1``.
    BatchInterrupted
        SIGTERM or SIGINT reached the batch (run in the main thread): the
        worker processes were ended, every finished row is in ``out`` (in
        completion order; ``resume`` does the rest).
    """
    with _signals_stop_the_batch():
        return _run_batch(manifest, out, workers=workers, resume=resume, dask=dask,
                          protocol=protocol, progress=progress, no_phi=no_phi, on_row=on_row,
                          on_note=on_note)


def _run_batch(manifest: str | Path, out: str | Path, *, workers: int, resume: bool, dask: Any,
               protocol: str, progress: bool | None, no_phi: bool,
               on_row: Callable[[dict[str, str]], None] | None,
               on_note: Callable[[str], None] | None) -> BatchSummary:
    """Run :func:`run_batch` (its signals already handled)."""
    t0 = time.perf_counter()
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    notes: list[str] = []
    tasks = read_manifest(manifest, protocol, notes=notes)
    if no_phi:
        tasks = [replace(t, phi=False) for t in tasks]
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name for the results")
    _check_out_is_not_an_input(out, Path(manifest), tasks)
    for text in notes:
        _note(text, on_note)
    old_cols, old_rows = _read_existing(out) if resume else ([], [])
    if no_phi:
        old_rows = [{**r, **dict.fromkeys((c for c in PHI_COLUMNS if c in r), "")}
                    for r in old_rows]
    ids = {t.id for t in tasks}
    unscored = {r["id"]: why for r in old_rows
                if r.get("status") == "ok" and (why := _not_scored(r)) is not None}
    for rid, why in unscored.items():
        if rid in ids:
            _note(f"--resume: the row of id {rid!r} in {out} has status ok but {why}; it is "
                  "scored again", on_note)
    kept = {r["id"]: r for r in old_rows
            if r.get("status") == "ok" and not (r["id"] in unscored and r["id"] in ids)}
    stale_other = [r for r in old_rows if r.get("status") != "ok" and r["id"] not in ids]
    levels = _protocol_levels(tasks) | {c[3:] for c in old_cols if c.startswith("si_")}
    columns = output_columns(levels)
    todo = [t for t in tasks if t.id not in kept]
    manifest_ids = [t.id for t in tasks]
    extra_kept = [r for i, r in kept.items() if i not in set(manifest_ids)]
    client, own_client = _connect_dask(dask) if dask is not None and todo else (None, False)
    # start the file: rows kept from the earlier run (any order), header in our columns
    _write_atomic(out, columns, [*kept.values(), *stale_other])
    records: dict[str, dict[str, str]] = {}
    bar = _Progress(len(todo), enabled=progress)
    appender = _Appender(out, columns)
    stream: Iterator[tuple[BatchTask, dict[str, str]]] = iter(())
    try:
        if not todo:
            pass
        elif client is not None:
            stream = _dask(todo, client)
        elif workers == 1 or len(todo) == 1:
            stream = _serial(todo)
        else:
            stream = _pool(todo, min(workers, len(todo)))
        for task, record in stream:
            records[task.id] = record
            appender.add(record)
            bar.update(record.get("status") == "ok")
            if on_row is not None:
                on_row(record)
    except BatchInterrupted as err:
        done = len(kept) + len(records)
        rows = "1 row" if done == 1 else f"{done} rows"
        raise BatchInterrupted(err.signum, (
            f"the batch was stopped by {err.signal_name}: its worker processes were ended and "
            f"the {rows} finished so far are kept in {out}; run it again with --resume to do "
            "the rest")) from None
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a pool still running (the loop was left early) ends its workers
        appender.close()
        bar.close()
        if own_client and client is not None:
            client.close()
    final = [kept.get(i) or records.get(i) for i in manifest_ids]
    _write_atomic(out, columns, [r for r in final if r is not None]
                  + extra_kept + stale_other)
    failed = tuple(i for i in manifest_ids
                   if (kept.get(i) or records.get(i) or {}).get("status") != "ok")
    return BatchSummary(out=out, n_rows=len(tasks), n_ok=len(tasks) - len(failed),
                        n_failed=len(failed), n_run=len(records),
                        seconds=time.perf_counter() - t0, failed_ids=failed)
