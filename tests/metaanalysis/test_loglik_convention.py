"""One log-likelihood convention in every JSON: mada's for the normal model, glmer's for the GLMM.

``pool`` reports mada's logLik (the logits' likelihood plus the log-Jacobian of the logit,
checked against mada 0.5.12 in test_reitsma_refs.py); ``regress`` used to report metafor's
(no Jacobian), so the same no-covariate ML fit of the shipped data read 57.16 in ``pool``
and -53.85 as the null model of ``regress``'s LRT. Now ``loglik``, ``aic`` and ``bic``
follow ``pool``'s convention everywhere, a ``loglik_convention`` key names it, and
``regress`` keeps metafor's values under ``*_metafor`` (checked against metafor in
test_regression.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from metaanalysis.cli import main

pytestmark = pytest.mark.rref  # compares numbers with R output in tests/fixtures

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "vbq_subsequent_fracture" / "studies.csv"
FIX = Path(__file__).parents[1] / "fixtures" / "metafor_regression"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _hand_log_jacobian(path: Path) -> float:
    """``sum_i -log(s_i (1 - s_i)) - log(f_i (1 - f_i))`` on the corrected proportions.

    Written out here from the counts (0.5 added to every cell of every study when any cell
    is 0, mada's default), independently of the package's own helper.
    """
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = np.array([[float(r[c]) for c in ("TP", "FP", "FN", "TN")] for r in rows])
    if np.any(cells == 0):
        cells = cells + 0.5
    tp, fp, fn, tn = cells.T
    s, f = tp / (tp + fn), fp / (fp + tn)
    return float(np.sum(-np.log(s * (1 - s)) - np.log(f * (1 - f))))


@pytest.mark.parametrize("method", ["ml", "reml"])
def test_pool_and_intercept_only_regress_report_the_same_loglik(capsys, method) -> None:
    pool = _json(capsys, "pool", str(DATA), "--method", method)
    reg = _json(capsys, "regress", str(DATA), "--method", method)
    assert reg["terms"] == ["intercept"] and reg["lrt"] is None
    assert pool["loglik_convention"] == reg["loglik_convention"] == "mada"
    for key in ("loglik", "aic", "bic"):
        assert reg[key] == pytest.approx(pool[key], abs=1e-8), key
    # the same estimates too: it is the same model
    assert reg["tau2_logit_sens"] == pytest.approx(pool["tau2_logit_sens"], abs=1e-8)
    assert reg["coefficients"][0]["estimate"] == pytest.approx(
        pool["logit_sens"]["estimate"], abs=1e-8)
    # AIC and BIC from loglik with df = 5 and n = 2k (DESIGN.md), in both
    k = pool["n_studies"]
    assert pool["aic"] == pytest.approx(-2 * pool["loglik"] + 10, abs=1e-9)
    assert reg["bic"] == pytest.approx(-2 * pool["loglik"] + 5 * math.log(2 * k), abs=1e-8)


def test_regress_null_model_is_pools_ml_fit(capsys) -> None:
    """The LRT's reduced model of ``regress --covariate design`` is pool's ML fit (57.16)."""
    pool = _json(capsys, "pool", str(DATA), "--method", "ml")
    reg = _json(capsys, "regress", str(DATA), "--covariate", "design", "--method", "ml")
    lrt = reg["lrt"]
    assert lrt["loglik_convention"] == "mada"
    assert lrt["loglik_reduced"] == pytest.approx(pool["loglik"], abs=1e-8)
    assert lrt["loglik_full"] == pytest.approx(reg["loglik"], abs=1e-8)
    # metafor's values differ from mada's by the log-Jacobian alone (a function of the data)
    jac = _hand_log_jacobian(DATA)
    assert lrt["loglik_reduced"] - lrt["loglik_reduced_metafor"] == pytest.approx(jac, abs=1e-8)
    assert reg["loglik"] - reg["loglik_metafor"] == pytest.approx(jac, abs=1e-8)
    # the statistic is a difference: the same in both conventions
    stat = 2 * (lrt["loglik_full"] - lrt["loglik_reduced"])
    assert lrt["statistic"] == pytest.approx(stat, abs=1e-8)
    assert lrt["statistic"] == pytest.approx(
        2 * (lrt["loglik_full_metafor"] - lrt["loglik_reduced_metafor"]), abs=1e-8)


def test_reml_regression_differs_from_metafor_by_the_jacobian_and_log_det(capsys) -> None:
    """REML with a covariate: mada = metafor + Jacobian - log|X'X| (metafor's own REML term).

    The metafor values are the R fixtures' (metafor 3.8-1), so this pins the reported value
    to R: ``loglik = logLik_metafor + Jacobian - log|X'X|``, with ``X`` the (k, p) design.
    """
    ref = json.loads((FIX / "AuditC.json").read_text())["normal"]["REML"]["x"]
    reg = _json(capsys, "regress", str(FIX / "AuditC.csv"), "--covariate", "x")
    import csv

    with open(FIX / "AuditC.csv", newline="") as fh:
        x = np.array([float(r["x"]) for r in csv.DictReader(fh)])
    X = np.column_stack([np.ones_like(x), x])
    want = ref["logLik"] + _hand_log_jacobian(FIX / "AuditC.csv") - np.linalg.slogdet(X.T @ X)[1]
    assert reg["loglik"] == pytest.approx(want, abs=1e-6)
    assert reg["loglik_metafor"] == pytest.approx(ref["logLik"], abs=1e-6)
    assert reg["bic"] == pytest.approx(-2 * reg["loglik"] + 7 * math.log(2 * reg["n_studies"]),
                                       abs=1e-8)


def test_glmm_pool_and_regress_use_glmers_convention(capsys) -> None:
    pool = _json(capsys, "pool", str(DATA), "--model", "glmm")
    reg = _json(capsys, "regress", str(DATA), "--model", "glmm")
    assert pool["loglik_convention"] == reg["loglik_convention"] == "glmer"
    assert reg["loglik_metafor"] is None
    for key in ("loglik", "aic", "bic"):
        assert reg[key] == pytest.approx(pool[key], abs=1e-6), key


def test_reproduce_json_names_the_convention(capsys, tmp_path) -> None:
    out = _json(capsys, "reproduce", "--out", str(tmp_path), "--no-glmm")
    pool = _json(capsys, "pool", str(DATA))
    assert out["loglik_convention"] == "mada"
    for key in ("loglik", "aic", "bic"):
        assert out[key] == pytest.approx(pool[key], abs=1e-8), key
