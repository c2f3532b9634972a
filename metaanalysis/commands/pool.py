"""``metaanalysis pool``: pool a CSV of 2x2 tables (Reitsma, GLMM or univariate).

Machine-readable output (``--json``) on stdout; warnings on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from metaanalysis.commands._diagnostic_io import add_table_options, load_table, warn

MODELS = ("reitsma", "glmm", "univariate")


def register(subparsers: Any) -> None:
    """Add the ``pool`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "pool", help="pool sensitivity and specificity of a table of studies",
        description="Pool diagnostic accuracy studies (columns study, TP, FP, FN, TN) with "
                    "the Reitsma bivariate model (default), the binomial GLMM, or univariate "
                    "random-effects models.")
    p.add_argument("file", metavar="FILE", help="CSV file with columns study, TP, FP, FN, TN")
    add_table_options(p)
    p.add_argument("--model", choices=MODELS, default="reitsma",
                   help="model to fit (default: reitsma)")
    p.add_argument("--method", choices=("reml", "ml", "dl"), default=None,
                   help="estimation method: reml (default) or ml for reitsma; dl (default) or "
                        "reml for univariate; not used by glmm")
    p.add_argument("--correction", choices=("all", "single", "none"), default=None,
                   help="continuity correction for zero cells (default: all, as mada); "
                        "not used by glmm")
    p.add_argument("--optimizer", choices=("newton", "mada"), default="newton",
                   help="reitsma: newton (default; reaches the maximum) or mada (follows "
                        "mada's IGLS + BFGS path and reproduces its numbers)")
    p.add_argument("--nagq", type=int, default=1,
                   help="quadrature points per dimension, --model glmm only (default 1 = "
                        "Laplace; at most 50)")
    p.add_argument("--pirls", choices=("exact", "lme4"), default="exact",
                   help="--model glmm with --nagq 1: exact (default; Laplace at the exact "
                        "conditional modes) or lme4 (reproduces glmer's default output)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="write forest and SROC plots (PNG) into DIR (created if missing)")
    p.set_defaults(func=run)


def _save_figure(fig: Any, path: str) -> None:
    """Write a figure as PNG with the one atomic writer (errors name ``path``)."""
    from metaanalysis.fileio import write_figure
    from metaanalysis.plots import raster_dpi

    write_figure(fig, path, dpi=raster_dpi(fig, 150), bbox_inches="tight", format="png")


def _plots(result: Any, table: Any, folder: str) -> list[str]:
    """Draw the forest (and SROC) plots into ``folder``; return the files written."""
    try:
        from metaanalysis import plots  # noqa: F401
    except ModuleNotFoundError as err:
        if err.name != "metaanalysis.plots":
            raise
        warn("plotting is not available in this build (metaanalysis.plots is missing); "
             "no plots written")
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from metaanalysis import plots as pl

    os.makedirs(folder, exist_ok=True)
    written = []
    drawers = [("forest.png", (lambda ax: result.plot_forest(ax=ax)) if hasattr(
        result, "plot_forest") else (lambda ax: pl.plot_forest(table, ax=ax)))]
    if hasattr(result, "plot_sroc"):
        drawers.append(("sroc.png", lambda ax: result.plot_sroc(ax=ax)))
    for name, draw in drawers:
        ax = draw(None)
        fig = ax.figure
        path = os.path.join(folder, name)
        _save_figure(fig, path)
        plt.close(fig)
        written.append(path)
    return written


def run(args: argparse.Namespace) -> int:
    """Fit the chosen model to ``args.file`` and print the result."""
    import warnings

    from metaanalysis.commands._diagnostic_io import output_folder
    from metaanalysis.errors import FitWarning, InputError
    from metaanalysis.jsonout import dumps

    method = args.method
    if args.model == "glmm" and method is not None:
        raise InputError(f"--method {method} is not used by --model glmm (the GLMM is fitted "
                         "by maximum likelihood); set its accuracy with --nagq instead.")
    if args.model != "glmm" and args.nagq != 1:
        raise InputError(f"--nagq is only used by --model glmm; drop it for --model "
                         f"{args.model}.")
    if args.model != "glmm" and args.pirls != "exact":
        raise InputError(f"--pirls is only used by --model glmm; drop it for --model "
                         f"{args.model}.")
    if args.model != "reitsma" and args.optimizer != "newton":
        raise InputError(f"--optimizer {args.optimizer} is only used by --model reitsma.")
    if args.model == "glmm" and args.correction not in (None, "none"):
        raise InputError(f"--correction {args.correction} is not used by --model glmm (its "
                         "binomial likelihood needs no continuity correction); drop it.")
    args.correction = args.correction or "all"
    table = load_table(args.file, args.study_column)
    if args.plots:
        output_folder(args.plots, "--plots")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        if args.model == "univariate":
            from metaanalysis.models.univariate import univariate

            if method == "ml":
                raise InputError("--method ml is not available for --model univariate; "
                                 "use dl or reml.")
            result = univariate(table, method=(method or "dl").upper(),
                                correction=args.correction)
        elif args.model == "reitsma":
            from metaanalysis.models.reitsma import reitsma

            if method == "dl":
                raise InputError("--method dl is only for --model univariate; use reml or ml.")
            result = reitsma(table, method=method or "reml", correction=args.correction,
                             optimizer=args.optimizer)
        else:
            from metaanalysis.models.glmm import glmm

            if args.nagq < 1:
                raise InputError(f"--nagq must be at least 1, got {args.nagq}.")
            result = glmm(table, nagq=args.nagq, pirls=args.pirls)
    for w in result.warnings:
        warn(w)
    # the result first: a figure that cannot be written must not lose it
    if args.json:
        print(dumps(result.to_dict()), flush=True)
    else:
        print(result.format_summary(), flush=True)
    if args.plots:
        for path in _plots(result, table, args.plots):
            print(f"wrote {path}", file=sys.stderr)
    return 0
