"""``metaanalysis regress``: bivariate meta-regression on study-level covariates.

Machine-readable output (``--json``) on stdout; warnings on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from metaanalysis.commands._diagnostic_io import add_table_options, load_table, warn


def register(subparsers: Any) -> None:
    """Add the ``regress`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "regress", help="meta-regression of sensitivity and specificity on study covariates",
        description="Bivariate meta-regression: each covariate acts on logit sensitivity and "
                    "logit false positive rate. Non-numeric covariates are categorical "
                    "(treatment dummies against the first sorted level). Reports the "
                    "coefficients, a likelihood-ratio test against the model without "
                    "covariates and pooled estimates per subgroup.")
    p.add_argument("file", metavar="FILE",
                   help="CSV file with columns study, TP, FP, FN, TN and the covariates")
    add_table_options(p)
    p.add_argument("--covariate", metavar="NAME", action="append", default=[],
                   help="covariate column (repeat for several); with none, the "
                        "intercept-only model (the same fit, logLik, AIC and BIC as pool)")
    p.add_argument("--categorical", metavar="NAME", action="append", default=[],
                   help="treat this covariate as categorical: each value a level "
                        "(repeatable; it must also be given with --covariate)")
    p.add_argument("--model", choices=("reitsma", "glmm"), default="reitsma",
                   help="bivariate normal model (default) or binomial GLMM")
    p.add_argument("--method", choices=("reml", "ml"), default=None,
                   help="estimation for --model reitsma (default: reml)")
    p.add_argument("--nagq", type=int, default=1,
                   help="quadrature points per dimension, --model glmm only (default 1 = "
                        "Laplace; at most 50)")
    p.add_argument("--correction", choices=("all", "single", "none"), default=None,
                   help="continuity correction for --model reitsma (default: all)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="write a subgroup plot in ROC space (PNG) into DIR (created if "
                        "missing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the meta-regression to ``args.file`` and print the result."""
    import warnings

    from metaanalysis.errors import FitWarning, InputError
    from metaanalysis.jsonout import dumps
    from metaanalysis.models.regression import format_summary, regression

    if args.model == "glmm" and args.method is not None:
        raise InputError("--method is for --model reitsma; the GLMM uses --nagq.")
    if args.nagq < 1:
        raise InputError(f"--nagq must be at least 1, got {args.nagq}.")
    if args.model == "glmm" and args.correction not in (None, "none"):
        raise InputError(f"--correction {args.correction} is not used by --model glmm (its "
                         "binomial likelihood needs no continuity correction); drop it.")
    args.correction = args.correction or "all"
    if args.model != "glmm" and args.nagq != 1:
        raise InputError("--nagq is only used by --model glmm; drop it for --model reitsma.")
    table = load_table(args.file, args.study_column)
    if args.plots:
        from metaanalysis.commands._diagnostic_io import output_folder

        output_folder(args.plots, "--plots")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        result = regression(table, args.covariate, model=args.model, method=args.method,
                            nagq=args.nagq, correction=args.correction,
                            categorical=args.categorical)
    for w in result.warnings:
        warn(w)
    # the result first: a figure that cannot be written must not lose it
    if args.json:
        print(dumps(result.to_dict()), flush=True)
    else:
        print(format_summary(result), flush=True)
    if args.plots:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from metaanalysis.models.regression import save_figure

        os.makedirs(args.plots, exist_ok=True)
        ax = result.plot_subgroups()
        path = os.path.join(args.plots, "regression_subgroups.png")
        save_figure(ax, path)
        plt.close(ax.figure)
        print(f"wrote {path}", file=sys.stderr)
    return 0
