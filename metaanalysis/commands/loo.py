"""``metaanalysis loo``: leave-one-out analysis, influence and cumulative meta-analysis."""

from __future__ import annotations

import argparse
from typing import Any

from metaanalysis.commands import _diagnostic_io as io
from metaanalysis.commands._options import add_model_options, model_kwargs, table_kwargs
from metaanalysis.models.registry import BIVARIATE_MODELS


def register(subparsers: Any) -> None:
    """Add the ``loo`` sub-command to the ``metaanalysis`` parser."""
    parser = subparsers.add_parser(
        "loo",
        help="leave-one-out analysis and influence diagnostics",
        description=("Refit the bivariate model without each study in turn; for the Reitsma "
                     "model also report standardised residuals and Cook's distances per "
                     "study. With --order-by, add a cumulative meta-analysis."),
    )
    parser.add_argument("file", metavar="FILE", help="CSV with columns study,TP,FP,FN,TN")
    io.add_table_options(parser)
    add_model_options(parser, BIVARIATE_MODELS)
    parser.add_argument("--order-by", metavar="COLUMN", default=None,
                        help="also run a cumulative meta-analysis ordered by COLUMN (e.g. year)")
    parser.add_argument("--descending", action="store_true",
                        help="cumulative order from the largest value down")
    io.add_output_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the leave-one-out analysis; return the exit code."""
    from metaanalysis import diagnostics, plots

    formats = io.plot_formats(args.plot_format)
    if args.descending and args.order_by is None:
        raise io.InputError("--descending orders the cumulative meta-analysis; give --order-by "
                            "COLUMN too.")
    folder = io.plots_dir(args.plots)  # a bad folder fails before the fit
    kw = model_kwargs(args)
    table = io.load_table(args.file, args.study_column, **table_kwargs(args))
    if args.order_by is not None:
        lookup = {str(c).lower() for c in table.df.columns}
        if args.order_by.lower() not in lookup:
            raise io.InputError(f"{args.file}: --order-by column {args.order_by!r} is not in "
                                "the file.")
    full = io.fit_quietly(table, args.model, **kw)
    loo = diagnostics.leave_one_out(table, args.model, **kw)
    infl = diagnostics.influence(full) if args.model == "reitsma" and table.k >= 3 else None
    cum = (diagnostics.cumulative(table, args.order_by, args.model,
                                  ascending=not args.descending, **kw)
           if args.order_by is not None else None)
    # every refit's failure or warning on stderr: the tables have no room for them
    for _, row in loo.iterrows():
        if row["error"]:
            io.warn(f"fit without {row['omitted']} failed: {row['error']}")
        for w in row["warnings"]:
            io.warn(f"fit without {row['omitted']}: {w}")
    if cum is not None:
        for _, row in cum.iterrows():
            what = f"cumulative step {row['step']} (up to {row['added']})"
            if row["error"]:
                io.warn(f"{what} failed: {row['error']}")
            for w in row["warnings"]:
                io.warn(f"{what}: {w}")

    if args.json:
        out: dict[str, Any] = {
            "model": full.model, "method": full.method, "n_studies": table.k,
            "full": {k: v for k, v in full.to_dict().items()
                     if k in ("sensitivity", "specificity", "logit_sens", "logit_fpr",
                              "tau2_logit_sens", "tau2_logit_fpr", "rho_sens_fpr", "dor",
                              "loglik", "warnings", "warning_codes")},
            "warnings": list(full.warnings), "warning_codes": list(full.warning_codes),
            "leave_one_out": io.records(loo),
        }
        if infl is not None:
            out["influence"] = io.records(infl)
        if cum is not None:
            out["cumulative"] = io.records(cum)
        io.print_json(out)
    else:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 30):
            cols = ["omitted", "sensitivity", "sensitivity_ci_low", "sensitivity_ci_high",
                    "specificity", "specificity_ci_low", "specificity_ci_high",
                    "tau2_logit_sens", "tau2_logit_fpr", "rho_sens_fpr", "error"]
            print(f"Leave-one-out ({full.model}, {full.method}); all {table.k} studies: "
                  f"sens {full.sensitivity.estimate:.4f}, spec {full.specificity.estimate:.4f}")
            print(loo[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep=""))
            if infl is not None:
                print("\nInfluence (standardised residuals, Cook's distance)")
                print(infl[["study", "z_sens", "z_fpr", "x2", "cooks_distance"]].to_string(
                    index=False, float_format=lambda x: f"{x:.4f}", na_rep=""))
            if cum is not None:
                print(f"\nCumulative meta-analysis ordered by {args.order_by}")
                print(cum[["step", "added", cum.columns[2], "sensitivity", "specificity",
                           "error"]].to_string(index=False, float_format=lambda x: f"{x:.4f}",
                                               na_rep=""))

    if folder is not None:
        io.use_agg()
        io.save(plots.plot_loo(loo, result=full), folder, "loo", formats)
        if cum is not None:
            io.save(plots.plot_cumulative(cum), folder, "cumulative", formats)
    return 0
