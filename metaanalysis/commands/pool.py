"""``metaanalysis pool``: pool a CSV of 2x2 tables (Reitsma, GLMM or univariate).

Machine-readable output (``--json``) on stdout; warnings on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

from metaanalysis.commands._diagnostic_io import (
    add_table_options,
    fit_failed,
    load_table,
    warn,
)
from metaanalysis.commands._options import add_model_options, model_kwargs, table_kwargs
from metaanalysis.models.registry import MODELS


def register(subparsers: Any) -> None:
    """Add the ``pool`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "pool", help="pool sensitivity and specificity of a table of studies",
        description="Pool diagnostic accuracy studies (columns study, TP, FP, FN, TN) with "
                    "the Reitsma bivariate model (default), the binomial GLMM, or univariate "
                    "random-effects models.")
    p.add_argument("file", metavar="FILE", help="CSV file with columns study, TP, FP, FN, TN")
    add_table_options(p)
    add_model_options(p, tuple(MODELS), optimizer=True, pirls=True)
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
        plt.close(cast("Figure", fig))
        written.append(path)
    return written


def run(args: argparse.Namespace) -> int:
    """Fit the chosen model to ``args.file`` and print the result."""
    import warnings

    from metaanalysis.commands._diagnostic_io import output_folder
    from metaanalysis.errors import FitWarning
    from metaanalysis.jsonout import dumps
    from metaanalysis.models.registry import fit_function

    kw = model_kwargs(args)
    table = load_table(args.file, args.study_column, **table_kwargs(args))
    if args.plots is not None:
        from pathlib import Path

        from metaanalysis.fileio import refuse_clashes

        refuse_clashes([Path(args.plots) / n for n in ("forest.png", "sroc.png")], "--plots")
        output_folder(args.plots, "--plots")
    from metaanalysis.errors import FitError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        try:
            result = fit_function(args.model)(table, **kw)
        except FitError as err:  # named by the file it is about, as a table's errors are
            raise FitError(str(err) if str(err).startswith(args.file)
                           else f"{args.file}: {err}") from None
    for w in result.warnings:
        warn(w)
    # the result first: a figure that cannot be written must not lose it
    if args.json:
        print(dumps(result.to_dict()), flush=True)
    else:
        print(result.format_summary(), flush=True)
    if args.plots is not None:
        for path in _plots(result, table, args.plots):
            print(f"wrote {path}", file=sys.stderr)
    return fit_failed(result, f"the {args.model} fit of {args.file}")
