"""The readings database: SQLite, append-only, versioned, one transaction per reading.

A reading is one reader's ROIs on one series and the result they gave. Readings
are never changed or deleted (triggers refuse it): an edit is a new reading
whose ``replaces`` names the one it supersedes, and a reading is replaced at
most once, so each (series, reader, occasion) has one current reading. Each row
carries a SHA-256 of its content, so :meth:`ReadingStore.check` can prove that
no reading was half-written; SQLite's journal (WAL mode) makes each save all or
nothing even when the process is killed during it.

An *occasion* is a reading session of one reader (intra-reader studies read the
same series on several occasions); a reader starts a new one from the worklist.
While blinded, a reader sees only their own readings of their current occasion.

The schema version is ``PRAGMA user_version`` (:data:`SCHEMA_VERSION`); a
database written by a newer version is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vbq.errors import AnalysisError, InputError

__all__ = ["SCHEMA_VERSION", "EXPORT_COLUMNS", "Reading", "ReadingStore", "ReadingConflictError",
           "UnknownReadingError", "OtherReadersReadingError", "csv_cell"]

#: Version of the database layout (``PRAGMA user_version``).
SCHEMA_VERSION = 1

#: Columns the CSV export adds after the batch row columns (the batch row
#: already holds ``study_instance_uid`` and ``patient_id``).
EXPORT_COLUMNS: tuple[str, ...] = ("reader", "occasion", "read_at", "reading_id", "replaces",
                                   "roi_provenance")

_SCHEMA = """
CREATE TABLE readings (
    reading_id INTEGER PRIMARY KEY,
    reader TEXT NOT NULL CHECK (length(reader) > 0),
    occasion INTEGER NOT NULL CHECK (occasion >= 1),
    read_at TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    series_instance_uid TEXT NOT NULL,
    patient_id TEXT,
    replaces INTEGER UNIQUE REFERENCES readings(reading_id),
    rois TEXT NOT NULL,
    roi_provenance TEXT NOT NULL,
    result TEXT NOT NULL,
    batch_row TEXT NOT NULL,
    checksum TEXT NOT NULL
);
CREATE INDEX readings_by_reader ON readings (reader, occasion);
CREATE INDEX readings_by_series ON readings (series_instance_uid);
CREATE TRIGGER readings_no_update BEFORE UPDATE ON readings
BEGIN SELECT RAISE(ABORT, 'readings are append-only'); END;
CREATE TRIGGER readings_no_delete BEFORE DELETE ON readings
BEGIN SELECT RAISE(ABORT, 'readings are append-only'); END;
CREATE TABLE occasions (
    reader TEXT PRIMARY KEY,
    occasion INTEGER NOT NULL CHECK (occasion >= 1),
    started_at TEXT NOT NULL
);
"""

_FIELDS = ("reading_id", "reader", "occasion", "read_at", "study_instance_uid",
           "series_instance_uid", "patient_id", "replaces", "rois", "roi_provenance", "result",
           "batch_row", "checksum")


class ReadingConflictError(AnalysisError):
    """A reading names one to replace that is not the current reading of its series."""


class UnknownReadingError(ReadingConflictError):
    """A reading names one to replace that is not in the database."""


class OtherReadersReadingError(ReadingConflictError):
    """A reading names one to replace that another reader made."""


#: First characters that make a spreadsheet read a cell as a formula (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """Return ``value`` safe for a spreadsheet: text read as a formula gets a leading ``'``.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return is prefixed with an apostrophe (OWASP, "CSV Injection"), so a
    spreadsheet shows it as text instead of running it. Numbers, and text
    that is a plain decimal number (``-2.5``, a negative offset), are left
    as they are.

    Examples
    --------
    >>> csv_cell("@SUM(1+1)"), csv_cell("=1+2"), csv_cell("-2.5"), csv_cell("ann"), csv_cell(3)
    ("'@SUM(1+1)", "'=1+2", '-2.5', 'ann', 3)

    References
    ----------
    OWASP Foundation. CSV Injection. https://owasp.org/www-community/attacks/CSV_Injection
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not (
            _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def _now() -> str:
    """Return the current time, ISO 8601 UTC to the millisecond (``2026-01-02T03:04:05.678Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _checksum(values: Sequence[Any]) -> str:
    text = json.dumps([None if v is None else str(v) for v in values], ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Reading:
    """One stored reading.

    Attributes
    ----------
    reading_id
        Its number in the database (increasing).
    reader, occasion, read_at
        Who read, on which of their occasions, when (ISO 8601 UTC).
    study_instance_uid, series_instance_uid, patient_id
        What was read.
    replaces
        The reading this one supersedes, or None.
    rois
        The ``vbq-rois/1`` document scored (pixel space).
    roi_provenance
        ``"L1:accepted_proposal;L2:edited_proposal;..."``.
    result
        The result JSON.
    batch_row
        The result as a ``vbq batch`` output row.
    """

    reading_id: int
    reader: str
    occasion: int
    read_at: str
    study_instance_uid: str
    series_instance_uid: str
    patient_id: str | None
    replaces: int | None
    rois: dict[str, Any]
    roi_provenance: str
    result: dict[str, Any]
    batch_row: dict[str, str]

    def summary(self) -> dict[str, Any]:
        """Return the reading as the API lists it (without the ROIs)."""
        return {"reading_id": self.reading_id, "reader": self.reader, "occasion": self.occasion,
                "read_at": self.read_at, "study_instance_uid": self.study_instance_uid,
                "series_instance_uid": self.series_instance_uid, "replaces": self.replaces,
                "roi_provenance": self.roi_provenance, "vbq": self.result.get("vbq"),
                "forced": "implausible_score_forced" in (self.result.get("warning_codes") or [])}


def _check_replaced(con: sqlite3.Connection, replaces: int, reader: str, series: str) -> None:
    """Refuse a ``replaces`` that names no reading, or a reading of another reader or series."""
    if not 0 < replaces < 2 ** 63:   # SQLite's INTEGER range: no reading has such an id
        raise UnknownReadingError(f"reading {str(replaces)[:24]} does not exist, so it cannot "
                                  "be replaced")
    row = con.execute("SELECT reader, series_instance_uid FROM readings WHERE reading_id = ?",
                      (replaces,)).fetchone()
    if row is None:
        raise UnknownReadingError(f"reading {replaces} does not exist, so it cannot be replaced")
    if row["reader"] != reader:
        raise OtherReadersReadingError(f"reading {replaces} was made by another reader; "
                                       f"{reader} may replace only their own readings")
    if row["series_instance_uid"] != series:
        raise ReadingConflictError(f"reading {replaces} is of another series; a reading "
                                   "replaces one of the same series")


def _reading(row: sqlite3.Row) -> Reading:
    return Reading(reading_id=int(row["reading_id"]), reader=row["reader"],
                   occasion=int(row["occasion"]), read_at=row["read_at"],
                   study_instance_uid=row["study_instance_uid"],
                   series_instance_uid=row["series_instance_uid"], patient_id=row["patient_id"],
                   replaces=row["replaces"], rois=json.loads(row["rois"]),
                   roi_provenance=row["roi_provenance"], result=json.loads(row["result"]),
                   batch_row=json.loads(row["batch_row"]))


class ReadingStore:
    """The readings database at ``path`` (created with the current schema if new).

    Parameters
    ----------
    path
        The SQLite file.
    create
        Make the database when the file is new or empty (the server); False
        (export) refuses a file that holds none, and leaves it as it is.

    Raises
    ------
    InputError
        The file cannot be opened, is not a SQLite database, or was written
        by a newer schema version.

    Examples
    --------
    >>> import tempfile
    >>> store = ReadingStore(Path(tempfile.mkdtemp()) / "r.sqlite")
    >>> store.occasion("ann"), store.start_occasion("ann"), store.occasion("ann")
    (1, 2, 2)
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if not create:
            self._refuse_if_not_readings()
        try:
            with self._connect() as con:
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    tables = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                    if tables:
                        raise InputError(f"{self.path}: a SQLite database that is not a readings "
                                         "database; give another --db")
                    con.execute("PRAGMA journal_mode=WAL")
                    con.executescript("BEGIN IMMEDIATE;" + _SCHEMA
                                      + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
                elif version > SCHEMA_VERSION:
                    raise InputError(f"{self.path}: written by a newer version of vbq (schema "
                                     f"{version}, this one reads {SCHEMA_VERSION})")
        except sqlite3.DatabaseError as err:
            raise InputError(f"{self.path}: cannot open the readings database ({err})") from None

    def _refuse_if_not_readings(self) -> None:
        """Refuse a file that holds no readings database, without writing to it."""
        try:
            con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                version = con.execute("PRAGMA user_version").fetchone()[0]
                names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            finally:
                con.close()
        except sqlite3.DatabaseError as err:
            raise InputError(f"{self.path}: cannot open the readings database ({err})") from None
        if version == 0 and "readings" not in names:
            raise InputError(f"{self.path}: not a readings database (it holds no readings); "
                             "give the --db file vbq serve wrote")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA foreign_keys=ON")
            yield con
        finally:
            con.close()

    # ----------------------------------------------------------------- occasions
    def occasion(self, reader: str) -> int:
        """Return the reader's current occasion (1 until they start another)."""
        with self._connect() as con:
            row = con.execute("SELECT occasion FROM occasions WHERE reader = ?",
                              (reader,)).fetchone()
        return int(row[0]) if row else 1

    def start_occasion(self, reader: str) -> int:
        """Start the reader's next occasion and return its number."""
        with self._lock, self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute("SELECT occasion FROM occasions WHERE reader = ?",
                                  (reader,)).fetchone()
                new = (int(row[0]) if row else 1) + 1
                con.execute("INSERT INTO occasions (reader, occasion, started_at) VALUES (?, ?, ?)"
                            " ON CONFLICT(reader) DO UPDATE SET occasion = excluded.occasion, "
                            "started_at = excluded.started_at", (reader, new, _now()))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return new

    # ----------------------------------------------------------------- readings
    def add(self, *, reader: str, study_instance_uid: str, series_instance_uid: str,
            patient_id: str | None, rois: Mapping[str, Any], roi_provenance: str,
            result: Mapping[str, Any], batch_row: Mapping[str, str],
            replaces: int | None = None) -> Reading:
        """Store a reading in one transaction and return it.

        The reading replaces the reader's current reading of the series on
        their current occasion, if there is one (``replaces`` may name it, and
        must then be it).

        Raises
        ------
        UnknownReadingError
            ``replaces`` names no reading.
        OtherReadersReadingError
            ``replaces`` names another reader's reading.
        ReadingConflictError
            ``replaces`` is not that current reading (of another series or
            occasion, or replaced already).
        """
        with self._lock, self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute("SELECT occasion FROM occasions WHERE reader = ?",
                                  (reader,)).fetchone()
                occasion = int(row[0]) if row else 1
                current = con.execute(
                    "SELECT reading_id FROM readings r WHERE reader = ? AND occasion = ? AND "
                    "series_instance_uid = ? AND NOT EXISTS (SELECT 1 FROM readings n WHERE "
                    "n.replaces = r.reading_id)",
                    (reader, occasion, series_instance_uid)).fetchone()
                current_id = int(current[0]) if current else None
                if replaces is not None and replaces != current_id:
                    _check_replaced(con, replaces, reader, series_instance_uid)
                    what = (f"reading {current_id}" if current_id is not None
                            else "no reading")
                    raise ReadingConflictError(
                        f"reading {replaces} is not the current reading of this series by "
                        f"{reader} on occasion {occasion} (that is {what}); reload the worklist")
                new_id = int(con.execute("SELECT COALESCE(MAX(reading_id), 0) + 1 FROM "
                                         "readings").fetchone()[0])
                values = [new_id, reader, occasion, _now(), study_instance_uid,
                          series_instance_uid, patient_id, current_id,
                          json.dumps(dict(rois), sort_keys=True), roi_provenance,
                          json.dumps(dict(result)), json.dumps(dict(batch_row))]
                con.execute(
                    "INSERT INTO readings (reading_id, reader, occasion, read_at, "
                    "study_instance_uid, series_instance_uid, patient_id, replaces, rois, "
                    "roi_provenance, result, batch_row, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?, ?, ?, ?)", [*values, _checksum(values)])
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return self.get(new_id)

    def get(self, reading_id: int) -> Reading:
        """Return the reading with this id (KeyError if there is none)."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM readings WHERE reading_id = ?",
                              (reading_id,)).fetchone()
        if row is None:
            raise KeyError(reading_id)
        return _reading(row)

    def readings(self, *, reader: str | None = None, occasion: int | None = None,
                 current_only: bool = True) -> list[Reading]:
        """Return readings in id order: all, or one reader's, or one reader's on one occasion."""
        sql = "SELECT * FROM readings r WHERE 1"
        args: list[Any] = []
        if reader is not None:
            sql += " AND reader = ?"
            args.append(reader)
        if occasion is not None:
            sql += " AND occasion = ?"
            args.append(occasion)
        if current_only:
            sql += " AND NOT EXISTS (SELECT 1 FROM readings n WHERE n.replaces = r.reading_id)"
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY reading_id", args).fetchall()
        return [_reading(r) for r in rows]

    def visible(self, reader: str, *, blinded: bool) -> list[Reading]:
        """Return the current readings a reader may see (blinded: their own, this occasion)."""
        if not blinded:
            return self.readings()
        return self.readings(reader=reader, occasion=self.occasion(reader))

    def check(self) -> int:
        """Check the database and every reading's checksum; return the number of readings.

        Raises
        ------
        InputError
            SQLite's integrity check fails, or a reading does not match its checksum.
        """
        with self._connect() as con:
            status = con.execute("PRAGMA integrity_check").fetchone()[0]
            if status != "ok":
                raise InputError(f"{self.path}: the database is damaged ({status})")
            rows = con.execute("SELECT * FROM readings ORDER BY reading_id").fetchall()
        for row in rows:
            values = [row[k] for k in _FIELDS[:-1]]
            if _checksum(values) != row["checksum"]:
                raise InputError(f"{self.path}: reading {row['reading_id']} does not match its "
                                 "checksum")
            json.loads(row["result"])
            json.loads(row["rois"])
        return len(rows)

    def export_csv(self, *, current_only: bool = True) -> str:
        """Every reading as CSV: the batch row columns, then :data:`EXPORT_COLUMNS`.

        The batch ``id`` column holds the reading id. With ``current_only``
        (the default) a superseded reading is left out, so each (series,
        reader, occasion) has one row, which ``vbq agreement`` reads as it is.
        Text a spreadsheet would run as a formula is neutralised
        (:func:`csv_cell`): a reader name or a DICOM value written by another
        program cannot become a formula when the CSV is opened.
        """
        from vbq.batch import output_columns
        from vbq.levels import VERTEBRAL_LEVELS

        readings = self.readings(current_only=current_only)
        levels = {k[3:] for r in readings for k in r.batch_row if k.startswith("si_")}
        columns = output_columns(levels or VERTEBRAL_LEVELS[:0])
        columns += [c for c in EXPORT_COLUMNS if c not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n",
                                extrasaction="ignore")
        writer.writeheader()
        for r in readings:
            row = {**r.batch_row, "id": r.reading_id, "reader": r.reader,
                   "occasion": r.occasion, "read_at": r.read_at, "reading_id": r.reading_id,
                   "replaces": "" if r.replaces is None else r.replaces,
                   "roi_provenance": r.roi_provenance}
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
        return buf.getvalue()
