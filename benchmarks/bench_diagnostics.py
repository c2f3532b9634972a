"""Speed of the diagnostics, clinical translation and plots (and metafor's, when R is here).

Run: .venv/bin/python benchmarks/bench_diagnostics.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from metaanalysis import clinical, diagnostics, plots  # noqa: E402
from metaanalysis.models.reitsma import reitsma  # noqa: E402
from metaanalysis.table import StudyTable  # noqa: E402

FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "diagnostics"
SETS = ("AuditC", "Dementia", "smoking")

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
d <- read.csv("{csv}"); cells <- as.matrix(d[, c("TP", "FN", "FP", "TN")])
if (any(cells == 0)) cells <- cells + 0.5
long <- data.frame(study = rep(d$study, each = 2),
  outcome = factor(rep(c("sens", "fpr"), nrow(d)), levels = c("sens", "fpr")),
  yi = as.vector(rbind(log(cells[, 1] / cells[, 2]), log(cells[, 3] / cells[, 4]))),
  vi = as.vector(rbind(1 / cells[, 1] + 1 / cells[, 2], 1 / cells[, 3] + 1 / cells[, 4])))
t <- system.time(for (r in 1:3) {{
  fit <- rma.mv(yi, vi, mods = ~ 0 + outcome, random = ~ outcome | study, struct = "UN",
                data = long)
  rs <- rstandard(fit, cluster = long$study); cd <- cooks.distance(fit, cluster = long$study)
}})[["elapsed"]] / 3
cat(t)
"""


def timeit(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def r_influence_time(csv: Path) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(R_SCRIPT.format(csv=csv))
    try:
        out = subprocess.run(["Rscript", f.name], capture_output=True, text=True, timeout=600)
        return float(out.stdout.strip()) if out.returncode == 0 else None
    finally:
        Path(f.name).unlink()


def main() -> None:
    warnings.simplefilter("ignore")
    print(f"{'data':10} {'k':>3} {'LOO (s)':>9} {'influence (s)':>14} {'metafor infl. (s)':>18} "
          f"{'ratio':>6} {'Deeks (ms)':>11} {'post_test (ms)':>15}")
    for name in SETS:
        table = StudyTable.from_csv(FIX / f"{name}.csv")
        fit = reitsma(table)
        t_loo = timeit(lambda table=table: diagnostics.leave_one_out(table))
        t_inf = timeit(lambda fit=fit: diagnostics.influence(fit))
        t_deeks = timeit(lambda table=table: diagnostics.deeks_test(table), 20)
        t_post = timeit(lambda fit=fit: clinical.post_test(fit, [0.1, 0.2, 0.5]), 20)
        t_r = r_influence_time(FIX / f"{name}.csv")
        r_txt = f"{t_r:18.3f}" if t_r is not None else f"{'n/a':>18}"
        ratio = f"{t_r / t_inf:6.0f}" if t_r is not None else f"{'':>6}"
        print(f"{name:10} {table.k:3d} {t_loo:9.3f} {t_inf:14.3f} {r_txt} {ratio} "
              f"{1e3 * t_deeks:11.2f} {1e3 * t_post:15.2f}")

    table = StudyTable.from_csv(FIX / "AuditC.csv")
    fit = reitsma(table)
    print("\nfigure (AuditC)      draw + save PNG (s)")
    with tempfile.TemporaryDirectory() as tmp:
        for label, draw in (("forest", lambda: plots.plot_forest(fit)),
                            ("sroc", lambda: plots.plot_sroc(fit)),
                            ("funnel", lambda: plots.plot_funnel(table)),
                            ("fagan", lambda: clinical.plot_fagan(fit, [0.2]))):
            def job(draw=draw, label=label):
                ax = draw()
                plots.save_figure(ax, Path(tmp) / f"{label}.png")
                plt.close(ax.get_figure())
            print(f"{label:20} {timeit(job):10.3f}")


if __name__ == "__main__":
    main()
