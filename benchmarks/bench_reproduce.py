"""Speed of the VBQ meta-analysis reproduction: load, fits, report, reconstruction script.

Usage: ``.venv/bin/python benchmarks/bench_reproduce.py`` (prints a small table).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int = 5) -> float:
    """Median wall time of ``fn()`` in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    from metaanalysis import datasets
    from metaanalysis.models.glmm import glmm
    from metaanalysis.models.reitsma import reitsma
    from metaanalysis.report import write_reproduction
    from metaanalysis.reproduce import reproduce

    table = datasets.load("vbq_subsequent_fracture")
    rep = reproduce()
    out = Path(tempfile.mkdtemp())
    rows = [
        ("datasets.load (29 studies)", timed(lambda: datasets.load("vbq_subsequent_fracture"))),
        ("reitsma REML fit", timed(lambda: reitsma(table))),
        ("glmm Laplace fit", timed(lambda: glmm(table, nagq=1), repeat=3)),
        ("reproduce() with GLMM", timed(lambda: reproduce(), repeat=3)),
        ("write figures + report", timed(lambda: write_reproduction(rep, out), repeat=3)),
        ("make_studies.py (subprocess)", timed(lambda: subprocess.run(
            [sys.executable, str(REPO / "data" / "vbq_subsequent_fracture" / "make_studies.py"),
             "--out", str(out)], check=True, capture_output=True), repeat=3)),
        ("metaanalysis reproduce (CLI)", timed(lambda: subprocess.run(
            [str(Path(sys.executable).with_name("metaanalysis")), "reproduce", "--json",
             "--out", str(out)], check=True, capture_output=True), repeat=3)),
    ]
    print(f"{'step':<32} {'median s':>9}")
    for name, seconds in rows:
        print(f"{name:<32} {seconds:>9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
