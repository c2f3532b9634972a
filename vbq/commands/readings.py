"""``vbq readings export --db F``: every reading of a workstation database as CSV."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``readings`` sub-command."""
    p = subparsers.add_parser(
        "readings",
        help="the readings of a vbq serve database",
        description="Work with the readings database of vbq serve.",
    )
    sub = p.add_subparsers(dest="readings_command", metavar="ACTION")
    sub.required = True
    e = sub.add_parser(
        "export",
        help="write every current reading as CSV (vbq agreement reads it as it is)",
        description="Write every reading as CSV: the vbq batch output columns (id = the "
        "reading id) plus reader, occasion, read_at (ISO 8601 UTC), reading_id, replaces and "
        "roi_provenance. A reading superseded by an edit is left out unless --all.",
    )
    e.add_argument("--db", required=True, metavar="FILE", help="the readings database")
    e.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    e.add_argument("--all", action="store_true",
                   help="also the readings an edit superseded")
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export the readings."""
    import sys
    from pathlib import Path

    from vbq.errors import InputError
    from vbq.fileio import refuse_output_clash, write_text
    from vbq.serve.storage import ReadingStore

    db = Path(args.db)
    if not db.is_file():
        raise InputError(f"{db}: no such readings database")
    # SQLite's side files count as the database: a CSV over its WAL loses readings
    refuse_output_clash([("--out", args.out)],
                        inputs=[("the readings database --db", args.db),
                                *((f"the database's {s} file", f"{args.db}-{s}")
                                  for s in ("wal", "shm", "journal"))],
                        of="vbq readings export")
    store = ReadingStore(db, create=False)
    store.check()  # every reading as it was saved (its checksum), or refused naming it
    text = store.export_csv(current_only=not args.all)
    if args.out:
        if Path(args.out).is_dir():
            raise InputError(f"{args.out} is a folder; give a file name for the CSV")
        try:
            write_text(args.out, text)
        except OSError as err:
            raise InputError(f"cannot write {args.out}: {err.strerror or err}") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
