"""``metaanalysis thresholds``: pool accuracy reported at several cut-offs per study.

Reads a long-format table from a CSV file or an ``.xlsx`` workbook (``--sheet``; one
row per study and cut-off: ``study, cutoff, TP, FP, FN, TN``), fits the
multiple-thresholds model and prints the optimal cut-off, accuracy there and at the
cut-offs asked for, and the AUCs; ``--json`` prints the result as strict JSON;
``--plots DIR`` writes the SROC curve with the cut-offs
marked and sensitivity and specificity against the cut-off.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

from metaanalysis.commands._diagnostic_io import warn
from metaanalysis.commands._numbers import decimal_number, probability

#: Random-effects structures (metaanalysis.models.thresholds.STRUCTURES; listed here so
#: the parser is built without importing the model).
_STRUCTURES = ("CI", "DI", "CS", "DS", "CICS", "DIDS", "DICS", "CIDS")


def register(subparsers: Any) -> None:
    """Add the ``thresholds`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "thresholds", help="pool accuracy reported at several cut-offs (multiple-thresholds "
                           "model)",
        description="Fit the multiple-thresholds model of Steinhauser, Schumacher and Rücker "
                    "(2016), as R's diagmeta does, to a table with one row per study and "
                    "cut-off (columns study, cutoff, TP, FP, FN, TN).")
    p.add_argument("file", metavar="FILE",
                   help="CSV file or .xlsx workbook, one row per study and cut-off")
    p.add_argument("--sheet", metavar="SHEET", default=None,
                   help="for an .xlsx workbook: the sheet to read, by name or position from 1 "
                        "(default: the first sheet)")
    p.add_argument("--study-column", metavar="NAME", default=None,
                   help="column holding the study names (default: study, else study_id, else "
                        "id, in any case; never author)")
    p.add_argument("--columns", metavar="MAP", default=None,
                   help="the file's names for study, cutoff, TP, FP, FN, TN: NAME=HEADER pairs, "
                        "comma-separated, e.g. cutoff=cutpoint,TP=tpos,FP=fpos,FN=fneg,TN=tneg")
    p.add_argument("--model", choices=_STRUCTURES, default="CICS",
                   help="random-effects structure (default CICS, as diagmeta)")
    p.add_argument("--distr", choices=("logistic", "normal"), default="logistic",
                   help="logit (logistic, default) or probit (normal) of the proportions")
    p.add_argument("--log-cutoff", action="store_true",
                   help="model the log of the cut-off (cut-offs must be positive)")
    p.add_argument("--direction", choices=("higher", "lower"), default="higher",
                   help="a test is positive when the value is at or above the cut-off "
                        "(higher, default) or at or below it (lower)")
    p.add_argument("--lambda", dest="lam", type=probability, default=0.5, metavar="L",
                   help="weight of sensitivity in the Youden index the optimal cut-off "
                        "maximises (0 < L < 1; default 0.5)")
    p.add_argument("--at", type=decimal_number(), action="append", default=[], metavar="X",
                   help="also report sensitivity and specificity at cut-off X (repeatable)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="write sroc.png and sens_spec.png into DIR (created if missing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the table, fit the model and print the result."""
    import os
    import warnings

    from metaanalysis.commands._diagnostic_io import output_folder
    from metaanalysis.errors import InputError, MetaAnalysisWarning
    from metaanalysis.jsonout import dumps
    from metaanalysis.models.thresholds import thresholds
    from metaanalysis.table import parse_column_map
    from metaanalysis.thresholds_table import ThresholdsTable

    columns = parse_column_map(args.columns) if args.columns is not None else None
    if args.plots is not None:
        output_folder(args.plots, "--plots")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetaAnalysisWarning)
        table = ThresholdsTable.read(args.file, sheet=args.sheet,
                                     study_column=args.study_column,
                                     direction=args.direction, columns=columns)
        if args.log_cutoff:
            bad = [x for x in args.at if x <= 0]
            if bad:
                raise InputError(f"--at {bad[0]:g}: with --log-cutoff a cut-off must be "
                                 "positive.")
        result = thresholds(table, model=args.model, distr=args.distr,
                            log_cutoff=args.log_cutoff, lam=args.lam)
    for w in result.warnings:
        warn(w)
    lo, hi = result.observed_range
    for x in dict.fromkeys(args.at):
        if not lo <= x <= hi:
            warn(f"--at {x:g} lies outside the studies' cut-offs ({lo:g} to {hi:g}): the "
                 "accuracy there is extrapolated from the fitted lines, not observed.")
    if args.json:
        print(dumps(result.to_dict(at=args.at)), flush=True)
    else:
        print(result.format_summary(at=args.at), flush=True)
    if args.plots is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from metaanalysis.fileio import write_figure

        for name, draw in (("sroc.png", result.plot_sroc),
                           ("sens_spec.png", result.plot_sens_spec)):
            ax = draw(None)
            path = os.path.join(args.plots, name)
            write_figure(ax.figure, path, dpi=150, bbox_inches="tight", format="png")
            plt.close(cast("Figure", ax.figure))
            print(f"wrote {path}", file=sys.stderr)
    return 0
