"""Time to score one 15-slice 512 x 512 series, against a bare pydicom floor.

Floor: read every file's header with pydicom (stop_before_pixels) and decode the
pixels of the measured slice, nothing else. vbq: ``score_series`` with the
phantom's ROI file (index, series choice, geometry, ROI masks, measurements,
score, cut-offs). Also timed: the QC figure and ``score_values``.

Run: .venv/bin/python benchmarks/bench_vbq_score.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import pydicom

import vbq
from vbq.phantom import make_phantom

REPEATS = 7


def best_of(fn, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ph = make_phantom(Path(tmp) / "p", rows=512, n_slices=15)
        files = sorted(p for p in ph.series_dir.rglob("*") if p.is_file())
        uid = ph.expected["sop_instance_uid"]

        def floor():
            measured = None
            for f in files:
                ds = pydicom.dcmread(f, stop_before_pixels=True)
                if ds.SOPInstanceUID == uid:
                    measured = f
            pydicom.dcmread(measured).pixel_array  # noqa: B018

        def score():
            vbq.score_series(ph.series_dir, rois=ph.rois_path)

        res = vbq.score_series(ph.series_dir, rois=ph.rois_path)

        def qc():
            res.save_qc(Path(tmp) / "qc.png")

        def values():
            vbq.score_values({"L1": 410, "L2": 395, "L3": 402, "L4": 388, "CSF": 131})

        rows = [("floor: pydicom headers + 1 slice", *best_of(floor)),
                ("vbq.score_series (ROI file)", *best_of(score)),
                ("VBQResult.save_qc (PNG)", *best_of(qc, 3)),
                ("vbq.score_values", *best_of(values, 200))]
        print(f"{len(files)} files ({len(ph.files['t1'])}-slice 512x512 T1 + distractors)")
        print(f"{'task':<36}{'best ms':>10}{'median ms':>11}")
        for name, b, m in rows:
            print(f"{name:<36}{1e3 * b:>10.3f}{1e3 * m:>11.3f}")
        print(f"ratio score_series / floor (best): {rows[1][1] / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()
