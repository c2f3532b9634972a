"""``vbq from-values TABLE.csv``: VBQ per row of signal intensities read in a PACS."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``from-values`` sub-command."""
    p = subparsers.add_parser(
        "from-values",
        help="score signal intensities already read in a PACS (one row a patient)",
        description="Columns: id, L1..L4 (the protocol's levels), CSF, optional csf_level, "
        "optional exclude ('L2=fracture;L3=other'), optional field_strength_t in tesla (1.5, 3; "
        "0.05 to 11.7), "
        "optional force (yes/no: score a row whose CSF is at least as bright as the marrow, "
        "with a warning). Signal intensities are plain decimal "
        "numbers (410, 410.5, 4.1e2; a decimal comma, 410,5, in a ';'-separated table); every "
        "row has as many cells as the header. Writes one output row per input row "
        "(vbq, levels used, exclusions, warnings, error). Each failed row is reported on stderr "
        "by row number and column; the others are still scored. Exit code 2 if any row was "
        "malformed (not a number, empty id, ...), else 1 if any row could not be scored "
        "(too few levels left, a VBQ that is not finite), else 0.",
    )
    p.add_argument("table", metavar="TABLE.csv", help="the table of signal intensities")
    p.add_argument("--out", metavar="F", help="write the results here (default: stdout)")
    p.add_argument("--json", action="store_true", help="JSON (a list of result objects)")
    p.add_argument("--protocol", default="lumbar",
                   help="lumbar (default), cervical, thoracic or s1")
    p.add_argument("--force", action="store_true",
                   help="score rows whose CSF is at least as bright as the marrow (VBQ <= 1, "
                   "refused otherwise; a 'force' column does it row by row); each carries a "
                   "warning")
    p.set_defaults(func=run)


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    from pathlib import Path

    from vbq.errors import InputError
    from vbq.fileio import write_text

    path = Path(out)
    if path.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name")
    try:
        write_text(path, text, newline="")
    except OSError as err:
        raise InputError(f"cannot write --out {out}: {err.strerror or err}") from None


def run(args: argparse.Namespace) -> int:
    """Score every row; report failed rows on stderr.

    Exit 2 if any row was malformed, else 1 if any row could not be scored
    (too few levels, a VBQ that is not finite), else 0.
    """
    import csv
    import io
    import json

    from vbq.errors import print_message
    from vbq.fileio import refuse_output_clash
    from vbq.values import OUTPUT_COLUMNS, score_table

    refuse_output_clash([("--out", args.out)], inputs=[("the table", args.table)],
                        of="vbq from-values")
    notes: list[str] = []
    outcomes = list(score_table(args.table, protocol=args.protocol, force=args.force,
                                notes=notes))
    for text in notes:
        print_message("note", text)
    bad = [o for o in outcomes if o.error is not None]
    for o in bad:
        print_message("error", o.error)
    if args.json:
        records = [
            {"row": o.row, "id": o.id, **(o.result.to_dict() if o.result else {"vbq": None}),
             "error": o.error}
            for o in outcomes
        ]
        text = json.dumps(records, indent=2) + "\n"
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for o in outcomes:
            rec = o.to_record()
            writer.writerow({k: ("" if rec.get(k) is None else rec.get(k))
                             for k in OUTPUT_COLUMNS})
        text = buf.getvalue()
    _write(text, args.out)
    if bad:
        print(f"vbq: {len(bad)} of {len(outcomes)} rows could not be scored", file=sys.stderr)
        return 2 if any(o.error_type != "analysis" for o in bad) else 1
    return 0
