"""Rebuild ``studies.csv``: a seeded reconstruction of the 29 VBQ 2x2 tables.

The per-study 2x2 tables of the VBQ subsequent-fracture meta-analysis are not
published in any source we could reach; only the aggregates are (29 studies,
7,364 patients, pooled sensitivity 0.85 and specificity 0.66 under a bivariate
random-effects model). This script makes a table that is consistent with every
one of them, and says so in every row (``source=reconstructed``).

Algorithm (deterministic; the same bytes on every run)
------------------------------------------------------
1. Study design (one generator seeded with ``DESIGN_SEED``):

   * the five real cohorts of ``primary_studies.csv`` keep their published
     size, year, country, design and (where reported) event count and cut-off;
   * the other 24 study sizes are drawn log-normal (median 250, sd 0.55 on the
     log scale), clipped to 60-700, then scaled so that all 29 add up to
     exactly 7,364 (largest-remainder rounding, still within 60-700);
   * fracture rates are drawn uniform on 10-35% (known event counts are used
     as they are); year, country, design, VBQ cut-off and field strength are
     drawn from the distributions in ``COVARIATES``.

2. 2x2 tables: :func:`metaanalysis.simulate` draws study-level (logit sens,
   logit FPR) from a bivariate normal with between-study covariance ``PSI``
   and binomial counts given each study's size and fracture rate.

3. Calibration by common random numbers: starting from the published point
   (logit 0.85, logit 0.34) the generating mean is moved by the gap between
   the target and the Reitsma REML estimate (mada's default correction) and
   the tables are drawn again with the *same* seed, up to ``MAX_STEPS``
   times. A seed is accepted when the pooled sensitivity and specificity are
   within ``TOLERANCE`` of 0.85 and 0.66 (so that they round to them with a
   margin), the fit converged without warnings, every fracture rate is within
   10-35% and no cell is zero. Otherwise the next seed is tried, starting at
   ``FIRST_SEED``.

Spread of reconstructions (``--spread``)
----------------------------------------
One reconstruction is one of many tables that fit the same aggregates. With
``--spread`` the script makes ``SPREAD_N`` more, each with its own study
design (design seed ``DESIGN_SEED + r`` for ``r = 1..SPREAD_N``: sizes, rates
and covariates of the 24 unlinked studies drawn afresh, the five linked
cohorts kept) and its own first acceptable table seed under the same rule as
above, and writes ``spread.csv``: for each reconstruction and each model (the
Reitsma REML fit with mada's default correction, and the binomial-normal GLMM
with the Laplace approximation) the pooled sensitivity, specificity, AUC,
tau2 of each logit and their correlation, to 4 decimals. What k, N,
sensitivity and specificity agree with holds by construction in every row;
how far the other figures move across the rows is what a reconstruction
cannot pin down. The between-study covariance ``PSI`` is the same in every
reconstruction, so the spread does not include doubt about it.

Run ``python data/vbq_subsequent_fracture/make_studies.py`` to rewrite
``studies.csv`` here and in the package data (``metaanalysis/data/``), and to
copy the other files of this folder there; ``--spread`` writes
``spread.csv`` instead (in both places). ``--out DIR`` writes only the one
CSV into DIR (used by the tests that check the bytes).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PACKAGE_COPY = REPO / "metaanalysis" / "data" / HERE.name
#: Files of this folder copied verbatim into the package data.
COPIED = ("primary_studies.csv", "more_cohorts.csv", "template.csv", "README.md")

K = 29
N_TOTAL = 7364
TARGET_SENS = 0.85
TARGET_SPEC = 0.66
#: Accept a reconstruction only this close to the published values (< 0.005 rounding window).
TOLERANCE = 0.0005
SIZE_MIN, SIZE_MAX = 60, 700
RATE_MIN, RATE_MAX = 0.10, 0.35

DESIGN_SEED = 20250529
FIRST_SEED = 1
MAX_SEEDS = 200
MAX_STEPS = 6
#: Number of further reconstructions in spread.csv (design seeds DESIGN_SEED + 1, + 2, ...).
SPREAD_N = 50
#: Columns of spread.csv.
SPREAD_COLUMNS = ("reconstruction", "design_seed", "table_seed", "model", "sensitivity",
                  "specificity", "auc", "tau2_logit_sens", "tau2_logit_fpr", "rho")

#: Between-study covariance of (logit sens, logit FPR): tau2 0.40 / 0.30, correlation +0.35.
TAU2_SENS, TAU2_FPR, RHO = 0.40, 0.30, 0.35
PSI = np.array([[TAU2_SENS, RHO * np.sqrt(TAU2_SENS * TAU2_FPR)],
                [RHO * np.sqrt(TAU2_SENS * TAU2_FPR), TAU2_FPR]])

#: The real cohorts of primary_studies.csv: what is published about them is used as is.
LINKED = (
    # primary_study, year, country, design, n, events, cutoff, TP (None: not published)
    ("S01", 2025, "Taiwan", "consecutive cohort", 251, 42, None, None),
    ("S02", 2025, "not reported", "retrospective cohort", 60, 20, 3.0, 17),
    ("S03", 2024, "China", "retrospective cohort", 135, None, None, None),
    ("S04", 2025, "not reported", "consecutive cohort", 341, None, 4.28, None),
    ("S05", 2025, "not reported", "retrospective cohort", 124, 29, None, None),  # year assumed
)

#: Distributions the remaining covariates are drawn from.
COVARIATES = {
    "year": ((2021, 2022, 2023, 2024, 2025), (0.08, 0.17, 0.25, 0.30, 0.20)),
    "country": (("China", "USA", "Taiwan", "South Korea", "Japan", "Turkey", "Italy"),
                (0.60, 0.13, 0.07, 0.08, 0.06, 0.03, 0.03)),
    "design": (("retrospective cohort", "prospective cohort", "case-control"),
               (0.82, 0.12, 0.06)),
    "field_strength": ((1.5, 3.0), (0.55, 0.45)),
}
CUTOFF_RANGE = (2.8, 4.4)

COLUMNS = ("study", "TP", "FP", "FN", "TN", "source", "primary_study", "year", "country",
           "design", "cutoff", "field_strength")


def _round_to_total(x: np.ndarray, total: int, lo: int, hi: int) -> np.ndarray:
    """Integers near ``x`` (scaled) within [lo, hi] that add up to ``total``."""
    x = np.asarray(x, dtype=float)
    for _ in range(50):  # scale, clip, repeat until the clipped values stop moving
        free = (x > lo) & (x < hi)
        fixed_sum = x[~free].sum()
        x[free] *= (total - fixed_sum) / x[free].sum()
        clipped = np.clip(x, lo, hi)
        if np.allclose(clipped, x):
            break
        x = clipped
    base = np.floor(x).astype(np.int64)
    short = total - int(base.sum())
    order = np.argsort(-(x - base), kind="stable")  # largest remainders first
    base[order[:short]] += 1
    if base.sum() != total or base.min() < lo or base.max() > hi:
        raise RuntimeError("could not scale the study sizes to the total")
    return base


def design(seed: int = DESIGN_SEED) -> pd.DataFrame:
    """Study sizes, fracture rates and covariates (no 2x2 counts yet), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    n_free = K - len(LINKED)
    linked_n = np.array([row[4] for row in LINKED])
    raw = np.clip(np.exp(rng.normal(np.log(250.0), 0.55, n_free)), SIZE_MIN, SIZE_MAX)
    sizes = _round_to_total(raw, N_TOTAL - int(linked_n.sum()), SIZE_MIN, SIZE_MAX)
    rates = rng.uniform(RATE_MIN, RATE_MAX, n_free)

    def draw(name: str, size: int) -> np.ndarray:
        values, p = COVARIATES[name]
        return rng.choice(np.asarray(values, dtype=object), size=size, p=np.asarray(p))

    cutoffs = np.round(rng.uniform(*CUTOFF_RANGE, K), 2)
    field = draw("field_strength", K)
    free = pd.DataFrame({
        "primary_study": "none",
        "year": draw("year", n_free).astype(int),
        "country": draw("country", n_free),
        "design": draw("design", n_free),
        "n": sizes,
        "events": -1,
        "tp": -1,
        "rate": rates,
    })
    linked = pd.DataFrame({
        "primary_study": [r[0] for r in LINKED],
        "year": [r[1] for r in LINKED],
        "country": [r[2] for r in LINKED],
        "design": [r[3] for r in LINKED],
        "n": linked_n,
        "events": [r[5] if r[5] is not None else -1 for r in LINKED],
        "tp": [r[7] if r[7] is not None else -1 for r in LINKED],
        "rate": [(r[5] / r[4]) if r[5] is not None else rng.uniform(RATE_MIN, RATE_MAX)
                 for r in LINKED],
    })
    out = pd.concat([linked, free], ignore_index=True)
    known_cut = [r[6] for r in LINKED] + [None] * n_free
    out["cutoff"] = [c if c is not None else cutoffs[i] for i, c in enumerate(known_cut)]
    out["field_strength"] = field.astype(float)
    # order by year (stable: real cohorts first within a year), then name R01..R29
    out = out.sort_values("year", kind="stable").reset_index(drop=True)
    out.insert(0, "study", [f"R{i:02d}" for i in range(1, K + 1)])
    return out


