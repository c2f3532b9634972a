"""``metaanalysis bias``: Deeks' funnel-plot asymmetry test for small-study effects."""

from __future__ import annotations

import argparse
from typing import Any

from metaanalysis.commands import _diagnostic_io as io
from metaanalysis.commands._numbers import probability
from metaanalysis.commands._options import table_kwargs


def register(subparsers: Any) -> None:
    """Add the ``bias`` sub-command to the ``metaanalysis`` parser."""
    parser = subparsers.add_parser(
        "bias",
        help="Deeks' funnel-plot asymmetry test",
        description=("Deeks, Macaskill & Irwig (2005): weighted regression of the log "
                     "diagnostic odds ratio on 1/sqrt(effective sample size); a slope with "
                     "p < 0.10 suggests small-study effects."),
    )
    parser.add_argument("file", metavar="FILE", help="CSV with columns study,TP,FP,FN,TN")
    io.add_table_options(parser)
    parser.add_argument("--correction", choices=("single", "all"), default="single",
                        help="0.5 added to studies with a zero cell (single, default) or to "
                             "all studies when any has one (all)")
    parser.add_argument("--alpha", type=probability, default=0.10,
                        help="significance level of the slope test (default 0.10)")
    io.add_output_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run Deeks' test; return the exit code."""
    from metaanalysis import plots
    from metaanalysis.diagnostics import deeks_test

    formats = io.plot_formats(args.plot_format)
    folder = io.plots_dir(args.plots)  # a bad folder fails before the fit
    table = io.load_table(args.file, args.study_column, **table_kwargs(args))
    res = deeks_test(table, correction=args.correction, alpha=args.alpha)
    for w in res.warnings:
        io.warn(w)
    if args.json:
        io.print_json(res.to_dict())
    else:
        print(f"Deeks' funnel-plot asymmetry test ({table.k} studies, correction "
              f"{res.correction})")
        print(res.summary().to_string(float_format=lambda x: f"{x:.4f}"))
        verdict = ("asymmetry suggested (possible small-study effects)" if res.asymmetry
                   else "no significant asymmetry")
        print(f"slope p = {res.p_value:.4f} (df = {res.df}): {verdict} at alpha = "
              f"{res.alpha:g}")
    if folder is not None:
        io.use_agg()
        io.save(plots.plot_funnel(res), folder, "funnel", formats)
    return 0
