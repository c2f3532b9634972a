"""``vbq phantom OUT_DIR``: write a synthetic lumbar MRI study with a known VBQ."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vbq.commands import plain_float, plain_int

#: The realistic phantom's variants (kept here so the help needs no numpy import).
VARIANT_NAMES = ("epidural_fat", "dark_cortex", "basivertebral_vein", "heterogeneous_marrow",
                 "fatty_marrow", "modic", "haemangioma", "degenerated_discs",
                 "disc_like_marrow", "scoliosis", "obliquity", "lordosis", "coil_shading",
                 "eight_bit", "low_res", "partial_volume", "conus", "cauda_equina",
                 "csf_in_fat")


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
    p.add_argument("--vbq", type=plain_float, default=None,
                   help="target VBQ (default 3.2; realistic anatomy: drawn from the seed)")
    p.add_argument("--anatomy", default="simple", choices=("simple", "realistic"),
                   help="simple (default) or realistic: a spine harder than clinical images, "
                        "with reference ROIs (reference_rois.npz) and its true geometry")
    p.add_argument("--variants", default=None,
                   help="realistic anatomy: comma-separated variants to switch on, all, random "
                        "(drawn from the seed) or none (default); no_NAME switches one off; "
                        "names: " + ", ".join(VARIANT_NAMES))
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
        enhanced=args.enhanced, anatomy=args.anatomy, variants=args.variants)
    summary = {
        "out_dir": str(info.out_dir),
        "series_dir": str(info.series_dir),
        "vbq": info.vbq,
        "target_vbq": info.expected.get("target_vbq", args.vbq),
        "anatomy": args.anatomy,
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
    if info.reference_rois_path is not None:
        summary["reference_vbq"] = info.expected["reference"]["vbq"]
        summary["reference_rois"] = str(info.reference_rois_path)
        summary["variants"] = sorted(k for k, v in info.variants.items() if v)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    print(f"vbq phantom: wrote {sum(len(v) for v in info.files.values())} DICOM files to "
          f"{info.series_dir}; VBQ of the written pixels {info.vbq:.4f}", file=sys.stderr)
    return 0