def _acceptable(table, fit) -> bool:  # noqa: ANN001 - a StudyTable and its fit
    sens = fit.sensitivity.estimate
    spec = fit.specificity.estimate
    rate = (table.tp + table.fn) / (table.tp + table.fp + table.fn + table.tn)
    return (abs(sens - TARGET_SENS) < TOLERANCE and abs(spec - TARGET_SPEC) < TOLERANCE
            and fit.converged and not fit.warnings and not table.has_zero_cells
            and bool(np.all((rate >= RATE_MIN) & (rate <= RATE_MAX))))


def _impose_known_events(table, plan: pd.DataFrame):  # noqa: ANN001, ANN202 - StudyTable
    """Give the linked cohorts their published event counts, keeping sens and FPR.

    Where a cohort's number of subsequent fractures is published, its diseased
    and non-diseased totals are set to it, and TP and FP are rescaled so that
    the simulated sensitivity and FPR are kept (rounded to whole patients);
    a published TP (S02: 17 of 20) is used as it is.
    """
    from metaanalysis.table import StudyTable

    tp, fp, fn, tn = (np.array(a, dtype=np.int64) for a in (table.tp, table.fp, table.fn,
                                                              table.tn))
    for i, (events, known_tp) in enumerate(zip(plan["events"], plan["tp"], strict=True)):
        if events < 0:
            continue
        n = int(plan["n"].iloc[i])
        sens = tp[i] / (tp[i] + fn[i])
        fpr = fp[i] / (fp[i] + tn[i])
        tp[i] = known_tp if known_tp >= 0 else int(np.floor(sens * events + 0.5))
        fn[i] = events - tp[i]
        fp[i] = int(np.floor(fpr * (n - events) + 0.5))
        tn[i] = n - events - fp[i]
    return StudyTable(pd.DataFrame({"study": plan["study"].to_numpy(), "TP": tp, "FP": fp,
                                    "FN": fn, "TN": tn}))


