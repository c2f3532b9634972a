"""``metaanalysis pool``: JSON contract, human output, bad input (exit 2, one sentence)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from metaanalysis.cli import main

REFS = Path(__file__).parents[1] / "fixtures" / "refs"
CONTRACT_KEYS = {
    "model", "method", "n_studies", "correction", "sensitivity", "specificity",
    "false_positive_rate", "logit_sens", "logit_fpr", "tau2_logit_sens", "tau2_logit_fpr",
    "rho_sens_fpr", "loglik", "aic", "bic", "hsroc", "auc", "pauc", "lr_positive",
    "lr_negative", "dor", "warnings"}


def run(capsys, *argv):
    code = main(["pool", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_matches_contract_and_mada(capsys):
    code, out, err = run(capsys, REFS / "AuditC.csv", "--json")
    assert code == 0
    d = json.loads(out)
    assert CONTRACT_KEYS <= set(d)
    ref = json.loads((REFS / "AuditC.reitsma.json").read_text())["reml"]
    assert d["model"] == "reitsma" and d["method"] == "reml" and d["n_studies"] == 14
    assert d["correction"] == "all"
    assert d["sensitivity"]["estimate"] == pytest.approx(ref["sensitivity"], rel=1e-6)
    assert d["specificity"]["ci_low"] == pytest.approx(ref["specificity_ci"][0], rel=1e-6)
    assert d["loglik"] == pytest.approx(ref["logLik"], rel=1e-6)
    assert d["aic"] == pytest.approx(ref["AIC"], rel=1e-6)
    assert set(d["hsroc"]) == {"Theta", "Lambda", "beta", "sigma2theta", "sigma2alpha"}
    assert d["auc"] == pytest.approx(ref["AUC"]["ruttergatsonis"]["AUC"], rel=1e-5)
    assert set(d["sensitivity"]) == {"estimate", "ci_low", "ci_high"}
    assert set(d["logit_sens"]) == {"estimate", "se"}
    assert d["warnings"] == []


def test_mada_optimizer_flag(capsys):
    code, out, _ = run(capsys, REFS / "skin_tests.csv", "--json", "--optimizer", "mada")
    ref = json.loads((REFS / "skin_tests.reitsma.json").read_text())["reml"]
    d = json.loads(out)
    assert code == 0
    assert d["tau2_logit_fpr"] == pytest.approx(ref["tau2_logit_fpr"], rel=1e-9)
    assert d["rho_sens_fpr"] == pytest.approx(ref["rho_logit_sens_fpr"], rel=1e-9)


def test_ml_and_single_correction(capsys):
    code, out, _ = run(capsys, REFS / "AuditC.csv", "--json", "--method", "ml",
                       "--correction", "single")
    d = json.loads(out)
    assert code == 0 and d["method"] == "ml" and d["correction"] == "single"


def test_human_readable_and_warnings_on_stderr(capsys):
    code, out, err = run(capsys, REFS / "few4.csv")
    assert code == 0
    assert "sensitivity" in out and "HSROC" in out
    assert "warning: only 4 studies" in err


def test_univariate(capsys):
    code, out, _ = run(capsys, REFS / "Dementia.csv", "--model", "univariate", "--json")
    d = json.loads(out)
    assert code == 0 and d["model"] == "univariate" and d["method"] == "dl"
    assert "ln_dor" in d["outcomes"]
    code, out, _ = run(capsys, REFS / "Dementia.csv", "--model", "univariate", "--method",
                       "reml", "--json")
    assert json.loads(out)["method"] == "reml"


def test_correction_none_with_zero_cells_is_bad_input(capsys):
    code, out, err = run(capsys, REFS / "zerocells.csv", "--correction", "none")
    assert code == 2
    assert "correction='all'" in err and "GLMM" in err


def write(tmp_path, text, name="in.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


HEAD = "study,TP,FP,FN,TN\n"


@pytest.mark.parametrize("text,needle", [
    (HEAD + "a,10,2,1,20\nb,-5,3,2,30\nc,8,1,1,25\n", "row 2 (study 'b'), column TP"),
    (HEAD + "a,10,2,1,20\nb,5,3,2.5,30\nc,8,1,1,25\n", "row 2 (study 'b'), column FN"),
    ("study,TP,FP,TN\na,10,2,20\nb,5,3,30\n", "missing column(s) FN"),
    (HEAD + "a,10,2,1,20\na,5,3,2,30\nc,8,1,1,25\n", "duplicate study name 'a'"),
    (HEAD + "a,10,2,1,20\nb,0,3,0,30\nc,8,1,1,25\n", "no diseased subjects"),
    ("", "the file is empty"),
])
def test_bad_input_exit_2_one_sentence(capsys, tmp_path, text, needle):
    p = write(tmp_path, text)
    code, out, err = run(capsys, p, "--json")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("metaanalysis: error: ")
    assert needle in lines[0]
    assert str(p) in lines[0]


def test_a_single_study_is_an_analysis_failure_exit_1(capsys, tmp_path):
    p = write(tmp_path, HEAD + "a,10,2,1,20\n")
    code, out, err = run(capsys, p, "--json")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "only one study" in lines[0] and str(p) in lines[0]


def test_too_few_studies_for_bivariate_exit_1(capsys, tmp_path):
    p = write(tmp_path, HEAD + "a,10,2,1,20\nb,5,3,2,30\n")
    code, _, err = run(capsys, p)
    assert code == 1 and "univariate" in err


def test_plots_written_or_skipped_with_warning(capsys, tmp_path):
    code, out, err = run(capsys, REFS / "AuditC.csv", "--plots", tmp_path / "figs")
    assert code == 0
    try:
        import metaanalysis.plots  # noqa: F401
    except ModuleNotFoundError:
        assert "plotting is not available" in err
    else:
        assert (tmp_path / "figs" / "forest.png").stat().st_size > 0
        assert (tmp_path / "figs" / "sroc.png").stat().st_size > 0


def test_console_script_subprocess(tmp_path):
    exe = Path(sys.executable).parent / "metaanalysis"
    r = subprocess.run([str(exe), "pool", str(REFS / "skin_tests.csv"), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    ref = json.loads((REFS / "skin_tests.reitsma.json").read_text())["reml"]
    assert d["loglik"] == pytest.approx(ref["logLik"], rel=1e-6)
    bad = write(tmp_path, HEAD + "a,10,2,1,20\nb,-1,2,1,20\n")
    r = subprocess.run([str(exe), "pool", str(bad)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_glmm_model_through_pool(capsys):
    """--model glmm reports the contract keys; numbers from lme4::glmer (AuditC.glmm.json).

    The GLMM's own accuracy is tested in test_glmm.py; here only that the pool command
    runs it (loose tolerance).
    """
    code, out, _ = run(capsys, REFS / "AuditC.csv", "--model", "glmm", "--json")
    assert code == 0
    d = json.loads(out)
    assert CONTRACT_KEYS <= set(d) and d["model"] == "glmm"
    ref = json.loads((REFS / "AuditC.glmm.json").read_text())
    assert d["sensitivity"]["estimate"] == pytest.approx(ref["sensitivity"], rel=1e-3)
    assert d["loglik"] == pytest.approx(ref["logLik"], rel=1e-4)
    assert d["rho_sens_fpr"] == pytest.approx(
        ref["in_fpr_parameterisation"]["rho_logit_sens_fpr"], rel=1e-3)


def test_result_printed_before_a_figure_that_cannot_be_written(capsys, tmp_path):
    """A plot path that cannot be written fails the run but never loses the result."""
    figs = tmp_path / "figs"
    (figs / "forest.png").mkdir(parents=True)     # the figure's name is taken by a folder
    code, out, err = run(capsys, REFS / "AuditC.csv", "--json", "--plots", figs)
    assert code == 2
    ref = json.loads((REFS / "AuditC.reitsma.json").read_text())["reml"]
    d = json.loads(out)                           # the whole result, and only JSON
    assert d["sensitivity"]["estimate"] == pytest.approx(ref["sensitivity"], rel=1e-6)
    assert err.startswith(f"metaanalysis: error: {figs / 'forest.png'}: ")  # not a temp name
    assert [p.name for p in figs.iterdir()] == ["forest.png"]   # no temporary file left


def test_figures_get_a_new_files_usual_mode(capsys, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        code, _, _ = run(capsys, REFS / "few4.csv", "--plots", tmp_path)
        assert code == 0
        code = main(["bias", str(REFS / "AuditC.csv"), "--plots", str(tmp_path)])
        assert code == 0
    finally:
        os.umask(old)
    for name in ("forest.png", "sroc.png", "funnel.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
