"""Speed of the binomial-normal GLMM (Laplace and adaptive quadrature) against lme4::glmer.

Run: .venv/bin/python benchmarks/bench_glmm.py [--repeats N] [--no-r]

For each reference data set: our Laplace fit time (median of N fits, including the
Hessian-based vcov), lme4's time per fit from tests/fixtures/refs/<name>.glmm.json
(``timing``, the reference machine), glmer's time on this machine when Rscript with lme4 is
installed, and the log-likelihood difference to glmer (tolPwrss = 1e-13) to show the fits
are the same.  Then the two Laplace modes, ``pirls="exact"`` (default) and ``pirls="lme4"``
(glmer's default computation), with their largest relative difference to glmer's default
output (refs/<name>.glmm.json), adaptive quadrature times and a scaling run over the number
of studies for both modes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from metaanalysis.errors import FitWarning
from metaanalysis.models.glmm import binomial_data, fit_binomial_normal
from metaanalysis.simulation import simulate
from metaanalysis.table import StudyTable

ROOT = Path(__file__).resolve().parent.parent
REFS = ROOT / "tests" / "fixtures" / "refs"
TIGHT = ROOT / "tests" / "fixtures" / "metafor_regression"
SETS = ("AuditC", "Dementia", "skin_tests", "few4")

R_TIMING = r"""
suppressMessages(library(lme4))
d <- read.csv("{csv}"); k <- nrow(d)
long <- data.frame(study = factor(rep(d$study, each = 2), levels = unique(d$study)),
  events = as.vector(rbind(d$TP, d$TN)), n = as.vector(rbind(d$TP + d$FN, d$TN + d$FP)),
  sens = rep(c(1, 0), k), spec = rep(c(0, 1), k))
f <- cbind(events, n - events) ~ 0 + sens + spec + (0 + sens + spec | study)
invisible(glmer(f, data = long, family = binomial))
t <- system.time(for (i in 1:{n}) glmer(f, data = long, family = binomial))[["elapsed"]] / {n}
cat(t, "\n")
"""


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _glmer_time(csv: Path, repeats: int) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_TIMING.format(csv=csv, n=repeats))
        script = fh.name
    try:
        out = subprocess.run(["Rscript", script], capture_output=True, text=True, timeout=600)
        return float(out.stdout.split()[0]) if out.returncode == 0 else None
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None
    finally:
        Path(script).unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--no-r", action="store_true", help="do not time glmer even if R is here")
    args = ap.parse_args()
    warnings.simplefilter("ignore", FitWarning)

    print("Laplace fit (nagq = 1), seconds per fit")
    print(f"{'data':<11}{'k':>4}{'ours':>10}{'lme4 ref':>10}{'lme4 here':>11}"
          f"{'x ref':>8}{'x here':>8}{'|dlogLik| vs glmer':>20}")
    for name in SETS:
        table = StudyTable.from_csv(REFS / f"{name}.csv")
        data = binomial_data(table)
        ours = _time(lambda d=data: fit_binomial_normal(d), args.repeats)
        ref = json.loads((REFS / f"{name}.glmm.json").read_text())
        lme4_ref = ref["timing"]["elapsed_per_fit_s"]
        here = None if args.no_r else _glmer_time(REFS / f"{name}.csv", 10)
        tight = json.loads((TIGHT / f"{name}.json").read_text())["glmm"]["null"]["logLik"]
        dll = abs(fit_binomial_normal(data).loglik - tight)
        here_s = f"{here:11.4f}" if here else f"{'n/a':>11}"
        xhere = f"{here / ours:8.1f}" if here else f"{'n/a':>8}"
        print(f"{name:<11}{table.k:>4}{ours:10.4f}{lme4_ref:10.4f}{here_s}"
              f"{lme4_ref / ours:8.1f}{xhere}{dll:20.1e}")

    print("\nLaplace modes: seconds per fit, and largest relative difference to glmer's defaults"
          "\n(refs; over fixed effects, SEs, tau2, rho; logLik absolute)")
    print(f"{'data':<11}{'exact s':>9}{'lme4 s':>9}{'exact: est':>12}{'logLik':>9}"
          f"{'lme4: est':>11}{'logLik':>9}")
    for name in SETS:
        data = binomial_data(StudyTable.from_csv(REFS / f"{name}.csv"))
        ref = json.loads((REFS / f"{name}.glmm.json").read_text())
        t_exact = _time(lambda d=data: fit_binomial_normal(d), args.repeats)
        t_lme4 = _time(lambda d=data: fit_binomial_normal(d, pirls="lme4"), 5)
        cells = []
        for mode in ("exact", "lme4"):
            fit = fit_binomial_normal(data, pirls=mode)
            got = np.r_[fit.coef.ravel(), fit.se.ravel(), np.diag(fit.sigma), fit.rho]
            want = np.array([ref["mu_logit_sens"], ref["mu_logit_spec"], ref["se_logit_sens"],
                             ref["se_logit_spec"], ref["tau2_logit_sens"],
                             ref["tau2_logit_spec"], ref["rho_logit_sens_spec"]])
            cells += [float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-2))),
                      abs(fit.loglik - ref["logLik"])]
        print(f"{name:<11}{t_exact:9.4f}{t_lme4:9.4f}{cells[0]:12.1e}{cells[1]:9.1e}"
              f"{cells[2]:11.1e}{cells[3]:9.1e}")

    print("\nAdaptive Gauss-Hermite (whole fit, from the Laplace start), seconds")
    print(f"{'data':<11}" + "".join(f"{'nagq=' + str(q):>10}" for q in (5, 9, 15, 21)))
    for name in SETS:
        data = binomial_data(StudyTable.from_csv(REFS / f"{name}.csv"))
        row = [_time(lambda d=data, q=q: fit_binomial_normal(d, nagq=q), 3) for q in (5, 9, 15, 21)]
        print(f"{name:<11}" + "".join(f"{t:10.3f}" for t in row))

    print("\nScaling with the number of studies (simulated, Laplace), seconds per fit:"
          " exact, lme4")
    mu = np.array([1.2, -1.4])
    psi = np.array([[0.5, -0.1], [-0.1, 0.3]])
    for k in (10, 30, 100, 300, 1000):
        data = binomial_data(simulate(k=k, mu=mu, psi=psi, n=(20, 200), prevalence=0.3, seed=k))
        exact = _time(lambda d=data: fit_binomial_normal(d), 5)
        lme4 = _time(lambda d=data: fit_binomial_normal(d, pirls="lme4"), 1)
        print(f"k = {k:>5}: {exact:.4f}  {lme4:.4f}")


if __name__ == "__main__":
    main()
