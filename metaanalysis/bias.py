"""Deeks' funnel-plot asymmetry test for small-study effects, and its funnel plot.

This module owns the test (:func:`deeks_test`, :class:`DeeksResult`) and the
figure that belongs to it (:meth:`DeeksResult.plot`, also reached as
:func:`metaanalysis.plots.plot_funnel`). It needs no model, only the 2x2 tables.

References
----------
.. [1] Deeks JJ, Macaskill P, Irwig L. The performance of tests of publication bias
       and other sample size effects in systematic reviews of diagnostic test accuracy
       was assessed. J Clin Epidemiol 2005;58:882-893. doi:10.1016/j.jclinepi.2005.01.016
.. [2] Sterne JAC, Sutton AJ, Ioannidis JPA, et al. Recommendations for examining and
       interpreting funnel plot asymmetry in meta-analyses of randomised controlled
       trials. BMJ 2011;343:d4002. doi:10.1136/bmj.d4002 (about ten studies at least).

The weighted regression is statsmodels' ``WLS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metaanalysis.errors import AnalysisError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from metaanalysis.table import StudyTable

__all__ = ["DeeksResult", "deeks_test", "FEW_STUDIES"]

#: Fewer studies than this draws a warning: funnel-plot asymmetry tests have too little
#: power below about ten studies (Sterne et al. 2011).
FEW_STUDIES = 10

#: Colour of the regression line (the prediction-region red of :mod:`metaanalysis.plots`).
_LINE_COLOUR = "#d62728"
_DOR_TICKS = (0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000,
              1e5, 1e6)


def _exp(x: np.ndarray) -> np.ndarray:
    return np.exp(x)


def _safe_log(x: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(x, dtype=float), 1e-300, None))


@dataclass(frozen=True)
class DeeksResult:
    """Deeks' funnel-plot asymmetry test: WLS of lnDOR on 1/sqrt(ESS), weights ESS.

    Attributes
    ----------
    intercept, intercept_se : float
        Fitted lnDOR at 1/sqrt(ESS) = 0 and its standard error.
    slope, slope_se : float
        Coefficient of 1/sqrt(ESS) and its standard error.
    t, df, p_value : float, int, float
        t statistic of the slope, residual degrees of freedom (k - 2) and the
        two-sided p-value; ``p < 0.10`` suggests asymmetry (Deeks 2005).
    data : pandas.DataFrame
        Per study: ``study``, ``ln_dor``, ``ess``, ``inv_sqrt_ess``, ``corrected``.
    correction : str
        Continuity-correction rule used for lnDOR.
    warnings, warning_codes : tuple of str
        What limits the test (few studies; every lnDOR from the continuity
        correction), with their stable codes, same order.
    """

    intercept: float
    intercept_se: float
    slope: float
    slope_se: float
    t: float
    df: int
    p_value: float
    data: pd.DataFrame = field(repr=False)
    correction: str = "single"
    alpha: float = 0.10
    warnings: tuple[str, ...] = ()
    warning_codes: tuple[str, ...] = ()

    @property
    def asymmetry(self) -> bool:
        """True when ``p_value < alpha`` (0.10): evidence of small-study effects."""
        return bool(self.p_value < self.alpha)

    def to_dict(self) -> dict[str, Any]:
        """Return the test as JSON-ready plain Python types."""
        return {
            "test": "deeks", "n_studies": int(len(self.data)), "correction": self.correction,
            "intercept": float(self.intercept), "intercept_se": float(self.intercept_se),
            "slope": float(self.slope), "slope_se": float(self.slope_se),
            "t": float(self.t), "df": int(self.df), "p_value": float(self.p_value),
            "alpha": float(self.alpha), "asymmetry": self.asymmetry,
            "warnings": list(self.warnings), "warning_codes": list(self.warning_codes),
            "studies": [
                {"study": str(r.study), "ln_dor": float(r.ln_dor), "ess": float(r.ess),
                 "inv_sqrt_ess": float(r.inv_sqrt_ess), "corrected": bool(r.corrected)}
                for r in self.data.itertuples()
            ],
        }

    def summary(self) -> pd.DataFrame:
        """Coefficient table: estimate, SE, t and p for intercept and slope."""
        from scipy import stats

        t0 = self.intercept / self.intercept_se
        return pd.DataFrame(
            {"estimate": [self.intercept, self.slope],
             "se": [self.intercept_se, self.slope_se],
             "t": [t0, self.t],
             "p_value": [2 * stats.t.sf(abs(t0), self.df), self.p_value]},
            index=pd.Index(["intercept", "inv_sqrt_ess"], name="term"))

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw Deeks' funnel plot: lnDOR against 1/sqrt(ESS) with the regression line.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new 6 x 5 inch figure when omitted.

        Returns
        -------
        matplotlib.axes.Axes
            x = log diagnostic odds ratio (DOR on the top axis), y = 1/sqrt(ESS) with
            the axis inverted so the largest studies sit at the top, as in Deeks et al.
            (2005). Artists carry ``gid`` ``"studies"`` and ``"regression_line"``.
        """
        import matplotlib.pyplot as plt

        res = self
        if ax is None:
            _, ax = plt.subplots(figsize=(6.0, 5.0))
        d = res.data
        size = 15.0 + 185.0 * d["ess"] / d["ess"].max()
        ax.scatter(d["ln_dor"], d["inv_sqrt_ess"], s=size, facecolors="none", edgecolors="0.25",
                   linewidths=0.9, zorder=3, gid="studies", label=f"Studies (k = {len(d)})")
        ymax = float(d["inv_sqrt_ess"].max()) * 1.1
        yy = np.linspace(0.0, ymax, 50)
        ax.plot(res.intercept + res.slope * yy, yy, color=_LINE_COLOUR, lw=1.4, zorder=2,
                gid="regression_line",
                label=f"Regression: slope {res.slope:.2f}, p = {res.p_value:.3f}")
        x = d["ln_dor"].to_numpy(dtype=float)
        pad = 0.15 * max(float(np.ptp(x)), 1.0)
        ax.set_xlim(float(x.min()) - pad, float(x.max()) + pad)
        ax.set_ylim(ymax, 0.0)
        ax.set_xlabel("log diagnostic odds ratio")
        ax.set_ylabel("1 / \u221aESS (effective sample size)")
        transforms: Any = (_exp, _safe_log)  # matplotlib types these as ArrayLike maps
        top = ax.secondary_xaxis("top", functions=transforms)
        lo, hi = np.exp(ax.get_xlim())
        ticks = [v for v in _DOR_TICKS if lo <= v <= hi]
        top.set_xticks(ticks)
        top.set_xticklabels([f"{v:g}" for v in ticks], fontsize=8)
        top.set_xlabel("Diagnostic odds ratio", fontsize=9)
        ax.grid(color="0.92", lw=0.6)
        ax.set_axisbelow(True)
        verdict = "asymmetry suggested" if res.asymmetry else "no significant asymmetry"
        ax.set_title(f"Deeks' funnel plot asymmetry test ({verdict}, \u03b1 = {res.alpha:g})",
                     fontsize=9.5)
        ax.legend(loc="best", fontsize=8, framealpha=0.9)
        return ax


