"""The pandas- and SciPy-free paths of ``metaanalysis pool`` give what the pandas and SciPy
ones give: the CSV reader, the summary text, the SROC area and the quantiles."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

import metaanalysis as ma
from metaanalysis.errors import InputError
from metaanalysis.numerics import chi2_quantile_2df, expit, log_expit, logit, normal_quantile
from metaanalysis.results import format_table
from metaanalysis.sroc import auc_exact, sroc_slope

REFS = Path(__file__).parents[1] / "fixtures" / "refs"

_TRICKY = {
    "quoted.csv": 'study,TP,FP,FN,TN,site\n"Smith, 2001",10,2,3,20,"a ""b"""\nJones,5,1,2,9,\n',
    "bom.csv": "\ufeffstudy,TP,FP,FN,TN\na,1,2,3,4\nb,5,6,7,8\n",
    "blank_and_short.csv": "study,TP,FP,FN,TN,x\na,1,2,3,4,1.5\n\n,,,,,\nb,5,6,7,8\nc,2,2,2,2,NA\n",
    "semicolon.csv": "study;TP;FP;FN;TN;age\na;1;2;3;4;1,5\nb;5;6;7;8;2\nc;3,0;1;1;1;\n",
    "tabs.csv": "study\tTP\tFP\tFN\tTN\na\t1\t2\t3\t4\nb\t5\t6\t7\t8\n",
    "crlf.csv": "study,TP,FP,FN,TN,grp\r\na,1,2,3,4,x\r\nb,5,6,7,8,y\r\n",
    "numbers.csv": "study,TP,FP,FN,TN,z\n1,1e1,2.0,3,4,1\n2,5,6,7,8,2\n",
}
_BAD = {
    "long_row.csv": "study,TP,FP,FN,TN\na,1,2,3,4\nb,5,6,7,8,9\n",
    "negative.csv": "study,TP,FP,FN,TN\na,1,-2,3,4\nb,5,6,7,8\n",
    "text_count.csv": "study,TP,FP,FN,TN\na,1,x,3,4\nb,5,6,7,8\n",
    "thousands.csv": "study,TP,FP,FN,TN\na,1,\"1,000\",3,4\nb,5,6,7,8\n",
    "empty.csv": "",
}


def _pandas_read(path: Path) -> ma.StudyTable:
    # any read_csv option (here pandas' own default) sends the file through pandas
    return ma.StudyTable.from_csv(path, comment=None)


@pytest.mark.parametrize("name", sorted(_TRICKY))
def test_csv_reader_equals_the_pandas_reader(tmp_path, name):
    path = tmp_path / name
    path.write_text(_TRICKY[name], encoding="utf-8")
    fast, slow = ma.StudyTable.from_csv(path), _pandas_read(path)
    assert fast.studies == slow.studies
    np.testing.assert_array_equal(fast.counts(), slow.counts())
    pd.testing.assert_frame_equal(fast.df, slow.df)


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_csv_reader_equals_the_pandas_reader_in_other_encodings(tmp_path, encoding):
    path = tmp_path / "enc.csv"
    path.write_text("study,TP,FP,FN,TN,site\nMüller,1,2,3,4,Zürich\nb,5,6,7,8,Genève\n",
                    encoding=encoding)
    pd.testing.assert_frame_equal(ma.StudyTable.from_csv(path).df, _pandas_read(path).df)


@pytest.mark.parametrize("name", sorted(_BAD))
def test_csv_reader_refuses_what_the_pandas_reader_refuses(tmp_path, name):
    path = tmp_path / name
    path.write_text(_BAD[name], encoding="utf-8")
    with pytest.raises(InputError) as fast:
        ma.StudyTable.from_csv(path)
    with pytest.raises(InputError) as slow:
        _pandas_read(path)
    assert str(fast.value) == str(slow.value)


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "few4", "skin_tests", "zerocells",
                                  "smoking", "IAQ", "SAQ"])
def test_reference_tables_read_alike(name):
    fast, slow = ma.StudyTable.from_csv(REFS / f"{name}.csv"), _pandas_read(REFS / f"{name}.csv")
    pd.testing.assert_frame_equal(fast.df, slow.df)


@pytest.mark.parametrize("name", ["AuditC", "Dementia", "few4", "skin_tests", "zerocells"])
def test_summary_text_is_pandas_to_string(name):
    fit = ma.reitsma(ma.StudyTable.from_csv(REFS / f"{name}.csv"))
    for digits in (2, 4, 6):
        want = fit.summary().to_string(float_format=lambda v, d=digits: f"{v:.{d}f}",
                                       na_rep="")
        assert want in fit.format_summary(digits)


