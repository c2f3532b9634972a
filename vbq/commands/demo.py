"""``vbq demo``: make a synthetic lumbar MRI, score it, print the result, draw the QC figure."""

from __future__ import annotations

import argparse
from typing import Any

from vbq.commands import plain_float, plain_int


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="phantom -> score -> QC figure, no input needed",
        description="Write a synthetic sagittal T1 lumbar series (with distractor series) and "
        "its ROI file, label mask and seed points to OUT/phantom, score it from the ROI file, "
        "print the result, write OUT/qc.png and OUT/result.json, then score the same series "
        "from the label mask and from the seed points (OUT/qc_mask.png, OUT/qc_seeds.png).",
    )
    p.add_argument("--out", default="vbq_demo", metavar="DIR",
                   help="output folder (default: vbq_demo)")
    p.add_argument("--vbq", type=plain_float, default=3.2, help="target VBQ of the phantom")
    p.add_argument("--seed", type=plain_int, default=0, help="random seed of the phantom")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the phantom, score it and report."""
    import json
    import shutil
    from pathlib import Path

    from vbq.errors import InputError, VBQError, print_message
    from vbq.fileio import write_text
    from vbq.phantom import make_phantom
    from vbq.score import score_series

    if not args.out.strip():
        raise InputError("--out: the folder name is empty; give a folder")
    if not args.vbq > 1.0:  # the demo scores unforced: the gate would refuse it
        raise InputError(f"--vbq {args.vbq:g}: the demo's phantom needs a VBQ above 1 (on T1 "
                         "the CSF is darker than marrow); vbq phantom makes one below, to try "
                         "the plausibility gate with vbq score --force")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    # every file the demo writes, checked before the phantom is made: none is a folder
    for name in ("qc.png", "result.json", "qc_mask.png", "qc_seeds.png"):
        if (out / name).is_dir():
            raise InputError(f"--out {out}: {out / name} is a folder where the demo writes "
                             f"its {name}; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the output folder {out}: {err.strerror or err}") from None
    phantom_dir = out / "phantom"
    if (phantom_dir / "expected.json").is_file():  # a phantom of an earlier demo: make it anew
        shutil.rmtree(phantom_dir)
    make_phantom(phantom_dir, vbq=args.vbq, seed=args.seed)
    result = score_series(phantom_dir / "series", rois=phantom_dir / "rois.json")
    expected = json.loads((phantom_dir / "expected.json").read_text(encoding="utf-8"))
    truth = float(expected["vbq"])
    rel = abs(result.vbq - truth) / abs(truth)
    # the score first: a file that cannot be written must not lose it
    for w in result.warnings:
        print_message("warning", w)
    print(result.summary(warnings=False), flush=True)
    print(f"phantom truth (from the written pixels): VBQ {truth:.6f}; "
          f"relative difference {rel:.1e}", flush=True)
    qc = result.save_qc(out / "qc.png")
    write_text(out / "result.json", result.to_json() + "\n")
    for name, kwargs in (
        ("label mask (TotalSpineSeg labels)",
         {"mask": phantom_dir / "mask.nii.gz", "labels": "totalspineseg"}),
        ("seed points", {"seeds": phantom_dir / "seeds.json"}),
    ):
        stem = "qc_mask" if "mask" in kwargs else "qc_seeds"
        try:
            other = score_series(phantom_dir / "series", **kwargs)
        except (ImportError, VBQError) as err:
            print_message("warning", f"ROIs from {name} not scored: {err}")
            continue
        other.save_qc(out / f"{stem}.png")
        print(f"ROIs from {name}: VBQ {other.vbq:.3f} (QC figure {out / (stem + '.png')})")
    print(f"series: {phantom_dir / 'series'}")
    print(f"QC figure: {qc}")
    print(f"result JSON: {out / 'result.json'}")
    return 0
