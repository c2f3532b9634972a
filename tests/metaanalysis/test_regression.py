"""Bivariate meta-regression against metafor::rma.mv and lme4::glmer.

Reference: tests/fixtures/metafor_regression/<name>.json, made by make_fixtures.R (beside it)
with metafor 3.8-1 ``rma.mv(yi, vi, mods = ~ 0 + outcome + outcome:cov, random = ~ outcome |
study, struct = "UN")`` on the long format (bobyqa, rhoend = 1e-12) and lme4 1.1-31 ``glmer``
with the covariate columns (tolPwrss = 1e-13). Data: AuditC and Dementia with synthetic
covariates x (continuous) and group (categorical), and a simulated set (simreg); the covariate
values are in the CSVs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.errors import AnalysisError, FitWarning, InputError, SingleStudyLevelWarning
from metaanalysis.models.regression import likelihood_ratio_test, regression
from metaanalysis.table import StudyTable

#: Compares numbers with R output in tests/fixtures (.ci/run reruns them under a second BLAS).
pytestmark = pytest.mark.rref

FIX = Path(__file__).parents[1] / "fixtures" / "metafor_regression"
SETS = ["AuditC", "Dementia", "simreg"]
MODELS = {"x": ["x"], "group": ["group"], "x_group": ["x", "group"]}


def _table(name: str) -> StudyTable:
    return StudyTable.from_csv(FIX / f"{name}.csv")


def _ref(name: str) -> dict:
    return json.loads((FIX / f"{name}.json").read_text())


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("key", list(MODELS))
def test_normal_model_matches_rma_mv(name: str, method: str, key: str) -> None:
    ref = _ref(name)["normal"][method][key]
    res = regression(_table(name), MODELS[key], method=method.lower(), test=False)
    tab = res.coef_table()
    # metafor's order: outcometsens, outcometfpr, outcometsens:cov, outcometfpr:cov, ...
    assert len(tab) == len(ref["beta"])
    np.testing.assert_allclose(tab["estimate"], ref["beta"], atol=1e-6)
    np.testing.assert_allclose(tab["se"], ref["se"], atol=1e-6)
    np.testing.assert_allclose(tab["z"], ref["zval"], atol=1e-5)
    np.testing.assert_allclose(tab["p"], ref["pval"], atol=1e-6)
    np.testing.assert_allclose(tab["ci_low"], ref["ci_lb"], atol=1e-6)
    np.testing.assert_allclose(res.vcov, np.array(ref["vcov"]), atol=1e-6)
    np.testing.assert_allclose(res.tau2, ref["tau2"], atol=1e-6)
    assert res.rho == pytest.approx(ref["rho"], abs=1e-6)
    # metafor's convention is kept beside the reported (mada's) one
    assert res.loglik_metafor == pytest.approx(ref["logLik"], abs=1e-6)
    assert res.aic_metafor == pytest.approx(ref["AIC"], abs=1e-6)
    assert res.bic_metafor == pytest.approx(ref["BIC"], abs=1e-6)
    assert res.n_parameters == ref["df_logLik"]
    d = res.to_dict()
    assert d["loglik_metafor"] == pytest.approx(ref["logLik"], abs=1e-6)
    assert d["aic_metafor"] == pytest.approx(ref["AIC"], abs=1e-6)
    assert d["bic_metafor"] == pytest.approx(ref["BIC"], abs=1e-6)
    assert d["loglik_convention"] == "mada"


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("key", ["x", "group"])
def test_lrt_matches_metafor_anova(name: str, key: str) -> None:
    ref = _ref(name)["normal"]["ML"][f"lrt_{key}"]
    for method in ("ml", "reml"):      # REML fits are refitted by ML for the test
        res = regression(_table(name), MODELS[key], method=method)
        assert res.lrt is not None
        assert res.lrt.statistic == pytest.approx(ref["LRT"], abs=1e-6)
        assert res.lrt.df == ref["df"]
        assert res.lrt.p_value == pytest.approx(ref["pval"], abs=1e-6)
        assert res.lrt.method == "ml"
        null = _ref(name)["normal"]["ML"]["null"]["logLik"]
        assert res.lrt.loglik_reduced_metafor == pytest.approx(null, abs=1e-6)
        assert res.lrt.loglik_full_metafor == pytest.approx(null + ref["LRT"] / 2, abs=1e-6)
    assert "REML" in regression(_table(name), MODELS[key], method="reml").lrt.note


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_subgroups_match_metafor_predictions(name: str, method: str) -> None:
    ref = _ref(name)["normal"][method]["group"]["subgroup"]
    res = regression(_table(name), "group", method=method.lower(), test=False)
    sub = res.subgroups()
    est = np.column_stack([sub["logit_sens"], sub["logit_fpr"]]).ravel()
    se = np.column_stack([sub["se_logit_sens"], sub["se_logit_fpr"]]).ravel()
    np.testing.assert_allclose(est, ref["estimate"], atol=1e-6)
    np.testing.assert_allclose(se, ref["se"], atol=1e-6)
    levels = [r.split()[0] for r in ref["rows"][::2]]
    assert list(sub["level"]) == levels
    t = _table(name)
    counts = t.covariates["group"].value_counts()
    assert list(sub["n_studies"]) == [int(counts[lv]) for lv in levels]
    assert np.all(sub["sensitivity_ci_low"] < sub["sensitivity"])
    assert np.all(sub["specificity"] < sub["specificity_ci_high"])


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("key", ["x", "group"])
def test_glmm_regression_matches_glmer(name: str, key: str) -> None:
    ref = _ref(name)["glmm"][key]
    null = _ref(name)["glmm"]["null"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        res = regression(_table(name), MODELS[key], model="glmm")
    p = len(res.terms)
    # glmer's order: sens, sens_<cov>..., spec, spec_<cov>...; ours is on logit FPR
    ours = np.r_[res.coef[:, 0], -res.coef[:, 1]]
    ours_se = np.r_[res.se[:, 0], res.se[:, 1]]
    np.testing.assert_allclose(ours, ref["fixef"], atol=1e-4)
    np.testing.assert_allclose(ours_se, ref["se"], atol=1e-4)
    np.testing.assert_allclose(res.extra["theta"], ref["theta"], atol=1e-4)
    np.testing.assert_allclose(res.tau2, ref["tau2"], atol=1e-4)
    assert res.rho == pytest.approx(-ref["rho"], abs=1e-4)
    assert res.loglik == pytest.approx(ref["logLik"], abs=1e-4)
    assert res.method == "laplace" and res.correction == "none"
    assert res.lrt.statistic == pytest.approx(2 * (ref["logLik"] - null["logLik"]), abs=2e-4)
    assert res.lrt.df == 2 * (p - 1)


def test_nested_lrt_between_fits_and_reml_refused() -> None:
    t = _table("AuditC")
    full = regression(t, ["x", "group"], method="ml", test=False)
    red = regression(t, ["x"], method="ml", test=False)
    ref = _ref("AuditC")["normal"]["ML"]
    lrt = likelihood_ratio_test(full, red)
    assert lrt.df == 4
    assert lrt.statistic == pytest.approx(2 * (ref["x_group"]["logLik"] - ref["x"]["logLik"]),
                                          abs=1e-6)
    with pytest.raises(InputError, match="not nested"):
        likelihood_ratio_test(red, full)
    with pytest.raises(InputError, match="REML"):
        likelihood_ratio_test(regression(t, ["x", "group"], test=False),
                              regression(t, ["x"], test=False))


def test_result_surface_and_json() -> None:
    res = ma.regression(_table("AuditC"), ["group", "x"], method="ml")
    assert res.terms == ("intercept", "group[B]", "group[C]", "x")
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["covariates"] == ["group", "x"]
    assert {c["outcome"] for c in d["coefficients"]} == {"logit_sens", "logit_fpr"}
    assert len(d["subgroups"]) == 3 and d["lrt"]["df"] == 6
    assert isinstance(res.summary(), pd.DataFrame)


def test_numeric_covariate_forced_categorical() -> None:
    t = _table("AuditC")
    df = t.df.copy()
    df["code"] = df["group"].map({"A": 1, "B": 2, "C": 3})
    t2 = StudyTable(df)
    a = regression(t2, "code", categorical=["code"], method="ml", test=False)
    b = regression(t, "group", method="ml", test=False)
    assert a.terms == ("intercept", "code[2]", "code[3]")
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-10)


def test_plot_subgroups() -> None:
    res = regression(_table("AuditC"), "group", test=False)
    ax = res.plot_subgroups()
    assert ax.get_xlabel().startswith("False positive rate")
    res2 = regression(_table("AuditC"), "x", test=False)
    assert res2.plot_subgroups() is not None


# ------------------------------------------------------------------ bad input --
def _with(df_changes: dict) -> StudyTable:
    df = _table("AuditC").df.copy()
    for col, values in df_changes.items():
        df[col] = values
    return StudyTable(df)


def test_covariate_with_one_level() -> None:
    t = _with({"site": ["Boston"] * 14})
    with pytest.raises(AnalysisError, match="'site' has only one level"):
        regression(t, "site")


def test_constant_continuous_covariate() -> None:
    with pytest.raises(AnalysisError, match="same value"):
        regression(_with({"year": [2001.0] * 14}), "year")


def test_covariate_missing_for_some_studies_names_them() -> None:
    x = list(np.linspace(0, 1, 14))
    x[2] = np.nan
    x[9] = np.nan
    with pytest.raises(InputError, match=r"missing for 2 studies: 3, 10"):
        regression(_with({"x": x}), "x")


def test_unknown_covariate() -> None:
    with pytest.raises(InputError, match="unknown covariate 'nope'"):
        regression(_table("AuditC"), "nope")


def test_nagq_below_one() -> None:
    with pytest.raises(InputError, match="nagq"):
        regression(_table("AuditC"), "x", model="glmm", nagq=0)


def test_too_many_covariates_for_the_studies() -> None:
    from metaanalysis.errors import FitError

    t = _table("AuditC").subset(list(range(5)))
    with pytest.raises(FitError, match="only 5 studies"):
        regression(t, ["x", "group"])


# ------------------------------------------------------------------------ CLI --
def test_cli_regress_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from metaanalysis.cli import main

    rc = main(["regress", str(FIX / "Dementia.csv"), "--covariate", "x", "--method", "ml",
               "--json", "--plots", str(tmp_path)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    ref = _ref("Dementia")["normal"]["ML"]["x"]
    est = [c["estimate"] for c in out["coefficients"]]
    np.testing.assert_allclose(est, ref["beta"], atol=1e-6)
    assert out["lrt"]["p_value"] == pytest.approx(_ref("Dementia")["normal"]["ML"]["lrt_x"]["pval"],
                                                  abs=1e-6)
    assert (tmp_path / "regression_subgroups.png").stat().st_size > 0


def test_cli_regress_text_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from metaanalysis.cli import main

    assert main(["regress", str(FIX / "AuditC.csv"), "--covariate", "group"]) == 0
    text = capsys.readouterr().out
    assert "group = B" in text and "LRT" in text
    assert main(["regress", str(FIX / "AuditC.csv"), "--covariate", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metaanalysis: error: unknown covariate 'nope'")
    with pytest.raises(SystemExit) as stop:
        main(["regress", str(FIX / "AuditC.csv"), "--covariate", "x", "--model", "glmm",
              "--nagq", "0"])
    assert stop.value.code == 2


def test_cli_regress_subprocess() -> None:
    exe = Path(sys.executable).with_name("metaanalysis")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "metaanalysis.cli"]
    proc = subprocess.run(cmd + ["regress", str(FIX / "simreg.csv"), "--covariate", "group",
                                 "--model", "glmm", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ref = _ref("simreg")["glmm"]["group"]
    assert out["loglik"] == pytest.approx(ref["logLik"], abs=1e-4)
    assert out["model"] == "glmm"


def test_glmm_regression_with_quadrature() -> None:
    """AGHQ meta-regression: converged in nagq, close to Laplace, LRT on the AGHQ likelihoods."""
    t = _table("simreg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        lap = regression(t, "x", model="glmm")
        q9 = regression(t, "x", model="glmm", nagq=9)
        q15 = regression(t, "x", model="glmm", nagq=15)
    assert q9.method == "aghq" and q9.lrt.method == "aghq"
    assert abs(q9.loglik - q15.loglik) < 1e-5
    np.testing.assert_allclose(q9.coef, q15.coef, atol=1e-4)
    np.testing.assert_allclose(q9.coef, lap.coef, atol=0.05)
    assert q9.loglik != pytest.approx(lap.loglik, abs=1e-3)


def test_level_with_one_study_warns() -> None:
    t = _with({"site": ["a"] * 7 + ["b"] * 6 + ["c"]})
    with pytest.warns(SingleStudyLevelWarning):
        res = regression(t, "site", test=False)
    assert "single_study_level" in res.warning_codes
    assert "'c'" in res.warnings[res.warning_codes.index("single_study_level")]


def test_cli_regress_result_kept_when_the_figure_cannot_be_written(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from metaanalysis.cli import main

    (tmp_path / "regression_subgroups.png").mkdir()
    rc = main(["regress", str(FIX / "Dementia.csv"), "--covariate", "x", "--method", "ml",
               "--json", "--plots", str(tmp_path)])
    captured = capsys.readouterr()
    assert rc == 2
    out = json.loads(captured.out)
    ref = _ref("Dementia")["normal"]["ML"]["x"]
    np.testing.assert_allclose([c["estimate"] for c in out["coefficients"]], ref["beta"],
                               atol=1e-6)
    assert "regression_subgroups.png" in captured.err


def test_decimal_comma_covariate_in_semicolon_csv_is_continuous(tmp_path: Path) -> None:
    """A ';' CSV from a decimal-comma locale: x = "-0,59" is the number -0.59, as in R."""
    df = pd.read_csv(FIX / "AuditC.csv")
    lines = [";".join(df.columns)]
    for row in df.itertuples(index=False):
        cells = [str(v) for v in row]
        cells[list(df.columns).index("x")] = f"{row.x}".replace(".", ",")
        lines.append(";".join(cells))
    assert any("," in line for line in lines[1:])
    path = tmp_path / "auditc_semicolon.csv"
    path.write_text("\n".join(lines) + "\n")
    table = StudyTable.from_csv(path)
    assert table.covariates["x"].tolist() == pytest.approx(df["x"].tolist(), abs=0)
    assert table.covariates["group"].tolist() == df["group"].tolist()
    res = regression(table, ["x"], method="reml", test=False)
    assert res.terms == ("intercept", "x")
    ref = _ref("AuditC")["normal"]["REML"]["x"]
    np.testing.assert_allclose(res.coef_table()["estimate"], ref["beta"], atol=1e-6)
