"""Speed of the multiple-thresholds model on diagmeta's example data Schneider2017.

Run: .venv/bin/python benchmarks/bench_thresholds.py [--repeats N] [--no-r]

For each random-effects structure and distribution (log cut-off): our fit time (median of
N fits of :func:`metaanalysis.models.thresholds.thresholds`, everything included), and,
when Rscript with lme4 is installed, the time of lmer with diagmeta's call on this machine
(the fitting step of diagmeta; diagmeta itself is not installed here, and the fixture
records no timing), with the REML logLik difference to show the fits are the same.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
import warnings
from pathlib import Path

from metaanalysis.models.thresholds import STRUCTURES, thresholds
from metaanalysis.thresholds_table import ThresholdsTable

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "diagmeta"
COLUMNS = {"cutoff": "cutpoint", "TP": "tpos", "FP": "fpos", "FN": "fneg", "TN": "tneg"}

R_TIMING = r"""
suppressMessages({library(lme4); library(jsonlite)})
d <- read.csv("%s"); incr <- 0.5; reps <- %d
TP <- d$tpos; FP <- d$fpos; TN <- d$tneg; FN <- d$fneg
N0 <- FP + TN; N1 <- TP + FN; N <- c(N0, N1)
NN <- (c(TN, FN) + incr) / (N + 2 * incr)
Group <- rep(0:1, each = nrow(d)); Cutoff <- log(c(d$cutpoint, d$cutpoint))
Study <- c(d$study_id, d$study_id)
forms <- list(CI = ~ (1 | Study), DI = ~ (1 + Group | Study), CS = ~ (0 + Cutoff | Study),
  DS = ~ (0 + Cutoff + Group:Cutoff | Study), CICS = ~ (Cutoff | Study),
  DIDS = ~ (Group * Cutoff | Study), DICS = ~ (Cutoff + Group | Study),
  CIDS = ~ (Cutoff + Group:Cutoff | Study))
out <- list()
for (distr in c("logistic", "normal")) {
  if (distr == "logistic") { y <- qlogis(NN)
    w <- c((TN + incr) * (FP + incr) / (N0 + 1), (TP + incr) * (FN + incr) / (N1 + 1))
  } else { y <- qnorm(NN)
    w <- c((N0 + 1)^3 * dnorm(qnorm((TN + incr) / (N0 + 1)))^2 / ((TN + incr) * (FP + incr)),
           (N1 + 1)^3 * dnorm(qnorm((TP + incr) / (N1 + 1)))^2 / ((TP + incr) * (FN + incr))) }
  w <- length(w) * w / sum(w)
  dat <- data.frame(y = y, Group = Group, Cutoff = Cutoff, Study = Study, w = w)
  for (m in names(forms)) {
    f <- update(forms[[m]], y ~ Group * Cutoff + .)
    ts <- sapply(seq_len(reps), function(i) system.time(
      fit <<- suppressMessages(suppressWarnings(lmer(f, data = dat, weights = w))))[["elapsed"]])
    out[[paste(distr, m)]] <- list(time = median(ts), logLik = as.numeric(logLik(fit)))
  }
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def r_times(repeats: int) -> dict[str, dict[str, float]] | None:
    """lmer's time per fit on this machine, or None without Rscript and lme4."""
    if shutil.which("Rscript") is None:
        return None
    script = R_TIMING % (FIX / "Schneider2017.csv", repeats)
    run = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        return None
    result: dict[str, dict[str, float]] = json.loads(run.stdout)
    return result


def main() -> None:
    """Print one line per model and distribution."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    table = ThresholdsTable.from_csv(FIX / "Schneider2017.csv", study_column="study_id",
                                     columns=COLUMNS)
    r = None if args.no_r else r_times(args.repeats)
    print(f"{'fit':16s} {'ours (s)':>9s} {'lmer (s)':>9s} {'logLik ours - lmer':>19s}")
    for distr in ("logistic", "normal"):
        for model in STRUCTURES:
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = thresholds(table, model=model, distr=distr, log_cutoff=True)
                    _ = fit.optimal_cutoff, fit.at_optimum, fit.auc
                times.append(time.perf_counter() - t0)
            key = f"{distr} {model}"
            ref = (r or {}).get(key)
            rt = f"{ref['time']:9.3f}" if ref else f"{'-':>9s}"
            dl = f"{fit.loglik - ref['logLik']:19.2e}" if ref else f"{'-':>19s}"
            print(f"{key:16s} {statistics.median(times):9.3f} {rt} {dl}")


if __name__ == "__main__":
    main()
