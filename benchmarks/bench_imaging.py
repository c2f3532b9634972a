"""Time scoring one 15-slice 512x512 series against the floor of reading it with pydicom.

floor  : pydicom.dcmread(stop_before_pixels=True) of every file + pixel_array of the
         measured slice (what any reader of the folder must at least do)
index  : vbq.dicom.index_folder + choose_series (headers only)
load   : index + choose + SeriesInfo.pixels(mid slice)
score  : vbq.score_series(folder, rois=rois.json) (full path: index, choice, ROI file,
         the sac traced and the mid-sagittal plane found for the drawn ROIs' gates,
         measurement, result)

Each step is timed on the wall clock and in CPU time (user + system of this
process), as medians of the repeats; the machine may be shared, so the load
average is printed at the start and the end, and the ratio is given on both
clocks. ``--anatomy realistic`` times the realistic phantom (low resolution,
partial volume, every anatomical variant; its plane is found from the bodies too).

Run: .venv/bin/python benchmarks/bench_imaging.py [--repeats 15] [--size 512] [--slices 15]
     [--anatomy simple|realistic]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pydicom

import vbq
from vbq.dicom import choose_series, index_folder, load_series
from vbq.phantom import make_phantom


def _median_times(steps, repeats: int) -> list[tuple[float, float]]:
    """Median wall-clock and CPU time of each step; steps run round-robin so load spikes
    hit them alike."""
    for fn in steps:
        fn()  # warm-up (imports, OS file cache)
    times: list[list[tuple[float, float]]] = [[] for _ in steps]
    for _ in range(repeats):
        for i, fn in enumerate(steps):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[i].append((time.perf_counter() - t, time.process_time() - c))
    return [(statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
            for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--slices", type=int, default=15)
    ap.add_argument("--distractors", default="none",
                    help="extra series in the folder (default none; e.g. t2,t1_post,axial)")
    ap.add_argument("--anatomy", choices=("simple", "realistic"), default="simple",
                    help="phantom anatomy (default simple)")
    args = ap.parse_args()

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        info = make_phantom(Path(tmp) / "ph", rows=args.size, n_slices=args.slices,
                            distractors=args.distractors, anatomy=args.anatomy)
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
            assert res.midline_offset_mm is not None  # the plane was found

        names = ["floor (pydicom headers + 1 slice)", "index + choose (headers only)",
                 "index + choose + pixels(mid)", "vbq.score_series (full)"]
        rows = list(zip(names, _median_times([floor, index, load, score], args.repeats),
                        strict=True))
    load_end = os.getloadavg()

    base_wall, base_cpu = rows[0][1]
    print(f"phantom: {args.anatomy}, {len(files)} files, {args.size}x{args.size}, "
          f"{args.slices} slices/series, distractors={args.distractors}; "
          f"written in {t_make:.2f} s")
    print(f"median of {args.repeats} repeats; load average (1, 5, 15 min) "
          f"{' '.join(f'{v:.2f}' for v in load_start)} at the start, "
          f"{' '.join(f'{v:.2f}' for v in load_end)} at the end")
    print(f"{'step':40s} {'wall ms':>9s} {'x floor':>8s} {'CPU ms':>9s} {'x floor':>8s}")
    for name, (wall, cpu) in rows:
        print(f"{name:40s} {wall * 1e3:9.2f} {wall / base_wall:8.2f} {cpu * 1e3:9.2f} "
              f"{cpu / base_cpu:8.2f}")
    ratio = rows[-1][1][0] / base_wall
    ratio_cpu = rows[-1][1][1] / base_cpu
    print(f"score / floor ratio: {ratio:.2f} wall, {ratio_cpu:.2f} CPU (target <= 1.5) -> "
          f"{'OK' if ratio <= 1.5 else 'SLOW'}")


if __name__ == "__main__":
    main()
