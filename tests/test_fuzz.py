"""Seeded fuzzing of both command lines, in process and through the console scripts.

Every case is a valid input (a study table, a phantom's ROI, seed, label-map,
mask and DICOM files) damaged by a seeded mutator from ``tests/fuzz/``. The
same seed gives the same cases on every run. Each case is run through
``vbq.cli.main`` or ``metaanalysis.cli.main`` and must keep the contract of
README's "When input is wrong": exit 0, 1 or 2; nothing but ``SystemExit``
escapes ``main`` (a decoder panic derives from ``BaseException``); no
traceback and no "internal error"; every stderr line is the program's own; a
failure is one ``error:`` sentence; ``--json`` output is strict JSON. Where the
mutator knows more, so does the test: malformed input exits 2, invalid input
gives no result, and input that means the same as the original gives the same
number (the phantom's ``expected.json`` to 1e-9, its truth by construction;
a refit on reordered rows to 1e-5, the precision the README's agreement table
gives the optimum).

All failures of a test are gathered and reported together, grouped by kind,
mutation family and symptom, each with the first case that showed it. Set
``FUZZ_REPORT_DIR`` to also get them as JSON with the failing input files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from fuzz import imaging, jsonfiles, tables
from fuzz.harness import Case, Report, problems, run_inprocess, run_subprocess, strict_json

from metaanalysis.cli import main as ma_main
from vbq.cli import main as vbq_main
from vbq.phantom import make_phantom

SEED = 20240607
REFS = Path(__file__).parent / "fixtures" / "refs"
REPORT_DIR = Path(os.environ["FUZZ_REPORT_DIR"]) if os.environ.get("FUZZ_REPORT_DIR") else None
BIN = Path(sys.executable).parent

#: Cases per in-process test (about 3,000 in all).
N_TABLES = 1100
N_ROIS = 550
N_SEEDS = 250
N_LABELS = 150
N_MASKS = 250
N_DICOM = 500
N_VALUES = 200


def _vbq_value(doc: Any) -> float | None:
    return doc.get("vbq") if isinstance(doc, dict) else None


def _finish(report: Report) -> None:
    report.dump(REPORT_DIR)
    if report.groups:
        pytest.fail(report.text(), pytrace=False)


def _keep(case_input: Path, report_name: str, index: int) -> None:
    """Copy a failing case's input next to the JSON report."""
    if REPORT_DIR is None or not case_input.exists():
        return
    dest = REPORT_DIR / f"{report_name}_inputs" / f"{index:04d}_{case_input.name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if case_input.is_dir():
        shutil.copytree(case_input, dest, dirs_exist_ok=True)
    else:
        shutil.copy(case_input, dest)


# ------------------------------------------------------------------ fixtures: the originals


@pytest.fixture(scope="module")
def study_base() -> dict[str, Any]:
    """The base study table: AuditC with two covariates."""
    return {"rows": tables.base_rows(REFS)}


@pytest.fixture(scope="module")
def study_truth(study_base, tmp_path_factory) -> dict[tuple[str, ...], float]:
    """Each command's number on the base table (what an equivalent table must give)."""
    path = tmp_path_factory.mktemp("fuzz_base") / "base.csv"
    path.write_text(tables.to_text(study_base["rows"]))
    truth = {}
    for name, extra, value_of in tables.COMMANDS:
        o = run_inprocess(ma_main, [name, str(path), *extra, "--json"])
        assert o.rc == 0, o.err
        value = value_of(strict_json(o.out))
        assert value is not None, (name, extra)
        truth[(name, *extra)] = value
    return truth


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> dict[str, Any]:
    """Small phantoms (128 x 128, 5 slices): plain (with a T2 distractor), RLE, Enhanced MR."""
    root = tmp_path_factory.mktemp("fuzz_phantoms")
    variants = {
        "plain": {"distractors": ("t2",)},
        "rle": {"distractors": (), "compress": "rle"},
        "enhanced": {"distractors": (), "enhanced": True},
        "enhanced-rle": {"distractors": (), "enhanced": True, "compress": "rle"},
    }
    out: dict[str, Any] = {}
    for name, kw in variants.items():
        info = make_phantom(root / name, vbq=3.0, seed=3, rows=128, n_slices=5, **kw)
        s = imaging.Series(name, info)
        for src, argv in (("rois", ["--rois", str(info.rois_path)]),
                          ("patient", ["--rois", str(info.rois_patient_path)]),
                          ("seeds", ["--seeds", str(info.seeds_path)]),
                          ("mask", ["--mask", str(info.mask_path), "--labels", "totalspineseg"])):
            o = run_inprocess(vbq_main, ["score", str(info.series_dir), *argv, "--json"])
            assert o.rc == 0, (name, src, o.err)
            s.baseline[src] = json.loads(o.out)["vbq"]
        # truth by construction: the drawn ROIs select the pixels expected.json was made from
        assert s.baseline["rois"] == pytest.approx(s.truth, rel=1e-9)
        assert s.baseline["patient"] == pytest.approx(s.truth, rel=1e-9)
        out[name] = s
    img = nib.load(str(out["plain"].info.mask_path))
    out["labels"] = np.asarray(img.dataobj).astype(np.int16)
    out["affine"] = np.asarray(img.affine, dtype=np.float64)
    return out


