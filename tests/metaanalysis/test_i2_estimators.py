"""The I2 estimators: one function each, one key each, the same value on every output surface.

- ``i2``: Higgins-Thompson, ``tau2 / (tau2 + s2)`` from a fitted tau2 and the typical
  within-study variance ``s2`` (metafor's ``rma`` I2);
- ``i2_cochran_q``: ``max(0, (Q - df) / Q)`` (no fit; equal to ``i2`` with the
  DerSimonian-Laird tau2);
- ``i2_holling`` and ``i2_zhou``: tested against mada in test_i2_mada.py.

References: numbers computed by hand below, and metafor 3.8-1 ``rma`` on a four-study
table (tests/fixtures/i2_small/, made by make_i2_small.R beside it; full precision).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from metaanalysis.cli import main
from metaanalysis.heterogeneity import (
    cochran_q,
    dersimonian_laird_tau2,
    i2,
    i2_cochran_q,
    typical_within_variance,
)
from metaanalysis.table import StudyTable

pytestmark = pytest.mark.rref  # compares numbers with R output in tests/fixtures

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "vbq_subsequent_fracture" / "studies.csv"
SMALL = Path(__file__).parents[1] / "fixtures" / "i2_small"


def test_estimators_by_hand_on_three_studies() -> None:
    # y = (0, 1, 3), v = (0.5, 1, 2): w = (2, 1, 0.5), sum w = 3.5, sum w^2 = 5.25
    # weighted mean = (0 + 1 + 1.5) / 3.5 = 5/7
    # Q = 2 (5/7)^2 + 1 (2/7)^2 + 0.5 (16/7)^2 = (50 + 4 + 128) / 49 = 26/7
    # (Q - df) / Q = (26/7 - 2) / (26/7) = 12/26 = 6/13
    # DL: c = 3.5 - 5.25/3.5 = 2, tau2 = (26/7 - 2) / 2 = 6/7
    # typical variance s2 = 2 * 3.5 / (3.5^2 - 5.25) = 7/7 = 1
    # Higgins-Thompson: i2(6/7) = (6/7) / (6/7 + 1) = 6/13; i2(0.5) = 0.5 / 1.5 = 1/3
    y, v = [0.0, 1.0, 3.0], [0.5, 1.0, 2.0]
    assert cochran_q(y, v) == pytest.approx(26 / 7, rel=1e-14)
    assert i2_cochran_q(y, v) == pytest.approx(6 / 13, rel=1e-14)
    assert dersimonian_laird_tau2(y, v) == pytest.approx(6 / 7, rel=1e-14)
    assert typical_within_variance(v) == pytest.approx(1.0, rel=1e-14)
    assert i2(6 / 7, v) == pytest.approx(6 / 13, rel=1e-14)
    assert i2(0.5, v) == pytest.approx(1 / 3, rel=1e-14)
    assert i2(0.0, v) == 0.0
    # the intercept-only design gives the same typical variance
    assert typical_within_variance(v, np.ones((3, 1))) == pytest.approx(1.0, rel=1e-14)
    # less spread than chance: Q = 2 (0.1)^2 ... below df, floored at 0
    assert i2_cochran_q([0.0, 0.1, 0.0], [1.0, 1.0, 1.0]) == 0.0
    assert i2_cochran_q([1.0, 1.0], [1.0, 2.0]) == 0.0  # Q = 0


@pytest.mark.parametrize("outcome", ["logit_sens", "logit_fpr"])
def test_estimators_match_metafor_rma(outcome: str) -> None:
    ref = json.loads((SMALL / "i2_small.json").read_text())[outcome]
    t = StudyTable.from_csv(SMALL / "i2_small.csv")
    a, b = (t.tp, t.fn) if outcome == "logit_sens" else (t.fp, t.tn)
    y, v = np.log(a / b), 1.0 / a + 1.0 / b
    # closed forms on R's full-precision output: agreement to round-off
    assert cochran_q(y, v) == pytest.approx(ref["DL"]["QE"], rel=1e-10)
    assert dersimonian_laird_tau2(y, v) == pytest.approx(ref["DL"]["tau2"], rel=1e-10)
    assert i2_cochran_q(y, v) == pytest.approx(ref["DL"]["I2"], rel=1e-10)
    for method in ("DL", "REML"):  # Higgins-Thompson from metafor's own tau2
        assert i2(ref[method]["tau2"], v) == pytest.approx(ref[method]["I2"], rel=1e-10)
    # with a moderator: metafor's typical variance (k - p) / tr(P)
    X = np.column_stack([np.ones(t.k), t.covariates["x"].to_numpy(float)])
    assert i2(ref["DL_x"]["tau2"], v, X) == pytest.approx(ref["DL_x"]["I2"], rel=1e-10)
    assert i2(ref["DL_x"]["tau2"], v) != pytest.approx(ref["DL_x"]["I2"], rel=1e-3)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@pytest.mark.filterwarnings("ignore::metaanalysis.errors.FitWarning")
def test_every_surface_gives_the_same_value_under_the_same_key(capsys, tmp_path) -> None:
    pool = _json(capsys, "pool", str(DATA))
    glmm = _json(capsys, "pool", str(DATA), "--model", "glmm")
    rep = _json(capsys, "reproduce", "--out", str(tmp_path))
    reg = _json(capsys, "regress", str(DATA))
    reg_glmm = _json(capsys, "regress", str(DATA), "--model", "glmm")
    uni = _json(capsys, "pool", str(DATA), "--model", "univariate")["outcomes"]

    # proportions, never percent
    for d in (pool, glmm, rep, reg):
        for v in d["i2"].values():
            assert 0.0 <= v <= 1.0
    for v in (*pool["i2_cochran_q"].values(), *pool["i2_holling"].values(), pool["i2_zhou"]):
        assert 0.0 <= v <= 1.0
    for row in uni.values():
        assert 0.0 <= row["i2"] <= 1.0 and 0.0 <= row["i2_cochran_q"] <= 1.0
        assert "I2" not in row

    # the same fit: the same key, the same value
    for key in ("i2", "i2_cochran_q", "i2_holling", "i2_zhou"):
        assert rep[key] == pool[key], key
        assert rep["glmm"][key] == glmm[key], key
    for key in ("logit_sens", "logit_fpr", "bivariate"):
        assert reg["i2"][key] == pytest.approx(pool["i2"][key], abs=1e-9), key
        assert reg_glmm["i2"][key] == pytest.approx(glmm["i2"][key], abs=1e-6), key
    # (Q - df)/Q needs no fit: the same in the bivariate outputs and the univariate one
    assert uni["logit_sens"]["i2_cochran_q"] == pytest.approx(
        pool["i2_cochran_q"]["logit_sens"], abs=1e-12)
    assert uni["logit_spec"]["i2_cochran_q"] == pytest.approx(
        pool["i2_cochran_q"]["logit_fpr"], abs=1e-12)
    assert glmm["i2_cochran_q"] == pool["i2_cochran_q"]
    # and different estimators do differ here (REML Psi vs DL): they must not share a key
    assert pool["i2"]["logit_sens"] != pytest.approx(pool["i2_cochran_q"]["logit_sens"],
                                                     abs=1e-4)

    # text: percent, with the estimator named
    ht = (f"I\u00b2 (Higgins-Thompson, fitted tau\u00b2): logit sens "
          f"{_pct(pool['i2']['logit_sens'])}, logit FPR {_pct(pool['i2']['logit_fpr'])}")
    cq = (f"I\u00b2 (Cochran's Q, (Q - df)/Q): logit sens "
          f"{_pct(pool['i2_cochran_q']['logit_sens'])}, "
          f"logit FPR {_pct(pool['i2_cochran_q']['logit_fpr'])}")
    text = _text(capsys, "pool", str(DATA))
    assert ht in text and cq in text
    assert not re.search(r"^I2:", text, flags=re.M)  # the old unnamed line
    reg_text = _text(capsys, "regress", str(DATA))
    assert (f"residual I\u00b2 (Higgins-Thompson, residual tau\u00b2): logit sens "
            f"{_pct(pool['i2']['logit_sens'])}") in reg_text
    rep_text = _text(capsys, "reproduce", "--out", str(tmp_path / "t"))
    row = next(ln for ln in rep_text.splitlines()
               if ln.startswith("I\u00b2 logit sens (Higgins-Thompson"))
    assert _pct(pool["i2"]["logit_sens"]) in row and _pct(glmm["i2"]["logit_sens"]) in row
    row = next(ln for ln in rep_text.splitlines()
               if ln.startswith("I\u00b2 logit FPR (Cochran's Q"))
    assert _pct(pool["i2_cochran_q"]["logit_fpr"]) in row
    html = (tmp_path / "t" / "report.html").read_text()
    assert "Higgins-Thompson" in html and _pct(pool["i2"]["logit_sens"]) in html
    uni_text = _text(capsys, "pool", str(DATA), "--model", "univariate")
    assert "Higgins-Thompson" in uni_text and "(Q - df)/Q" in uni_text
    line = next(ln for ln in uni_text.splitlines()[::-1] if ln.startswith("logit_sens"))
    assert f"{100 * uni['logit_sens']['i2']:.1f}" in line
