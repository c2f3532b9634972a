"""The slice the reading workstation opens on, against the realistic phantom's true midline.

Forty realistic anatomies (seeds 0-19, variants "all" and "random"; 256 x 256 x 15 by
default, ``--rows 512`` for the workstation's size): each series is searched the way
``vbq serve`` does before any click (:func:`vbq.roi.symmetry.symmetry_midline` on the
decoded stack), and the slice found is compared with
``expected.json["geometry"]["mid_sagittal"]``, fixed when the phantom is built: the slice
nearest the true plane at the spine's centre, and each slice's signed distance from it
(``slice_offsets_mm``). Reported per anatomy: the true and found slices, the found slice's
distance from the true plane and the plane's error (found minus true, mm, at the centre),
the phantom's yaw and roll, and the search time; then, per variant set, how often the found
slice is the true one, within one slice of it, and the median and largest distance.

Usage: ``python benchmarks/bench_open_slice.py [--cache DIR] [--rows 256] [--seeds 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from vbq.dicom import load_series
from vbq.phantom import make_phantom
from vbq.roi.midline import slice_positions
from vbq.roi.symmetry import symmetry_midline


def one(folder: Path, seed: int, variants: str, rows: int) -> dict[str, Any]:
    """Build (or reuse) one phantom and compare the opening slice with its truth."""
    if not (folder / "expected.json").is_file():
        make_phantom(folder, anatomy="realistic", seed=seed, variants=variants, rows=rows,
                     distractors="none")
    exp = json.loads((folder / "expected.json").read_text())
    truth = exp["geometry"]["mid_sagittal"]
    series = load_series(folder / "series").series
    stack = [series.pixels(k) for k in range(len(series.slices))]
    t0 = time.perf_counter()
    found = symmetry_midline(stack)
    seconds = time.perf_counter() - t0
    positions = slice_positions(series)
    plane = found.position_mm(positions)
    k = int(abs(positions - plane).argmin())
    offsets = np.asarray(truth["slice_offsets_mm"], dtype=float)
    # offsets[j] = true plane - slice j along the phantom's normal, which may point
    # opposite to the series' one: the sign that makes the plane one point is the right one
    sign = 1.0 if np.ptp(positions + offsets) < np.ptp(positions - offsets) else -1.0
    true_plane = float(np.mean(positions + sign * offsets))
    return {"variants": variants, "seed": seed, "true": int(truth["slice"]), "found": k,
            "distance_mm": abs(float(offsets[k])), "plane_error_mm": plane - true_plane,
            "yaw": float(truth["yaw_deg"]), "roll": float(truth["roll_deg"]),
            "spacing_mm": float(exp["geometry"]["slice_spacing_mm"]),
            "scoliosis": bool(exp.get("variants", {}).get("scoliosis", False)),
            "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="/tmp/vbq-open-slice", help="phantom folder cache")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    root = Path(args.cache) / f"r{args.rows}"
    rows: list[dict[str, Any]] = []
    print(f"{'set':>6} {'seed':>4} {'true':>4} {'found':>5} {'dist mm':>7} {'plane err':>9} "
          f"{'yaw':>6} {'roll':>6} {'scol':>4} {'ms':>6}")
    for variants in ("all", "random"):
        for seed in range(args.seeds):
            r = one(root / f"{variants}{seed}", seed, variants, args.rows)
            rows.append(r)
            print(f"{variants:>6} {seed:>4} {r['true']:>4} {r['found']:>5} "
                  f"{r['distance_mm']:>7.2f} {r['plane_error_mm']:>+9.2f} {r['yaw']:>+6.2f} "
                  f"{r['roll']:>+6.2f} {'y' if r['scoliosis'] else '-':>4} "
                  f"{1000 * r['seconds']:>6.0f}", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f}; slice spacing "
          f"{sorted({r['spacing_mm'] for r in rows})} mm")
    for variants in ("all", "random"):
        sub = [r for r in rows if r["variants"] == variants]
        exact = sum(r["found"] == r["true"] for r in sub)
        near = sum(abs(r["found"] - r["true"]) <= 1 for r in sub)
        dist = [r["distance_mm"] for r in sub]
        print(f"{variants:>6}: exact {exact}/{len(sub)}, within one slice {near}/{len(sub)}, "
              f"distance from the true plane median {statistics.median(dist):.2f} mm, "
              f"largest {max(dist):.2f} mm; search median "
              f"{1000 * statistics.median(r['seconds'] for r in sub):.0f} ms")


if __name__ == "__main__":
    main()