# ------------------------------------------------------------------------- case generators


def gen_table(rng: random.Random, i: int, work: Path, base: dict[str, Any],
              truth: dict[tuple[str, ...], float]) -> tuple[Case, Path]:
    """A mutated study table run through one ``metaanalysis`` command."""
    name, extra, _ = rng.choices(tables.COMMANDS, weights=(5, 2, 2, 2, 2, 1, 2))[0]
    data, family, detail, oracle = tables.mutate(rng, base["rows"])
    path = work / f"t{i}.csv"
    path.write_bytes(data)
    case = Case("table", family, f"{name} {' '.join(extra)}: {detail}",
                [name, str(path), *extra, "--json"])
    if oracle in ("input", "refused"):
        case.expect = oracle
    elif oracle in ("same", "same-or-2", "same-order"):
        case.truth = truth[(name, *extra)]
        case.truth_only = oracle == "same-or-2"
        case.rel = 1e-5 if oracle == "same-order" else 1e-9
    return case, path


def table_value(argv: list[str]) -> Callable[[Any], float | None]:
    """The number the oracle compares for the command in ``argv``."""
    for name, extra, value_of in tables.COMMANDS:
        if argv[0] == name and all(e in argv for e in extra) and \
                ("--model" in argv) == ("--model" in extra):
            return value_of
    return lambda doc: None


def gen_points(rng: random.Random, i: int, work: Path, ph: dict[str, Any],
               kind: str) -> tuple[Case, Path]:
    """A mutated ROI (pixel or patient space) or seed file scored on the plain phantom."""
    s = ph["plain"]
    if kind == "seeds":
        src, flag, list_key = s.info.seeds_path, "--seeds", "seeds"
        truth = s.baseline["seeds"]
    else:
        patient = rng.random() < 0.3
        src = s.info.rois_patient_path if patient else s.info.rois_path
        flag, list_key, truth = "--rois", "rois", s.truth
        kind = "rois-patient" if patient else "rois-pixel"
    base = json.loads(src.read_text())
    data, family, detail, oracle = jsonfiles.mutate_points_file(rng, base, list_key)
    path = work / f"{kind}{i}.json"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    case = Case(kind, family, detail, ["score", str(s.dir), flag, str(path), "--json"])
    _oracle(case, oracle, truth)
    return case, path


def _oracle(case: Case, oracle: str | None, truth: float) -> None:
    if oracle in ("input", "refused"):
        case.expect = oracle
    elif oracle in ("same", "same-or-2"):
        case.truth = truth
        case.truth_only = oracle == "same-or-2"
    elif oracle in ("refused-or-truth", "truth"):
        case.truth = truth
        case.truth_only = oracle == "refused-or-truth"
    elif oracle and oracle.startswith("unused:"):
        case.unused_level = oracle.split(":", 1)[1]


def gen_labels(rng: random.Random, i: int, work: Path, ph: dict[str, Any]) -> tuple[Case, Path]:
    """A mutated ``vbq-labels/1`` map used with the plain phantom's mask."""
    s = ph["plain"]
    base = {"format": "vbq-labels/1", "L1": 41, "L2": 42, "L3": 43, "L4": 44, "L5": 45,
            "spinal_canal": 2, "spinal_cord": 1}
    data, family, detail, oracle = jsonfiles.mutate_labels(rng, base)
    path = work / f"labels{i}.json"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    case = Case("labels", family, detail, ["score", str(s.dir), "--mask", str(s.info.mask_path),
                                           "--labels", str(path), "--json"])
    _oracle(case, oracle, s.baseline["mask"])
    return case, path


