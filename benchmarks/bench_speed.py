"""The speed table: every row measured in one run, against R, with the ratios.

Run: .venv/bin/python benchmarks/bench_speed.py [--repeats N] [--no-r] [--markdown]

Rows (each a warm median, after one discarded run, and separately the cold
first run of a fresh process):

- Reitsma REML fits in process at k = 5, 14 (AuditC), 33 (Dementia) and 100;
- binomial GLMM (Laplace) fits in process at k = 5, 14 and 33;
- ``metaanalysis pool AuditC.csv`` and ``metaanalysis pool --model glmm AuditC.csv``
  as whole processes.

R comparators. Measured here: metafor's ``rma.mv`` (REML, ``struct = "UN"``, the
same bivariate normal model as Reitsma) and lme4's ``glmer`` (Laplace, the same
GLMM), each fit in a running R session (median of batches timed as ours are), and
whole ``Rscript`` processes that load
the package, read the CSV and fit. Not measurable here: mada (not installable on
this machine), so its times are quoted from the ``timing`` fields stored with the
reference fixtures (tests/fixtures/refs/<name>.reitsma.json, measured by
make_refs.R on the fixtures' 2-core machine); they exist for few4 (k = 4),
skin_tests (k = 10), AuditC and Dementia only.

k = 5 and k = 100 are simulated tables (seeded), written to a temporary folder
so that R fits the same data.

``--clock cpu`` times CPU time (user + system) instead of elapsed time, on both
sides: on a shared machine other load stretches elapsed times (and not R's and
ours alike, as they are measured at different moments), CPU time much less.
The load average at the start and the end is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFS = ROOT / "tests" / "fixtures" / "refs"
EXE = Path(sys.executable).parent / "metaanalysis"

#: Goals of the speed table: minimum ratio R / this project (in process), and for the
#: whole process a maximum time (s) and a minimum ratio.
GOALS = {"reitsma": 30.0, "glmm": 15.0}
PROCESS_GOALS = {"reitsma": (0.5, 3.0), "glmm": (0.6, 2.0)}

_R_FITS = r"""
suppressMessages({library(metafor); library(lme4)})
args <- commandArgs(trailingOnly = TRUE)
reps <- as.integer(args[1]); files <- args[-1]
clock <- Sys.getenv("BENCH_CLOCK", "wall")
med <- function(f) { f(); t <- numeric(reps)
  for (i in seq_len(reps)) {
    n <- 0; t0 <- proc.time()
    repeat { f(); n <- n + 1; d <- proc.time() - t0; if (d[["elapsed"]] > 0.05) break }
    t[i] <- (if (clock == "cpu") d[["user.self"]] + d[["sys.self"]] else d[["elapsed"]]) / n
  }
  median(t) }
out <- list()
for (path in files) {
  d <- read.csv(path)
  cc <- d[, c("TP", "FP", "FN", "TN")]
  if (any(cc == 0)) cc <- cc + 0.5
  k <- nrow(cc)
  long <- data.frame(study = factor(rep(seq_len(k), each = 2)),
                     outcome = factor(rep(c("tsens", "tfpr"), k), levels = c("tsens", "tfpr")),
                     yi = as.vector(rbind(log(cc$TP / cc$FN), log(cc$FP / cc$TN))),
                     vi = as.vector(rbind(1 / cc$TP + 1 / cc$FN, 1 / cc$FP + 1 / cc$TN)))
  gl <- data.frame(study = factor(rep(seq_len(k), each = 2)),
                   events = as.vector(rbind(d$TP, d$TN)),
                   n = as.vector(rbind(d$TP + d$FN, d$TN + d$FP)),
                   sens = rep(c(1, 0), k), spec = rep(c(0, 1), k))
  f_mv <- function() rma.mv(yi, vi, mods = ~ 0 + outcome, random = ~ outcome | study,
                            struct = "UN", method = "REML", data = long)
  f_gl <- function() suppressMessages(suppressWarnings(glmer(
    cbind(events, n - events) ~ 0 + sens + spec + (0 + sens + spec | study),
    data = gl, family = binomial, nAGQ = 1)))
  out[[basename(path)]] <- list(rma_mv = med(f_mv), glmer = med(f_gl))
}
cat(sprintf('{%s}\n', paste(sprintf('"%s": {"rma_mv": %.6f, "glmer": %.6f}', names(out),
    sapply(out, `[[`, "rma_mv"), sapply(out, `[[`, "glmer")), collapse = ", ")))
