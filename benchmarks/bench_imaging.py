"""Time scoring one 15-slice 512x512 series against the floor of reading it with pydicom.

floor  : pydicom.dcmread(stop_before_pixels=True) of every file + pixel_array of the
         measured slice (what any reader of the folder must at least do)
index  : vbq.dicom.index_folder + choose_series (headers only)
load   : index + choose + SeriesInfo.pixels(mid slice)
score  : vbq.score_series(folder, rois=rois.json) (full path: index, choice, ROI file,
         measurement, result)

Run: .venv/bin/python benchmarks/bench_imaging.py [--repeats 15] [--size 512] [--slices 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pydicom

import vbq
from vbq.dicom import choose_series, index_folder, load_series
from vbq.phantom import make_phantom


def _median_times(steps, repeats: int) -> list[float]:
    """Median time of each step; steps run round-robin so load spikes hit them alike."""
    for fn in steps:
        fn()  # warm-up (imports, OS file cache)
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for i, fn in enumerate(steps):
            t = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--slices", type=int, default=15)
    ap.add_argument("--distractors", default="none",
                    help="extra series in the folder (default none; e.g. t2,t1_post,axial)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        info = make_phantom(Path(tmp) / "ph", rows=args.size, n_slices=args.slices,
                            distractors=args.distractors)
        t_make = time.perf_counter() - t
        folder = info.series_dir
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        mid_file = info.files["t1"][info.slice]

        def floor() -> None:
            for f in files:
                pydicom.dcmread(f, stop_before_pixels=True)
            pydicom.dcmread(mid_file).pixel_array  # noqa: B018

        def index() -> None:
            choose_series(index_folder(folder))

        def load() -> None:
            s = load_series(folder).series
            s.pixels(s.mid_slice)

        def score() -> None:
            res = vbq.score_series(folder, rois=info.rois_path)
            assert abs(res.vbq / info.vbq - 1) < 1e-9

        names = ["floor (pydicom headers + 1 slice)", "index + choose (headers only)",
                 "index + choose + pixels(mid)", "vbq.score_series (full)"]
        rows = list(zip(names, _median_times([floor, index, load, score], args.repeats),
                        strict=True))

    base = rows[0][1]
    print(f"phantom: {len(files)} files, {args.size}x{args.size}, {args.slices} slices/series, "
          f"distractors={args.distractors}; written in {t_make:.2f} s")
    print(f"median of {args.repeats} repeats")
    print(f"{'step':40s} {'ms':>9s} {'x floor':>8s}")
    for name, sec in rows:
        print(f"{name:40s} {sec * 1e3:9.2f} {sec / base:8.2f}")
    ratio = rows[-1][1] / base
    print(f"score / floor ratio: {ratio:.2f} (target <= 1.5) -> {'OK' if ratio <= 1.5 else 'SLOW'}")


if __name__ == "__main__":
    main()