def gen_mask(rng: random.Random, i: int, work: Path, ph: dict[str, Any]) -> tuple[Case, Path]:
    """A mutated label mask (NIfTI or .npy) scored on the plain phantom."""
    s = ph["plain"]
    folder = work / f"mask{i}"
    folder.mkdir()
    path, family, detail, oracle, unused = imaging.mutate_mask(rng, ph["labels"], ph["affine"],
                                                               folder)
    case = Case("mask", family, detail, ["score", str(s.dir), "--mask", str(path),
                                         "--labels", "totalspineseg", "--json"])
    _oracle(case, oracle, s.baseline["mask"])
    case.unused_level = unused
    return case, folder


def gen_dicom(rng: random.Random, i: int, work: Path, ph: dict[str, Any]) -> tuple[Case, Path]:
    """A damaged copy of one phantom series, scored from drawn ROIs, patient ROIs or a mask."""
    name = rng.choice(("plain", "rle", "enhanced", "enhanced-rle"))
    s = ph[name]
    folder = work / f"dicom{i}"
    family, detail, oracle = imaging.mutate_series(rng, s, folder)
    src = rng.choices(("rois", "patient", "mask"), weights=(6, 3, 1))[0]
    argv = {"rois": ["--rois", str(s.info.rois_path)],
            "patient": ["--rois", str(s.info.rois_patient_path)],
            "mask": ["--mask", str(s.info.mask_path), "--labels", "totalspineseg"]}[src]
    case = Case(f"dicom-{name}", family, f"{detail} (scored with {src})",
                ["score", str(folder), *argv, "--json"])
    _oracle(case, oracle, s.baseline[src])
    return case, folder


def gen_values(rng: random.Random, i: int, work: Path) -> tuple[Case, Path, str | None]:
    """A ``vbq from-values`` table with one damaged cell; the other rows must still score."""
    rows = [["id", "L1", "L2", "L3", "L4", "CSF"],
            ["a", "410", "395", "402", "388", "131"],
            ["b", "300", "310", "305", "320", "100"]]
    col = rng.randrange(1, 6)
    value, oracle = rng.choice((
        ("0", "input"), ("-5", "input"), ("abc", "input"), ("nan", "input"),
        ("inf", "input"), ("1e-320", "refused"), ("1e308", None), ("1e400", "input"),
        ("1_000", "input"), ("True", "input"), ("9" * 4400, "input"), ("5e-324", "refused"),
        ("", None), (" 131 ", None), ("1,5", "input")))
    rows[1][col] = value
    if col != 5 and value in ("0", "-5", "1e-320", "5e-324"):
        oracle = None  # the contract bounds the CSF only (> 0)
    if value == "1e308" and col == 5:
        oracle = "refused"  # CSF brighter than every level: VBQ <= 1 is refused (exit 1)
    path = work / f"values{i}.csv"
    path.write_text(tables.to_text(rows))
    shown = value if len(value) < 30 else f"'9'*{len(value)}"
    case = Case("from-values", f"{rows[0][col]}-cell",
                f"row 1 {rows[0][col]} := {shown!r}", ["from-values", str(path), "--json"],
                multi_error=True)
    return case, path, oracle


def _values_problems(case: Case, o: Any, oracle: str | None) -> list[str]:
    found = problems("vbq", case, o, lambda doc: None)
    if o.rc == 1 and oracle != "refused":
        found.append("exit 1 for a table that is malformed, want 2" if oracle
                     else "exit 1 although every row can be read")
    if found or not o.out.strip():
        return found
    records = strict_json(o.out)
    by_row = {r.get("row"): r for r in records}
    good = by_row.get(2, {})
    # by hand: median(300, 305, 310, 320) / 100 = 307.5 / 100
    if good.get("error") or good.get("vbq") != pytest.approx(3.075, rel=1e-12):
        found.append(f"the good row was not scored right: {good}")
    bad = by_row.get(1, {})
    if oracle in ("input", "refused"):
        if bad.get("vbq") is not None:
            found.append(f"row 1 scored ({bad.get('vbq')!r}) although its cell is invalid")
        if o.rc == 0 or (oracle == "input" and o.rc != 2):
            found.append(f"exit {o.rc} with a bad row, want {2 if oracle == 'input' else '1 or 2'}")
    return found


# ------------------------------------------------------------------------------ the tests


def _run(report: Report, cases: Iterator[tuple[Case, Path]], main: Callable, prog: str,
         value_for: Callable[[Case], Callable[[Any], float | None]],
         cleanup: bool = False) -> None:
    for i, (case, path) in enumerate(cases):
        o = run_inprocess(main, case.argv)
        found = problems(prog, case, o, value_for(case))
        report.add(case, found, o)
        if found:
            _keep(path, report.name, i)
        elif cleanup:
            shutil.rmtree(path, ignore_errors=True)