"""

_R_PROCESS = {
    "reitsma": "suppressMessages(library(metafor)); d <- read.csv('{csv}'); k <- nrow(d); "
               "d <- d[, c('TP', 'FP', 'FN', 'TN')]; if (any(d == 0)) d <- d + 0.5; "
               "y <- as.vector(rbind(log(d$TP/d$FN), log(d$FP/d$TN))); "
               "v <- as.vector(rbind(1/d$TP + 1/d$FN, 1/d$FP + 1/d$TN)); "
               "o <- factor(rep(c('s', 'f'), k)); s <- factor(rep(seq_len(k), each = 2)); "
               "print(summary(rma.mv(y, v, mods = ~ 0 + o, random = ~ o | s, struct = 'UN')))",
    "glmm": "suppressMessages(library(lme4)); d <- read.csv('{csv}'); k <- nrow(d); "
            "g <- data.frame(s = factor(rep(seq_len(k), each = 2)), e = as.vector(rbind(d$TP, "
            "d$TN)), n = as.vector(rbind(d$TP + d$FN, d$TN + d$FP)), a = rep(c(1, 0), k), "
            "b = rep(c(0, 1), k)); print(summary(glmer(cbind(e, n - e) ~ 0 + a + b + "
            "(0 + a + b | s), data = g, family = binomial)))",
}

_COLD_FIT = """
import sys, time, warnings
warnings.simplefilter("ignore")
now = time.process_time if sys.argv[3] == "cpu" else time.perf_counter
t0 = now()
import metaanalysis as ma
t = ma.StudyTable.from_csv(sys.argv[2])
t1 = now()
fit = ma.reitsma(t) if sys.argv[1] == "reitsma" else ma.glmm(t)
fit.to_dict()
t2 = now()
print(t2 - t1)
"""


#: What the timings measure: ``"wall"`` (elapsed time) or ``"cpu"`` (user + system CPU
#: time, of this process for the in-process rows, of the child for the whole-process
#: rows; R the same). Set by ``--clock``.
CLOCK = "wall"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _median_call(f, repeats: int) -> float:
    """Median time of one call over ``repeats`` batches, after a discarded call."""
    now = time.process_time if CLOCK == "cpu" else time.perf_counter
    f()
    per = []
    for _ in range(repeats):
        n, t0, w0 = 0, now(), time.perf_counter()
        while True:
            f()
            n += 1
            if time.perf_counter() - w0 > 0.05:
                break
        per.append((now() - t0) / n)
    return statistics.median(per)


def _process_times(argv: list[str], repeats: int) -> tuple[float, float]:
    """(cold first run, warm median after a discarded run) of a whole process, in s."""
    times = []
    for _ in range(repeats + 1):
        t0, c0 = time.perf_counter(), _children_cpu()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(_children_cpu() - c0 if CLOCK == "cpu" else time.perf_counter() - t0)
    return times[0], statistics.median(times[2:] if len(times) > 2 else times[1:])


def _tables(folder: Path) -> dict[str, tuple[int, Path]]:
    import metaanalysis as ma

    out = {}
    for label, k, seed in (("k5", 5, 11), ("k100", 100, 12)):
        t = ma.simulate(k=k, mu=[1.5, -1.5], psi=[[0.5, 0.15], [0.15, 0.4]], n=(50, 500),
                        prevalence=(0.1, 0.5), seed=seed)
        path = folder / f"{label}.csv"
        t.df[["study", "TP", "FP", "FN", "TN"]].to_csv(path, index=False)
        out[label] = (k, path)
    out["AuditC"] = (14, REFS / "AuditC.csv")
    out["Dementia"] = (33, REFS / "Dementia.csv")
    return out


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ModuleNotFoundError:  # pragma: no cover - a test dependency
        return "unknown"
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture')}"
                     for i in info) or "none"


def main() -> int:
    """Measure every row and print the table with its ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed batches per row")
    ap.add_argument("--no-r", action="store_true", help="skip the R measurements")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time elapsed (default) or CPU time (user + system), which other "
                         "load on a shared machine inflates much less")
    args = ap.parse_args()
    global CLOCK
    CLOCK = args.clock
    warnings.simplefilter("ignore")
    import numpy as np

    import metaanalysis as ma

    np.seterr(all="ignore")
    load_start = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="bench_speed_"))
    tables = _tables(folder)
    loaded = {name: ma.StudyTable.from_csv(path) for name, (_, path) in tables.items()}
    mada = {name: json.loads((REFS / f"{name}.reitsma.json").read_text())["reml"]["timing"]
            ["elapsed_per_fit_s"] for name in ("few4", "skin_tests", "AuditC", "Dementia")}

    r_fit: dict[str, dict[str, float]] = {}
    have_r = shutil.which("Rscript") is not None and not args.no_r
    if have_r:
        script = folder / "fits.R"
        script.write_text(_R_FITS)
        proc = subprocess.run(["Rscript", str(script), str(args.repeats),
                               *(str(p) for _, p in tables.values())],
                              capture_output=True, text=True, check=False,
                              env={**os.environ, "BENCH_CLOCK": args.clock})
        if proc.returncode == 0:
            r_fit = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            print(f"R fits failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)

    rows = []
    order = ("k5", "AuditC", "Dementia", "k100")
    for model in ("reitsma", "glmm"):
        fit = ma.reitsma if model == "reitsma" else ma.glmm
        for name in order:
            if model == "glmm" and name == "k100":
                continue
            k, path = tables[name]
            t = loaded[name]
            warm = _median_call(lambda t=t, fit=fit: fit(t).to_dict(), args.repeats)
            cold = float(subprocess.run([sys.executable, "-c", _COLD_FIT, model, str(path),
                                         args.clock], capture_output=True, text=True,
                                        check=True).stdout.strip())
            r = r_fit.get(path.name, {}).get("rma_mv" if model == "reitsma" else "glmer")
            rows.append({"work": f"{'Reitsma REML' if model == 'reitsma' else 'GLMM Laplace'}"
                                 f", k = {k}" + (f" ({name})" if not name.startswith("k")
                                                 else ""),
                         "model": model, "ours": warm, "cold": cold,
                         "r_name": "rma.mv" if model == "reitsma" else "glmer", "r": r,
                         "mada": mada.get(name) if model == "reitsma" else None})
    for model in ("reitsma", "glmm"):
        extra = [] if model == "reitsma" else ["--model", "glmm"]
        csv = tables["AuditC"][1]
        cold, warm = _process_times([str(EXE), "pool", str(csv), *extra], args.repeats)
        r_cold = r_warm = None
        if have_r:
            code = _R_PROCESS[model].replace("{csv}", str(csv))
            r_cold, r_warm = _process_times(["Rscript", "-e", code], args.repeats)
        rows.append({"work": f"`metaanalysis pool {'--model glmm ' if extra else ''}"
                             f"AuditC.csv`, whole process", "model": model, "process": True,
                     "ours": warm, "cold": cold,
                     "r_name": "Rscript + " + ("metafor" if model == "reitsma" else "lme4"),
                     "r": r_warm, "r_cold": r_cold, "mada": None})
    _print(rows, mada, args.markdown)
    load_end = os.getloadavg()
    print(f"\nBLAS: {_blas()}; warm = median of {args.repeats} timed batches after a "
          "discarded run (R's too); cold = first run in a fresh process (fit only in process; "
          f"the whole command for the process rows). Times are "
          f"{'CPU time (user + system)' if args.clock == 'cpu' else 'wall-clock'}.")
    start_text = " / ".join(f"{x:.1f}" for x in load_start)
    end_text = " / ".join(f"{x:.1f}" for x in load_end)
    print(f"Load average (1 / 5 / 15 min) at the start: {start_text}; at the end: {end_text} "
          f"({len(os.sched_getaffinity(0))} CPUs).")
    shutil.rmtree(folder, ignore_errors=True)
    return 0


def _ms(x: float | None) -> str:
    return "n/a" if x is None else (f"{x * 1e3:.2f} ms" if x < 0.1 else f"{x:.2f} s")


def _print(rows: list[dict], mada: dict[str, float], markdown: bool) -> None:
    head = ("work", "this project (warm)", "cold", "R here (warm)", "ratio", "mada (stored)",
            "ratio", "goal")
    lines = []
    for r in rows:
        if r.get("process"):
            lo, ratio_goal = PROCESS_GOALS[r["model"]]
            goal = f"<= {lo} s, >= {ratio_goal:g}x"
            r_text = f"{r['r_name']}: {_ms(r['r'])} (cold {_ms(r['r_cold'])})"
        else:
            goal = f">= {GOALS[r['model']]:g}x"
            r_text = f"{r['r_name']} {_ms(r['r'])}"
        ratio = f"{r['r'] / r['ours']:.1f}x" if r["r"] else "n/a"
        m = r["mada"]
        lines.append((r["work"], _ms(r["ours"]), _ms(r["cold"]), r_text, ratio,
                      _ms(m) if m else "n/a", f"{m / r['ours']:.0f}x" if m else "n/a", goal))
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[j]) for line in lines)) for j, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        for line in lines:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    print("\nmada per REML fit as stored with the fixtures (make_refs.R, 20 fits): "
          + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in mada.items()))


if __name__ == "__main__":
    sys.exit(main())
