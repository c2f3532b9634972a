"""Errors about a CSF point name the option that gave it (--csf-point ROW,COL or
--csf-seed PATH), never the seed file of the bodies it was added to.

References: the phantom's seed file (one click per body, one in the CSF) is written
by construction; the L3 click lies inside the L3 body, (0, 0) in the air.
"""

from __future__ import annotations

import json

import pytest

from vbq.cli import main
from vbq.phantom import make_phantom


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("csfnames")
    ph = make_phantom(root / "p", n_slices=5, rows=96, distractors=None)
    doc = json.loads(ph.seeds_path.read_text())
    bodies = {**doc, "seeds": [s for s in doc["seeds"] if s["label"] != "CSF"]}
    (root / "bodies.json").write_text(json.dumps(bodies))
    l3 = next(s["point"] for s in doc["seeds"] if s["label"] == "L3")

    def csf_file(name, point, **top):
        path = root / name
        path.write_text(json.dumps({"format": "vbq-seeds/1", **top,
                                    "seeds": [{"label": "CSF", "point": point}]}))
        return path

    files = {
        "off": csf_file("csf_off.json", [500, 40]),
        "slice": csf_file("csf_slice.json", [47.5, 52.3], slice=99),
        "body": csf_file("csf_body.json", l3),
        "air": csf_file("csf_air.json", [0, 0]),
        "stack": csf_file("csf_stack.json", [500.0, 0.0, 0.0], space="patient"),
    }
    return ph, root / "bodies.json", l3, files


def run(argv, capsys):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse's own usage errors
        rc = stop.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return rc, lines[0]


@pytest.mark.parametrize(("point", "code", "words"), [
    ("500,40", 2, "vbq: error: --csf-point 500,40: point [500.0, 40.0] (row, column) lies "
                  "outside the image"),
    ("0,0", 1, "vbq: error: --csf-point 0,0: region growing from the CSF seed found only"),
    ("L3", 1, "vbq: error: --csf-point {l3}: the CSF point at "),
    ("a,1", 2, "argument --csf-point: 'a' is not a decimal number"),
    ("1,2,3", 2, "argument --csf-point: '1,2,3' is not ROW,COL"),
])
def test_csf_point_errors_name_the_option_and_its_value(case, capsys, point, code, words):
    ph, bodies, l3, _ = case
    if point == "L3":
        point = f"{l3[0]:g},{l3[1]:g}"
        words = words.format(l3=point)
    rc, line = run(["score", ph.series_dir, "--seeds", bodies, "--csf-point", point], capsys)
    assert rc == code
    assert words in line, line
    assert "bodies.json" not in line


@pytest.mark.parametrize(("key", "code", "words"), [
    ("off", 2, ": point [500.0, 40.0] (row, column) lies outside the image"),
    ("slice", 2, ": slice 99 is outside the series"),
    ("stack", 2, ": point [500.0, 0.0, 0.0] lies outside the image stack"),
    ("body", 1, ": the CSF point at "),
    ("air", 1, ": region growing from the CSF seed found only"),
])
def test_csf_seed_errors_name_the_option_and_the_csf_seed_file(case, capsys, key, code,
                                                               words):
    ph, bodies, _, files = case
    rc, line = run(["score", ph.series_dir, "--seeds", bodies, "--csf-seed", files[key]],
                   capsys)
    assert rc == code
    assert line.startswith(f"vbq: error: --csf-seed {files[key]}{words}"), line
    assert "bodies.json" not in line


@pytest.mark.parametrize("key", ["off", "slice", "stack"])
def test_with_a_mask_the_csf_seed_file_is_named_the_same_way(case, capsys, key):
    ph, _, _, files = case
    rc, line = run(["score", ph.series_dir, "--mask", ph.mask_path, "--csf-seed", files[key]],
                   capsys)
    assert rc == 2
    assert line.startswith(f"vbq: error: --csf-seed {files[key]}: "), line


def test_a_good_csf_point_warns_under_its_own_name(case, capsys):
    ph, bodies, _, _ = case
    rc = main(["score", str(ph.series_dir), "--seeds", str(bodies), "--csf-point", "47.5,52.3"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "bodies.json: seed" not in err
    # the point lies beside the L3 body: its level, without a warning
    assert "csf_level_assumed" not in err and "does not name its level" not in err
    rc = main(["score", str(ph.series_dir), "--seeds", str(bodies), "--csf-point", "20,52.3"])
    err = capsys.readouterr().err
    assert "vbq: warning: --csf-point 20,52.3: the CSF seed does not name its level" in err
