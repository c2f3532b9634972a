"""StudyTable: reading, validation (one sentence naming row/column/file), corrections."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.errors import AnalysisError, InputError

REFS = Path(__file__).parents[1] / "fixtures" / "refs"


def frame(**over):
    d = {"study": ["a", "b", "c"], "TP": [10, 5, 8], "FP": [2, 3, 1], "FN": [1, 2, 0],
         "TN": [20, 30, 25]}
    d.update(over)
    return pd.DataFrame(d)


def test_reads_reference_csv_any_column_order():
    t = ma.StudyTable.from_csv(REFS / "AuditC.csv")  # columns study,TP,FN,FP,TN
    raw = pd.read_csv(REFS / "AuditC.csv")
    assert t.k == 14 == len(t)
    np.testing.assert_array_equal(t.fn, raw["FN"])
    np.testing.assert_array_equal(t.fp, raw["FP"])
    assert t.studies[0] == "1"
    assert t.n_patients == int(raw[["TP", "FP", "FN", "TN"]].to_numpy().sum())
    assert list(t.df.columns[:5]) == ["study", "TP", "FP", "FN", "TN"]


def test_case_insensitive_columns_and_covariates_kept():
    df = frame().rename(columns={"TP": "tp", "study": "Study"})
    df["year"] = [2001, 2005, 2010]
    t = ma.StudyTable(df)
    assert list(t.covariates.columns) == ["year"]
    assert t.tp.tolist() == [10, 5, 8]


def test_study_names_read_as_text(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("study,TP,FP,FN,TN\n01,1,2,3,4\n02,5,6,7,8\n")
    assert ma.StudyTable.from_csv(p).studies == ("01", "02")


@pytest.mark.parametrize("col,val,match", [
    ("TP", [10, -5, 8], r"row 2 \(study 'b'\), column TP: the count -5 is negative"),
    ("FN", [1, 2.5, 0], r"row 2 \(study 'b'\), column FN: .*not a whole number"),
    ("TN", [20, np.nan, 25], r"row 2 \(study 'b'\), column TN: the count is missing"),
    ("FP", [2, "x", 1], r"row 2 \(study 'b'\), column FP: 'x' is not a number"),
])
def test_bad_counts_name_row_study_and_column(col, val, match):
    with pytest.raises(InputError, match=match):
        ma.StudyTable(frame(**{col: val}))


def test_missing_columns_are_named():
    with pytest.raises(InputError, match=r"missing column\(s\) FN, TN"):
        ma.StudyTable(frame().drop(columns=["FN", "TN"]))


def test_duplicate_study_names():
    with pytest.raises(InputError, match=r"row 3, column study: duplicate study name 'a'"):
        ma.StudyTable(frame(study=["a", "b", "a"]))


def test_reference_file_with_duplicate_names_is_refused():
    with pytest.raises(InputError, match=r"kearon1998.csv: row \d+, column study: duplicate"):
        ma.StudyTable.from_csv(REFS / "kearon1998.csv")


def test_no_diseased_and_no_nondiseased():
    with pytest.raises(InputError, match="no diseased subjects"):
        ma.StudyTable(frame(TP=[10, 0, 8], FN=[1, 0, 0]))
    with pytest.raises(InputError, match="no non-diseased subjects"):
        ma.StudyTable(frame(FP=[2, 3, 0], TN=[20, 30, 0]))


def test_single_study_and_empty():
    with pytest.raises(AnalysisError, match="only one study"):
        ma.StudyTable(frame().iloc[:1])
    with pytest.raises(InputError, match="no studies"):
        ma.StudyTable(frame().iloc[:0])


def test_file_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty.csv: the file is empty"):
        ma.StudyTable.from_csv(empty)
    header = tmp_path / "header.csv"
    header.write_text("study,TP,FP,FN,TN\n")
    with pytest.raises(InputError, match=r"header.csv: the table has no studies"):
        ma.StudyTable.from_csv(header)
    with pytest.raises(InputError, match=r"nothere.csv: no such file"):
        ma.StudyTable.from_csv(tmp_path / "nothere.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("study,TP,FP,FN,TN\na,1,2,3,4\nb,1,-2,3,4\n")
    with pytest.raises(InputError, match=r"bad.csv: row 2 \(study 'b'\), column FP"):
        ma.StudyTable.from_csv(bad)


def test_errors_are_one_sentence():
    with pytest.raises(InputError) as e:
        ma.StudyTable(frame(TP=[10, -5, 8]))
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith(".")


def test_corrections():
    t = ma.StudyTable(frame())  # study c has FN = 0
    tp, fp, fn, tn = t.corrected("all")
    np.testing.assert_array_equal(fn, [1.5, 2.5, 0.5])
    np.testing.assert_array_equal(tp, [10.5, 5.5, 8.5])
    tp, fp, fn, tn = t.corrected("single")
    np.testing.assert_array_equal(fn, [1, 2, 0.5])
    np.testing.assert_array_equal(tp, [10, 5, 8.5])
    tp, fp, fn, tn = t.corrected("none")
    np.testing.assert_array_equal(fn, [1, 2, 0])
    # no zero anywhere: "all" adds nothing (mada)
    t2 = ma.StudyTable(frame(FN=[1, 2, 3]))
    np.testing.assert_array_equal(t2.corrected("all")[2], [1, 2, 3])
    with pytest.raises(InputError, match="unknown continuity correction"):
        t.corrected("some")


def test_subset_drop_swap_are_new_valid_tables():
    t = ma.StudyTable(frame())
    assert t.drop("b").studies == ("a", "c")
    assert t.subset([True, False, True]).studies == ("a", "c")
    s = t.swap_disease_labels()
    assert s.tp.tolist() == t.tn.tolist() and s.fp.tolist() == t.fn.tolist()
    with pytest.raises(InputError, match="no study named 'z'"):
        t.drop("z")


def test_arrays_are_read_only():
    t = ma.StudyTable(frame())
    with pytest.raises(ValueError):
        t.tp[0] = 3


def test_semicolon_and_tab_separated_files(tmp_path):
    for sep in (";", "\t"):
        p = tmp_path / "s.csv"
        p.write_text(sep.join(["study", "TP", "FP", "FN", "TN"]) + "\n"
                     + sep.join(["a", "1", "2", "3", "4"]) + "\n"
                     + sep.join(["b", "5", "6", "7", "8"]) + "\n")
        assert ma.StudyTable.from_csv(p).tp.tolist() == [1, 5]
