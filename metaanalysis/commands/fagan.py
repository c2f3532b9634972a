"""``metaanalysis fagan``: post-test probabilities, Fagan nomogram and counts per 1,000."""

from __future__ import annotations

import argparse
from typing import Any

from metaanalysis.commands import _diagnostic_io as io
from metaanalysis.commands._numbers import probability
from metaanalysis.commands._options import add_model_options, model_kwargs, table_kwargs
from metaanalysis.models.registry import BIVARIATE_MODELS


def register(subparsers: Any) -> None:
    """Add the ``fagan`` sub-command to the ``metaanalysis`` parser."""
    parser = subparsers.add_parser(
        "fagan",
        help="post-test probabilities (Fagan nomogram) and results per 1,000 patients",
        description=("Pool the studies, then turn the pooled likelihood ratios into "
                     "post-test probabilities for each --pretest, and the pooled sensitivity "
                     "and specificity into expected TP/FP/FN/TN per 1,000 patients at each "
                     "--prevalence (default: the --pretest values)."),
    )
    parser.add_argument("file", metavar="FILE", help="CSV with columns study,TP,FP,FN,TN")
    io.add_table_options(parser)
    parser.add_argument("--pretest", type=probability, action="append", required=True,
                        metavar="P", help="pre-test probability in (0, 1); repeatable")
    parser.add_argument("--prevalence", type=probability, action="append", default=None,
                        metavar="P", help="prevalence for the per-1,000 table, in (0, 1); "
                                          "repeatable")
    add_model_options(parser, BIVARIATE_MODELS)
    io.add_output_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the clinical translation; return the exit code."""
    from metaanalysis import clinical

    prevalence = args.prevalence if args.prevalence else args.pretest
    formats = io.plot_formats(args.plot_format)
    folder = io.plots_dir(args.plots)  # a bad folder fails before the fit
    kw = model_kwargs(args)
    table = io.load_table(args.file, args.study_column, **table_kwargs(args))
    fit = io.fit_quietly(table, args.model, **kw)
    post = clinical.post_test(fit, args.pretest)
    counts = clinical.per_1000(fit, prevalence)
    if args.json:
        d = fit.to_dict()
        io.print_json({
            "model": fit.model, "method": fit.method, "n_studies": table.k,
            "sensitivity": d["sensitivity"], "specificity": d["specificity"],
            "lr_positive": d["lr_positive"], "lr_negative": d["lr_negative"],
            "post_test": io.records(post),
            "per_1000": io.records(counts),
            "warnings": list(fit.warnings), "warning_codes": list(fit.warning_codes),
        })
    else:
        s, p = fit.sensitivity, fit.specificity
        lp, ln = fit.lr_positive, fit.lr_negative
        print(f"Pooled ({fit.model}, {fit.method}, {table.k} studies): sensitivity "
              f"{_est(s, '.3f')}, specificity {_est(p, '.3f')}")
        print(f"LR+ {_est(lp, '.3g')}, LR- {_est(ln, '.3g')}\n")
        print("pre-test  post-test if positive (95% CI)  post-test if negative (95% CI)")
        for r in post.itertuples(index=False):
            pos = _est((100 * r.post_positive, 100 * r.post_positive_low,
                        100 * r.post_positive_high), ".1f", "%")
            neg = _est((100 * r.post_negative, 100 * r.post_negative_low,
                        100 * r.post_negative_high), ".1f", "%")
            print(f"{100 * r.pretest:7.1f}%  {pos:<38}{neg}")
        print("\nper 1,000 tested patients: expected (range from the 95% CIs)")
        for prev, grp in counts.groupby("prevalence", sort=False):
            cells = ", ".join(f"{r.outcome} {_est((r.count, r.low, r.high), '.0f')}"
                              for r in grp.itertuples(index=False))
            print(f"prevalence {100 * prev:.1f}%: {cells}")
    if folder is not None:
        io.use_agg()
        io.save(clinical.plot_fagan(fit, args.pretest), folder, "fagan", formats)
    return io.fit_failed(fit, f"the {args.model} fit of {args.file}")


def _est(e: Any, fmt: str, unit: str = "") -> str:
    """``estimate (low-high)`` of an Estimate or a triple; what is not a number is said so."""
    import math

    parts = (e.estimate, e.ci_low, e.ci_high) if hasattr(e, "ci_low") else e
    x, lo, hi = (float(v) for v in parts)
    if not math.isfinite(x):
        return "undefined (see the warnings)"
    ci = (f" ({lo:{fmt}}-{hi:{fmt}})" if math.isfinite(lo) and math.isfinite(hi)
          else " (no interval)")
    return f"{x:{fmt}}{unit}{ci}"
