"""``vbq from-values``: a table of PACS signal intensities, bad rows reported, good rows kept."""

from __future__ import annotations

import csv
import io
import json

import pytest

from vbq.cli import main

TABLE = """id,L1,L2,L3,L4,CSF,exclude,age
P1,410,395,402,388,131,,71
P2,410,abc,402,388,131,,65
P3,410,395,402,388,0,,80
P4,410,395,402,388,131,L1=fracture;L2=other;L3=lesion,77
P5,410,395,402,388,131,L2=fracture,59
P6,410,,402,388,131,,59
P7,410,395,402,388,131,L2=broken,59
"""


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_good_rows_scored_bad_rows_reported(tmp_path, capsys):
    table = tmp_path / "pacs.csv"
    table.write_text(TABLE)
    out_file = tmp_path / "out.csv"
    rc, out, err = run(["from-values", table, "--out", out_file], capsys)
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0] == "vbq: error: pacs.csv row 2 (id P2), column L2: 'abc' is not a number"
    assert lines[1] == "vbq: error: pacs.csv row 3 (id P3), column CSF: 0 is not > 0"
    assert lines[2].startswith("vbq: error: pacs.csv row 4 (id P4), column exclude: only 1")
    assert lines[3].startswith("vbq: error: pacs.csv row 7 (id P7), column exclude")
    assert "Traceback" not in err
    rows = list(csv.DictReader(out_file.open()))
    assert [r["id"] for r in rows] == ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    vbq = {r["id"]: r["vbq"] for r in rows}
    assert float(vbq["P1"]) == pytest.approx(398.5 / 131, rel=1e-12)
    assert float(vbq["P5"]) == pytest.approx(402 / 131, rel=1e-12)
    assert float(vbq["P6"]) == pytest.approx(402 / 131, rel=1e-12)  # median(410, 402, 388)
    assert vbq["P2"] == "" and rows[1]["error"].endswith("'abc' is not a number")
    assert rows[4]["excluded"] == "L2=fracture" and rows[4]["levels_used"] == "L1;L3;L4"
    assert "not measured: L2" in rows[5]["warnings"]


def test_all_good_exit_0_and_json(tmp_path, capsys):
    table = tmp_path / "ok.csv"
    table.write_text("ID;L1;L2;L3;L4;csf;csf_level\nA;400;300;500;200;100;L2\n")
    rc, out, err = run(["from-values", table, "--json"], capsys)
    assert rc == 0
    (rec,) = json.loads(out)
    assert rec["id"] == "A" and rec["vbq"] == pytest.approx(3.5)
    assert rec["csf"]["level"] == "L2" and any("fallback" in w for w in rec["warnings"])


def test_other_protocol(tmp_path, capsys):
    table = tmp_path / "s1.csv"
    table.write_text("id,S1,CSF\nA,500,125\n")
    rc, out, _ = run(["from-values", table, "--protocol", "s1"], capsys)
    assert rc == 0
    assert float(next(csv.DictReader(io.StringIO(out)))["vbq"]) == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("L1,L2,CSF\n1,2,3\n", "no 'id' column"),
        ("id,L1,L2\nA,1,2\n", "no 'CSF' column"),
        ("id,L1,l1,CSF\nA,1,2,3\n", "column 'L1' appears twice"),
        ("", "the table is empty"),
    ],
)
def test_unusable_tables(tmp_path, capsys, text, needle):
    table = tmp_path / "t.csv"
    table.write_text(text)
    rc, out, err = run(["from-values", table], capsys)
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_missing_table(tmp_path, capsys):
    rc, _, err = run(["from-values", tmp_path / "none.csv"], capsys)
    assert rc == 2 and "file not found" in err


def test_a_vbq_that_is_not_finite_is_refused_with_exit_1(tmp_path, capsys):
    # 398.5 / 5e-324 overflows; median(1e308, 1.2e308, 1.4e308, 1.6e308) / 0.5 = 2.6e308
    # overflows too. Both rows are well formed, so the exit code is 1, not 2.
    table = tmp_path / "pacs.csv"
    table.write_text("id,L1,L2,L3,L4,CSF\nOK,410,395,402,388,131\nTINY,410,395,402,388,5e-324\n"
                     "HUGE,1e308,1.2e308,1.4e308,1.6e308,0.5\n")
    out_file = tmp_path / "out.csv"
    rc, out, err = run(["from-values", table, "--out", out_file], capsys)
    assert rc == 1, err
    assert "Traceback" not in err
    rows = {r["id"]: r for r in csv.DictReader(out_file.open())}
    assert float(rows["OK"]["vbq"]) == pytest.approx(398.5 / 131, rel=1e-15)
    for rid in ("TINY", "HUGE"):
        assert rows[rid]["vbq"] == ""
        assert "not a finite number" in rows[rid]["error"]
        assert f"(id {rid})" in rows[rid]["error"]
    assert sum("not a finite number" in line for line in err.splitlines()) == 2
    # JSON: the reason is in "error", never "vbq": null with "error": null
    rc, out, err = run(["from-values", table, "--json"], capsys)
    assert rc == 1
    records = {r["id"]: r for r in json.loads(out)}
    assert records["TINY"]["vbq"] is None and "not a finite number" in records["TINY"]["error"]
    assert records["HUGE"]["vbq"] is None and "not a finite number" in records["HUGE"]["error"]


def test_malformed_rows_outrank_analysis_failures_in_the_exit_code(tmp_path, capsys):
    table = tmp_path / "pacs.csv"
    table.write_text("id,L1,L2,L3,L4,CSF,exclude\n"
                     "A,410,395,402,388,131,L1=fracture;L2=other;L3=lesion\n")
    rc, _, err = run(["from-values", table], capsys)
    assert rc == 1 and "only 1 level(s) left" in err   # well formed: analysis failure
    table.write_text("id,L1,L2,L3,L4,CSF,exclude\n"
                     "A,410,395,402,388,131,L1=fracture;L2=other;L3=lesion\nB,x,1,1,1,1,\n")
    rc, _, err = run(["from-values", table], capsys)
    assert rc == 2   # a malformed row makes it exit 2
