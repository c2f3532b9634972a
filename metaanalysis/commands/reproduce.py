"""``metaanalysis reproduce``: rerun the VBQ subsequent-fracture meta-analysis.

Fits the bivariate model (and the GLMM), prints published against reproduced
figures, and writes the forest plot, the SROC plot and a one-page HTML report.
"""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_OUT = "vbq_meta_output"


def register(subparsers: Any) -> None:
    """Add the ``reproduce`` sub-command to the ``metaanalysis`` parser."""
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce the 29-study VBQ subsequent-fracture meta-analysis",
        description=("Fit the bivariate random-effects model (Reitsma, REML) and the "
                     "binomial-normal GLMM to the VBQ subsequent-fracture studies, print "
                     "published against reproduced figures, and write a forest plot, an SROC "
                     "plot and a one-page HTML report."),
    )
    parser.add_argument("--data", metavar="FILE", default=None,
                        help="CSV of 2x2 tables (columns study,TP,FP,FN,TN, see template.csv); "
                             "default: the shipped reconstruction")
    parser.add_argument("--study-column", metavar="NAME", default=None,
                        help="with --data: column holding the study names (default: study, "
                             "else study_id, else id, in any case)")
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                        help=f"folder for the figures and report (default ./{DEFAULT_OUT})")
    parser.add_argument("--json", action="store_true",
                        help="print the pool JSON plus n_patients and published on stdout")
    parser.add_argument("--no-glmm", action="store_true", help="skip the GLMM fit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the reproduction; return the exit code."""
    import sys
    import warnings

    import matplotlib

    matplotlib.use("Agg")

    from metaanalysis.commands._diagnostic_io import load_table, output_folder, warn
    from metaanalysis.errors import FitWarning, InputError
    from metaanalysis.jsonout import dumps
    from metaanalysis.report import write_reproduction
    from metaanalysis.reproduce import reproduce

    if args.study_column is not None and args.data is None:
        raise InputError("--study-column names a column of the --data file; give --data too.")
    data = load_table(args.data, args.study_column) if args.data is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # kept on the fits, printed below
        rep = reproduce(data, glmm=not args.no_glmm)
    for w in rep.fit.warnings:
        warn(f"reitsma: {w}")
    for w in rep.glmm_fit.warnings if rep.glmm_fit is not None else ():
        warn(f"glmm: {w}")
    if rep.glmm_fit is None and not args.no_glmm and rep.glmm_note:
        warn(f"glmm {rep.glmm_note}")
    output_folder(args.out, "--out")
    paths = write_reproduction(rep, args.out)
    if args.json:
        print(dumps(rep.to_dict()))
    else:
        print(rep.format_table())
    for key in ("forest", "sroc", "report"):
        print(f"wrote {paths[key]}", file=sys.stderr)
    return 0
