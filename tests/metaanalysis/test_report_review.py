"""``metaanalysis report``: every number equals the matching API call; the HTML opens in
headless Chromium with every figure loaded; the PDF has the expected pages and text;
small or degenerate tables still give a report that says what could not be estimated.

References: the API calls the commands make (fit_model, per_1000, post_test,
deeks_test, regression); the per-outcome prediction interval is checked against a
hand computation with scipy's t quantile (Riley et al. 2011).
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _pages import open_page
from scipy.special import expit
from scipy.stats import t as student_t

from metaanalysis import clinical
from metaanalysis.bias import deeks_test
from metaanalysis.cli import main
from metaanalysis.diagnostics import fit_model
from metaanalysis.errors import InputError
from metaanalysis.models.regression import regression
from metaanalysis.review import prediction_intervals, read_grade, review, risk_of_bias
from metaanalysis.table import StudyTable

DATA = Path(__file__).resolve().parents[2] / "data" / "vbq_subsequent_fracture"
ROB = ["rob_patient_selection", "rob_index_test", "rob_reference_standard", "rob_flow_timing",
       "app_patient_selection", "app_index_test", "app_reference_standard", "rob_quapas_outcome"]


def _table_with_rob(path: Path) -> Path:
    df = pd.read_csv(DATA / "studies.csv")
    rng = np.random.default_rng(7)
    for c in ROB:
        df[c] = rng.choice(["low", "LOW", "unclear", "", "low"], len(df))
    df.loc[[2, 5, 11], "rob_flow_timing"] = "High"
    df["doi"] = [f"10.1/x{i}" for i in range(len(df))]
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    src = _table_with_rob(tmp / "studies.csv")
    grade = tmp / "grade.json"
    grade.write_text(json.dumps({"sensitivity": {"certainty": "moderate",
                                                 "reasons": ["risk of bias"]},
                                 "specificity": {"certainty": "low",
                                                 "reasons": "inconsistency"}}))
    out = tmp / "out"
    code = main(["report", str(src), "--covariate", "design", "--covariate", "field_strength",
                 "--pretest", "0.2", "--prevalence", "0.1", "--prevalence", "0.3",
                 "--grade", str(grade), "--title", "VBQ review", "--out", str(out)])
    assert code == 0
    text = html.unescape((out / "report.html").read_text())
    return {"src": src, "out": out, "html": text, "table": StudyTable.read(src)}


def test_pooled_numbers_equal_the_api(report):
    t, text = report["table"], report["html"]
    fit = fit_model(t, "reitsma", method="reml", correction="all")
    for e in (fit.sensitivity, fit.specificity, fit.lr_positive, fit.lr_negative, fit.dor):
        assert f"{e.estimate:.3f} ({e.ci_low:.3f}-{e.ci_high:.3f})" in text
    assert f"{fit.tau2[0]:.4f}" in text and f"{fit.tau2[1]:.4f}" in text
    assert f"{fit.i2['logit_sens']:.3f}" in text and f"{fit.i2_cochran_q['logit_fpr']:.3f}" in text
    for outcome in ("sensitivity", "specificity"):
        row = fit.summary_frame().loc["R01"]
        assert (f"{row[outcome]:.3f} ({row[outcome + '_ci_low']:.3f}-"
                f"{row[outcome + '_ci_high']:.3f})") in text
    counts = clinical.per_1000(fit, [0.1, 0.3]).set_index(["prevalence", "outcome"])
    r = counts.loc[(0.3, "FN")]
    assert f"{r['count']:.0f} ({r['low']:.0f}-{r['high']:.0f})" in text
    post = clinical.post_test(fit, [0.2]).iloc[0]
    assert (f"{post.post_positive:.3f} ({post.post_positive_low:.3f}-"
            f"{post.post_positive_high:.3f})") in text
    dk = deeks_test(t)
    assert f"p = {dk.p_value:.4f}" in text
    reg = regression(t, ["design"], model="reitsma", method="reml", correction="all")
    assert f"p = {reg.lrt.p_value:.4f}" in text
    assert report["out"].joinpath("report.html").stat().st_size > 0


def test_meta_regression_rows_name_their_outcome_and_term(report):
    """Each coefficient of each covariate stands in a row with its outcome and term."""
    rows = [re.sub(r"<[^>]+>", "|", tr) for tr in re.findall(r"<tr>(.*?)</tr>",
                                                             report["html"], re.S)]
    cells = [[c for c in row.split("|") if c] for row in rows]
    for cov in ("design", "field_strength"):
        reg = regression(report["table"], [cov], model="reitsma", method="reml",
                         correction="all")
        for r in reg.coef_table().itertuples(index=False):
            want = [r.outcome, r.term, f"{r.estimate:.4f}", f"{r.se:.4f}"]
            assert any(c[:4] == want for c in cells), want
    assert ["outcome", "term", "estimate", "se", "z", "p", "ci_low", "ci_high"] in cells


def test_prediction_interval_by_hand(report):
    fit = fit_model(report["table"], "reitsma")
    k = report["table"].k
    q = student_t.ppf(0.975, k - 2)
    lo = expit(fit.mu[0] - q * math.sqrt(fit.psi[0, 0] + fit.vcov[0, 0]))
    hi = expit(fit.mu[0] + q * math.sqrt(fit.psi[0, 0] + fit.vcov[0, 0]))
    pi = prediction_intervals(fit)
    assert pi.loc["sensitivity", "pi_low"] == pytest.approx(lo, rel=1e-12)
    assert pi.loc["sensitivity", "pi_high"] == pytest.approx(hi, rel=1e-12)
    f_hi = expit(fit.mu[1] + q * math.sqrt(fit.psi[1, 1] + fit.vcov[1, 1]))
    assert pi.loc["specificity", "pi_low"] == pytest.approx(1 - f_hi, rel=1e-12)
    assert f"{lo:.3f}-{hi:.3f}" in report["html"]
    assert "not the projection of the two-dimensional prediction region" in report["html"]


def test_provenance_rob_grade_and_stamp(report):
    text = report["html"]
    assert "10.1/x0" in text and "retrospective cohort" in text  # doi, design
    assert "rob_quapas_outcome" in text  # any other rob_* column is shown
    assert "moderate: risk of bias" in text and "low: inconsistency" in text
    assert "3 of 29 studies at high risk of bias" in text
    assert "without high-risk studies" in text
    sha = __import__("hashlib").sha256(report["src"].read_bytes()).hexdigest()
    assert sha in text and "vbq-toolkit" in text and "UTC" in text
    fit = fit_model(report["table"].drop(["R03", "R06", "R12"]), "reitsma")
    s = fit.sensitivity
    assert f"{s.estimate:.3f} ({s.ci_low:.3f}-{s.ci_high:.3f})" in text


def test_rob_values_and_grade_file_are_checked(tmp_path):
    df = pd.DataFrame({"study": ["a", "b", "c"], "TP": [9, 8, 7], "FP": [1, 2, 3],
                       "FN": [1, 2, 2], "TN": [9, 8, 9], "rob_index_test": ["low", "bad", ""]})
    with pytest.raises(InputError, match="study 'b', column rob_index_test: 'bad' is not"):
        risk_of_bias(StudyTable(df))
    rob = risk_of_bias(StudyTable(df.assign(rob_index_test=["LOW", "High", ""])))
    assert rob["rob_index_test"].tolist() == ["low", "high", "not assessed"]
    assert rob["high_risk"].tolist() == [False, True, False]
    bad = tmp_path / "g.json"
    for content, msg in (({"sens": {}}, "unknown key 'sens'"),
                         ({"sensitivity": {"certainty": "good"}}, "certainty must be one of"),
                         ({"sensitivity": {"certainty": "low", "why": 1}},
                          "unknown key 'sensitivity.why'")):
        bad.write_text(json.dumps(content))
        with pytest.raises(InputError, match=msg):
            read_grade(bad)
    csv = tmp_path / "t.csv"
    df.drop(columns="rob_index_test").to_csv(csv, index=False)
    bad.write_text("{not json")
    assert main(["report", str(csv), "--grade", str(bad), "--out", str(tmp_path / "o")]) == 2


def test_a_long_risk_of_bias_cell_is_shown_short(tmp_path, capsys):
    long = "probably low, see the appendix " * 200
    df = pd.DataFrame({"study": ["a", "b", "c"], "TP": [9, 8, 7], "FP": [1, 2, 3],
                       "FN": [1, 2, 2], "TN": [9, 8, 9], "rob_index_test": ["low", long, ""]})
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False)
    assert main(["report", str(csv), "--out", str(tmp_path / "o")]) == 2
    out, err = capsys.readouterr()
    assert err == (f"metaanalysis: error: {csv}: study 'b', column rob_index_test: "
                   "'probably low, see th... (6200 characters)' is not a risk-of-bias "
                   "judgement; use low, high or unclear (empty = not assessed).\n")
    assert out == ""


@pytest.mark.parametrize(("content", "sentence"), [
    ({"x" * 500: {}}, "unknown key 'xxxxxxxxxxxxxxxxxxxx... (500 characters)'; the keys are "
                      "sensitivity (TP/FN) and specificity (TN/FP)."),
    ({"sensitivity": {"certainty": "y" * 500}},
     "sensitivity.certainty must be one of high, moderate, low, very low; got "
     "'yyyyyyyyyyyyyyyyyyyy... (500 characters)'."),
    ({"sensitivity": {"certainty": "low", "z" * 500: 1}},
     "unknown key 'sensitivity.zzzzzzzz... (512 characters)'; use certainty and reasons."),
])
def test_long_values_of_a_grade_file_are_shown_short(tmp_path, content, sentence):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InputError) as err:
        read_grade(path)
    assert str(err.value) == f"{path}: {sentence}"


@pytest.mark.parametrize("k", [2, 3])
def test_few_studies_still_give_a_report(tmp_path, k, capsys):
    df = pd.DataFrame({"study": list("abc")[:k], "TP": [9, 8, 20][:k], "FP": [1, 2, 5][:k],
                       "FN": [1, 2, 3][:k], "TN": [9, 8, 30][:k], "g": ["x"] * k})
    src = tmp_path / "t.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "o"
    assert main(["report", str(src), "--covariate", "g", "--pretest", "0.3",
                 "--out", str(out)]) == 0
    text = html.unescape((out / "report.html").read_text())
    assert "covariate 'g' has only one level" in text
    assert "no numeric year column" in text
    if k == 2:
        assert "pooled model could not be fitted: only 2 studies" in text
        assert "Deeks' test needs at least 3 studies" in text
    else:
        assert "No fit without one study could be made" in text
    assert (out / "report.pdf").stat().st_size > 0


def test_pdf_pages_and_text(report):
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(str(report["out"] / "report.pdf"))
    blocks_with_figures = 9  # as in the HTML (field_strength is continuous: no subgroups)
    assert len(reader.pages) >= blocks_with_figures + 3
    text = "\n".join(p.extract_text() for p in reader.pages)
    for phrase in ("VBQ review", "Pooled estimates", "Risk of bias summary", "Deeks' funnel plot",
                   "Fagan nomogram", "summary of findings", "SHA-256"):
        assert phrase in text, phrase


def test_html_in_headless_chromium(report, tmp_path):
    seen = open_page(report["out"] / "report.html", tmp_path, "report.png")
    assert seen.errors == [] and seen.outside_requests == []
    # forest, sroc, rob x2, subgroups by design, loo, funnel, cumulative, fagan
    assert len(seen.images) == 9
    assert all(done and width > 0 for _, done, width in seen.images), seen.images
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_review_api_matches_the_command(report):
    rev = review(report["table"], covariates=("design",), pretest=(0.2,))
    assert rev.fit is not None and rev.notes.keys() <= {"influence"}
    assert re.search(r"[0-9a-f]{64}", report["html"])


def test_a_table_refused_leaves_no_output_folder_behind(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("study,TP,FP,FN\na,9,1,1\nb,8,2,2\n")       # no TN column
    out = tmp_path / "new" / "o"
    assert main(["report", str(csv), "--out", str(out)]) == 2
    assert "TN" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
