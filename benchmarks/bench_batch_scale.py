"""``vbq batch`` on many small series: wall time, peak memory, 1 -> 2 workers and Dask.

Generates (once; reused when present) ``--n`` small phantom series (128 x 128,
7 slices, each with its own seed and VBQ, so no two share a UID) and a manifest
scoring each with its ROI file, under ``--root`` (default /tmp/vbq_batch_scale).
Then runs the ``vbq batch`` command as a separate process:

- ``--workers 1`` (scored in the command's own process),
- ``--workers 2`` (a local process pool),
- ``--dask ADDRESS`` on a Dask distributed scheduler on 127.0.0.1 with two
  single-threaded worker processes (a ``LocalCluster`` started here; its start-up
  is not timed, the workers' import of vbq on the first task is),

interleaved over ``--rounds`` rounds (best wall time shown: other load on a
shared machine only ever slows a run down). Each run also reports the load
average (1 min) when it started and ended, and the CPU time it spent (user +
system): of the command and its pool's workers; for Dask, of the command, the
two worker processes and this process (which runs the scheduler). On a busy
machine the wall time says little about scaling, the CPU time does: work that
scales spends about the same CPU time with more workers. Peak memory is the largest
resident set seen, sampled every 50 ms, of the command's process, of its
whole process tree (the pool's workers included), and for Dask of the two
worker processes. Every output row must have status ok.

Not a test: the numbers depend on the machine and its load (printed).

Usage: ``.venv/bin/python benchmarks/bench_batch_scale.py [--n 1000] [--rounds 2] [--markdown]``
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

VBQ = Path(sys.executable).parent / "vbq"


def build(root: Path, n: int) -> Path:
    """Write ``n`` phantom series and their manifest under ``root`` unless already there."""
    manifest = root / f"manifest_{n}.csv"
    if manifest.exists():
        return manifest
    from vbq.phantom import make_phantom

    lines = ["id,series,rois"]
    for i in range(n):
        info = make_phantom(root / f"s{i:05d}", vbq=2.0 + 3.0 * (i % 97) / 97, seed=1000 + i,
                            n_slices=7, rows=128, distractors=())
        lines.append(f"row{i:05d},{info.series_dir},{info.rois_path}")
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(manifest)
    return manifest


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree(pid: int) -> list[int]:
    kids = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


class PeakMemory(threading.Thread):
    """Sample the resident memory of a process, its tree and extra processes until stopped."""

    def __init__(self, pid: int, extra: list[int]) -> None:
        super().__init__(daemon=True)
        self.pid, self.extra = pid, extra
        self.main_kib = self.tree_kib = self.extra_kib = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            self.main_kib = max(self.main_kib, _rss_kib(self.pid))
            self.tree_kib = max(self.tree_kib, sum(_rss_kib(p) for p in _tree(self.pid)))
            self.extra_kib = max(self.extra_kib, sum(_rss_kib(p) for p in self.extra))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _proc_cpu(pid: int) -> float:
    """CPU time (user + system, s) a running process has spent, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run(manifest: Path, out: Path, options: list[str], dask_pids: list[int]) -> dict:
    """Run ``vbq batch`` once; return wall and CPU time, load, memory peaks and the row count."""
    out.unlink(missing_ok=True)
    argv = [str(VBQ), "batch", str(manifest), "--out", str(out), "--no-progress", *options]
    load0 = os.getloadavg()[0]
    children0, self0 = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF)
    dask0 = sum(_proc_cpu(p) for p in dask_pids)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    mem = PeakMemory(proc.pid, dask_pids)
    mem.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    mem.stop()
    # the command and the pool workers it reaped; with Dask also the workers and the
    # scheduler in this process (the memory sampler's share of it is small)
    cpu = _cpu(resource.RUSAGE_CHILDREN) - children0
    if dask_pids:
        cpu += sum(_proc_cpu(p) for p in dask_pids) - dask0 + _cpu(resource.RUSAGE_SELF) - self0
    load1 = os.getloadavg()[0]
    if proc.returncode != 0:
        raise SystemExit(f"vbq batch {' '.join(options)} failed ({proc.returncode}): {err.strip()}")
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = [r["id"] for r in rows if r.get("status") != "ok"]
    if bad:
        raise SystemExit(f"vbq batch {' '.join(options)}: rows not scored: {bad[:5]}")
    return {"wall": wall, "cpu": cpu, "load": (load0, load1), "rows": len(rows),
            "main_mib": mem.main_kib / 1024, "tree_mib": mem.tree_kib / 1024,
            "dask_mib": mem.extra_kib / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="series (default 1000)")
    parser.add_argument("--root", type=Path, default=Path("/tmp/vbq_batch_scale"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    args.root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    manifest = build(args.root, args.n)
    print(f"series ready in {time.perf_counter() - t0:.1f} s ({args.n} phantoms, 128x128x7, "
          f"{args.root})", flush=True)

    cluster = client = None
    dask_pids: list[int] = []
    cases: dict[str, list[str]] = {"1 local worker": ["--workers", "1"],
                                   "2 local workers": ["--workers", "2"]}
    if not args.no_dask:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
        dask_pids = [int(p) for p in client.run(os.getpid).values()]
        cases["Dask, 2 workers on 127.0.0.1"] = ["--dask", cluster.scheduler_address]
    best: dict[str, dict] = {}
    try:
        for _ in range(args.rounds):
            for name, options in cases.items():
                got = run(manifest, args.root / "out.csv", options,
                          dask_pids if "--dask" in options else [])
                if name not in best or got["wall"] < best[name]["wall"]:
                    best[name] = got
                print(f"  {name}: {got['wall']:.1f} s, CPU {got['cpu']:.1f} s, load "
                      f"{got['load'][0]:.1f} -> {got['load'][1]:.1f}", flush=True)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    base = best["1 local worker"]["wall"]
    load = os.getloadavg()
    print(f"\nvbq batch, {args.n} series; {len(os.sched_getaffinity(0))} CPUs, load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; best of {args.rounds} rounds")
    sep = " | " if args.markdown else "  "
    base_cpu = best["1 local worker"]["cpu"]
    head = ["run", "wall", "series/s", "vs 1 worker", "CPU time", "CPU vs 1 worker",
            "load at start -> end", "peak RSS, command", "peak RSS, command + pool",
            "peak RSS, Dask workers"]
    rows = []
    for name, got in best.items():
        rows.append([name, f"{got['wall']:.1f} s", f"{got['rows'] / got['wall']:.1f}",
                     f"{base / got['wall']:.2f}x", f"{got['cpu']:.1f} s",
                     f"{got['cpu'] / base_cpu:.2f}x",
                     f"{got['load'][0]:.1f} -> {got['load'][1]:.1f}",
                     f"{got['main_mib']:.0f} MiB",
                     f"{got['tree_mib']:.0f} MiB",
                     f"{got['dask_mib']:.0f} MiB" if got["dask_mib"] else "-"])
    if args.markdown:
        print("| " + sep.join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + sep.join(r) + " |")
    else:
        widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
        for r in [head, *rows]:
            print(sep.join(x.ljust(w) for x, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
