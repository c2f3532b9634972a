"""Speed of the reading workstation against its targets, on a real ``vbq serve`` process.

A 15-slice 512 x 512 phantom study is served on 127.0.0.1 (port 0). Measured: the first
slice PNG of a fresh server (wall time, target < 1 s), the server time of propose and
score (the ``Server-Timing`` header; target < 100 ms), and N clients scoring together
(errors, requests per second). Usage: ``python benchmarks/bench_serve.py [--clients 20]
[--seconds 30]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import httpx

from vbq.phantom import make_phantom


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    info = make_phantom(tmp / "study", vbq=3.0, seed=1, rows=512, n_slices=15, distractors=())
    rois = json.loads(info.rois_path.read_text())
    seeds = json.loads(info.seeds_path.read_text())
    proc = subprocess.Popen([sys.executable, "-m", "vbq.cli", "serve", str(info.series_dir),
                             "--port", "0", "--db", str(tmp / "r.sqlite"), "--out",
                             str(tmp / "out")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        parts = urllib.parse.urlsplit(url)
        token = urllib.parse.parse_qs(parts.query)["token"][0]
        base = f"{parts.scheme}://{parts.netloc}"
        headers = {"Authorization": f"Bearer {token}"}
        uid = info.series_instance_uid
        rows = []
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            t0 = time.perf_counter()
            r = c.get(f"/api/series/{uid}/slices/7.png")
            first = time.perf_counter() - t0
            r.raise_for_status()
            rows.append(("first slice PNG (wall, fresh server)", first * 1000, 1000.0))
            for name, path, body in (
                ("propose (server time)", "/api/propose", {"series_uid": uid, "seeds": seeds}),
                ("score (server time)", "/api/score", {"series_uid": uid, "rois": rois}),
            ):
                ms = []
                for _ in range(args.repeat):
                    r = c.post(path, json=body)
                    r.raise_for_status()
                    ms.append(float(r.headers["server-timing"].split("dur=")[1]))
                rows.append((f"{name}, first call", ms[0], 100.0))
                rows.append((f"{name}, median of next {args.repeat - 1}",
                             statistics.median(ms[1:]), 100.0))
        errors: list[str] = []
        counts: list[int] = []

        def client() -> None:
            n = 0
            with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
                end = time.monotonic() + args.seconds
                while time.monotonic() < end:
                    r = c.post("/api/score", json={"series_uid": uid, "rois": rois})
                    if r.status_code != 200:
                        errors.append(r.text)
                    n += 1
            counts.append(n)

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"{'measure':<48}{'ms':>10}{'target':>10}  ok")
    for name, value, target in rows:
        print(f"{name:<48}{value:>10.1f}{target:>10.0f}  {'yes' if value < target else 'NO'}")
    print(f"{args.clients} clients scoring for {args.seconds:.0f} s: {sum(counts)} requests "
          f"({sum(counts) / wall:.1f}/s), {len(errors)} errors")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
