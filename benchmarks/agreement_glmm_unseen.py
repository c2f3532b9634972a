"""Agreement of the GLMM with lme4::glmer on simulated data sets no test was tuned on.

Run: .venv/bin/python benchmarks/agreement_glmm_unseen.py [--regenerate]

The data sets are ``tests/fixtures/glmm_unseen/setNN.csv``: 20 seeded simulations
(:func:`metaanalysis.simulate`, the designs in :data:`DESIGNS`, seed ``7100 + NN``) with
k from 5 to 40, several with zero cells. ``--regenerate`` rewrites them from the seeds and
reruns ``make_glmer_unseen.R`` (needs Rscript with lme4) to refresh ``glmer_unseen.json``:
glmer with all its defaults, and glmer with ``tolPwrss = 1e-13`` (bobyqa).

For every set this fits ``pirls="lme4"`` (compared with glmer's defaults) and the default
``pirls="exact"`` (compared with the tight glmer fit) and records:

- the largest relative difference ``|a - b| / max(|b|, 1e-2)`` over the fixed effects,
  the two variances and the correlation (``est``), over the two SEs (``se``), and of the
  logLik (``loglik_rel``, with ``loglik_abs``);
- for ``"exact"``: the largest absolute gradient of our Laplace log-likelihood over
  ``(theta, beta)`` at our optimum, ``ll_ours - ll_glmer`` (glmer's reported logLik), and
  ``ll_ours - L(glmer's parameters)``, our Laplace log-likelihood evaluated at glmer's
  optimum (a same-function comparison: >= 0 means ours is the higher point).

The maxima are given over all sets (``all``) and over the sets where neither glmer fit
raised a message other than "boundary (singular) fit" (``glmer_converged``): a set where
glmer itself reports a convergence failure has no glmer answer to agree with. The
table shows every set. The summary is written to ``glmm_unseen_agreement.json`` beside the data.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np

from metaanalysis.errors import FitWarning
from metaanalysis.models.glmm import binomial_data, fit_binomial_normal
from metaanalysis.models.quadrature import ModeState, laplace_loglik
from metaanalysis.simulation import simulate
from metaanalysis.table import StudyTable

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "tests" / "fixtures" / "glmm_unseen"

#: (k, mu (logit sens, logit FPR), tau2 sens, tau2 FPR, rho, study size range, prevalence)
DESIGNS: tuple[tuple[int, tuple[float, float], float, float, float, tuple[int, int], float],
               ...] = (
    (5, (1.5, -1.5), 0.4, 0.3, 0.2, (40, 200), 0.3),
    (6, (2.5, -2.5), 0.8, 0.5, -0.4, (20, 80), 0.2),     # zero cells likely
    (7, (1.0, -1.0), 0.2, 0.2, 0.0, (100, 400), 0.4),
    (8, (3.0, -3.0), 1.0, 1.0, -0.6, (15, 60), 0.25),    # zero cells likely
    (10, (0.8, -2.0), 0.5, 0.8, 0.5, (30, 300), 0.3),
    (10, (2.0, -0.5), 1.5, 0.3, -0.3, (50, 150), 0.5),
    (12, (1.2, -1.8), 0.1, 0.6, -0.8, (40, 500), 0.2),
    (12, (3.5, -2.0), 0.6, 0.4, 0.1, (10, 50), 0.3),     # zero cells likely
    (15, (1.5, -1.5), 0.05, 0.05, 0.0, (100, 300), 0.3),  # little heterogeneity
    (15, (0.5, -0.8), 0.9, 0.9, -0.5, (20, 120), 0.35),
    (18, (2.2, -2.8), 1.2, 0.7, -0.2, (25, 90), 0.15),   # zero cells likely
    (20, (1.7, -1.2), 0.3, 0.3, 0.7, (60, 250), 0.3),
    (20, (2.8, -3.2), 2.0, 1.5, -0.4, (30, 200), 0.25),
    (24, (1.0, -2.2), 0.4, 0.2, -0.9, (50, 400), 0.2),
    (25, (2.0, -1.5), 0.7, 0.4, 0.3, (15, 40), 0.4),     # small studies
    (28, (0.2, -0.3), 0.3, 0.3, 0.0, (80, 200), 0.5),
    (30, (1.4, -1.9), 0.8, 0.5, -0.7, (20, 300), 0.3),
    (33, (3.2, -2.6), 0.5, 0.9, 0.2, (20, 100), 0.3),    # zero cells likely
    (36, (1.8, -1.0), 1.0, 0.2, -0.1, (40, 160), 0.25),
    (40, (1.1, -1.6), 0.6, 0.6, -0.5, (30, 250), 0.3),
)
SEED0 = 7100


def _names() -> list[str]:
    return [f"set{i + 1:02d}" for i in range(len(DESIGNS))]


def regenerate() -> None:
    """Rewrite the CSVs from their seeds, then rerun the R script beside them."""
    for i, (k, mu, t1, t2, rho, n, prev) in enumerate(DESIGNS):
        c = rho * np.sqrt(t1 * t2)
        table = simulate(k=k, mu=mu, psi=[[t1, c], [c, t2]], n=n, prevalence=prev,
                         seed=SEED0 + i + 1)
        cells = table.df[["study", "TP", "FP", "FN", "TN"]]
        cells.to_csv(FOLDER / f"{_names()[i]}.csv", index=False)
    if shutil.which("Rscript") is None:
        raise SystemExit("Rscript is not on PATH; the glmer fits were not refreshed.")
    subprocess.run(["Rscript", "make_glmer_unseen.R"], cwd=FOLDER, check=True)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-2)))


def _est(fit_coef: np.ndarray, sigma: np.ndarray, rho: float) -> np.ndarray:
    return np.r_[fit_coef.ravel(), np.diag(sigma), 0.0 if np.isnan(rho) else rho]


def _ref_est(ref: dict) -> np.ndarray:
    rho = ref["rho"]
    return np.r_[ref["fixef"], ref["tau2"], 0.0 if rho is None else rho]


def measure() -> dict:
    """Fit every set both ways and compare with the stored glmer fits."""
    refs = json.loads((FOLDER / "glmer_unseen.json").read_text())
    rows = {}
    for name in _names():
        table = StudyTable.from_csv(FOLDER / f"{name}.csv")
        data = binomial_data(table)
        ref_d, ref_t = refs[name]["default"], refs[name]["tight"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            lme4 = fit_binomial_normal(data, pirls="lme4")
            exact = fit_binomial_normal(data)
        phi = np.r_[exact.theta, exact.coef.ravel()]
        _, grad = laplace_loglik(phi, data, ModeState(), gradient=True)
        phi_r = np.r_[ref_t["theta"], ref_t["fixef"]]
        ll_at_ref, _ = laplace_loglik(phi_r, data, ModeState(), gradient=False)
        rows[name] = {
            "k": table.k,
            "zero_cells": bool(table.has_zero_cells),
            "glmer_singular": bool(ref_d["isSingular"] or ref_t["isSingular"]),
            "glmer_converged": not any("singular" not in m
                                       for m in ref_d["messages"] + ref_t["messages"]),
            "ours_warnings": list(lme4.warnings) + list(exact.warnings),
            "lme4_vs_default": {
                "est": _rel(_est(lme4.coef, lme4.sigma, lme4.rho), _ref_est(ref_d)),
                "se": _rel(lme4.se.ravel(), ref_d["se"]),
                "loglik_abs": abs(lme4.loglik - ref_d["logLik"]),
                "loglik_rel": abs(lme4.loglik - ref_d["logLik"]) / abs(ref_d["logLik"]),
            },
            "exact_vs_tight": {
                "est": _rel(_est(exact.coef, exact.sigma, exact.rho), _ref_est(ref_t)),
                "se": _rel(exact.se.ravel(), ref_t["se"]),
                "loglik_abs": abs(exact.loglik - ref_t["logLik"]),
                "loglik_rel": abs(exact.loglik - ref_t["logLik"]) / abs(ref_t["logLik"]),
                "max_abs_gradient": float(np.max(np.abs(grad))),
                "ll_ours_minus_glmer": exact.loglik - ref_t["logLik"],
                "ll_ours_minus_ours_at_glmer": exact.loglik - float(ll_at_ref),
            },
            "default_vs_tight_glmer": {
                "est": _rel(_ref_est(ref_d), _ref_est(ref_t)),
                "loglik_abs": abs(ref_d["logLik"] - ref_t["logLik"]),
            },
        }
    regular = [r for r in rows.values() if r["glmer_converged"]]

    def worst(rs: list[dict], block: str, key: str) -> float:
        return max((r[block][key] for r in rs), default=float("nan"))

    summary = {"n_sets": len(rows), "n_glmer_converged": len(regular),
               "n_glmer_singular": sum(r["glmer_singular"] for r in rows.values()),
               "n_zero_cells": sum(r["zero_cells"] for r in rows.values())}
    for label, rs in (("all", list(rows.values())), ("glmer_converged", regular)):
        summary[label] = {
            block: {key: worst(rs, block, key) for key in keys}
            for block, keys in (("lme4_vs_default", ("est", "se", "loglik_abs", "loglik_rel")),
                                ("exact_vs_tight", ("est", "se", "loglik_abs", "loglik_rel",
                                                    "max_abs_gradient")),
                                ("default_vs_tight_glmer", ("est", "loglik_abs")))}
        summary[label]["exact_vs_tight"]["min_ll_ours_minus_glmer"] = min(
            (r["exact_vs_tight"]["ll_ours_minus_glmer"] for r in rs), default=float("nan"))
        summary[label]["exact_vs_tight"]["min_ll_ours_minus_ours_at_glmer"] = min(
            (r["exact_vs_tight"]["ll_ours_minus_ours_at_glmer"] for r in rs),
            default=float("nan"))
    return {"meta": {**refs["meta"], "seeds": f"{SEED0} + set number",
                     "relative": "|a - b| / max(|b|, 1e-2)"},
            "summary": summary, "sets": rows}


def main() -> None:
    """Measure and print the agreement table; write the JSON summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regenerate", action="store_true",
                    help="rewrite the data sets from their seeds and rerun glmer (Rscript)")
    args = ap.parse_args()
    if args.regenerate:
        regenerate()
    out = measure()
    (FOLDER / "glmm_unseen_agreement.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{'set':<7}{'k':>4}{'0cell':>6}{'sing':>5}{'conv':>5}{'lme4 est':>10}{'se':>9}{'ll':>9}"
          f"{'exact est':>11}{'se':>9}{'ll':>9}{'|grad|':>9}{'dll':>10}{'dll@':>10}")
    for name, r in out["sets"].items():
        a, b = r["lme4_vs_default"], r["exact_vs_tight"]
        print(f"{name:<7}{r['k']:>4}{'y' if r['zero_cells'] else '-':>6}"
              f"{'y' if r['glmer_singular'] else '-':>5}"
              f"{'y' if r['glmer_converged'] else 'n':>5}{a['est']:10.1e}{a['se']:9.1e}"
              f"{a['loglik_abs']:9.1e}{b['est']:11.1e}{b['se']:9.1e}{b['loglik_abs']:9.1e}"
              f"{b['max_abs_gradient']:9.1e}{b['ll_ours_minus_glmer']:10.1e}"
              f"{b['ll_ours_minus_ours_at_glmer']:10.1e}")
    print(json.dumps(out["summary"], indent=1))


if __name__ == "__main__":
    main()
