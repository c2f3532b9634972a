"""Clinical translation against hand computation (Bayes' theorem on the odds scale)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes

from metaanalysis.clinical import (
    counts_per_1000,
    per_1000,
    plot_fagan,
    post_test,
    post_test_probability,
)
from metaanalysis.errors import InputError
from metaanalysis.models.reitsma import reitsma
from metaanalysis.summary_points import Estimate
from metaanalysis.table import StudyTable

FIX = Path(__file__).parents[1] / "fixtures" / "diagnostics"

# A result-like object with hand-chosen numbers, so every expected value below is
# worked out on paper: odds = p/(1-p); post odds = odds x LR; post = odds/(1+odds).
HAND = SimpleNamespace(
    lr_positive=Estimate(4.0, 2.0, 8.0),
    lr_negative=Estimate(0.25, 0.125, 0.5),
    sensitivity=Estimate(0.9, 0.8, 0.95),
    specificity=Estimate(0.8, 0.7, 0.85),
)


def test_post_test_probability_hand_cases():
    assert post_test_probability(0.2, 4.0) == pytest.approx(0.5)        # 1/4 * 4 = 1
    assert post_test_probability(0.5, 0.25) == pytest.approx(0.2)       # 1 * 1/4 -> 0.2
    assert post_test_probability(0.1, 9.0) == pytest.approx(0.5)        # 1/9 * 9 = 1
    assert post_test_probability(0.75, 1.0) == pytest.approx(0.75)      # LR 1 changes nothing
    np.testing.assert_allclose(post_test_probability([0.2, 0.5], 3.0), [3 / 7, 0.75])


def test_post_test_table_hand_computed():
    out = post_test(HAND, [0.2, 0.5])
    r = out.iloc[0]
    assert r["pretest"] == 0.2
    assert r["post_positive"] == pytest.approx(0.5)                # 0.25 * 4 = 1
    assert r["post_positive_low"] == pytest.approx(1 / 3)          # 0.25 * 2 = 0.5
    assert r["post_positive_high"] == pytest.approx(2 / 3)         # 0.25 * 8 = 2
    assert r["post_negative"] == pytest.approx(1 / 17)             # 0.0625 -> 1/17
    assert r["post_negative_low"] == pytest.approx(1 / 33)         # 0.03125 -> 1/33
    assert r["post_negative_high"] == pytest.approx(1 / 9)         # 0.125 -> 1/9
    r = out.iloc[1]
    assert r["post_positive"] == pytest.approx(0.8)
    assert r["post_negative"] == pytest.approx(0.2)
    assert r["post_negative_high"] == pytest.approx(1 / 3)
    assert list(out["lr_positive_high"]) == [8.0, 8.0]


def test_per_1000_hand_computed():
    got = counts_per_1000(0.2, 0.9, 0.8)
    assert got == pytest.approx({"TP": 180.0, "FP": 160.0, "FN": 20.0, "TN": 640.0})
    out = per_1000(HAND, 0.2).set_index("outcome")
    # 200 diseased: TP = 200 x [0.8, 0.9, 0.95], FN = 200 - TP
    assert out.loc["TP", ["count", "low", "high"]].tolist() == pytest.approx([180, 160, 190])
    assert out.loc["FN", ["count", "low", "high"]].tolist() == pytest.approx([20, 10, 40])
    # 800 non-diseased: TN = 800 x [0.7, 0.8, 0.85], FP = 800 - TN
    assert out.loc["TN", ["count", "low", "high"]].tolist() == pytest.approx([640, 560, 680])
    assert out.loc["FP", ["count", "low", "high"]].tolist() == pytest.approx([160, 120, 240])
    assert out["count"].sum() == pytest.approx(1000)


def test_per_1000_several_prevalences():
    out = per_1000(HAND, [0.1, 0.3])
    assert len(out) == 8
    sums = out.groupby("prevalence")["count"].sum()
    np.testing.assert_allclose(sums, [1000, 1000])
    tp30 = out[(out.prevalence == 0.3) & (out.outcome == "TP")]["count"].item()
    assert tp30 == pytest.approx(300 * 0.9)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_bad_probabilities(bad):
    with pytest.raises(InputError, match="pretest must lie strictly between 0 and 1"):
        post_test(HAND, bad)
    with pytest.raises(InputError, match="prevalence must lie strictly between 0 and 1"):
        per_1000(HAND, [0.2, bad])


def test_post_test_on_a_fit_uses_its_likelihood_ratios():
    fit = reitsma(StudyTable.from_csv(FIX / "AuditC.csv"))
    out = post_test(fit, 0.3).iloc[0]
    sens, spec = fit.sensitivity.estimate, fit.specificity.estimate
    lrp = sens / (1 - spec)
    assert out["lr_positive"] == pytest.approx(lrp, rel=1e-12)
    odds = 0.3 / 0.7 * lrp
    assert out["post_positive"] == pytest.approx(odds / (1 + odds), rel=1e-12)
    assert out["post_positive_low"] < out["post_positive"] < out["post_positive_high"]
    assert out["post_negative_low"] < out["post_negative"] < out["post_negative_high"]


def test_plot_fagan_lines_realise_bayes():
    fig, ax = plt.subplots()
    got = plot_fagan(HAND, [0.2, 0.5], ax=ax)
    assert isinstance(got, Axes) and got is ax
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(("Positive",
                                                                        "Negative"))]
    assert len(lines) == 4
    pos = lines[0]
    # left scale: -logit(pretest); right scale: logit(post-test)
    np.testing.assert_allclose(pos.get_xdata(), [-1, 1])
    np.testing.assert_allclose(pos.get_ydata(), [-math.log(0.25), math.log(1.0)], atol=1e-12)
    neg = lines[1]
    np.testing.assert_allclose(neg.get_ydata()[1], math.log(1 / 16), atol=1e-12)
    # the line crosses the LR scale (x = 0) at log(LR)/2
    y_mid = float(np.mean(pos.get_ydata()))
    assert y_mid == pytest.approx(math.log(4.0) / 2)
    plt.close(fig)


@settings(max_examples=200, deadline=None)
@given(p=st.floats(1e-6, 1 - 1e-6), lr=st.floats(1e-3, 1e3))
def test_bayes_round_trip_and_monotone(p, lr):
    post = float(post_test_probability(p, lr))
    assert 0.0 < post < 1.0
    assert float(post_test_probability(post, 1.0 / lr)) == pytest.approx(p, rel=1e-9)
    assert (post >= p) == (lr >= 1.0) or post == pytest.approx(p)


def test_package_exports():
    import metaanalysis as ma

    assert ma.post_test is post_test and ma.per_1000 is per_1000
    from metaanalysis import diagnostics

    assert ma.deeks_test is diagnostics.deeks_test
    assert ma.leave_one_out is diagnostics.leave_one_out
    assert ma.influence is diagnostics.influence and ma.cumulative is diagnostics.cumulative
