"""Refusals name the file, the line or the option at fault, in words that fit the case."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaanalysis.cli import main

AUDITC = Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv"


def error(capsys, *argv: object) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.startswith("metaanalysis: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return code, lines[0].removeprefix("metaanalysis: error: ")


def test_a_quote_left_open_names_its_line(capsys, tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('study,TP,FP,FN,TN\nA,20,10,5,40\nB,"30",12,8,50\n"D,10,5,2,30\n')
    code, msg = error(capsys, "pool", path)
    assert code == 2 and msg == (f"{path}: line 4: a double quote opened there is never "
                                 "closed, so the rest of the file would be one cell.")


def test_too_few_studies_names_the_file(capsys, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("study,TP,FP,FN,TN\nA,20,10,5,40\nB,30,12,8,50\n")
    code, msg = error(capsys, "pool", path)
    assert code == 1 and msg.startswith(f"{path}: only 2 studies: too few")
    code, msg = error(capsys, "pool", path, "--model", "glmm")
    assert code == 1 and msg.startswith(f"{path}: only 2 studies: too few")


def test_no_correction_with_a_zero_cell_names_file_study_and_options(capsys, tmp_path):
    path = tmp_path / "zero.csv"
    path.write_text("study,TP,FP,FN,TN\nA,20,10,0,40\nB,30,12,8,50\nC,15,20,3,60\n")
    code, msg = error(capsys, "pool", path, "--correction", "none")
    assert code == 2 and msg == (
        f"{path}: study 'A' has a zero cell (FN = 0), so its logit is infinite without a "
        "continuity correction (correction='none'); use correction='all' or 'single' "
        "(--correction on the command line), or the binomial GLMM (--model glmm).")


@pytest.mark.parametrize(("k", "model", "said"), [
    (1, "CI", "1 study is too few for the 1 random effect of model CI; add studies."),
    (2, "CICS", "2 studies are too few for the 2 random effects of model CICS; fit model CI "
                "(one random effect), or add studies.")])
def test_thresholds_too_few_studies_advises_what_can_be_done(capsys, tmp_path, k, model, said):
    path = tmp_path / "thr.csv"
    rows = ["study,cutoff,TP,FP,FN,TN"]
    for s in range(k):
        rows += [f"S{s},2.5,45,80,5,70", f"S{s},3.5,30,25,20,125"]
    path.write_text("\n".join(rows) + "\n")
    code, msg = error(capsys, "thresholds", path, "--model", model)
    assert code == 1 and msg == f"{path}: {said}"


def test_descending_without_an_order_is_refused_before_anything(capsys, tmp_path):
    code, msg = error(capsys, "loo", AUDITC, "--descending", "--plots", tmp_path / "p")
    assert code == 2 and msg == ("--descending orders the cumulative meta-analysis; give "
                                 "--order-by COLUMN too.")
    assert not (tmp_path / "p").exists()


def test_reproduce_reports_every_file_it_wrote(capsys, tmp_path):
    assert main(["reproduce", "--no-glmm", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    wrote = sorted(Path(ln.removeprefix("wrote ")).name for ln in err.splitlines()
                   if ln.startswith("wrote "))
    assert wrote == sorted(p.name for p in tmp_path.iterdir())
    assert {"reproduction.json", "comparison.csv", "report.html"} <= set(wrote)


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_an_excel_separator_line_names_the_separator(capsys, tmp_path, sep):
    path = tmp_path / "excel.csv"
    body = AUDITC.read_text().replace('"', "").replace(",", sep)
    path.write_text(f"sep={sep}\n{body}")
    assert main(["pool", str(path), "--json"]) == 0
    with_line = capsys.readouterr().out
    assert main(["pool", str(AUDITC), "--json"]) == 0
    assert with_line == capsys.readouterr().out  # the same table as without the line
