"""``vbq score SERIES_DIR``: score one MRI series from a ROI file, a label mask or seed points."""

from __future__ import annotations

import argparse
from typing import Any

from vbq.commands import plain_float, plain_int


def csf_point(text: str) -> tuple[float, float]:
    """Read ``ROW,COL`` (two plain decimal numbers) for ``--csf-point``.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else (a usage error, exit 2).
    """
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not ROW,COL (two numbers separated by a "
                                         "comma)")
    return plain_float(parts[0].strip()), plain_float(parts[1].strip())


def register(subparsers: Any) -> None:
    """Add the ``score`` sub-command."""
    p = subparsers.add_parser(
        "score",
        help="score one lumbar MRI (folder of DICOM files)",
        description="Choose the sagittal T1 series in SERIES_DIR, measure the ROIs and print "
        "the VBQ score (a summary, or the result JSON with --json).",
    )
    p.add_argument("series_dir", metavar="SERIES_DIR", help="folder searched for DICOM files")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--rois", metavar="F", help="ROI file (vbq-rois/1 JSON)")
    src.add_argument("--mask", metavar="F", help="label mask (NIfTI, DICOM SEG or .npy)")
    src.add_argument("--seeds", metavar="F", help="seed points (vbq-seeds/1 JSON)")
    p.add_argument("--labels", metavar="PRESET",
                   help="label scheme of --mask: totalspineseg, totalsegmentator, spineps, "
                   "spider, or a JSON file")
    p.add_argument("--protocol", default="lumbar",
                   help="lumbar (default), cervical, thoracic or s1")
    p.add_argument("--exclude", action="append", default=[], metavar="LEVEL=REASON",
                   help="leave a level out, e.g. L2=fracture (repeatable); reasons: fracture, "
                   "hemangioma, instrumentation, schmorl_node, lesion, other")
    p.add_argument("--slice", type=plain_int, metavar="N",
                   help="0-based slice index to measure (default: the ROI file's, else "
                   "mid-sagittal)")
    p.add_argument("--series", metavar="UID",
                   help="use this SeriesInstanceUID (it implies its study)")
    p.add_argument("--study", metavar="UID|DATE",
                   help="the study to score when the folder holds several: its "
                   "StudyInstanceUID, or its date as YYYY-MM-DD or YYYYMMDD")
    p.add_argument("--force", action="store_true",
                   help="score even when the CSF is at least as bright as the marrow (VBQ <= 1) "
                   "or the series named by --series is not sagittal (each refused otherwise); "
                   "the result carries a warning")
    p.add_argument("--no-phi", action="store_true",
                   help="leave the patient ID, study date and accession number out of every "
                   "output (text, JSON, QC figure, SR)")
    csf = p.add_mutually_exclusive_group()
    csf.add_argument("--csf-point", type=csf_point, metavar="ROW,COL",
                     help="with --mask or --seeds: grow the CSF ROI from this pixel of the "
                     "measured slice instead of searching for it")
    csf.add_argument("--csf-seed", metavar="FILE",
                     help="with --mask or --seeds: grow the CSF ROI from the CSF seed of this "
                     "vbq-seeds/1 file (it holds only that seed)")
    p.add_argument("--statistic", choices=("mean", "median"),
                   help="ROI signal statistic (default: the protocol's, mean)")
    p.add_argument("--json", action="store_true", help="print the result JSON on stdout")
    p.add_argument("--qc", metavar="FILE", help="write the QC figure (.png, .pdf or .svg)")
    p.add_argument("--sr", metavar="FILE", help="write a DICOM Structured Report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score the series and print the result."""
    from vbq.errors import InputError, print_message
    from vbq.levels import parse_exclusions
    from vbq.score import score_series

    if args.labels and not args.mask:
        raise InputError("--labels only applies with --mask")
    if args.qc:
        from pathlib import Path

        from vbq.qc import FORMATS

        if Path(args.qc).suffix.lower() not in FORMATS:
            raise InputError(f"{args.qc}: the QC figure must be .png, .pdf or .svg")
    _refuse_output_clash(args)
    from vbq.fileio import check_output_file

    # every output path is checked before anything is written or scored
    for option, path in (("--qc", args.qc), ("--sr", args.sr)):
        if path:
            check_output_file(path, f"{option} {path}")
    exclude = parse_exclusions(args.exclude, "--exclude")
    result = score_series(
        args.series_dir,
        rois=args.rois,
        mask=args.mask,
        labels=args.labels,
        seeds=args.seeds,
        protocol=args.protocol,
        exclude=exclude,
        slice=args.slice,
        series_uid=args.series,
        statistic=args.statistic,
        study=args.study,
        force=args.force,
        phi=not args.no_phi,
        csf_point=args.csf_point,
        csf_seed=args.csf_seed,
    )
    # the result goes out first: a figure or report that cannot be written loses nothing
    for w in result.warnings:
        print_message("warning", w)
    if args.json:
        print(result.to_json(), flush=True)
    else:
        print(result.summary(warnings=False), flush=True)
    if args.qc:
        _write(args.qc, "QC figure", lambda: result.save_qc(args.qc))
        if not args.json:
            print(f"QC figure: {args.qc}")
    if args.sr:
        from vbq.sr import write_sr

        _write(args.sr, "DICOM SR", lambda: write_sr(result, result.series_info, args.sr))
        if not args.json:
            print(f"DICOM SR: {args.sr}")
    return 0


def _refuse_output_clash(args: argparse.Namespace) -> None:
    """Refuse a --qc or --sr that is an input, lies in SERIES_DIR, or is the other output."""
    from pathlib import Path

    from vbq.fileio import refuse_output_clash

    labels = args.labels
    if labels is not None and not (Path(labels).is_file() or labels.lower().endswith(".json")):
        labels = None  # a preset name, not a file
    refuse_output_clash(
        [("--qc", args.qc), ("--sr", args.sr)],
        inputs=[("the ROI file --rois", args.rois), ("the label mask --mask", args.mask),
                ("the seed file --seeds", args.seeds), ("the label file --labels", labels),
                ("the CSF seed file --csf-seed", args.csf_seed)],
        folders=[("the DICOM folder SERIES_DIR", args.series_dir)],
        of="vbq score")


def _write(path: str, what: str, write: Any) -> None:
    """Call ``write()``; a path that cannot be written is bad input naming it."""
    from pathlib import Path

    from vbq.errors import InputError

    if Path(path).is_dir():
        raise InputError(f"{path} is a folder; give a file name for the {what}")
    try:
        write()
    except OSError as err:
        raise InputError(f"cannot write the {what} to {path}: {err.strerror or err}") from None
