"""Speed of the reading workstation against its targets, on a real ``vbq serve`` process.

Each 15-slice 512 x 512 phantom study (realistic anatomy, seed 1, and the simple one) is
served by a fresh ``vbq serve`` on 127.0.0.1 (port 0), and the requests the page sends are
replayed in its order:

1. the worklist (``GET /api/studies``);
2. the series (``GET /api/series/{uid}``), which waits for the symmetry search for the
   mid-sagittal slice, then the slice the page opens on and its two neighbours;
3. a click on each body, L1 to L4, each a ``POST /api/propose`` with the clicks so far (the
   CSF is searched for once L3 is clicked, as the page does), each answer scored as soon
   as a CSF ROI and a body are there (``POST /api/score``);
4. a reader dragging L2 across, one pixel per step: one score per step.

Reported per request kind: the server time (``Server-Timing``) of the first request of
that kind on the fresh server, the median of the rest and the largest (target < 100 ms for
every proposal and score), and the wall time from opening the study to its first slice (series plus
slice image; target < 1 s). Each number is printed with the one-minute load average at the
time (``os.getloadavg``, as ``uptime`` shows it): on a shared machine, timings under a
higher load are slower. Then N clients score together for S seconds (a bounded load
test; target: no error), the phantom's L2 ROI dragged through 117 positions one request
after another, so that each is scored afresh (a series keeps 32 canal summaries).

Usage: ``python benchmarks/bench_serve.py [--clients 20] [--seconds 30] [--drag 12]``
(``--clients 0`` skips the load test).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

from vbq.phantom import make_phantom

#: The page's order of clicks, and the body whose click starts the CSF search.
CLICKS = ("L1", "L2", "L3", "L4")
CSF_LEVEL = "L3"


def load() -> float:
    """The one-minute load average (as ``uptime`` prints it)."""
    return os.getloadavg()[0]


def server_ms(resp: httpx.Response) -> float:
    """Server time of a request (its ``Server-Timing`` header), in ms."""
    return float(resp.headers["server-timing"].split("dur=")[1])


class Server:
    """A ``vbq serve`` process on a phantom study."""

    def __init__(self, folder: Path, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vbq.cli", "serve", str(folder), "--port", "0", "--db",
             str(tmp / "r.sqlite"), "--out", str(tmp / "out")], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        parts = urllib.parse.urlsplit(self.proc.stdout.readline().strip())
        self.token = urllib.parse.parse_qs(parts.query)["token"][0]
        self.base = f"{parts.scheme}://{parts.netloc}"

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=timeout,
                            headers={"Authorization": f"Bearer {self.token}"})

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def read_like_the_page(server: Server, uid: str, seeds: dict[str, Any],
                       drag: int) -> dict[str, list[tuple[float, float]]]:
    """Replay a reading; return request kind -> [(server ms, load average)] in order."""
    times: dict[str, list[tuple[float, float]]] = {}

    def note(kind: str, value: float) -> None:
        times.setdefault(kind, []).append((value, load()))

    points = {s["label"]: s for s in seeds["seeds"]}
    main = int(seeds.get("slice", 0))
    with server.client() as c:
        r = c.get("/api/studies")
        r.raise_for_status()
        note("worklist", server_ms(r))
        t0 = time.perf_counter()
        r = c.get(f"/api/series/{uid}")
        r.raise_for_status()
        note("series info (symmetry search)", server_ms(r))
        info = r.json()
        k = int(info["open_at"])
        r = c.get(f"/api/series/{uid}/slices/{k}.png")
        r.raise_for_status()
        note("first slice shown (wall, from opening the study)",
             (time.perf_counter() - t0) * 1000)
        note("slice PNG", server_ms(r))
        for j in (k - 1, k + 1):
            if 0 <= j < int(info["n_slices"]):
                r = c.get(f"/api/series/{uid}/slices/{j}.png")
                r.raise_for_status()
                note("slice PNG", server_ms(r))
        rois: dict[str, dict[str, Any]] = {}
        clicked: list[dict[str, Any]] = []
        order = list(CLICKS)
        while order:
            label = order.pop(0)
            clicked.append(points[label])
            labels = [s["label"] for s in clicked]
            doc = {"format": "vbq-seeds/1", "space": "pixel", "slice": main, "seeds": clicked}
            r = c.post("/api/propose", json={
                "series_uid": uid, "seeds": doc, "slice": main,
                "find_csf": "CSF" not in rois and CSF_LEVEL in labels})
            note("propose" if r.status_code == 200 else f"propose refused ({r.status_code})",
                 server_ms(r))
            if r.status_code == 200:
                for roi in r.json()["rois"]["rois"]:
                    if roi["label"] == label or (roi["label"] == "CSF" and "CSF" not in rois):
                        rois[roi["label"]] = roi
                if "CSF" in rois and any(x in rois for x in CLICKS):
                    r = c.post("/api/score", json={"series_uid": uid, "rois": {
                        "format": "vbq-rois/1", "space": "pixel", "slice": main,
                        "rois": list(rois.values())}})
                    r.raise_for_status()
                    note("score", server_ms(r))
            if not order and "CSF" not in rois and "CSF" in points and "CSF" not in labels:
                order.append("CSF")     # no CSF was found: the reader clicks it
        l2 = rois.get("L2")
        for step in range(drag if l2 is not None else 0):
            moved = copy.deepcopy(l2)
            key = "center" if "center" in moved else "corner"
            moved[key][1] = round(moved[key][1] + 1.0 * (step + 1), 4)
            r = c.post("/api/score", json={"series_uid": uid, "rois": {
                "format": "vbq-rois/1", "space": "pixel", "slice": main,
                "rois": [moved if x is l2 else x for x in rois.values()]}})
            r.raise_for_status()
            note("score", server_ms(r))
    return times


def load_test(server: Server, uid: str, rois: dict[str, Any], clients: int,
              seconds: float) -> tuple[int, list[str], list[float], float, float, float]:
    """N clients scoring together, L2 at the next of 117 positions in each request.

    Returns (requests, errors, server ms of each answer, wall s, load before, load after).
    """
    errors: list[str] = []
    ms: list[float] = []
    counts: list[int] = []
    positions = itertools.count()

    def client() -> None:
        n = 0
        with server.client(timeout=120) as c:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                # a position comes back after 117 requests, when its canal summary is no
                # longer kept: every request is scored afresh
                k = next(positions) % 117
                doc = copy.deepcopy(rois)
                l2 = next(x for x in doc["rois"] if x["label"] == "L2")
                # whole pixels, as a drag moves it (a polygon's every point, or the centre)
                for point in l2["points"] if "points" in l2 else [
                        l2.get("center", l2.get("corner"))]:
                    point[0] += k // 13 - 4
                    point[1] += k % 13 - 6
                try:
                    r = c.post("/api/score", json={"series_uid": uid, "rois": doc})
                except httpx.HTTPError as err:
                    errors.append(repr(err))
                    break
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                else:
                    ms.append(server_ms(r))
                n += 1
        counts.append(n)

    before = load()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), errors, ms, time.perf_counter() - t0, before, load()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--drag", type=int, default=12, help="scores sent while L2 is dragged")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    failed = False
    targets = {"first slice shown (wall, from opening the study)": 1000.0, "propose": 100.0,
               "score": 100.0}
    print(f"{'phantom / request':<60}{'first ms':>9}{'load':>6}{'warm ms':>9}{'load':>6}"
          f"{'max ms':>8}{'n':>4}{'target':>7}  ok")
    load_rois = None
    for anatomy in ("realistic", "simple"):
        info = make_phantom(tmp / anatomy, anatomy=anatomy, seed=1, rows=512, n_slices=15,
                            distractors=())
        seeds = json.loads(info.seeds_path.read_text())
        server = Server(info.series_dir, tmp / anatomy)
        try:
            times = read_like_the_page(server, info.series_instance_uid, seeds, args.drag)
        finally:
            server.stop()
        if load_rois is None:
            load_rois = (info, json.loads(info.rois_path.read_text()))
        for kind, values in times.items():
            (first, l0), rest = values[0], values[1:]
            warm = statistics.median(v for v, _ in rest) if rest else float("nan")
            lw = statistics.median(x for _, x in rest) if rest else float("nan")
            target = targets.get(kind)
            top = max(v for v, _ in values)
            ok = "" if target is None else ("yes" if top < target else "NO")
            failed |= ok == "NO"
            print(f"{anatomy + ': ' + kind:<60}{first:>9.1f}{l0:>6.2f}{warm:>9.1f}{lw:>6.2f}"
                  f"{top:>8.1f}{len(values):>4}{'' if target is None else f'{target:.0f}':>7}"
                  f"  {ok}")
    if args.clients > 0 and load_rois is not None:
        info, rois = load_rois
        server = Server(info.series_dir, tmp / "load")
        try:
            n, errors, ms, wall, l0, l1 = load_test(server, info.series_instance_uid, rois,
                                                    args.clients, args.seconds)
        finally:
            server.stop()
        ms.sort()
        p95 = ms[int(0.95 * (len(ms) - 1))] if ms else float("nan")
        print(f"{args.clients} clients dragging and scoring for {args.seconds:.0f} s "
              f"(realistic): {n} "
              f"requests ({n / wall:.1f}/s), {len(errors)} errors; server time median "
              f"{statistics.median(ms) if ms else float('nan'):.1f} ms, p95 {p95:.1f} ms; "
              f"load {l0:.2f} before, {l1:.2f} after")
        for e in errors[:5]:
            print("  error:", e)
        failed |= bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
