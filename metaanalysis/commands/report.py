"""``metaanalysis report``: the report of a diagnostic-accuracy review, as HTML and PDF.

Reads any study table (CSV or .xlsx), computes every part of the review
(:func:`metaanalysis.review.review`) and writes ``report.html`` (one
self-contained page) and ``report.pdf`` into ``--out``.
"""

from __future__ import annotations

import argparse
from typing import Any

from metaanalysis.commands._numbers import probability
from metaanalysis.commands._options import (
    add_model_options,
    add_table_options,
    model_kwargs,
    table_kwargs,
)
from metaanalysis.models.registry import BIVARIATE_MODELS


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command to the ``metaanalysis`` parser."""
    p = subparsers.add_parser(
        "report", help="write the HTML and PDF report of a diagnostic-accuracy review",
        description="Pool the studies and write report.html (one self-contained page) and "
                    "report.pdf: the studies with their provenance, the pooled estimates "
                    "with prediction intervals, heterogeneity, risk of bias (QUADAS-2 "
                    "columns rob_*/app_*), subgroups and meta-regression (--covariate), "
                    "leave-one-out, Deeks' test, cumulative analysis by year, a GRADE "
                    "summary of findings (--prevalence, --grade) and the Fagan nomogram "
                    "(--pretest).")
    p.add_argument("file", metavar="STUDIES",
                   help="CSV or .xlsx with columns study, TP, FP, FN, TN (and any others)")
    add_table_options(p)
    p.add_argument("--title", default=None, help="the report's title")
    add_model_options(p, BIVARIATE_MODELS)
    p.add_argument("--covariate", metavar="COL", action="append", default=[],
                   help="covariate for a subgroup analysis / meta-regression; repeatable")
    p.add_argument("--pretest", type=probability, action="append", default=[], metavar="P",
                   help="pre-test probability for the Fagan nomogram, in (0, 1); repeatable")
    p.add_argument("--prevalence", type=probability, action="append", default=[], metavar="P",
                   help="prevalence for the summary-of-findings counts per 1,000; repeatable "
                        "(default: the --pretest values)")
    p.add_argument("--grade", metavar="FILE.json", default=None,
                   help="GRADE certainty of evidence per outcome (see README)")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="folder for report.html and report.pdf (created if missing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute the review and write the report; return the exit code."""
    import sys

    import matplotlib

    matplotlib.use("Agg")

    from metaanalysis.commands._diagnostic_io import load_table, output_folder, warn
    from metaanalysis.models.regression import check_covariates
    from metaanalysis.report.review import write_review
    from metaanalysis.review import read_grade, review

    kw = model_kwargs(args)
    grade = read_grade(args.grade) if args.grade is not None else None
    # the table and the covariates it must have first: a refusal leaves no output folder
    table = load_table(args.file, args.study_column, **table_kwargs(args))
    check_covariates(table, args.covariate)
    from pathlib import Path

    from metaanalysis.fileio import refuse_clashes
    from metaanalysis.report.review import REVIEW_FILES

    refuse_clashes([Path(args.out) / name for name in REVIEW_FILES.values()], "--out")
    output_folder(args.out, "--out")
    options = {k: v for k, v in (("covariate", args.covariate), ("pretest", args.pretest),
                                 ("prevalence", args.prevalence), ("grade", args.grade),
                                 ("sheet", args.sheet), ("columns", args.columns)) if v}
    rev = review(table, model=args.model, model_options=kw, covariates=tuple(args.covariate),
                 pretest=tuple(args.pretest), prevalence=tuple(args.prevalence), grade=grade,
                 title=args.title, input_path=args.file, options=options)
    for w in rev.warnings:
        warn(w)
    for part, why in rev.notes.items():
        print(f"metaanalysis: note: {part}: {why}", file=sys.stderr)
    paths = write_review(rev, args.out)
    for p in paths.values():
        print(f"wrote {p}", file=sys.stderr)
    return 0