def test_format_table_is_pandas_to_string_on_random_tables():
    rng = np.random.default_rng(3)
    for _ in range(400):
        nc, nr = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        cols = tuple(f"{'c' * int(rng.integers(1, 9))}{j}" for j in range(nc))
        labels = ["".join(rng.choice(list("xyz_"), int(rng.integers(1, 12)))) for _ in range(nr)]
        vals = rng.normal(0, 10 ** rng.uniform(-2, 6, (nr, nc)))
        vals[rng.random((nr, nc)) < 0.3] = np.nan
        vals[rng.random((nr, nc)) < 0.05] = np.inf
        d = int(rng.integers(0, 6))
        frame = pd.DataFrame(vals, columns=list(cols), index=pd.Index(labels, name="quantity"))
        want = frame.to_string(float_format=lambda v, d=d: f"{v:.{d}f}", na_rep="")
        rows = [(lab, tuple(float(v) for v in r)) for lab, r in zip(labels, vals, strict=True)]
        assert format_table("quantity", cols, rows, d) == want


def test_sroc_area_equals_adaptive_quadrature():
    rng = np.random.default_rng(5)
    for _ in range(300):
        mu = rng.normal(0, 3, 2)
        a = rng.uniform(0.001, 5, 2)
        r = rng.uniform(-0.99, 0.99)
        c = r * math.sqrt(a[0] * a[1])
        psi = np.array([[a[0], c], [c, a[1]]])
        for kind in ("ruttergatsonis", "naive"):
            s = sroc_slope(psi, kind)

            def f(x, s=s, mu=mu):
                return float(special.expit(mu[0] + s * (special.logit(x) - mu[1])))

            want, err = integrate.quad(f, 0, 1, epsabs=1e-13, epsrel=1e-12, limit=500)
            # quad's own error estimate bounds how well it pins the area
            assert auc_exact(mu, psi, kind) == pytest.approx(want, abs=max(1e-11, 10 * err))


def test_quantiles_and_logistic_equal_scipy():
    for p in (1e-12, 0.01, 0.5, 0.9, 0.95, 0.975, 0.995, 1 - 1e-12):
        assert normal_quantile(p) == pytest.approx(stats.norm.ppf(p), rel=1e-14, abs=1e-14)
        assert chi2_quantile_2df(p) == pytest.approx(stats.chi2.ppf(p, 2), rel=1e-13)
    assert chi2_quantile_2df(1.0) == math.inf and math.isnan(chi2_quantile_2df(1.5))
    assert normal_quantile(1.0) == math.inf and normal_quantile(0.0) == -math.inf
    x = np.linspace(-700, 700, 20001)
    np.testing.assert_allclose(expit(x), special.expit(x), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(log_expit(x), special.log_expit(x), rtol=1e-14)
    p = np.linspace(0.0, 1.0, 1001)
    np.testing.assert_allclose(logit(p), special.logit(p), rtol=1e-14, atol=1e-15)


def test_gammaln_and_xlogy_equal_scipy():
    # the binomial constants and deviance of the GLMM, on numpy and math alone
    from metaanalysis.numerics import gammaln, xlogy

    x = np.concatenate([np.arange(1.0, 2001.0), [0.5, 1e-8, 1e6, 3.5e7]])
    np.testing.assert_allclose(gammaln(x), special.gammaln(x), rtol=1e-14, atol=1e-14)
    assert gammaln(np.array([[0.0, -2.0]])).tolist() == [[math.inf, math.inf]]
    a = np.array([0.0, 0.0, 1.0, 7.0, 3.0])
    b = np.array([0.0, 5.0, 1e-300, 2.5, 0.0])
    np.testing.assert_array_equal(xlogy(a, b), special.xlogy(a, b))


def test_glmm_inner_logistic_is_the_logistic_function():
    from metaanalysis.models.quadrature import expit as fast_expit

    x = np.linspace(-700, 700, 20001)
    # relative error of a few |x| units in the last place: the conditioning of expit itself
    rel = np.abs(fast_expit(x) / special.expit(x) - 1.0)
    assert np.all(rel <= 4 * np.finfo(float).eps * (1.0 + np.abs(x)))


def test_reitsma_newton_full_steps_cost_one_evaluation_each(monkeypatch):
    # the derivatives at an accepted trial point are the next iteration's, so an iteration
    # that takes the full step needs no second likelihood evaluation
    from metaanalysis.models import likelihood, reitsma

    table = ma.StudyTable.from_csv(Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv")
    calls = []
    real = likelihood.Likelihood.derivatives

    def counting(self, theta):
        calls.append(list(theta))
        return real(self, theta)

    monkeypatch.setattr(likelihood.Likelihood, "derivatives", counting)
    seen = {}
    real_newton = reitsma._newton

    def spy(derivs, theta0, free, maxiter=200):
        res = real_newton(derivs, theta0, free, maxiter)
        seen["nit"] = res.nit
        return res

    monkeypatch.setattr(reitsma, "_newton", spy)
    ma.reitsma(table)
    assert seen["nit"] >= 3
    # one evaluation per iteration, plus the start and a rejected trial or two
    assert len(calls) <= seen["nit"] + 3, (len(calls), seen["nit"])
