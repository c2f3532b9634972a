"""Diagnostics against R: Deeks' test (lm), influence (metafor rma.mv), LOO and cumulative.

Reference numbers: tests/fixtures/diagnostics/<name>.diagnostics.json, written by
make_fixtures.R beside them (metafor 3.8-1 rstandard()/cooks.distance() with
cluster = study; base R lm(lnDOR ~ I(1/sqrt(ESS)), weights = ESS)).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaanalysis.diagnostics import cumulative, deeks_test, influence, leave_one_out
from metaanalysis.errors import AnalysisError, InputError
from metaanalysis.models.reitsma import fit_bivariate_normal, reitsma
from metaanalysis.table import StudyTable

pytestmark = pytest.mark.rref  # compares numbers with R output in tests/fixtures

FIX = Path(__file__).parents[1] / "fixtures" / "diagnostics"
ALL_SETS = ["AuditC", "Dementia", "skin_tests", "few4", "zerocells", "smoking"]
INFLUENCE_SETS = ["AuditC", "Dementia", "skin_tests", "zerocells"]


def load(name: str) -> tuple[StudyTable, dict]:
    table = StudyTable.from_csv(FIX / f"{name}.csv")
    ref = json.loads((FIX / f"{name}.diagnostics.json").read_text())
    return table, ref


# ------------------------------------------------------------------ Deeks' test (R lm)

@pytest.mark.parametrize("name", ALL_SETS)
def test_deeks_matches_r_lm(name):
    table, ref = load(name)
    d = ref["deeks"]
    res = deeks_test(table)
    for key in ("intercept", "intercept_se", "slope", "slope_se", "t", "p_value"):
        assert getattr(res, key) == pytest.approx(d[key], rel=1e-6, abs=1e-9), key
    assert res.df == d["df"] == table.k - 2
    np.testing.assert_allclose(res.data["ln_dor"], d["ln_dor"], rtol=1e-9)
    np.testing.assert_allclose(res.data["ess"], d["ess"], rtol=1e-9)
    assert list(res.data["corrected"]) == list(d["corrected"])


def test_deeks_summary_and_dict_consistent():
    table, ref = load("AuditC")
    res = deeks_test(table)
    s = res.summary()
    assert s.loc["inv_sqrt_ess", "p_value"] == pytest.approx(ref["deeks"]["p_value"], rel=1e-6)
    out = json.loads(json.dumps(res.to_dict()))
    assert out["asymmetry"] is (ref["deeks"]["p_value"] < 0.10)
    assert len(out["studies"]) == table.k


def test_deeks_hand_computed_effective_sample_size():
    # 2x2 tables made so that ESS = 4 n1 n2 / (n1 + n2) is easy: n1 = n2 = n -> ESS = 2n.
    df = pd.DataFrame({"study": ["a", "b", "c", "d"], "TP": [8, 15, 30, 9],
                       "FN": [2, 5, 10, 1], "FP": [1, 4, 10, 0], "TN": [9, 16, 30, 10]})
    res = deeks_test(StudyTable(df))
    np.testing.assert_allclose(res.data["ess"], [20, 40, 80, 20])
    # study d has a zero cell: 0.5 added to its cells only ("single")
    np.testing.assert_allclose(res.data["ln_dor"],
                               np.log([8 * 9 / 2, 15 * 16 / 20, 30 * 30 / 100,
                                       9.5 * 10.5 / (1.5 * 0.5)]))


def test_deeks_bad_input():
    table, _ = load("few4")
    with pytest.raises(AnalysisError, match="at least 3 studies"):
        deeks_test(table.subset([0, 1]))
    with pytest.raises(InputError, match="correction"):
        deeks_test(table, correction="none")


# ------------------------------------------------------------- influence (metafor)

@pytest.mark.parametrize("name", INFLUENCE_SETS)
def test_influence_matches_metafor_reml(name):
    table, ref = load(name)
    check_influence(influence(reitsma(table, method="reml")), ref["influence_reml"], table)


def test_influence_matches_metafor_ml():
    table, ref = load("AuditC")
    check_influence(influence(reitsma(table, method="ml")), ref["influence_ml"], table)


def check_influence(inf: pd.DataFrame, ref: dict, table: StudyTable) -> None:
    rows = ref["rows"]
    assert rows["study"][::2] == list(table.studies)
    assert rows["outcome"][:2] == ["sens", "fpr"]
    for col, key in (("resid", "resid"), ("se_resid", "se"), ("z", "z")):
        got = inf[[f"{col}_sens", f"{col}_fpr"]].to_numpy().ravel()
        np.testing.assert_allclose(got, rows[key], atol=1e-6, rtol=0, err_msg=col)
    x2 = dict(zip(ref["cluster"]["study"], ref["cluster"]["X2"], strict=True))
    np.testing.assert_allclose(inf["x2"], [x2[s] for s in inf["study"]], atol=1e-6)
    cook = dict(zip(ref["cooks"]["study"], ref["cooks"]["cooks_distance"], strict=True))
    expected = np.array([cook[s] for s in inf["study"]])
    np.testing.assert_allclose(inf["cooks_distance"], expected, atol=1e-6, rtol=1e-5)
    # metafor's own cooks.distance() (where its internal refit succeeded) agrees too
    mf = dict(zip(ref["cooks"]["study"], ref["cooks"]["metafor_cooks_distance"], strict=True))
    ok = [s for s in inf["study"] if mf[s] is not None and not isinstance(mf[s], str)]
    got = inf.set_index("study").loc[ok, "cooks_distance"]
    np.testing.assert_allclose(got, [mf[s] for s in ok], atol=1e-6, rtol=1e-5)
    assert inf["converged"].all()


def test_influence_needs_normal_model():
    table, _ = load("few4")
    fit = reitsma(table)
    with pytest.raises(InputError, match="Reitsma"):
        influence(dataclasses.replace(fit, model="glmm"))


# ------------------------------------------------------------------- leave one out

def test_loo_rows_equal_direct_fits():
    table, _ = load("skin_tests")
    loo = leave_one_out(table, method="reml")
    assert list(loo["omitted"]) == list(table.studies)
    assert (loo["n_studies"] == table.k - 1).all()
    for i in (0, 4, table.k - 1):
        direct = reitsma(table.drop(table.studies[i]), method="reml")
        row = loo.iloc[i]
        assert row["sensitivity"] == pytest.approx(direct.sensitivity.estimate, rel=1e-12)
        assert row["specificity_ci_low"] == pytest.approx(direct.specificity.ci_low, rel=1e-12)
        assert row["logit_fpr"] == pytest.approx(direct.mu[1], rel=1e-12)
        assert row["tau2_logit_sens"] == pytest.approx(direct.tau2[0], rel=1e-12)
        assert row["loglik"] == pytest.approx(direct.loglik, rel=1e-12)
        assert row["error"] == ""


def test_loo_redecides_continuity_correction():
    # only study "z" has a zero cell: without it, a direct fit uses no correction
    df = pd.DataFrame({"study": ["a", "b", "c", "d", "z"], "TP": [20, 15, 30, 12, 25],
                       "FN": [3, 2, 3, 1, 0], "FP": [5, 4, 8, 3, 2], "TN": [45, 30, 60, 40, 50]})
    table = StudyTable(df)
    loo = leave_one_out(table)
    direct = reitsma(table.drop("z"))
    row = loo.set_index("omitted").loc["z"]
    assert row["sensitivity"] == pytest.approx(direct.sensitivity.estimate, rel=1e-12)
    assert direct.correction == "all" and not table.drop("z").has_zero_cells
    # ... and so differs from a fit that kept the full table's +0.5 on every cell
    tp, fp, fn, tn = (c[:4] for c in table.corrected("all"))
    y = np.column_stack([np.log(tp / fn), np.log(fp / tn)])
    s = np.column_stack([1 / tp + 1 / fn, 1 / fp + 1 / tn])
    kept = fit_bivariate_normal(y, s, method="reml")
    assert abs(kept.coef[0][0] - row["logit_sens"]) > 1e-3


def test_loo_failed_fit_is_a_row_not_a_crash():
    table, _ = load("few4")
    loo = leave_one_out(table.subset([0, 1]))
    assert len(loo) == 2
    assert (loo["error"].str.len() > 0).all()
    assert loo["sensitivity"].isna().all()


# ---------------------------------------------------------------------- cumulative

def with_years(table: StudyTable, years: list[int]) -> StudyTable:
    df = table.df.copy()
    df["year"] = years
    return StudyTable(df)


def test_cumulative_steps_equal_direct_fits():
    base, _ = load("skin_tests")
    years = [2005, 2001, 2003, 2001, 2010, 2008, 2002, 2007, 2004, 2006]
    table = with_years(base, years)
    cum = cumulative(table, order_by="year")
    order = np.argsort(years, kind="stable")
    assert list(cum["added"]) == [table.studies[i] for i in order]
    assert list(cum["year"]) == sorted(years)
    assert cum.loc[0, "error"] != ""            # a single study cannot be pooled
    for j in (3, 6, 10):
        direct = reitsma(table.subset(np.sort(order[:j])))
        row = cum.iloc[j - 1]
        assert row["n_studies"] == j
        assert row["sensitivity"] == pytest.approx(direct.sensitivity.estimate, rel=1e-12)
        assert row["specificity"] == pytest.approx(direct.specificity.estimate, rel=1e-12)
    full = reitsma(table)
    assert cum.iloc[-1]["loglik"] == pytest.approx(full.loglik, rel=1e-12)


def test_cumulative_descending_keeps_ties_in_table_order():
    base, _ = load("skin_tests")
    years = [2005, 2001, 2003, 2001, 2010, 2008, 2002, 2007, 2004, 2006]
    table = with_years(base, years)
    cum = cumulative(table, order_by="year", ascending=False)
    # newest first; the two 2001 studies (rows 2 and 4) stay in the table's order
    expected = [4, 5, 7, 9, 0, 8, 2, 6, 1, 3]
    assert list(cum["added"]) == [table.studies[i] for i in expected]
    assert list(cum["year"]) == sorted(years, reverse=True)
    # text order keys too: "b" before "a", the two "a" rows in table order
    df = base.df.copy()
    df["site"] = ["a", "b", "a", "c", "b", "a", "c", "a", "b", "c"]
    cum = cumulative(StudyTable(df), order_by="site", ascending=False)
    expected = [3, 6, 9, 1, 4, 8, 0, 2, 5, 7]
    assert list(cum["added"]) == [table.studies[i] for i in expected]


def test_cumulative_bad_order_column():
    base, _ = load("few4")
    with pytest.raises(InputError, match="'year' is not in the study table"):
        cumulative(base, order_by="year")
    df = base.df.copy()
    df["year"] = [2001, None, 2003, None]
    with pytest.raises(InputError, match="missing for studies: 2, 4"):
        cumulative(StudyTable(df), order_by="year")


def test_loo_glmm_rows_equal_direct_fits():
    from metaanalysis.models.glmm import glmm

    table, _ = load("few4")
    loo = leave_one_out(table, model="glmm")
    direct = glmm(table.drop(table.studies[2]))
    row = loo.iloc[2]
    assert row["omitted"] == table.studies[2]
    assert row["sensitivity"] == pytest.approx(direct.sensitivity.estimate, rel=1e-10)
    assert row["rho_sens_fpr"] == pytest.approx(direct.rho, rel=1e-10, abs=1e-12)
    with pytest.raises(InputError, match="model must be"):
        leave_one_out(table, model="hsroc")