def _rates_in_range(table) -> bool:  # noqa: ANN001 - a StudyTable
    rate = (table.tp + table.fn) / (table.tp + table.fp + table.fn + table.tn)
    return bool(np.all((rate >= RATE_MIN) & (rate <= RATE_MAX)))


def _search(plan: pd.DataFrame, max_seeds: int = MAX_SEEDS):  # noqa: ANN202 - StudyTable
    """Return the first acceptable calibrated table for ``plan`` and its seed.

    The diseased counts are drawn before the logits (:func:`metaanalysis.simulate`)
    and so do not depend on the generating mean: a seed whose fracture rates
    fall outside the range at the first step cannot be accepted at a later
    one and is skipped without fitting.
    """
    import warnings

    from metaanalysis.errors import FitWarning

    target = np.array([np.log(TARGET_SENS / (1 - TARGET_SENS)),
                       np.log((1 - TARGET_SPEC) / TARGET_SPEC)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # a fit that warns is not accepted
        return _search_seeds(plan, target, max_seeds)


def _search_seeds(plan: pd.DataFrame, target: np.ndarray, max_seeds: int):  # noqa: ANN202
    from metaanalysis import reitsma, simulate

    for seed in range(FIRST_SEED, FIRST_SEED + max_seeds):
        mu = target.copy()
        for _ in range(MAX_STEPS):
            table = simulate(k=K, mu=mu, psi=PSI, n=plan["n"].to_numpy(),
                             prevalence=plan["rate"].to_numpy(), seed=seed)
            table = _impose_known_events(table, plan)
            if not _rates_in_range(table):
                break
            fit = reitsma(table, method="reml", correction="all")
            if _acceptable(table, fit):
                return table, seed
            mu = mu + (target - fit.mu)
    raise RuntimeError(f"no seed in {FIRST_SEED}..{FIRST_SEED + max_seeds - 1} reproduces "
                       "the published aggregates; widen the search")


def reconstruct() -> tuple[pd.DataFrame, int]:
    """Search seeds and calibrate; return the final table and the seed used."""
    plan = design()
    table, seed = _search(plan)
    return _assemble(plan, table), seed


def spread(n: int = SPREAD_N) -> pd.DataFrame:
    """Make ``n`` further reconstructions and fit both models to each.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SPREAD_COLUMNS`, two rows (``reitsma``, ``glmm``) per
        reconstruction.
    """
    import warnings

    from metaanalysis import glmm, reitsma

    rows = []
    for r in range(1, n + 1):
        plan = design(DESIGN_SEED + r)
        table, seed = _search(plan, max_seeds=10 * MAX_SEEDS)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a reconstruction in the spread fits cleanly
            fits = {"reitsma": reitsma(table, method="reml", correction="all"),
                    "glmm": glmm(table, nagq=1)}
        for model, fit in fits.items():
            if not fit.converged or fit.warnings:
                raise RuntimeError(f"reconstruction {r} (table seed {seed}): the {model} fit "
                                   f"did not converge cleanly: {fit.warnings}")
            rows.append({"reconstruction": r, "design_seed": DESIGN_SEED + r,
                         "table_seed": seed, "model": model,
                         "sensitivity": fit.sensitivity.estimate,
                         "specificity": fit.specificity.estimate, "auc": float(fit.auc),
                         "tau2_logit_sens": fit.tau2[0], "tau2_logit_fpr": fit.tau2[1],
                         "rho": fit.rho})
    return pd.DataFrame(rows, columns=list(SPREAD_COLUMNS))


def spread_csv_bytes(df: pd.DataFrame) -> bytes:
    """The spread CSV, formatted explicitly (4 decimals) so the bytes do not depend on pandas."""
    buf = io.StringIO()
    buf.write(",".join(SPREAD_COLUMNS) + "\n")
    for row in df.itertuples(index=False):
        numbers = [f"{float(getattr(row, c)):.4f}" for c in SPREAD_COLUMNS[4:]]
        buf.write(",".join([str(int(row.reconstruction)), str(int(row.design_seed)),
                            str(int(row.table_seed)), str(row.model), *numbers]) + "\n")
    return buf.getvalue().encode("utf-8")


def _assemble(plan: pd.DataFrame, table) -> pd.DataFrame:  # noqa: ANN001
    counts = pd.DataFrame({"TP": table.tp, "FP": table.fp, "FN": table.fn, "TN": table.tn})
    out = pd.concat([plan[["study"]], counts], axis=1)
    out["source"] = "reconstructed"
    for col in ("primary_study", "year", "country", "design", "cutoff", "field_strength"):
        out[col] = plan[col].to_numpy()
    return out[list(COLUMNS)]


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """The CSV text, formatted explicitly so that the bytes do not depend on pandas."""
    buf = io.StringIO()
    buf.write(",".join(COLUMNS) + "\n")
    for row in df.itertuples(index=False):
        fields = [row.study, str(int(row.TP)), str(int(row.FP)), str(int(row.FN)),
                  str(int(row.TN)), row.source, row.primary_study, str(int(row.year)),
                  row.country, row.design, f"{float(row.cutoff):.2f}",
                  f"{float(row.field_strength):.1f}"]
        buf.write(",".join(fields) + "\n")
    return buf.getvalue().encode("utf-8")


def _write(name: str, data: bytes, targets: list[Path]) -> None:
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(folder / name)


def main(argv: list[str] | None = None) -> int:
    """Write studies.csv (and the package copy of this folder), or spread.csv."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="write only the one CSV (studies.csv or spread.csv) into this folder")
    parser.add_argument("--spread", action="store_true",
                        help=f"write spread.csv: {SPREAD_N} further reconstructions, both models")
    args = parser.parse_args(argv)
    targets = [args.out] if args.out is not None else [HERE, PACKAGE_COPY]
    if args.spread:
        table = spread()
        _write("spread.csv", spread_csv_bytes(table), targets)
        print(f"{table['reconstruction'].nunique()} reconstructions -> "
              f"{', '.join(str(t) for t in targets)}", file=sys.stderr)
        return 0
    df, seed = reconstruct()
    _write("studies.csv", to_csv_bytes(df), targets)
    if args.out is None:
        for name in COPIED:
            shutil.copyfile(HERE / name, PACKAGE_COPY / name)
    print(f"seed {seed}: {len(df)} studies, {int(df[['TP', 'FP', 'FN', 'TN']].sum().sum())} "
          f"patients -> {', '.join(str(t) for t in targets)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
