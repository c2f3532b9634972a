"""Speed of the Reitsma fit: reference data sets and 10,000 simulated meta-analyses.

Run: .venv/bin/python benchmarks/bench_reitsma.py [--n-sim 10000]

R's times come from the fixtures: mada::reitsma and metafor::rma.mv as timed by
make_refs.R (refs `timing` fields) and rma.mv REML timed on this machine by
tests/fixtures/make_univariate.R (`timing_rma_mv_reml_s`).
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

import metaanalysis as ma
from metaanalysis.models.reitsma import fit_bivariate_normal, logit_outcomes

FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SETS = ["AuditC", "Dementia", "skin_tests", "few4"]


def per_call(f, min_time=0.5):
    f()  # warm-up
    n, t0 = 0, time.perf_counter()
    while True:
        f()
        n += 1
        el = time.perf_counter() - t0
        if el > min_time and n >= 20:
            return el / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-sim", type=int, default=10_000)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    uni = json.loads((FIX / "univariate_reml.json").read_text())
    rows = []
    tab = {name: ma.StudyTable.from_csv(FIX / "refs" / f"{name}.csv") for name in SETS}
    for name in SETS:
        ref = json.loads((FIX / "refs" / f"{name}.reitsma.json").read_text())
        t = ma.StudyTable.from_csv(FIX / "refs" / f"{name}.csv")
        for method in ("reml", "ml"):
            full = per_call(lambda t=t, m=method: ma.reitsma(t, method=m))
            y, S = logit_outcomes(t)
            core = per_call(lambda y=y, S=S, m=method: fit_bivariate_normal(y, S, method=m))
            r_mada = ref[method]["timing"]["elapsed_per_fit_s"]
            r_mv = ref["metafor"]["rma_mv_UN"][method.upper()]["timing"]["elapsed_per_fit_s"]
            rows.append((name, t.k, method, full * 1e3, core * 1e3, r_mada * 1e3, r_mada / full,
                         r_mv * 1e3, r_mv / full))
    print("Reitsma fit, time per fit (ms); R times from the reference fixtures")
    print(f"{'data':<11}{'k':>4} {'method':<6}{'python':>9}{'(core)':>9}{'mada':>9}"
          f"{'x faster':>10}{'rma.mv':>9}{'x faster':>10}")
    for r in rows:
        print(f"{r[0]:<11}{r[1]:>4} {r[2]:<6}{r[3]:>9.2f}{r[4]:>9.2f}{r[5]:>9.1f}{r[6]:>10.0f}"
              f"{r[7]:>9.1f}{r[8]:>10.0f}")
    print("\noptimizer='mada' (IGLS + BFGS as mada; also refits with Newton to check the "
          "maximum), REML, ms per fit: " + ", ".join(
              f"{name} {per_call(lambda n=name: ma.reitsma(tab[n], optimizer='mada')) * 1e3:.2f}"
              for name in SETS))
    here = uni.get("timing_rma_mv_reml_s", {})
    if here:
        print("rma.mv REML timed on this machine (ms): "
              + ", ".join(f"{k} {v * 1e3:.0f}" for k, v in here.items()))

    mu, psi = [1.5, -1.5], [[0.5, 0.15], [0.15, 0.4]]
    tables = [ma.simulate(k=20, mu=mu, psi=psi, n=(50, 500), prevalence=(0.1, 0.5), seed=s)
              for s in range(args.n_sim)]
    t0 = time.perf_counter()
    n_boundary = 0
    for t in tables:
        f = ma.reitsma(t)
        n_boundary += bool(f.extra["boundary"])
    el = time.perf_counter() - t0
    print(f"\n{args.n_sim} simulated meta-analyses (k = 20), REML: {el:.1f} s total, "
          f"{el / args.n_sim * 1e3:.2f} ms per fit, {n_boundary} on the boundary; "
          f"mada at 0.1 s per fit would take {args.n_sim * 0.1:.0f} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