def deeks_test(table: StudyTable, correction: str = "single", add: float = 0.5,
               alpha: float = 0.10) -> DeeksResult:
    """Deeks' funnel-plot asymmetry test for small-study effects in test-accuracy reviews.

    Parameters
    ----------
    table : StudyTable
        The studies (k >= 3).
    correction : {"single", "all"}
        Continuity correction for lnDOR: ``"single"`` (default, as Deeks et al.) adds
        ``add`` to every cell of the studies that have a zero cell; ``"all"`` adds it to
        every study when any has a zero.
    add : float
        The continuity correction (0.5).
    alpha : float
        Significance level used by :attr:`DeeksResult.asymmetry` (0.10, as recommended).

    Returns
    -------
    DeeksResult

    Notes
    -----
    ``lnDOR_i = log(TP TN / (FP FN))`` is regressed on ``1/sqrt(ESS_i)`` by weighted
    least squares with weights ``ESS_i``, where the effective sample size is
    ``ESS = 4 n1 n2 / (n1 + n2)`` with ``n1 = TP + FN`` diseased and ``n2 = FP + TN``
    non-diseased subjects (uncorrected counts). Asymmetry is judged by the t-test of
    the slope on ``k - 2`` degrees of freedom, the same as R's
    ``summary(lm(lnDOR ~ I(1/sqrt(ESS)), weights = ESS))``.

    References
    ----------
    .. [1] Deeks JJ, Macaskill P, Irwig L. The performance of tests of publication
           bias and other sample size effects in systematic reviews of diagnostic test
           accuracy was assessed. J Clin Epidemiol 2005;58:882-893.
           doi:10.1016/j.jclinepi.2005.01.016
    """
    import statsmodels.api as sm

    check_table(table)
    if correction not in ("single", "all"):
        raise InputError(f"correction must be 'single' or 'all' for Deeks' test; "
                         f"got {correction!r}.")
    if not (0.0 < alpha < 1.0):
        raise InputError(f"alpha must lie between 0 and 1; got {alpha!r}.")
    k = int(table.k)
    if k < 3:
        raise AnalysisError(f"Deeks' test needs at least 3 studies; the table has {k}.")
    cells = np.column_stack([table.tp, table.fp, table.fn, table.tn]).astype(float)
    has_zero = (cells == 0).any(axis=1)
    fix = has_zero if correction == "single" else np.repeat(has_zero.any(), k)
    c = cells + np.where(fix, add, 0.0)[:, None]
    ln_dor = np.log(c[:, 0]) + np.log(c[:, 3]) - np.log(c[:, 1]) - np.log(c[:, 2])
    n1 = cells[:, 0] + cells[:, 2]
    n2 = cells[:, 1] + cells[:, 3]
    ess = 4.0 * n1 * n2 / (n1 + n2)
    x = 1.0 / np.sqrt(ess)
    if np.ptp(x) == 0:
        raise AnalysisError("Deeks' test cannot be computed: every study has the same effective "
                            "sample size, so the slope is not identified.")
    fit = sm.WLS(ln_dor, sm.add_constant(x, has_constant="add"), weights=ess).fit()
    dfree = k - 2
    yw = ln_dor * np.sqrt(ess)
    if float(fit.ssr) <= 1e-20 * float(yw @ yw):
        raise AnalysisError("Deeks' test cannot be computed: the studies' log diagnostic odds "
                            "ratios lie exactly on a line in 1/sqrt(ESS) (for example, every "
                            "study has the same 2x2 proportions), so the residual variance is "
                            "0 and the slope has no standard error.")
    beta, se = np.asarray(fit.params), np.asarray(fit.bse)
    data = pd.DataFrame({"study": list(table.studies), "ln_dor": ln_dor, "ess": ess,
                         "inv_sqrt_ess": x, "corrected": fix})
    notes: list[tuple[str, str]] = []
    if k < FEW_STUDIES:
        notes.append(("few_studies",
                      f"only {k} studies ({dfree} residual degree{'s' if dfree != 1 else ''} "
                      f"of freedom): funnel-plot tests need about {FEW_STUDIES} or more to "
                      "have power, so a slope that is not significant says little."))
    if bool(np.all(fix)):
        why = ("every study has a zero cell" if correction == "single" else
               "a study has a zero cell and correction 'all' adds 0.5 to every study")
        notes.append(("correction_driven",
                      f"{why}, so every lnDOR includes the continuity correction: the funnel "
                      "rests partly on the 0.5 added, not on the data alone."))
    return DeeksResult(intercept=float(beta[0]), intercept_se=float(se[0]),
                       slope=float(beta[1]), slope_se=float(se[1]), t=float(fit.tvalues[1]),
                       df=dfree, p_value=float(fit.pvalues[1]), data=data,
                       correction=correction, alpha=alpha,
                       warnings=tuple(t for _, t in notes),
                       warning_codes=tuple(c for c, _ in notes))


def check_table(table: Any) -> None:
    """Raise InputError unless ``table`` looks like a StudyTable."""
    for name in ("tp", "fp", "fn", "tn", "studies", "k"):
        if not hasattr(table, name):
            raise InputError("expected a metaanalysis.StudyTable; "
                             f"got {type(table).__name__} without {name!r}.")
