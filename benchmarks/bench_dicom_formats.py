"""Time reading one 15-slice 512x512 T1 series written in each supported storage format.

For each format (classic single-frame files uncompressed / RLE / JPEG-LS / JPEG 2000
lossless; one Enhanced MR multi-frame file uncompressed / JPEG 2000 lossless):

index  : vbq.dicom.index_folder + choose_series (headers only)
slice  : SeriesInfo.pixels(mid) on a freshly indexed series (decode one slice/frame)
score  : vbq.score_series(folder, rois=rois.json) (the whole path)

Run: .venv/bin/python benchmarks/bench_dicom_formats.py [--repeats 7] [--size 512]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import vbq
from vbq.dicom import choose_series, index_folder
from vbq.phantom import make_phantom

FORMATS = (
    ("classic, native", dict()),
    ("classic, RLE", dict(compress="rle")),
    ("classic, JPEG-LS", dict(compress="jpegls")),
    ("classic, JPEG 2000", dict(compress="j2k")),
    ("enhanced, native", dict(enhanced=True)),
    ("enhanced, JPEG 2000", dict(enhanced=True, compress="j2k")),
)


def _median(fn, repeats: int) -> float:
    fn()  # warm-up (imports, OS file cache)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    """Print a table of median times (ms) per format."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--slices", type=int, default=15)
    args = ap.parse_args()
    print(f"{args.slices} slices of {args.size}x{args.size}, median of {args.repeats} runs (ms)")
    print(f"{'format':22s} {'index':>8s} {'slice':>8s} {'score':>8s}  |VBQ - expected|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in FORMATS:
            info = make_phantom(Path(tmp) / name.replace(" ", "_").replace(",", ""),
                                rows=args.size, n_slices=args.slices, distractors="none",
                                **kw)
            folder, rois = info.series_dir, info.rois_path

            def index(folder=folder):
                return choose_series(index_folder(folder))

            def one_slice(folder=folder):
                s = choose_series(index_folder(folder)).series
                return s.pixels(s.mid_slice)

            def score(folder=folder, rois=rois):
                return vbq.score_series(folder, rois=rois)

            t_index = _median(index, args.repeats)
            t_slice = _median(one_slice, args.repeats) - t_index
            t_score = _median(score, args.repeats)
            err = abs(score().vbq - info.vbq)
            print(f"{name:22s} {1e3 * t_index:8.1f} {1e3 * t_slice:8.1f} "
                  f"{1e3 * t_score:8.1f}  {err:.1e}")


if __name__ == "__main__":
    main()
