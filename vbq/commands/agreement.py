"""``vbq agreement READINGS.csv``: inter- and intra-reader agreement of VBQ readings."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vbq.commands import plain_float, plain_int


def register(subparsers: Any) -> None:
    """Add the ``agreement`` sub-command."""
    p = subparsers.add_parser(
        "agreement",
        help="reader agreement: ICC, Bland-Altman and kappa on cut-offs",
        description="Reads a long table, one row per subject x reader [x occasion] (the "
        "workstation export's columns by default), or with --wide one row per subject and one "
        "column per reader. Gives the six ICCs as R's psych::ICC (headline ICC(A,1)), the "
        "within-subject SD, repeatability coefficient, SEM and MDC95, Bland-Altman bias and "
        "limits for every pair of readers, and with --cutoff the kappa of the decision "
        "VBQ >= cut-off; the same between the occasions of every reader who read twice. "
        "Exit 2 for a table that cannot be read (missing column, a value that is not a "
        "number, a reading given twice), 1 when it cannot be analysed (one reader, one "
        "subject).",
    )
    p.add_argument("table", metavar="READINGS.csv", help="the table of readings")
    p.add_argument("--subject", default="series_instance_uid", metavar="COL",
                   help="subject column (default series_instance_uid)")
    p.add_argument("--rater", default="reader", metavar="COL",
                   help="reader column (default reader)")
    p.add_argument("--occasion", default=None, metavar="COL",
                   help="occasion column (default occasion, when the table has it)")
    p.add_argument("--value", default="vbq", metavar="COL", help="value column (default vbq)")
    p.add_argument("--wide", action="store_true",
                   help="one column per reader (every column but the subject and occasion)")
    p.add_argument("--cutoff", type=plain_float, action="append", default=[], metavar="X",
                   help="VBQ cut-off for kappa (a reading is above when VBQ >= X); repeatable")
    p.add_argument("--log", action="store_true", help="Bland-Altman on log VBQ (ratio limits)")
    p.add_argument("--seed", type=plain_int, default=0,
                   help="seed of the Fleiss kappa bootstrap (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--plots", metavar="DIR", help="write Bland-Altman plots (PNG) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyse the table; print the report (or JSON), then write the plots."""
    import json
    from pathlib import Path

    from vbq.agreement import analyze, read_readings
    from vbq.errors import InputError, print_message

    twice = [x for i, x in enumerate(args.cutoff) if x in args.cutoff[:i]]
    if twice:
        raise InputError(f"--cutoff {twice[0]:g} is given twice")
    if args.seed < 0:
        raise InputError(f"--seed {args.seed}: give 0 or a positive whole number (the "
                         "bootstrap's random generator takes no negative seed)")
    if args.plots is not None and not args.plots.strip():
        raise InputError("--plots: the folder name is empty; give a folder")
    if args.plots is not None and Path(args.plots).exists() and not Path(args.plots).is_dir():
        raise InputError(f"--plots {args.plots} is a file; give a folder")
    roles = [("--subject", args.subject), ("--rater", args.rater), ("--value", args.value)]
    if args.occasion is not None:
        roles.append(("--occasion", args.occasion))
    if args.wide:  # a wide table has one value column per reader: no reader or value column
        roles = [r for r in roles if r[0] in ("--subject", "--occasion")]
    for i, (opt, col) in enumerate(roles):
        for other, col2 in roles[:i]:
            if col.strip().lower() == col2.strip().lower():
                raise InputError(f"{other} and {opt} both name the column {col!r}; give "
                                 "each role its own column")
    readings = read_readings(args.table, subject=args.subject, rater=args.rater,
                             occasion=args.occasion or "occasion", value=args.value,
                             wide=args.wide, occasion_required=args.occasion is not None)
    result = analyze(readings, cutoffs=args.cutoff, log=args.log, seed=args.seed)
    if args.plots is not None:
        from vbq.fileio import refuse_output_clash

        refuse_output_clash([("--plots", Path(args.plots) / name)
                             for name in result.plot_filenames()],
                            inputs=[("the table", args.table)], of="vbq agreement")
    for warning in result.warnings:
        print_message("warning", warning)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(result.summary())
    sys.stdout.flush()
    if args.plots is not None:
        _write_plots(result, Path(args.plots))
    return 0


def _write_plots(result: Any, folder: Any) -> None:
    from matplotlib.figure import Figure

    from vbq.errors import InputError
    from vbq.fileio import atomic_write

    for i, name in enumerate(result.plot_filenames()):
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        result.plot_bland_altman(i, ax=fig.add_subplot())
        try:
            with atomic_write(folder / name, "wb") as fh:
                fig.savefig(fh, format="png", dpi=120)
        except OSError as err:
            raise InputError(f"cannot write --plots {folder / name}: "
                             f"{err.strerror or err}") from None
