"""``metaanalysis reproduce``: rerun the VBQ subsequent-fracture meta-analysis.

Fits the bivariate model (and the GLMM), prints published against reproduced
figures with how each agrees, and writes the review report of the table
(``report.html`` and ``report.pdf``, as ``metaanalysis report``) with the
comparison added, the forest and SROC plots, the JSON and the comparison CSV.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from metaanalysis.commands._numbers import probability

DEFAULT_OUT = "vbq_meta_output"


def register(subparsers: Any) -> None:
    """Add the ``reproduce`` sub-command to the ``metaanalysis`` parser."""
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce the 29-study VBQ subsequent-fracture meta-analysis",
        description=("Fit the bivariate random-effects model (Reitsma, REML) and the "
                     "binomial-normal GLMM to the VBQ subsequent-fracture studies, print "
                     "published against reproduced figures with how each agrees (on the "
                     "shipped reconstruction: by construction), and write the review report "
                     "(report.html, report.pdf; as metaanalysis report) with the comparison, "
                     "the spread of reconstructions and the Kadri 2025 sensitivity added, "
                     "a forest plot and an SROC plot."),
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
    parser.add_argument("--title", default=None, help="the report's title")
    parser.add_argument("--covariate", metavar="COL", action="append", default=[],
                        help="covariate for a subgroup analysis / meta-regression in the "
                             "report; repeatable")
    parser.add_argument("--pretest", type=probability, action="append", default=[], metavar="P",
                        help="pre-test probability for the Fagan nomogram, in (0, 1); "
                             "repeatable")
    parser.add_argument("--prevalence", type=probability, action="append", default=[],
                        metavar="P",
                        help="prevalence for the summary-of-findings counts per 1,000; "
                             "repeatable (default: the --pretest values)")
    parser.add_argument("--grade", metavar="FILE.json", default=None,
                        help="GRADE certainty of evidence per outcome (as metaanalysis report)")
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
    from metaanalysis.review import read_grade

    if args.study_column is not None and args.data is None:
        raise InputError("--study-column names a column of the --data file; give --data too.")
    grade = read_grade(args.grade) if args.grade is not None else None
    data = load_table(args.data, args.study_column) if args.data is not None else None
    from metaanalysis.fileio import refuse_clashes
    from metaanalysis.report.reproduction import OUTPUT_FILES

    # before the fits: an output that is an input, or a folder that cannot be made, is refused
    # with nothing written
    refuse_clashes([Path(args.out) / name for name in OUTPUT_FILES.values()], "--out")
    output_folder(args.out, "--out")
    options = {k: v for k, v in (("covariate", args.covariate), ("pretest", args.pretest),
                                 ("prevalence", args.prevalence), ("grade", args.grade),
                                 ("no_glmm", args.no_glmm)) if v}
    review_options: dict[str, Any] = {
        "covariates": tuple(args.covariate), "pretest": tuple(args.pretest),
        "prevalence": tuple(args.prevalence), "grade": grade, "options": options,
        "input_path": args.data}
    if args.title is not None:
        review_options["title"] = args.title
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # kept on the fits, printed below
        rep = reproduce(data, glmm=not args.no_glmm,
                        review_options=review_options)
    for w in rep.fit.warnings:
        warn(f"reitsma: {w}")
    for w in rep.glmm_fit.warnings if rep.glmm_fit is not None else ():
        warn(f"glmm: {w}")
    if rep.glmm_fit is None and not args.no_glmm and rep.glmm_note:
        warn(f"glmm {rep.glmm_note}")
    if rep.review is not None:
        for part, why in rep.review.notes.items():
            print(f"metaanalysis: note: {part}: {why}", file=sys.stderr)
    # the table first: a file that cannot be written must not lose it
    if args.json:
        print(dumps(rep.to_dict()), flush=True)
    else:
        print(rep.format_table(), flush=True)
    paths = write_reproduction(rep, args.out)
    for key in ("forest", "sroc", "report", "pdf", "json", "comparison"):
        if paths[key].exists():
            print(f"wrote {paths[key]}", file=sys.stderr)
    return 0
