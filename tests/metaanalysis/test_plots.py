"""Figures: drawn data equals the numbers they show; files are written in every format."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.patches import Polygon
from statsmodels.stats.proportion import proportion_confint

from metaanalysis import plots
from metaanalysis.diagnostics import cumulative, deeks_test, leave_one_out
from metaanalysis.errors import InputError
from metaanalysis.models.reitsma import reitsma
from metaanalysis.table import StudyTable

FIX = Path(__file__).parents[1] / "fixtures" / "diagnostics"


@pytest.fixture(scope="module")
def table() -> StudyTable:
    return StudyTable.from_csv(FIX / "AuditC.csv")


@pytest.fixture(scope="module")
def fit(table):
    return reitsma(table)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def by_gid(ax: Axes, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


# ----------------------------------------------------------------- study-level CIs

def test_wilson_interval_matches_statsmodels():
    x = np.array([0, 1, 5, 19, 47, 752, 30])
    n = np.array([10, 1, 9, 29, 56, 752, 30])
    lo, hi = plots.wilson_interval(x, n)
    ref_lo, ref_hi = proportion_confint(x, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(lo, ref_lo, atol=1e-12)
    np.testing.assert_allclose(hi, ref_hi, atol=1e-12)
    lo90, hi90 = plots.wilson_interval(x, n, level=0.90)
    ref_lo, ref_hi = proportion_confint(x, n, alpha=0.10, method="wilson")
    np.testing.assert_allclose(lo90, ref_lo, atol=1e-12)
    np.testing.assert_allclose(hi90, ref_hi, atol=1e-12)


def test_study_estimates(table):
    est = plots.study_estimates(table)
    np.testing.assert_allclose(est["sensitivity"], table.tp / (table.tp + table.fn))
    np.testing.assert_allclose(est["specificity"], table.tn / (table.tn + table.fp))
    lo, hi = proportion_confint(table.tn, table.tn + table.fp, method="wilson")
    np.testing.assert_allclose(est["specificity_ci_low"], lo, atol=1e-12)
    np.testing.assert_allclose(est["specificity_ci_high"], hi, atol=1e-12)


def test_study_weights_are_the_gls_shares(fit):
    w = plots.study_weights(fit)
    assert w.shape == (fit.table.k,)
    assert w.sum() == pytest.approx(1.0)
    assert (w > 0).all()
    # mu is linear in the study logits: mu = sum_i A_i y_i, and w_i = trace(A_i) / 2:
    # moving study i's logit sens by +1 moves mu1 by A_i[0, 0]; its logit FPR, mu2 by
    # A_i[1, 1] (Psi fixed).
    tp, fp, fn, tn = fit.table.corrected(fit.correction)
    y = np.column_stack([np.log(tp / fn), np.log(fp / tn)])
    s = np.column_stack([1 / tp + 1 / fn, 1 / fp + 1 / tn])

    def gls(yy):
        v = fit.psi[None] + s[:, :, None] * np.eye(2)
        wi = np.linalg.inv(v)
        return np.linalg.solve(wi.sum(0), np.einsum("ijk,ik->j", wi, yy))

    base = gls(y)
    for i in (0, 7):
        y1, y2 = y.copy(), y.copy()
        y1[i, 0] += 1.0
        y2[i, 1] += 1.0
        a00 = (gls(y1) - base)[0]
        a11 = (gls(y2) - base)[1]
        assert (a00 + a11) / 2 == pytest.approx(w[i], rel=1e-9)


# ------------------------------------------------------------------------- forest

def test_forest_from_result(fit, table):
    ax = plots.plot_forest(fit)
    assert isinstance(ax, Axes)
    sens_ax, spec_ax = ax.child_axes
    for pax, name, expected in ((sens_ax, "sensitivity", table.tp / (table.tp + table.fn)),
                                (spec_ax, "specificity", table.tn / (table.tn + table.fp))):
        (pts,) = by_gid(pax, f"{name}_studies")
        assert isinstance(pts, PathCollection)
        offs = pts.get_offsets()
        assert len(offs) == table.k
        np.testing.assert_allclose(offs[:, 0], expected)
        (ci,) = by_gid(pax, f"{name}_ci")
        assert isinstance(ci, LineCollection) and len(ci.get_segments()) == table.k
        (diamond,) = by_gid(pax, f"{name}_pooled")
        assert isinstance(diamond, Polygon)
        e = getattr(fit, name)
        xs = diamond.get_xy()[:, 0]
        assert xs.min() == pytest.approx(e.ci_low) and xs.max() == pytest.approx(e.ci_high)
        assert np.isclose(xs, e.estimate).any()
    texts = [t.get_text() for t in ax.texts]
    assert "752" in texts and "3226" in texts                         # study 8's TP and FP
    s = fit.sensitivity
    assert f"{s.estimate:.2f} ({s.ci_low:.2f}\u2013{s.ci_high:.2f})" in texts


def test_forest_from_table_in_given_axes(table):
    fig, ax = plt.subplots(figsize=(10, 5))
    got = plots.plot_forest(table, ax=ax)
    assert got is ax
    assert len(ax.child_axes) == 2
    assert not by_gid(ax.child_axes[0], "sensitivity_pooled")       # no pooled row
    assert fig.axes[0] is ax


def test_forest_rejects_other_objects():
    with pytest.raises(InputError, match="plot_forest needs"):
        plots.plot_forest([1, 2, 3])


# --------------------------------------------------------------------------- SROC

def test_sroc_draws_the_result(fit, table):
    ax = plots.plot_sroc(fit)
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 1.0)
    (summary,) = by_gid(ax, "summary")
    assert summary.get_xdata()[0] == pytest.approx(fit.false_positive_rate.estimate)
    assert summary.get_ydata()[0] == pytest.approx(fit.sensitivity.estimate)
    (studies,) = by_gid(ax, "studies")
    offs = studies.get_offsets()
    assert len(offs) == table.k
    np.testing.assert_allclose(offs[:, 0], table.fp / (table.fp + table.tn))
    np.testing.assert_allclose(offs[:, 1], table.tp / (table.tp + table.fn))
    sizes = studies.get_sizes()
    w = plots.study_weights(fit)
    assert np.argmax(sizes) == np.argmax(w)
    (conf,) = by_gid(ax, "confidence_region")
    cr = fit.confidence_region()
    np.testing.assert_allclose(conf.get_xdata(), cr["fpr"])
    np.testing.assert_allclose(conf.get_ydata(), cr["sens"])
    (pred,) = by_gid(ax, "prediction_region")
    np.testing.assert_allclose(pred.get_ydata(), fit.prediction_region()["sens"])
    (curve,) = by_gid(ax, "sroc_curve")
    x = curve.get_xdata()
    fpr = table.fp / (table.fp + table.tn)
    assert x.min() == pytest.approx(fpr.min()) and x.max() == pytest.approx(fpr.max())
    np.testing.assert_allclose(curve.get_ydata(), fit.sroc(x))


def test_sroc_options(fit):
    fig, ax = plt.subplots()
    got = plots.plot_sroc(fit, ax=ax, curve_range="full", show_prediction=False,
                          show_confidence=False, size_by="n", legend=False)
    assert got is ax
    assert not by_gid(ax, "prediction_region") and not by_gid(ax, "confidence_region")
    (curve,) = by_gid(ax, "sroc_curve")
    assert curve.get_xdata().min() == pytest.approx(1e-3)
    assert curve.get_xdata().max() == pytest.approx(1 - 1e-3)
    with pytest.raises(InputError, match="curve_range"):
        plots.plot_sroc(fit, curve_range="wide")


def test_result_methods_delegate_here(fit):
    ax = fit.plot_sroc()
    assert by_gid(ax, "summary")
    ax = fit.plot_forest()
    assert len(ax.child_axes) == 2


# ------------------------------------------------------------- funnel, LOO, cumulative

def test_funnel_draws_the_regression(table):
    res = deeks_test(table)
    ax = plots.plot_funnel(res)
    (pts,) = by_gid(ax, "studies")
    np.testing.assert_allclose(pts.get_offsets()[:, 0], res.data["ln_dor"])
    np.testing.assert_allclose(pts.get_offsets()[:, 1], res.data["inv_sqrt_ess"])
    (line,) = by_gid(ax, "regression_line")
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(x, res.intercept + res.slope * y)
    assert ax.yaxis_inverted()


def test_loo_and_cumulative_plots(fit, table):
    loo = leave_one_out(table)
    ax = plots.plot_loo(loo, result=fit)
    (sens,) = by_gid(ax, "sensitivity_points")
    np.testing.assert_allclose(sens.get_xdata(), loo["sensitivity"])
    df = table.df.copy()
    df["year"] = np.arange(2000, 2000 + table.k)[::-1]
    cum = cumulative(StudyTable(df), order_by="year")
    ax = plots.plot_cumulative(cum)
    (spec,) = by_gid(ax, "specificity_points")
    assert len(spec.get_xdata()) == table.k
    assert any(t.get_text() == "fit failed" for t in ax.texts)       # one study at step 1


# ------------------------------------------------------------------------- saving

MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<svg"}


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_save_figure_formats(fit, tmp_path, fmt):
    ax = plots.plot_sroc(fit)
    path = plots.save_figure(ax, tmp_path / f"sroc.{fmt}")
    data = path.read_bytes()
    assert len(data) > 5000
    assert MAGIC[fmt] in data[:400]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"sroc.{fmt}"]   # no temp left


def test_save_figure_accepts_figure_and_keeps_old_file_on_error(fit, tmp_path):
    ax = plots.plot_forest(fit)
    target = tmp_path / "forest.png"
    plots.save_figure(ax.get_figure(), target)
    before = target.read_bytes()
    with pytest.raises(InputError, match=r"\.png, \.pdf or \.svg"):
        plots.save_figure(ax, tmp_path / "forest.jpg")
    with pytest.raises(InputError, match="does not exist"):
        plots.save_figure(ax, tmp_path / "missing" / "forest.png")
    assert target.read_bytes() == before


# ------------------------------------------- keyword surface and two fits on one Axes --

def test_fit_plot_forest_takes_a_title(fit):
    ax = fit.plot_forest(title="AUDIT-C")
    assert isinstance(ax, Axes) and ax.get_title(loc="left") == "AUDIT-C"


def test_two_sroc_fits_on_one_axes_do_not_double_the_legend(table, fit):
    from metaanalysis.models.glmm import glmm

    other = glmm(table)
    ax = fit.plot_sroc()
    assert other.plot_sroc(ax=ax) is ax
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == len(set(texts))
    # the chance diagonal is drawn once
    assert len([ln for ln in ax.get_lines() if ln.get_gid() == "chance_line"]) == 1


def test_sroc_color_and_label_tell_two_fits_apart(table, fit):
    from matplotlib.colors import to_rgba

    from metaanalysis.models.glmm import glmm

    other = glmm(table)
    ax = fit.plot_sroc(label="Reitsma", title="AUDIT-C")
    other.plot_sroc(ax=ax, color="tab:orange", label="GLMM")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Reitsma: SROC curve" in texts and "GLMM: SROC curve" in texts
    assert len(texts) == len(set(texts)) == 10
    curves = by_gid(ax, "sroc_curve")
    assert len(curves) == 2 and to_rgba(curves[1].get_color()) == to_rgba("tab:orange")
    assert to_rgba(curves[0].get_color()) != to_rgba("tab:orange")
    summary = by_gid(ax, "summary")[1]
    np.testing.assert_allclose(summary.get_xydata()[0],
                               [other.false_positive_rate.estimate, other.sensitivity.estimate])
    assert ax.get_title() == "AUDIT-C"
