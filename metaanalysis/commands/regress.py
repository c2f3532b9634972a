"""``metaanalysis regress``: bivariate meta-regression on study-level covariates.

Machine-readable output (``--json``) on stdout; warnings on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

from metaanalysis.commands._diagnostic_io import add_table_options, load_table, warn
from metaanalysis.commands._options import add_model_options, model_kwargs, table_kwargs
from metaanalysis.models.registry import BIVARIATE_MODELS


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
    add_model_options(p, BIVARIATE_MODELS)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="write a subgroup plot in ROC space (PNG) into DIR (created if "
                        "missing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the meta-regression to ``args.file`` and print the result."""
    import warnings

    from metaanalysis.errors import FitWarning
    from metaanalysis.jsonout import dumps
    from metaanalysis.models.regression import design_matrix, format_summary, regression

    kw = model_kwargs(args)
    table = load_table(args.file, args.study_column, **table_kwargs(args))
    # the covariates as the fit will take them, before --plots is made: a refusal leaves
    # no folder behind
    design_matrix(table, args.covariate, categorical=args.categorical)
    if args.plots is not None:
        from pathlib import Path

        from metaanalysis.commands._diagnostic_io import output_folder
        from metaanalysis.fileio import refuse_clashes

        refuse_clashes([Path(args.plots) / "regression_subgroups.png"], "--plots")
        output_folder(args.plots, "--plots")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        result = regression(table, args.covariate, model=args.model,
                            method=kw.get("method"), nagq=kw.get("nagq", 1),
                            correction=kw.get("correction", "all"),
                            categorical=args.categorical)
    for w in result.warnings:
        warn(w)
    # the result first: a figure that cannot be written must not lose it
    if args.json:
        print(dumps(result.to_dict()), flush=True)
    else:
        print(format_summary(result), flush=True)
    if args.plots is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from metaanalysis.models.regression import save_figure

        os.makedirs(args.plots, exist_ok=True)
        ax = result.plot_subgroups()
        path = os.path.join(args.plots, "regression_subgroups.png")
        save_figure(ax, path)
        plt.close(cast("Figure", ax.figure))
        print(f"wrote {path}", file=sys.stderr)
    from metaanalysis.commands._diagnostic_io import fit_failed

    return fit_failed(result, f"the {args.model} meta-regression of {args.file}")
