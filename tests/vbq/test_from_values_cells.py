"""``vbq from-values``: what a signal-intensity cell may hold, and rows that do not fit the header.

Every expected VBQ is computed by hand: median of the levels / CSF.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from vbq.cli import main

HEADER = "id,L1,L2,L3,L4,CSF"
GOOD_ROW = "b,300,310,305,320,100"  # median(300, 305, 310, 320) / 100 = 3.075


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_bad_cell(tmp_path, column: str, cell: str, sep: str = ",") -> str:
    names = HEADER.split(",")
    row = ["a", "410", "395", "402", "388", "131"]
    row[names.index(column)] = cell
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows(
        [names, row, GOOD_ROW.split(",")])
    path = tmp_path / "pacs.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("column", ["L1", "L3", "CSF"])
@pytest.mark.parametrize("cell", [
    "1_000", "1_0", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "0x1A", "0x1p3",
    "\u0661\u0663\u0661",          # Arabic-Indic digits: float() reads 131
    "\u00a0131\u00a0",             # no-break spaces around: float() reads 131
    "131\u2003", "1.000,5", "1e", ".", "+", "4 10", "1.5.5",
])
def test_only_plain_decimal_numbers_are_read(tmp_path, capsys, column, cell):
    path = _one_bad_cell(tmp_path, column, cell)
    rc, out, err = run(["from-values", path, "--json"], capsys)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("vbq: error:")]
    want = f"vbq: error: pacs.csv row 1 (id a), column {column}: {cell!r} is not a number"
    assert lines == [want]
    bad, good = json.loads(out)
    assert bad["vbq"] is None and bad["error"].endswith("is not a number")
    assert good["vbq"] == pytest.approx(3.075, rel=1e-12)


@pytest.mark.parametrize(("cell", "value"), [
    ("402", 402.0), ("402.0", 402.0), ("+402", 402.0), ("4.02e2", 402.0), ("4020E-1", 402.0),
    (" 402\t", 402.0), ("402.", 402.0),
])
def test_plain_decimal_numbers_in_every_notation(tmp_path, capsys, cell, value):
    path = _one_bad_cell(tmp_path, "L3", cell)
    rc, out, _ = run(["from-values", path, "--json"], capsys)
    assert rc == 0
    first = json.loads(out)[0]
    # levels 410, 395, value, 388: median = (395 + 402) / 2 when value = 402
    assert first["vbq"] == pytest.approx((395 + value) / 2 / 131, rel=1e-12)


def test_decimal_comma_in_a_semicolon_table(tmp_path, capsys):
    path = tmp_path / "de.csv"
    path.write_text("id;L1;L2;L3;L4;CSF\na;410,5;395;402,5;388;131,0\nb;300;310;305;320;100\n")
    rc, out, err = run(["from-values", path, "--json"], capsys)
    assert rc == 0, err
    a, b = json.loads(out)
    assert a["vbq"] == pytest.approx((402.5 + 395) / 2 / 131, rel=1e-12)
    assert a["levels"]["L1"]["si"] == 410.5
    assert b["vbq"] == pytest.approx(3.075, rel=1e-12)


@pytest.mark.parametrize("sep", [",", "\t"])
def test_decimal_comma_refused_where_the_comma_is_not_the_decimal_mark(tmp_path, capsys, sep):
    path = _one_bad_cell(tmp_path, "L2", "1,5", sep)
    rc, out, err = run(["from-values", path], capsys)
    assert rc == 2
    assert "row 1 (id a), column L2: '1,5' is not a number (a decimal comma is read only in " \
        "a ';'-separated table)" in err


def test_parse_number_directly():
    from vbq.values import parse_number

    assert parse_number("410.5") == 410.5
    assert parse_number("410,5", decimal_comma=True) == 410.5
    assert parse_number("1e400") == float("inf")  # the caller refuses it as not finite
    for text in ("1_000", "nan", "inf", " 1", "1,5", "0b11", "\uff11"):
        with pytest.raises(ValueError, match="not a plain decimal number"):
            parse_number(text)


@pytest.mark.parametrize(("row", "n_cells"), [
    ("a,410,395,402,388", 5),           # CSF left off
    ("a,410,395,402", 4),
    ("a,410,395,402,388,131,7", 7),     # a stray cell
    ("a,410,395,402,388,131,", 7),      # a trailing delimiter
])
def test_a_row_that_does_not_fit_the_header_is_refused_not_shifted(tmp_path, capsys, row,
                                                                   n_cells):
    path = tmp_path / "pacs.csv"
    path.write_text(f"{HEADER}\n{row}\n{GOOD_ROW}\n")
    rc, out, err = run(["from-values", path, "--json"], capsys)
    assert rc == 2
    assert f"vbq: error: pacs.csv row 1 (id a): {n_cells} cells but the header has 6 columns" \
        in err.splitlines()
    bad, good = json.loads(out)
    assert bad["vbq"] is None
    assert good["vbq"] == pytest.approx(3.075, rel=1e-12)


def test_a_short_row_with_a_trailing_optional_column_is_refused(tmp_path, capsys):
    # without the check, the missing exclude cell was read as empty and the row scored
    path = tmp_path / "pacs.csv"
    path.write_text("id,L1,L2,L3,L4,CSF,exclude\na,410,395,402,388,131\n")
    rc, _, err = run(["from-values", path], capsys)
    assert rc == 2
    assert "row 1 (id a): 6 cells but the header has 7 columns" in err


def test_row_numbers_count_blank_lines(tmp_path, capsys):
    path = tmp_path / "pacs.csv"
    path.write_text(f"{HEADER}\n{GOOD_ROW}\n\n,,,,,\nc,410,x,402,388,131\n")
    rc, out, err = run(["from-values", path, "--json"], capsys)
    assert rc == 2
    assert "vbq: error: pacs.csv row 4 (id c), column L2: 'x' is not a number" in err
    assert [r["row"] for r in json.loads(out)] == [1, 4]


# --------------------------------------------------------------- field strength
def _with_field_strength(tmp_path, cell: str) -> str:
    path = tmp_path / "pacs.csv"
    path.write_text(f"{HEADER},field_strength_t\na,410,395,402,388,131,{cell}\n{GOOD_ROW},1.5\n",
                    encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("cell", "shown"), [
    ("1e308", "'1e308'"), ("0", "'0'"), ("-1.5", "'-1.5'"), ("0.01", "'0.01'"), ("12", "'12'"),
    ("15000", "'15000'"),                                  # gauss, not tesla
    ("1" + "0" * 400, "'10000000000000000000... (401 characters)'"),
])
def test_a_field_strength_that_no_mri_scanner_has_is_that_rows_error(tmp_path, capsys, cell,
                                                                     shown):
    rc, out, err = run(["from-values", _with_field_strength(tmp_path, cell), "--json"], capsys)
    assert rc == 2
    sentence = (f"pacs.csv row 1 (id a), column field_strength_t: {shown} is not a plausible "
                "MRI field strength (0.05 to 11.7 T)")
    assert [ln for ln in err.splitlines() if ln.startswith("vbq: error:")] == [
        f"vbq: error: {sentence}"]
    bad, good = json.loads(out)
    assert bad["vbq"] is None and bad["error"] == sentence
    assert good["vbq"] == pytest.approx(3.075, rel=1e-12)


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf"])
def test_a_field_strength_that_is_not_finite_is_not_a_number(tmp_path, capsys, cell):
    rc, out, err = run(["from-values", _with_field_strength(tmp_path, cell), "--json"], capsys)
    assert rc == 2
    assert (f"vbq: error: pacs.csv row 1 (id a), column field_strength_t: {cell!r} is not a "
            "number") in err.splitlines()


@pytest.mark.parametrize("cell", ["0.05", "0.064", "1.5", "3", "7", "11.7"])
def test_field_strengths_of_real_scanners_are_read(tmp_path, capsys, cell):
    rc, out, err = run(["from-values", _with_field_strength(tmp_path, cell), "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)[0]["vbq"] == pytest.approx(398.5 / 131, rel=1e-12)
