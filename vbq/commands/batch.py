"""``vbq batch MANIFEST.csv --out results.csv``: score a cohort, one output row per input row."""

from __future__ import annotations

import argparse
import json
import sys

from vbq.commands import plain_int

HELP = "score every series of a manifest CSV into one results CSV"

DESCRIPTION = """\
Score every row of MANIFEST.csv (columns: id, series, and one of rois, mask
[+ labels], seeds; optional exclude, protocol, slice, series_uid, statistic,
study (UID or date, when a folder holds several studies), force (yes/no:
score even when the CSF is at least as bright as the marrow, or the series
named by series_uid is not sagittal); relative paths
are resolved against the manifest's folder). Every input row
gets one output row: its score (status ok) or its error (status error, with
the sentence in the 'error' column). Finished rows are written to the output
at once, so an interrupted batch loses nothing; --resume then skips the ids
already scored and redoes the others.

Exit code: 0 when every row was scored, 1 when any row failed (the output is
still complete), 2 for a bad manifest or bad options. SIGTERM or Ctrl-C ends
the worker processes and keeps every finished row (exit 143 or 130); --resume
then does the rest.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``batch`` sub-command."""
    p = subparsers.add_parser("batch", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", metavar="MANIFEST.csv", help="the manifest CSV")
    p.add_argument("--out", required=True, metavar="results.csv", help="output CSV")
    p.add_argument("--workers", type=plain_int, default=1, metavar="N",
                   help="processes to use (default 1: score in this process)")
    p.add_argument("--resume", action="store_true",
                   help="keep rows of --out already scored and do only the rest")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run on an existing Dask distributed scheduler, e.g. tcp://host:8786")
    p.add_argument("--protocol", default="lumbar",
                   help="protocol for rows without a 'protocol' column (default lumbar)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary of the batch on stdout")
    p.add_argument("--no-phi", action="store_true",
                   help="leave the patient_id, study_date and accession_number columns empty")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always draw the progress bar on stderr")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="never draw the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the batch and return 0 (all rows scored) or 1 (some rows failed)."""
    from vbq.batch import run_batch
    from vbq.errors import print_message
    from vbq.protocol import get_protocol

    get_protocol(args.protocol)  # an unknown default protocol is a usage error
    summary = run_batch(args.manifest, args.out, workers=args.workers, resume=args.resume,
                        dask=args.dask, protocol=args.protocol, progress=args.progress,
                        no_phi=args.no_phi,
                        on_note=lambda text: print_message("warning", text))
    kept = summary.n_rows - summary.n_run
    note = f"; {kept} kept from the earlier run" if kept else ""
    print(f"vbq batch: {summary.n_rows} rows: {summary.n_ok} scored, {summary.n_failed} failed"
          f"{note}; wrote {summary.out} in {summary.seconds:.1f} s", file=sys.stderr)
    if summary.n_failed:
        shown = ", ".join(summary.failed_ids[:5])
        more = " ..." if summary.n_failed > 5 else ""
        print(f"vbq batch: failed ids: {shown}{more} (see the 'error' column)", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    return 1 if summary.n_failed else 0
