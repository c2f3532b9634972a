"""Study tables from .xlsx workbooks and with renamed columns, through the one reader.

The reference for every number is the same table read from CSV with the package's
own column names: the workbook and the mapping must give identical tables and fits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from metaanalysis.cli import main
from metaanalysis.errors import InputError
from metaanalysis.table import StudyTable, parse_column_map

openpyxl = pytest.importorskip("openpyxl")

ROWS = [("A 2020", 34, 62, 6, 98, 2020, "China"), ("B 2021", 21, 40, 5, 84, 2021, "USA"),
        ("C 2022", 45, 110, 9, 176, 2022, "Japan"), ("D 2023", 12, 20, 3, 60, 2023, "Italy"),
        ("E 2023", 30, 35, 12, 90, 2023, "China"), ("F 2024", 18, 50, 2, 70, 2024, "USA"),
        ("G 2024", 25, 28, 9, 120, 2024, "Japan")]
HEADER = ["study", "TP", "FP", "FN", "TN", "year", "country"]


def _csv(path, header=HEADER):
    lines = [",".join(header)] + [",".join(str(v) for v in r) for r in ROWS]
    path.write_text("\n".join(lines) + "\n")
    return path


def _xlsx(path, header=HEADER, sheets=("Data",), trailing=True):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name in sheets:
        ws = book.create_sheet(name)
        ws.append(header)
        for r in ROWS:
            ws.append(list(r))
        if trailing:  # a formatted but empty row and column, as spreadsheets leave
            ws.cell(row=len(ROWS) + 3, column=len(header) + 2).value = None
            ws.cell(row=len(ROWS) + 3, column=len(header) + 2).number_format = "0.00"
    book.save(path)
    return path


def _same(a: StudyTable, b: StudyTable) -> None:
    assert a.studies == b.studies
    np.testing.assert_array_equal(a.counts(), b.counts())
    assert list(a.covariates.columns) == list(b.covariates.columns)
    assert a.covariates.astype(str).values.tolist() == b.covariates.astype(str).values.tolist()


def test_xlsx_reads_as_the_csv(tmp_path):
    ref = StudyTable.from_csv(_csv(tmp_path / "t.csv"))
    _same(StudyTable.read(_xlsx(tmp_path / "t.xlsx")), ref)


def test_xlsx_sheet_by_name_and_position(tmp_path):
    path = _xlsx(tmp_path / "t.xlsx", sheets=("Notes", "Extraction"))
    ref = StudyTable.from_csv(_csv(tmp_path / "t.csv"))
    _same(StudyTable.read(path, sheet="extraction"), ref)
    _same(StudyTable.read(path, sheet=2), ref)
    with pytest.raises(InputError, match="no sheet named 'Other'; the sheets are: Notes, "
                                         "Extraction"):
        StudyTable.read(path, sheet="Other")
    with pytest.raises(InputError, match="there is no sheet 3"):
        StudyTable.read(path, sheet="3")


def test_not_a_workbook_and_sheet_for_csv(tmp_path):
    bad = tmp_path / "t.xlsx"
    bad.write_text("study,TP\n")
    with pytest.raises(InputError, match="not a readable .xlsx workbook"):
        StudyTable.read(bad)
    with pytest.raises(InputError, match="--sheet applies to .xlsx workbooks only"):
        StudyTable.read(_csv(tmp_path / "t.csv"), sheet="Data")


def test_xlsx_bad_count_names_row_and_column(tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(HEADER)
    ws.append(["A", 3, 4, -1, 9, 2020, "X"])
    ws.append(["B", 3, 4, 1, 9, 2020, "X"])
    book.save(tmp_path / "t.xlsx")
    with pytest.raises(InputError, match=r"row 1 \(study 'A'\), column FN: the count -1 is "
                                         "negative"):
        StudyTable.read(tmp_path / "t.xlsx")


def test_parse_column_map():
    assert parse_column_map("study=Trial,TP=tp") == {"study": "Trial", "TP": "tp"}
    for bad, msg in (("study", "not NAME=HEADER"), ("TP=a,tp=b", "mapped twice"),
                     (",", "no NAME=HEADER pair")):
        with pytest.raises(InputError, match=msg):
            parse_column_map(bad)


def test_column_mapping_gives_the_same_table(tmp_path):
    header = ["Trial", "tp", "fp", "fn", "tn", "Year", "country"]
    ref = StudyTable.from_csv(_csv(tmp_path / "ref.csv"))
    mapping = parse_column_map("study=Trial,TP=tp,FP=fp,FN=fn,TN=tn,year=Year")
    _same(StudyTable.read(_csv(tmp_path / "m.csv", header), columns=mapping), ref)
    _same(StudyTable.read(_xlsx(tmp_path / "m.xlsx", header), columns=mapping), ref)
    with pytest.raises(InputError, match="mapping TP=positives names no column"):
        StudyTable.read(tmp_path / "m.csv", columns={"TP": "positives"})


def test_mapping_onto_an_existing_column_is_refused(tmp_path):
    path = _csv(tmp_path / "t.csv")
    with pytest.raises(InputError, match="already has a column 'TP'"):
        StudyTable.read(path, columns={"TP": "FN"})


@pytest.mark.parametrize("command", [["pool"], ["loo"], ["bias"], ["fagan", "--pretest", "0.2"],
                                     ["regress", "--covariate", "year"]])
def test_every_table_command_takes_sheet_and_columns(tmp_path, capsys, command):
    header = ["Trial", "tp", "fp", "fn", "tn", "year", "country"]
    ref = _csv(tmp_path / "ref.csv")
    book = _xlsx(tmp_path / "m.xlsx", header, sheets=("Notes", "Data"))
    assert main([*command, str(ref), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    code = main([*command, str(book), "--sheet", "Data", "--columns",
                 "study=Trial,TP=tp,FP=fp,FN=fn,TN=tn", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == expected


def test_bad_columns_option_exits_2_with_one_sentence(tmp_path, capsys):
    ref = _csv(tmp_path / "ref.csv")
    assert main(["pool", str(ref), "--columns", "TP"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["metaanalysis: error: --columns: 'TP' is not NAME=HEADER (for example "
                   "study=Trial,TP=tp)."]
    assert main(["pool", str(ref), "--sheet", "Data"]) == 2
    assert "--sheet applies to .xlsx workbooks only" in capsys.readouterr().err
