"""Reader agreement when the residual variance is 0: readers who agree exactly, readers who
differ by a constant, and subjects who do not differ. Every number is worked by hand from the
two-way ANOVA mean squares (Shrout & Fleiss 1979; McGraw & Wong 1996)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest


def _table(tmp_path: Path, rows: list[tuple[str, str, float]], name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_text("series_instance_uid,reader,vbq\n"
                    + "".join(f"{s},{r},{v}\n" for s, r, v in rows))
    return path


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in JSON")
    return json.loads(text, parse_constant=refuse)


EXACT = [("s1", "a", 3.0), ("s1", "b", 3.0), ("s2", "a", 2.0), ("s2", "b", 2.0),
         ("s3", "a", 4.0), ("s3", "b", 4.0)]


def _analyze(tmp_path, rows, **kw):
    from vbq.agreement import analyze, read_readings

    return analyze(read_readings(_table(tmp_path, rows)), **kw)


def test_exact_agreement_every_statistic_by_hand(tmp_path):
    # MSB = 2 (row means 3, 2, 4 about 3, times k = 2, over n - 1 = 2); MSW = MSJ = MSE = 0.
    # Every ICC form is MSB / MSB = 1; F = MSB / 0 is infinite, so p = 0, and each exact
    # interval's bound is its limit as F grows, 1. Differences are all 0: bias, SD and limits 0.
    res = _analyze(tmp_path, EXACT, cutoffs=[2.5])
    icc = res.icc.set_index("type")
    assert icc["icc"].tolist() == [1.0] * 6
    assert icc["lower"].tolist() == [1.0] * 6 and icc["upper"].tolist() == [1.0] * 6
    assert all(math.isinf(f) and f > 0 for f in icc["F"])
    assert icc["p"].tolist() == [0.0] * 6
    me = res.measurement_error.iloc[0]
    assert me["var_subjects"] == 1.0  # (MSB - MSE) / k = 2 / 2
    for key in ("var_raters", "var_error", "within_subject_sd", "sem", "mdc95",
                "repeatability_coefficient"):
        assert me[key] == 0.0, key
    ba = res.bland_altman.iloc[0]
    for key in ("bias", "sd_diff", "loa_lower", "loa_upper", "loa_lower_ci_lower",
                "loa_upper_ci_upper", "bias_lower", "bias_upper", "slope", "slope_lower",
                "slope_upper", "intercept"):
        assert ba[key] == 0.0, key
    assert math.isnan(ba["slope_p"])  # t = 0 / 0
    # Cohen's kappa: table [[2, 0], [0, 1]] (s1 and s3 above 2.5): po = 1, pe = 5/9, kappa 1.
    # Its large-sample variance is 0; under kappa = 0 (Fleiss, Cohen & Everitt 1969)
    # var0 = (pe + pe^2 - sum p_i. p_.i (p_i. + p_.i)) / (n (1 - pe)^2)
    #      = (5/9 + 25/81 - 2/3) / (3 * 16/81) = 1/3.
    k = res.kappa.iloc[0]
    assert k["kappa"] == pytest.approx(1.0, abs=1e-15)
    assert k["se"] == 0.0 and k["ci_lower"] == pytest.approx(1.0, abs=1e-15)
    assert k["se0"] == pytest.approx(math.sqrt(1 / 3), rel=1e-12)
    assert k["z"] == pytest.approx(math.sqrt(3), rel=1e-12)
    assert k["percent_agreement"] == 1.0 and k["pabak"] == 1.0
    assert res.warning_codes == ["exact_agreement"]
    assert "agree exactly" in res.warnings[0]


def test_exact_agreement_json_is_strict_with_nulls(tmp_path):
    d = _strict(json.dumps(_analyze(tmp_path, EXACT).to_dict(), allow_nan=False))
    head = d["inter_reader"]["headline"]
    assert head["icc"] == 1.0 and head["F"] is None and head["p"] == 0.0
    assert d["inter_reader"]["bland_altman"][0]["slope_p"] is None
    assert d["warning_codes"] == ["exact_agreement"]


def test_cli_exact_agreement_exits_0(tmp_path, capsys):
    from vbq.cli import main

    path = _table(tmp_path, EXACT)
    assert main(["agreement", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    d = _strict(out)
    assert [r["icc"] for r in d["inter_reader"]["icc"]] == [1.0] * 6
    assert "agree exactly" in err and "Traceback" not in err
    assert main(["agreement", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert "inf" in out and "1.000   1.000 to 1.000" in out


def test_three_readers_agreeing_exactly(tmp_path):
    rows = [(s, r, v) for s, v in (("s1", 3.0), ("s2", 2.0), ("s3", 4.0), ("s4", 2.5))
            for r in "abc"]
    res = _analyze(tmp_path, rows, cutoffs=[2.75], n_boot=200)
    assert res.icc["icc"].tolist() == [1.0] * 6
    assert res.icc["p"].tolist() == [0.0] * 6
    assert (res.bland_altman["loa_upper"] == 0).all() and len(res.bland_altman) == 3
    # Fleiss: every subject's three readings agree, so po = 1; pe < 1 with both categories
    assert res.kappa.iloc[0]["kappa"] == pytest.approx(1.0, abs=1e-12)
    assert res.warning_codes.count("exact_agreement") == 1


def test_constant_difference_by_hand(tmp_path):
    # b = a + 1 on subjects 1, 2, 3: MSB = 2, MSJ = 1.5, MSW = 0.5, MSE = 0 (all exact).
    rows = [("s1", "a", 1), ("s1", "b", 2), ("s2", "a", 2), ("s2", "b", 3),
            ("s3", "a", 3), ("s3", "b", 4)]
    res = _analyze(tmp_path, rows)
    icc = res.icc.set_index("type")
    want = {"ICC1": 1.5 / 2.5, "ICC2": 2 / (2 + 2 * 1.5 / 3), "ICC3": 1.0,
            "ICC1k": 1.5 / 2, "ICC2k": 2 / (2 + 1.5 / 3), "ICC3k": 1.0}
    for kind, value in want.items():
        assert icc.loc[kind, "icc"] == pytest.approx(value, rel=1e-14), kind
    assert icc.loc["ICC1", "F"] == pytest.approx(4.0, rel=1e-14)  # MSB / MSW
    assert math.isinf(icc.loc["ICC3", "F"]) and icc.loc["ICC3", "p"] == 0.0
    assert (icc.loc["ICC3", "lower"], icc.loc["ICC3", "upper"]) == (1.0, 1.0)
    # ICC(A,1) interval: Satterthwaite's v -> k - 1 = 1 as MSJ/MSE grows, so with
    # FU = F(0.975; 2, 1) = 799.5 and FL = F(0.975; 1, 2) = 38.506...:
    # lower = n MSB / (FU k MSJ + n MSB), upper = n FL MSB / (k MSJ + n FL MSB)
    # (closed forms checked in test_closed_form_f_quantiles_used_above)
    fu = 799.5
    fl = 38.506329113924046
    assert icc.loc["ICC2", "lower"] == pytest.approx(6 / (fu * 3 + 6), rel=1e-9)
    assert icc.loc["ICC2", "upper"] == pytest.approx(6 * fl / (3 + 6 * fl), rel=1e-9)
    ba = res.bland_altman.iloc[0]
    assert ba["bias"] == 1.0 and ba["sd_diff"] == 0.0
    assert ba["loa_lower"] == ba["loa_upper"] == 1.0
    assert ba["slope"] == 0.0 and ba["intercept"] == 1.0 and math.isnan(ba["slope_p"])
    assert set(res.warning_codes) == {"constant_difference"}


@pytest.mark.parametrize("offset", [0.5, 0.1, -0.3])
def test_a_decimal_constant_difference_is_found_alike_by_the_icc_and_bland_altman(
        tmp_path, offset):
    """Reader b reads a + offset (rounded to 10 decimals, as values typed in are).

    By hand: the residual of the additive model is 0, so ICC(C,1) is 1 with F infinite,
    and every difference is the offset, so the limits of agreement have zero width; an
    offset such as 0.1 is not exact in binary, and both sides must say so all the same.
    """
    a = [1.0, 2.0, 3.0, 4.5, 2.2]
    rows = [r for i, v in enumerate(a) for r in ((f"s{i}", "a", v),
                                                 (f"s{i}", "b", round(v + offset, 10)))]
    res = _analyze(tmp_path, rows)
    icc = res.icc.set_index("type")
    assert icc.loc["ICC3", "icc"] == 1.0
    assert math.isinf(icc.loc["ICC3", "F"]) and icc.loc["ICC3", "p"] == 0.0
    ba = res.bland_altman.iloc[0]
    assert ba["sd_diff"] == 0.0 and ba["bias"] == pytest.approx(offset, abs=1e-12)
    assert ba["slope"] == 0.0 and math.isnan(ba["slope_p"])
    assert sorted(res.warning_codes) == ["constant_difference", "constant_difference"]


def test_constant_difference_is_the_limit_of_a_small_residual(tmp_path):
    # the F = inf bounds are continuous with nearby data whose residual is tiny
    from vbq.agreement import icc_matrix

    x = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]])
    limit = icc_matrix(x)
    near = icc_matrix(x + np.array([[0, 1e-7], [0, -1e-7], [0, 0]]))
    for col in ("icc", "lower", "upper"):
        np.testing.assert_allclose(near[col], limit[col], rtol=0, atol=1e-5, err_msg=col)
    exact = icc_matrix(np.array([[3.0, 3.0], [2.0, 2.0], [4.0, 4.0]]))
    near = icc_matrix(np.array([[3.0, 3.0 + 1e-7], [2.0, 2.0], [4.0, 4.0 - 1e-7]]))
    for col in ("icc", "lower", "upper"):
        np.testing.assert_allclose(near[col], exact[col], rtol=0, atol=1e-5, err_msg=col)


def test_closed_form_f_quantiles_used_above():
    # the two F quantiles the hand computation above uses, from closed forms
    from scipy import stats

    # F(1, 2) = t(2)^2 and t(2)'s quantile is q' / sqrt((1 - q'^2)/2) with q' = 2p - 1
    qq = 2 * 0.9875 - 1
    assert 38.506329113924046 == pytest.approx((qq / math.sqrt((1 - qq**2) / 2)) ** 2,
                                                rel=1e-12)
    # F(2, 1): P(F > f) = (1 + 2 f)^(-1/2) = 0.025 gives f = (1/0.025^2 - 1) / 2
    assert 799.5 == pytest.approx((1 / 0.025**2 - 1) / 2, rel=1e-15)
    assert stats.f.ppf(0.975, 2, 1) == pytest.approx(799.5, rel=1e-9)


def test_every_reading_equal_gives_null_icc_with_warnings(tmp_path):
    rows = [(s, r, 3.0) for s in ("s1", "s2", "s3") for r in "ab"]
    res = _analyze(tmp_path, rows, cutoffs=[2.5])
    assert res.icc["icc"].isna().all() and res.icc["F"].isna().all()
    assert res.icc["p"].isna().all()
    assert set(res.warning_codes) >= {"exact_agreement", "icc_undefined", "kappa_undefined"}
    d = _strict(json.dumps(res.to_dict(), allow_nan=False))
    assert d["inter_reader"]["headline"]["icc"] is None
    assert d["inter_reader"]["bland_altman"][0]["loa_upper"] == 0.0


def test_subjects_equal_but_readers_differ_gives_null_not_infinite(tmp_path):
    # a reads 3 and b reads 4 on every subject: MSB = 0, MSE = 0, MSJ = 1.5. ICC(1,k) =
    # (MSB - MSW) / MSB is -MSW / 0 and ICC(C,1) is 0 / 0: both undefined, never infinite.
    rows = [(s, r, v) for s in ("s1", "s2", "s3") for r, v in (("a", 3.0), ("b", 4.0))]
    res = _analyze(tmp_path, rows)
    icc = res.icc.set_index("type")
    assert math.isnan(icc.loc["ICC1k", "icc"]) and math.isnan(icc.loc["ICC3", "icc"])
    assert icc.loc["ICC1", "icc"] == -1.0  # (0 - MSW) / (0 + MSW)
    assert icc.loc["ICC2", "icc"] == 0.0  # 0 / (k MSJ / n)
    assert not np.isinf(res.icc["icc"]).any()
    assert "icc_undefined" in res.warning_codes
    _strict(json.dumps(res.to_dict(), allow_nan=False))


def test_icc_function_warns_on_exact_agreement():
    import pandas as pd

    from vbq.agreement import icc

    long = pd.DataFrame(EXACT, columns=["series_instance_uid", "reader", "vbq"])
    out = icc(long)
    assert out["icc"].tolist() == [1.0] * 6
    assert out.attrs["warning_codes"] == ["exact_agreement"]


def test_one_reader_agreeing_exactly_with_themselves(tmp_path):
    from vbq.agreement import analyze, read_readings

    path = tmp_path / "intra.csv"
    path.write_text("series_instance_uid,reader,occasion,vbq\n"
                    + "".join(f"{s},a,{o},{v}\n" for s, v in (("s1", 3), ("s2", 2), ("s3", 4))
                              for o in (1, 2)))
    res = analyze(read_readings(path))
    assert res.icc["icc"].tolist() == [1.0] * 6 and set(res.icc["scope"]) == {"intra"}
    assert res.warning_codes == ["exact_agreement"]
    assert "occasions agree exactly" in res.warnings[0]
