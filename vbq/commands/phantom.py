"""``vbq phantom OUT_DIR``: write a synthetic lumbar MRI study with a known VBQ."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vbq.commands import plain_float, plain_int


def register(subparsers: Any) -> None:
    """Add the ``phantom`` sub-command."""
    p = subparsers.add_parser(
        "phantom",
        help="write a synthetic sagittal T1 lumbar series with ROI file, mask and known VBQ",
        description=(
            "Write a synthetic lumbar MRI study into OUT_DIR: series/ (DICOM), rois.json, "
            "rois_patient.json, seeds.json, mask.nii.gz (TotalSpineSeg labels) and "
            "expected.json (the VBQ of the written pixels). Prints a JSON summary."),
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created)")
    p.add_argument("--vbq", type=plain_float, default=3.2, help="target VBQ (default 3.2)")
    p.add_argument("--seed", type=plain_int, default=0, help="noise seed (default 0)")
    p.add_argument("--field-strength", type=plain_float, default=1.5, choices=(1.5, 3.0),
                   help="1.5 or 3 tesla (default 1.5)")
    p.add_argument("--slices", type=plain_int, default=15, help="slices per series (default 15)")
    p.add_argument("--size", type=plain_int, default=256, help="rows and columns (default 256)")
    p.add_argument("--distractors", default="t2,t1_post,axial",
                   help="extra series: comma-separated t2, t1_post, axial, or none "
                        "(default t2,t1_post,axial)")
    p.add_argument("--rescale-slope", type=plain_float, default=1.0,
                   help="RescaleSlope written to the files (default 1)")
    p.add_argument("--rescale-intercept", type=plain_float, default=0.0,
                   help="RescaleIntercept written to the files (default 0)")
    p.add_argument("--shuffle-names", action="store_true",
                   help="random file names without extension, all series in one folder")
    p.add_argument("--reverse-instance-numbers", action="store_true",
                   help="number instances against their position along the normal")
    p.add_argument("--compress", default=None, choices=("rle", "jpegls", "j2k", "none"),
                   help="write every file losslessly compressed: rle (RLE Lossless), jpegls "
                        "(JPEG-LS Lossless) or j2k (JPEG 2000 Lossless); default uncompressed")
    p.add_argument("--enhanced", action="store_true",
                   help="write the T1 sagittal series as one Enhanced MR Image Storage "
                        "(multi-frame) file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the phantom and print a JSON summary on stdout."""
    from vbq.phantom import make_phantom

    info = make_phantom(
        args.out_dir, vbq=args.vbq, seed=args.seed, field_strength=args.field_strength,
        n_slices=args.slices, rows=args.size, distractors=args.distractors,
        rescale_slope=args.rescale_slope, rescale_intercept=args.rescale_intercept,
        shuffle_names=args.shuffle_names,
        reverse_instance_numbers=args.reverse_instance_numbers,
        compress=None if args.compress in (None, "none") else args.compress,
        enhanced=args.enhanced)
    summary = {
        "out_dir": str(info.out_dir),
        "series_dir": str(info.series_dir),
        "vbq": info.vbq,
        "target_vbq": args.vbq,
        "series_instance_uid": info.series_instance_uid,
        "slice": info.slice,
        "rois": str(info.rois_path),
        "rois_patient": str(info.rois_patient_path),
        "seeds": str(info.seeds_path),
        "mask": str(info.mask_path),
        "expected": str(info.expected_path),
        "frame": info.expected.get("frame"),
        "distractors": info.distractor_uids,
    }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    print(f"vbq phantom: wrote {sum(len(v) for v in info.files.values())} DICOM files to "
          f"{info.series_dir}; VBQ of the written pixels {info.vbq:.4f}", file=sys.stderr)
    return 0
