"""The one study-table reader: exact counts, row-shift refusal, the study key, exit codes.

Each case is checked against a value known by construction (the counts written
into the file) or against the contract's exit code: 2 when the input is
malformed, 1 when it is well formed but the analysis cannot be done.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.cli import main
from metaanalysis.errors import AnalysisError, InputError
from metaanalysis.table import StudyTable

HEAD = "study,TP,FP,FN,TN\n"
ROWS = ["a,10,2,3,20", "b,12,3,4,25", "c,8,5,2,30", "d,9,4,3,28"]
AUDITC = Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    for line in err.splitlines():
        assert line.startswith(("metaanalysis: ", "wrote ")), line
    return code, out, err


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("metaanalysis: error: "), err
    return lines[0]


# ------------------------------------------------------------------ counts --

def test_rows_one_value_longer_than_the_header_are_refused_naming_the_row(capsys, tmp_path):
    # every row has a sixth number: pandas would take the study names as the index
    # and shift TP into the study column
    path = write(tmp_path, HEAD + "".join(f"{r},{i}\n" for i, r in enumerate(ROWS)))
    code, out, err = run(capsys, "pool", path, "--model", "univariate")
    line = one_error(err)
    assert code == 2 and out == ""
    assert f"{path}: row 1 has 6 values but the header has 5 columns" in line


def test_a_single_longer_row_is_named(tmp_path):
    path = write(tmp_path, HEAD + "\n".join([ROWS[0], ROWS[1], ROWS[2] + ",7", ROWS[3]]) + "\n")
    with pytest.raises(InputError, match="row 3 has 6 values"):
        StudyTable.from_csv(path)


@pytest.mark.parametrize("value", [True, np.True_])
def test_true_false_counts_are_refused_in_a_frame(value):
    df = pd.DataFrame({"study": ["a", "b"], "TP": [value, False], "FP": [2, 3],
                       "FN": [3, 4], "TN": [20, 25]})
    with pytest.raises(InputError, match=r"row 1 \(study 'a'\), column TP: .*true/false"):
        StudyTable(df)


def test_true_false_counts_are_refused_in_a_file(tmp_path):
    # a whole column of True/False is read by pandas as booleans, i.e. 1/0
    path = write(tmp_path, "study,TP,FP,FN,TN\na,True,2,3,20\nb,False,3,4,25\n")
    with pytest.raises(InputError, match=r"row 1 \(study 'a'\), column TP: 'True' is not a"):
        StudyTable.from_csv(path)


def test_a_count_above_2_to_the_53_is_refused_not_rounded(tmp_path):
    big = 2**53 + 1  # float(big) == 2**53: it would be read as a different number
    path = write(tmp_path, HEAD + f"a,{big},2,3,20\nb,12,3,4,25\n")
    with pytest.raises(InputError, match=rf"row 1 \(study 'a'\), column TP: .*'{big}' is too"):
        StudyTable.from_csv(path)
    df = pd.DataFrame({"study": ["a", "b"], "TP": [big, 12], "FP": [2, 3], "FN": [3, 4],
                       "TN": [20, 25]}, dtype=object)
    with pytest.raises(InputError, match="too large"):
        StudyTable(df)


def test_counts_up_to_2_to_the_53_are_exact(tmp_path):
    top = 2**53
    path = write(tmp_path, HEAD + f"a,{top},2,3,20\nb,12,3,4,25\n")
    assert int(StudyTable.from_csv(path).tp[0]) == top


@pytest.mark.parametrize("text", ["1_000", "1,000", "0x10", "12abc", "١٢"])
def test_counts_with_separators_or_other_notations_are_refused(tmp_path, text):
    path = write(tmp_path, HEAD + f'a,"{text}",2,3,20\nb,12,3,4,25\n')
    with pytest.raises(InputError, match=r"row 1 \(study 'a'\), column TP: .* is not a number"):
        StudyTable.from_csv(path)


@pytest.mark.parametrize(("text", "value"), [("12", 12), (" 12 ", 12), ("12.0", 12),
                                             ("1e3", 1000), ("+7", 7)])
def test_whole_numbers_in_usual_notations_are_read(tmp_path, text, value):
    path = write(tmp_path, HEAD + f"a,{text},2,3,20\nb,12,3,4,25\n")
    assert int(StudyTable.from_csv(path).tp[0]) == value


# -------------------------------------------------------------------- rows --

@pytest.mark.parametrize("tail", [",,,,\n", ",,,,\n,,,,\n", "\n\n", " , , , , \n"])
def test_trailing_empty_rows_are_ignored(tmp_path, tail):
    path = write(tmp_path, HEAD + "\n".join(ROWS) + "\n" + tail)
    t = StudyTable.from_csv(path)
    assert t.studies == ("a", "b", "c", "d") and t.tp.tolist() == [10, 12, 8, 9]


def test_an_empty_row_inside_keeps_the_file_row_numbers(tmp_path):
    path = write(tmp_path, HEAD + ROWS[0] + "\n,,,,\n" + "b,-1,3,4,25\n")
    with pytest.raises(InputError, match=r"row 3 \(study 'b'\), column TP"):
        StudyTable.from_csv(path)


def test_studies_named_na_none_null_are_names(tmp_path):
    path = write(tmp_path, HEAD + "NA,10,2,3,20\nNone,12,3,4,25\nnull,8,5,2,30\n")
    assert StudyTable.from_csv(path).studies == ("NA", "None", "null")


def test_covariates_still_typed_and_missing_values_still_missing(tmp_path):
    path = write(tmp_path, "study,TP,FP,FN,TN,year,design,score\n"
                           "a,10,2,3,20,2001,cohort,1.5\nb,12,3,4,25,2005,NA,\n"
                           "c,8,5,2,30,2010,case-control,2\n")
    cov = StudyTable.from_csv(path).covariates
    assert cov["year"].tolist() == [2001, 2005, 2010]
    assert pd.api.types.is_integer_dtype(cov["year"])
    assert cov["design"].iloc[0] == "cohort" and pd.isna(cov["design"].iloc[1])
    assert cov["score"].iloc[0] == 1.5 and np.isnan(cov["score"].iloc[1])


# -------------------------------------------------------------- study key --

@pytest.mark.parametrize("key", ["study_id", "Study_ID", "ID", "id"])
def test_study_id_or_id_is_the_key_when_there_is_no_study_column(tmp_path, key):
    path = write(tmp_path, f"{key},tp,Fp,fN,TN\n" + "\n".join(ROWS) + "\n")
    t = StudyTable.from_csv(path)
    assert t.studies == ("a", "b", "c", "d") and t.study_column == key
    assert t.fp.tolist() == [2, 3, 5, 4] and t.fn.tolist() == [3, 4, 2, 3]


def test_study_wins_over_study_id_and_id(tmp_path):
    path = write(tmp_path, "id,study_id,study,TP,FP,FN,TN\n1,s1,a,10,2,3,20\n2,s2,b,12,3,4,25\n")
    t = StudyTable.from_csv(path)
    assert t.studies == ("a", "b") and t.study_column == "study"
    assert list(t.covariates.columns) == ["id", "study_id"]


def test_author_is_never_taken_as_the_key(tmp_path):
    path = write(tmp_path, "author,TP,FP,FN,TN\nSmith,10,2,3,20\nSmith,12,3,4,25\n")
    with pytest.raises(InputError, match=r"missing column\(s\) study.*--study-column"):
        StudyTable.from_csv(path)


def test_study_column_option_names_any_column(tmp_path):
    path = write(tmp_path, "author,ref,TP,FP,FN,TN\nSmith,s1,10,2,3,20\nSmith,s2,12,3,4,25\n")
    t = StudyTable.from_csv(path, study_column="REF")
    assert t.studies == ("s1", "s2") and t.study_column == "ref"
    assert t.covariates["author"].tolist() == ["Smith", "Smith"]
    assert t.subset([1, 0]).study_column == "ref"
    with pytest.raises(InputError, match="no column named 'year'"):
        StudyTable.from_csv(path, study_column="year")


def test_study_column_option_cannot_hide_a_study_column(tmp_path):
    path = write(tmp_path, "study,ref,TP,FP,FN,TN\nx,s1,10,2,3,20\ny,s2,12,3,4,25\n")
    with pytest.raises(InputError, match="also has a column 'study'"):
        StudyTable.from_csv(path, study_column="ref")


def _keyed(tmp_path: Path) -> Path:
    df = pd.read_csv(AUDITC, dtype={"study": str})
    df = df.rename(columns={"study": "ref"}).assign(author=["Smith", "Lee"] * 7,
                                                     year=range(2000, 2014))
    path = tmp_path / "keyed.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("argv", [
    ["pool"], ["pool", "--model", "univariate"], ["regress", "--covariate", "year"],
    ["loo"], ["bias"], ["fagan", "--pretest", "0.2"],
    ["reproduce", "--no-glmm", "--out", "{out}", "--data"]])
def test_every_command_takes_study_column_and_reports_it(capsys, tmp_path, argv):
    path = _keyed(tmp_path)
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in argv]
    code, out, err = run(capsys, *argv, path, "--json")
    assert code == 2 and "missing column(s) study" in one_error(err)
    code, out, err = run(capsys, *argv, path, "--study-column", "ref", "--json")
    assert code == 0, err
    assert f"note: {path}: study names read from column 'ref'" in err


def test_reproduce_study_column_needs_data(capsys, tmp_path):
    code, _, err = run(capsys, "reproduce", "--study-column", "ref", "--out", tmp_path)
    assert code == 2 and "--data" in one_error(err)


def test_datasets_load_goes_through_the_file_reader(monkeypatch):
    calls = []
    original = StudyTable.from_csv.__func__

    def spy(cls, path, **kw):
        calls.append(path)
        return original(cls, path, **kw)

    monkeypatch.setattr(StudyTable, "from_csv", classmethod(spy))
    table = ma.datasets.load("vbq_subsequent_fracture")
    assert len(calls) == 1 and table.k == 29 and table.n_patients == 7364
    assert table.source == "metaanalysis.datasets:vbq_subsequent_fracture/studies.csv"


# -------------------------------------------------------------- exit codes --

def test_regress_on_a_constant_covariate_is_an_analysis_failure(capsys, tmp_path):
    path = write(tmp_path, HEAD.strip() + ",x\n" + "".join(f"{r},1\n" for r in ROWS))
    code, out, err = run(capsys, "regress", path, "--covariate", "x")
    assert code == 1 and out == "" and "same value (1) in every study" in one_error(err)
    path = write(tmp_path, HEAD.strip() + ",site\n" + "".join(f"{r},Oslo\n" for r in ROWS))
    code, out, err = run(capsys, "regress", path, "--covariate", "site")
    assert code == 1 and "only one level" in one_error(err)


def test_regress_on_collinear_covariates_is_an_analysis_failure(capsys, tmp_path):
    path = write(tmp_path, HEAD.strip() + ",x,y\n"
                 + "".join(f"{r},{i},{2 * i}\n" for i, r in enumerate(ROWS)))
    code, _, err = run(capsys, "regress", path, "--covariate", "x", "--covariate", "y")
    assert code == 1 and "collinear" in one_error(err)


def test_bias_on_identical_studies_is_an_analysis_failure(capsys, tmp_path):
    same = write(tmp_path, HEAD + "".join(f"{s},10,2,3,20\n" for s in "abcd"))
    code, out, err = run(capsys, "bias", same)
    assert code == 1 and out == "" and "same effective sample size" in one_error(err)
    # the same proportions at different sizes: lnDOR is constant, the fit is exact and the
    # slope's standard error is 0 (before: t = 8e14, a meaningless p-value)
    scaled = write(tmp_path, HEAD + "".join(f"{s},{10 * m},{2 * m},{3 * m},{20 * m}\n"
                                            for s, m in zip("abcd", (1, 2, 3, 4), strict=True)),
                   "scaled.csv")
    code, out, err = run(capsys, "bias", scaled)
    assert code == 1 and out == "" and "residual variance is 0" in one_error(err)


def test_too_few_studies_for_deeks_is_an_analysis_error():
    table = StudyTable.from_csv(AUDITC).subset([0, 1])
    with pytest.raises(AnalysisError, match="at least 3 studies"):
        ma.deeks_test(table)


def test_analysis_errors_and_input_errors_are_distinct_in_both_halves():
    import vbq.errors

    assert not issubclass(AnalysisError, InputError) and AnalysisError.exit_code == 1
    assert InputError.exit_code == 2
    assert not issubclass(vbq.errors.AnalysisError, vbq.errors.InputError)


@pytest.mark.parametrize("argv", [
    ["pool", "--no-such-option"], ["pool", "--model", "nope"], ["fagan"],
    ["bias", "--alpha", "x"]])
def test_usage_errors_exit_2_in_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main([*argv, str(AUDITC)])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# ---------------------------------------------------------------- warnings --

def test_numpy_floating_point_notices_do_not_reach_stderr(capsys, monkeypatch):
    import metaanalysis.diagnostics as diagnostics

    def failing(table, **kw):
        with np.errstate(all="warn"):
            np.log(np.zeros(1))
        raise AnalysisError("Deeks' test cannot be computed here.")

    monkeypatch.setattr(diagnostics, "deeks_test", failing)
    code, out, err = run(capsys, "bias", AUDITC)
    assert code == 1 and one_error(err) == ("metaanalysis: error: Deeks' test cannot be "
                                            "computed here.")


@pytest.mark.parametrize("argv", [["pool"], ["loo"], ["fagan", "--pretest", "0.2"],
                                  ["fagan", "--pretest", "0.2", "--json"],
                                  ["regress", "--covariate", "x"]])
@pytest.mark.parametrize("k", [4, 6])
def test_each_warning_is_printed_once(capsys, tmp_path, argv, k):
    # identical studies: every variance on its boundary, so the fit warns
    if argv[0] == "regress" and k < 6:
        pytest.skip("too few studies for a regression")
    path = write(tmp_path, HEAD.strip() + ",x\n"
                 + "".join(f"{s},10,2,3,20,{i}\n" for i, s in enumerate("abcdef"[:k])))
    code, _, err = run(capsys, *argv, path)
    warnings = [ln for ln in err.splitlines() if ln.startswith("metaanalysis: warning:")]
    assert code == 0 and warnings
    assert len(warnings) == len(set(warnings)), err


def test_each_warning_is_printed_once_by_the_console_script(tmp_path):
    # outside pytest's own warning capture: the fit's Python warnings and the
    # result's warnings are the same messages and must appear once
    import subprocess
    import sys

    path = write(tmp_path, HEAD + "".join(f"{s},10,2,3,20\n" for s in "abcd"))
    for argv in (["fagan", "--pretest", "0.2"], ["loo"], ["pool"]):
        r = subprocess.run([sys.executable, "-m", "metaanalysis.cli", *argv, str(path)],
                           capture_output=True, text=True, timeout=120,
                           cwd=Path(__file__).parents[2])
        warnings = [ln for ln in r.stderr.splitlines() if "warning:" in ln]
        assert r.returncode == 0 and warnings, r.stderr
        assert len(warnings) == len(set(warnings)), r.stderr


NINES = "9" * 400
SHORT = f"'{'9' * 20}... (400 characters)'"


@pytest.mark.parametrize(("cell", "words"), [
    (NINES, f"the count {SHORT} is too large to be a number of subjects"),
    ("1." + NINES, f"the count '1.{'9' * 18}... (402 characters)' is not a whole number"),
    ("-" + NINES, f"the count '-{'9' * 19}... (401 characters)' is negative"),
], ids=["large", "fraction", "negative"])
def test_a_count_of_hundreds_of_digits_is_named_in_a_short_sentence(tmp_path, capsys, cell,
                                                                    words):
    path = write(tmp_path, HEAD + f"a,{cell},2,3,20\n" + "\n".join(ROWS[1:]) + "\n")
    assert main(["pool", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"metaanalysis: error: {path}: row 1 (study 'a'), column TP: {words}")
    assert len(err.replace(str(path), "")) < 250 and err.count("\n") == 1


def test_a_count_of_hundreds_of_digits_given_as_a_number(tmp_path):
    df = pd.DataFrame({"study": ["a", "b"], "TP": [10**300, 12], "FP": [2, 3], "FN": [3, 4],
                       "TN": [20, 25]}, dtype=object)
    with pytest.raises(InputError, match=r"column TP: the count 1e\+300 is too large"):
        StudyTable(df)


def test_a_long_study_name_is_shown_short_in_messages(capsys, tmp_path):
    name = "Smith and colleagues, a very long study name " * 20
    path = write(tmp_path, HEAD.strip() + "\n" + f'"{name}",10,2,3,20\n' + f'"{name}",9,1,2,19\n')
    code, _, err = run(capsys, "pool", path)
    assert code == 2 and "duplicate study name" in err, err
    # the name as read (its trailing space stripped), by its first 20 characters and length
    assert len(err) < 400 and f"'{name[:20]}... ({len(name.strip())} characters)'" in err, err