def test_fuzz_study_tables(study_base, study_truth, tmp_path):
    rng = random.Random(SEED)
    report = Report("tables")
    cases = (gen_table(rng, i, tmp_path, study_base, study_truth) for i in range(N_TABLES))
    _run(report, cases, ma_main, "metaanalysis", lambda c: table_value(c.argv[:1] + c.argv[2:]))
    path = tmp_path / "base.csv"
    path.write_text(tables.to_text(study_base["rows"]))
    for name, extra, family, oracle in tables.OPTIONS:
        case = Case("options", family, " ".join(extra), [name, str(path), *extra, "--json"],
                    expect=oracle)
        o = run_inprocess(ma_main, case.argv)
        report.add(case, problems("metaanalysis", case, o, lambda d: None), o)
    _finish(report)


@pytest.mark.parametrize("kind,n", [("rois", N_ROIS), ("seeds", N_SEEDS)])
def test_fuzz_roi_and_seed_files(phantoms, tmp_path, kind, n):
    rng = random.Random(SEED + (1 if kind == "rois" else 2))
    report = Report(kind)
    cases = (gen_points(rng, i, tmp_path, phantoms, kind) for i in range(n))
    _run(report, cases, vbq_main, "vbq", lambda c: _vbq_value)
    _finish(report)


def test_fuzz_label_maps(phantoms, tmp_path):
    rng = random.Random(SEED + 3)
    report = Report("labels")
    cases = (gen_labels(rng, i, tmp_path, phantoms) for i in range(N_LABELS))
    _run(report, cases, vbq_main, "vbq", lambda c: _vbq_value)
    _finish(report)


def test_fuzz_masks(phantoms, tmp_path):
    rng = random.Random(SEED + 4)
    report = Report("masks")
    cases = (gen_mask(rng, i, tmp_path, phantoms) for i in range(N_MASKS))
    _run(report, cases, vbq_main, "vbq", lambda c: _vbq_value, cleanup=True)
    _finish(report)


def test_fuzz_dicom(phantoms, tmp_path):
    rng = random.Random(SEED + 5)
    report = Report("dicom")
    cases = (gen_dicom(rng, i, tmp_path, phantoms) for i in range(N_DICOM))
    _run(report, cases, vbq_main, "vbq", lambda c: _vbq_value, cleanup=True)
    _finish(report)


def test_fuzz_from_values(tmp_path):
    rng = random.Random(SEED + 6)
    report = Report("from-values")
    for i in range(N_VALUES):
        case, path, oracle = gen_values(rng, i, tmp_path)
        o = run_inprocess(vbq_main, case.argv)
        found = _values_problems(case, o, oracle)
        report.add(case, found, o)
        if found:
            _keep(path, report.name, i)
    _finish(report)


# ------------------------------------------------------------- through the console scripts

N_SUBPROCESS = 4  # per input kind; 24 runs of the installed scripts in all


def test_fuzz_console_scripts(study_base, study_truth, phantoms, tmp_path):
    """A few dozen cases through ``.venv/bin/vbq`` and ``.venv/bin/metaanalysis``.

    The real scripts show what in-process capture cannot: Python warnings
    printed raw, a panic's traceback, an exit code above 2.
    """
    rng = random.Random(SEED + 7)
    report = Report("console")
    gens: list[tuple[str, Callable[[int], tuple[Case, Path]]]] = [
        ("metaanalysis", lambda i: gen_table(rng, i, tmp_path, study_base, study_truth)),
        ("vbq", lambda i: gen_points(rng, i, tmp_path, phantoms, "rois")),
        ("vbq", lambda i: gen_points(rng, i, tmp_path, phantoms, "seeds")),
        ("vbq", lambda i: gen_labels(rng, i, tmp_path, phantoms)),
        ("vbq", lambda i: gen_mask(rng, i, tmp_path, phantoms)),
        ("vbq", lambda i: gen_dicom(rng, i, tmp_path, phantoms)),
    ]
    for g, (prog, gen) in enumerate(gens):
        for j in range(N_SUBPROCESS):
            i = 10_000 + g * 100 + j
            case, path = gen(i)
            case.kind = f"script-{case.kind}"
            o = run_subprocess(BIN / prog, case.argv)
            value_of = (table_value(case.argv[:1] + case.argv[2:]) if prog == "metaanalysis"
                        else _vbq_value)
            found = problems(prog, case, o, value_of)
            report.add(case, found, o)
            if found:
                _keep(path, report.name, i)
    _finish(report)
