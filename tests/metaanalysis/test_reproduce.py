"""``metaanalysis reproduce``: published against reproduced figures, JSON, figures, report.

References: the published aggregates; metafor ``rma.mv`` and lme4 ``glmer`` fitted in R
to the shipped table (tests/fixtures/reproduce/make_vbq_ref.R), metafor ``rma(method="DL")``
for I2; hand arithmetic for the implied LR+/LR-/DOR.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from metaanalysis import cli
from metaanalysis.heterogeneity import cochran_q_i2
from metaanalysis.published import VBQ_SUBSEQUENT_FRACTURE, implied_figures
from metaanalysis.reproduce import reproduce
from metaanalysis.table import StudyTable

#: Compares numbers with R output in tests/fixtures (.ci/run reruns them under a second BLAS).
pytestmark = pytest.mark.rref

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "reproduce" /
                  "vbq_subsequent_fracture.ref.json").read_text())
REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "data" / "vbq_subsequent_fracture" / "template.csv"
POOL_KEYS = {"model", "method", "n_studies", "correction", "sensitivity", "specificity",
             "false_positive_rate", "logit_sens", "logit_fpr", "tau2_logit_sens",
             "tau2_logit_fpr", "rho_sens_fpr", "loglik", "aic", "bic", "hsroc", "auc", "pauc",
             "lr_positive", "lr_negative", "dor", "warnings"}


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "out"
    import io
    from contextlib import redirect_stderr, redirect_stdout

    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = cli.main(["reproduce", "--json", "--out", str(out)])
    return code, stdout.getvalue(), stderr.getvalue(), out


def test_json_reports_the_published_headline(json_run):
    code, stdout, _, _ = json_run
    assert code == 0
    res = json.loads(stdout)  # stdout is nothing but the JSON
    assert res["n_studies"] == 29
    assert res["n_patients"] == 7364
    for key, published in (("sensitivity", 0.85), ("specificity", 0.66)):
        assert set(res[key]) == {"estimate", "ci_low", "ci_high"}
        assert round(res[key]["estimate"], 2) == published
        assert res[key]["ci_low"] < res[key]["estimate"] < res[key]["ci_high"]
    assert res["published"]["k"] == 29 and res["published"]["n_patients"] == 7364
    assert (res["published"]["sensitivity"], res["published"]["specificity"]) == (0.85, 0.66)
    assert res["matches_published"] == {"n_studies": True, "n_patients": True,
                                        "sensitivity": True, "specificity": True}
    assert res["reconstructed"] is True
    assert POOL_KEYS <= set(res)


def test_json_has_the_pool_json_of_the_same_table(json_run, capsys):
    res = json.loads(json_run[1])
    studies = REPO / "data" / "vbq_subsequent_fracture" / "studies.csv"
    assert cli.main(["pool", str(studies), "--json"]) == 0
    pool = json.loads(capsys.readouterr().out)
    assert set(pool) <= set(res)
    for key in ("sensitivity", "specificity", "dor", "auc", "tau2_logit_sens", "n_studies"):
        assert res[key] == pytest.approx(pool[key], rel=1e-9), key
    assert res.get("i2") == pool.get("i2")  # the pool JSON's own entries are not replaced


def test_json_numbers_match_r(json_run):
    res = json.loads(json_run[1])
    r = REF["reitsma_metafor"]
    assert res["model"] == "reitsma" and res["method"] == "reml"
    assert res["logit_sens"]["estimate"] == pytest.approx(r["logit_sens"], abs=1e-5)
    assert res["logit_fpr"]["estimate"] == pytest.approx(r["logit_fpr"], abs=1e-5)
    assert res["sensitivity"]["ci_low"] == pytest.approx(r["sens_ci"][0], abs=1e-5)
    assert res["specificity"]["ci_high"] == pytest.approx(r["spec_ci"][1], abs=1e-5)
    assert res["tau2_logit_sens"] == pytest.approx(r["tau2_logit_sens"], rel=1e-4)
    i2 = res["i2_cochran_q"]
    assert i2["logit_sens"] == pytest.approx(REF["i2_dl"]["logit_sens"], abs=1e-8)
    # I2 of logit FPR = I2 of logit specificity (the same variances, y negated)
    assert i2["logit_fpr"] == pytest.approx(REF["i2_dl"]["logit_spec"], abs=1e-8)
    g, gr = res["glmm"], REF["glmm_lme4"]
    assert g is not None and g["model"] == "glmm"
    assert g["sensitivity"]["estimate"] == pytest.approx(gr["sensitivity"], abs=1e-4)
    assert g["specificity"]["estimate"] == pytest.approx(gr["specificity"], abs=1e-4)


def test_figures_and_self_contained_report_are_written(json_run):
    _, _, stderr, out = json_run
    for name in ("forest.png", "sroc.png", "report.html", "report.pdf", "reproduction.json",
                 "comparison.csv"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    images = dict(re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"',
                             html))
    # the review's figures: forest, SROC, leave-one-out, funnel, cumulative by year
    assert len(images) == 5
    assert base64.b64decode(images["Paired forest plot"]) == (out / "forest.png").read_bytes()
    sroc = next(v for k, v in images.items() if k.startswith("SROC"))
    assert base64.b64decode(sroc) == (out / "sroc.png").read_bytes()
    assert "reconstruction" in html and "7364" in html and "<table>" in html
    assert "src=\"http" not in html and "href=\"http" not in html  # nothing external
    assert "wrote" in stderr and str(out / "report.html") in stderr
    assert not list(out.glob(".*.tmp"))


def test_table_output_sets_published_against_reproduced(tmp_path, capsys):
    code = cli.main(["reproduce", "--out", str(tmp_path), "--no-glmm"])
    out = capsys.readouterr().out
    assert code == 0
    r = REF["reitsma_metafor"]
    expected_sens = (f"{r['sensitivity']:.2f} ({r['sens_ci'][0]:.2f}-{r['sens_ci'][1]:.2f})")
    line = next(ln for ln in out.splitlines() if ln.startswith("sensitivity"))
    assert "0.85" in line and expected_sens in line
    assert line.rstrip().endswith("by construction of the reconstruction")
    assert re.search(r"patients \(N\)\s+7364\s+7364\s+by construction", out)
    assert not re.search(r"\byes\b", out) and "match" not in out.splitlines()[0]
    assert "2.50 (implied)" in out  # LR+ implied by the published point, labelled as such
    assert "reconstruction" in out


def test_implied_figures_by_hand():
    imp = implied_figures(VBQ_SUBSEQUENT_FRACTURE)
    assert imp["lr_positive"] == pytest.approx(0.85 / 0.34)
    assert imp["lr_negative"] == pytest.approx(0.15 / 0.66)
    assert imp["dor"] == pytest.approx((0.85 * 0.66) / (0.15 * 0.34))


def test_cochran_q_i2_hand_computed():
    # two studies, no zero cells: logits log(8/2), log(5/5); variances 1/8+1/2, 1/5+1/5
    t = StudyTable.from_csv(TEMPLATE).subset([0, 1])
    got = cochran_q_i2(t)["logit_sens"]
    y1, v1 = (34 / 6, 1 / 34 + 1 / 6)
    y2, v2 = (21 / 5, 1 / 21 + 1 / 5)
    import math
    y = [math.log(y1), math.log(y2)]
    w = [1 / v1, 1 / v2]
    ybar = (w[0] * y[0] + w[1] * y[1]) / sum(w)
    q = w[0] * (y[0] - ybar) ** 2 + w[1] * (y[1] - ybar) ** 2
    assert got == pytest.approx(max(0.0, (q - 1) / q), abs=1e-12)


@pytest.mark.filterwarnings("ignore::metaanalysis.errors.FitWarning")
def test_other_data_file_is_compared_honestly(tmp_path, capsys):
    code = cli.main(["reproduce", "--data", str(TEMPLATE), "--out", str(tmp_path), "--json",
                     "--no-glmm"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0
    assert res["n_studies"] == 3 and res["data"] == str(TEMPLATE)
    assert res["matches_published"]["n_studies"] is False
    assert res["reconstructed"] is False
    assert res["glmm"] is None and res["glmm_note"] == "not requested."
    assert res["how_it_agrees"]["n_studies"] == "differs from the published figure"
    assert res["spread"] is None  # the spread belongs to the shipped reconstruction
    html = (tmp_path / "report.html").read_text()
    assert "No spread of reconstructions" in html and "by construction" not in html
    sha = __import__("hashlib").sha256(TEMPLATE.read_bytes()).hexdigest()
    assert sha in html  # the stamp names the --data file


def test_output_path_that_is_a_file_is_bad_input(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("keep me")
    code = cli.main(["reproduce", "--out", str(blocker), "--no-glmm"])
    err = capsys.readouterr().err
    assert code == 2 and "is not a folder" in err and str(blocker) in err
    assert blocker.read_text() == "keep me"


def test_python_api_matches_the_cli(json_run):
    rep = reproduce(glmm=False)
    assert rep.fit.sensitivity.estimate == pytest.approx(
        json.loads(json_run[1])["sensitivity"]["estimate"], abs=1e-12)
    cmp_ = rep.comparison()
    assert list(cmp_.columns) == ["figure", "published", "reitsma", "glmm", "match",
                                  "how_it_agrees"]
    row = cmp_.set_index("figure").loc["specificity (95% CI)"]
    assert row["match"] == "yes"  # the published digits are reproduced ...
    assert row["how_it_agrees"] == "by construction of the reconstruction"  # ... and why


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("metaanalysis")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "metaanalysis.cli"]
    proc = subprocess.run([*cmd, "reproduce", "--json", "--no-glmm", "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert (res["n_studies"], res["n_patients"]) == (29, 7364)
    assert (tmp_path / "o" / "report.html").exists()
