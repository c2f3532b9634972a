"""Heterogeneity: every I2 estimator and the DerSimonian-Laird tau2, in one place.

Each estimator has one function here, and one key wherever it is reported (pool,
reproduce and regress JSON hold proportions in [0, 1]; text shows percent with the
estimator's name):

============================ ====================== =====================================
function                     key                    what
============================ ====================== =====================================
:func:`i2`                   ``i2``                 Higgins-Thompson, ``tau2 / (tau2 + s2)``
                                                    from a *fitted* tau2 and the typical
                                                    within-study variance ``s2``
:func:`i2_cochran_q`         ``i2_cochran_q``       ``max(0, (Q - df) / Q)`` from Cochran's
                                                    Q (no model fit)
:func:`i2_holling`           ``i2_holling``         Holling et al.'s six values, as mada
:func:`i2_zhou`              ``i2_zhou``            Zhou and Dendukuri's, expected
                                                    within-study variance
============================ ====================== =====================================

The "typical" within-study variance is Higgins and Thompson's
``s2 = (k-1) sum w / ((sum w)^2 - sum w^2)`` with ``w = 1/v`` (as metafor's
``rma`` uses for its I2), or ``(k - p) / tr(P)`` with a (k, p) design ``X`` (metafor's
rule with moderators; the same for ``X`` a column of ones). With the
DerSimonian-Laird tau2, :func:`i2` and :func:`i2_cochran_q` coincide; with any other
tau2 (REML, the bivariate fit) they differ.

For a bivariate fit (:func:`bivariate_i2`), from the between-study covariance ``Psi``:

- ``logit_sens``, ``logit_fpr``: ``I2_j = Psi_jj / (Psi_jj + s2_j)``;
- ``bivariate``: the generalised-variance ratio
  ``sqrt|Psi| / (sqrt|Psi| + sqrt|S|)`` with ``S = diag(s2_1, s2_2)``, the
  square roots of the determinants playing the part of the variances in
  the univariate I2 (it accounts for the correlation of the random effects,
  and equals the univariate I2 when both outcomes agree and rho = 0).

mada's ``summary()$i2`` reports Holling's values (reproduced) and a ``Zhou`` value
that :func:`i2_zhou`, the published formula, does not reproduce.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from metaanalysis.errors import InputError
from metaanalysis.table import StudyTable

#: ``np.add.reduce`` is what ``ndarray.sum`` and ``np.sum`` call on a 1-d array (the same
#: pairwise summation, so the same sums), without their Python wrappers: the statistics
#: of one fit are a few dozen sums of a few studies each, where the wrappers cost more
#: than the sums.
_add = np.add.reduce


def typical_within_variance(v: ArrayLike, X: ArrayLike | None = None) -> float:
    """Higgins and Thompson's typical within-study variance of one outcome.

    Parameters
    ----------
    v : array_like
        (k,) within-study variances.
    X : array_like, optional
        (k, p) design of a meta-regression; ``None`` is the intercept alone.

    Returns
    -------
    float
        ``(k - p) / tr(P)`` with ``W = diag(1/v)`` and
        ``P = W - W X (X' W X)^-1 X' W``; for the intercept alone this is
        ``(k-1) sum w / ((sum w)^2 - sum w^2)``.

    References
    ----------
    .. [1] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    .. [2] Viechtbauer W. Conducting meta-analyses in R with the metafor
       package. J Stat Softw 2010;36(3):1-48.
    """
    w = 1.0 / np.asarray(v, dtype=float)
    k = len(w)
    if X is None:
        return _typical(w, _add(w))
    X = np.asarray(X, dtype=float).reshape(k, -1)
    WX = X * w[:, None]
    # tr(P) = sum w - tr((X'WX)^-1 X'W^2 X)
    tr_p = float(w.sum() - np.trace(np.linalg.solve(X.T @ WX, WX.T @ WX)))
    return float((k - X.shape[1]) / tr_p)


def _typical(w: np.ndarray, sw: float) -> float:
    """:func:`typical_within_variance` (intercept only) from the weights and their sum."""
    return float((len(w) - 1) * sw / (sw ** 2 - _add(w * w)))


def cochran_q(y: ArrayLike, v: ArrayLike) -> float:
    """Cochran's Q: ``sum w (y - ybar)^2`` with ``w = 1/v`` and ``ybar`` their weighted mean.

    References
    ----------
    .. [1] Cochran WG. The combination of estimates from different experiments.
       Biometrics 1954;10:101-129.
    """
    y = np.asarray(y, dtype=float)
    w = 1.0 / np.asarray(v, dtype=float)
    return _cochran_q(y, w)


def _cochran_q(y: np.ndarray, w: np.ndarray) -> float:
    """:func:`cochran_q` from the weights ``w = 1/v``."""
    ybar = float(_add(w * y) / _add(w))
    return float(_add(w * (y - ybar) ** 2))


def i2(tau2: float, v: ArrayLike, X: ArrayLike | None = None) -> float:
    """Higgins-Thompson I2 from a fitted between-study variance: ``tau2 / (tau2 + s2)``.

    Parameters
    ----------
    tau2 : float
        Between-study variance of the outcome, from any fit (DerSimonian-Laird,
        REML, the bivariate model's ``Psi``).
    v : array_like
        (k,) within-study variances.
    X : array_like, optional
        (k, p) meta-regression design, for the residual I2 (see
        :func:`typical_within_variance`).

    Returns
    -------
    float
        A proportion in [0, 1] (0 when ``tau2`` is 0).

    References
    ----------
    .. [1] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    """
    tau2 = float(tau2)
    return tau2 / (tau2 + typical_within_variance(v, X)) if tau2 > 0 else 0.0


def _i2_from(tau2: float, s2: float) -> float:
    """:func:`i2` from the typical within-study variance ``s2`` already computed."""
    tau2 = float(tau2)
    return tau2 / (tau2 + s2) if tau2 > 0 else 0.0


def i2_cochran_q(y: ArrayLike, v: ArrayLike) -> float:
    """I2 from Cochran's Q: ``max(0, (Q - (k - 1)) / Q)`` (0 when Q is 0).

    It needs no model fit; it equals :func:`i2` with the DerSimonian-Laird tau2.

    Parameters
    ----------
    y, v : array_like
        (k,) study estimates and their within-study variances. Passing
        ``v + tau2`` gives mada's ``madauni`` variant (Q with random-effects weights).

    Returns
    -------
    float
        A proportion in [0, 1].

    References
    ----------
    .. [1] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    """
    q = cochran_q(y, v)
    df = len(np.asarray(y)) - 1
    return _i2_from_q(q, df)


def _i2_from_q(q: float, df: int) -> float:
    """:func:`i2_cochran_q` from Cochran's Q and its degrees of freedom."""
    return max(0.0, (q - df) / q) if q > 0 else 0.0


class WithinStudy:
    """The within-study quantities of one table under one continuity correction.

    Several statistics of one fit start from the same corrected counts: the I2
    from ``Psi`` (the typical within-study variances), Cochran's Q I2 (the
    logit outcomes) and Holling's I2 (the log Lehmann parameters). A fit's
    result holds one of these, so each quantity is computed once, when first
    used, and every statistic that needs it reuses it; the values are those of
    the functions of this module called on the table.

    Parameters
    ----------
    table : StudyTable
        The studies.
    correction : {"all", "single", "none"}
        Continuity correction of the counts.
    counts : tuple of numpy.ndarray, optional
        ``table.corrected(correction)`` if the caller has it already (a fit that
        corrected the counts for itself); it is then not computed again.
    """

    def __init__(self, table: StudyTable, correction: str = "all", *,
                 counts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
                 ) -> None:
        self.table = table
        self.correction = correction
        if counts is not None:
            self.__dict__["counts"] = counts  # the cached value of the property below

    @cached_property
    def counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Corrected counts ``(tp, fp, fn, tn)`` (:meth:`StudyTable.corrected`)."""
        return self.table.corrected(self.correction)

    @cached_property
    def outcomes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Logit sensitivity and logit FPR with their within-study variances."""
        tp, fp, fn, tn = self.counts
        return {"logit_sens": (np.log(tp / fn), 1.0 / tp + 1.0 / fn),
                "logit_fpr": (np.log(fp / tn), 1.0 / fp + 1.0 / tn)}

    @cached_property
    def typical(self) -> tuple[float, float]:
        """Typical within-study variances of logit sens and logit FPR (intercept only)."""
        return self._weights["logit_sens"][2], self._weights["logit_fpr"][2]

    @cached_property
    def _weights(self) -> dict[str, tuple[np.ndarray, float, float]]:
        """Per outcome: the weights ``w = 1/v``, their sum and the typical variance."""
        out = {}
        for name, (_, v) in self.outcomes.items():
            w = 1.0 / v
            sw = _add(w)
            out[name] = (w, sw, _typical(w, sw))
        return out

    @cached_property
    def cochran_i2(self) -> dict[str, float]:
        """:func:`cochran_q_i2`: the I2 from Cochran's Q of each logit outcome."""
        out = {}
        for name, (y, _) in self.outcomes.items():
            w, _sw, _s2 = self._weights[name]
            out[name] = _i2_from_q(_cochran_q(y, w), len(y) - 1)
        return out

    @cached_property
    def lehmann(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`log_lehmann_parameter` of the table: ``y``, ``v`` and the unit variance."""
        return _log_lehmann(*self.counts)


def _within(table: StudyTable, correction: str, within: WithinStudy | None) -> WithinStudy:
    """``within`` if given (it must be of ``table`` and ``correction``), else a new one."""
    if within is None:
        return WithinStudy(table, correction)
    if within.table is not table or within.correction != correction:
        raise ValueError("the within-study quantities are of another table or correction")
    return within


def logit_outcome_variances(table: StudyTable, correction: str = "all"
                            ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Corrected logit sensitivity and logit FPR with their within-study variances."""
    return WithinStudy(table, correction).outcomes


def cochran_q_i2(table: StudyTable, correction: str = "all", *,
                 within: WithinStudy | None = None) -> dict[str, float]:
    """:func:`i2_cochran_q` of logit sensitivity and of logit FPR (= that of logit specificity).

    Parameters
    ----------
    table : StudyTable
        The studies.
    correction : {"all", "single", "none"}
        Continuity correction of the counts (the fit's; ``"all"`` for the GLMM).
    within : WithinStudy, optional
        The table's within-study quantities under ``correction``, to reuse.

    Returns
    -------
    dict
        ``logit_sens``, ``logit_fpr``: proportions in [0, 1].

    References
    ----------
    .. [1] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    """
    return dict(_within(table, correction, within).cochran_i2)


def bivariate_i2(table: StudyTable, psi: ArrayLike, correction: str = "all",
                 X: ArrayLike | None = None, *,
                 within: WithinStudy | None = None) -> dict[str, float]:
    """I2 of logit sensitivity, logit FPR, and a bivariate share of generalised variance.

    The per-outcome values are Higgins and Thompson's ``tau2 / (tau2 + s2)`` with
    the typical within-study variance ``s2``. The bivariate value is this
    package's own summary, ``sqrt|Psi| / (sqrt|Psi| + sqrt(s2_sens s2_fpr))``: the
    share of the generalised standard deviation that is between studies. It is
    in the spirit of Jackson, White and Riley's multivariate measures but is NOT
    their R or I2_R statistic, and no R package reports it.

    Parameters
    ----------
    table : StudyTable
        The studies (their within-study variances on the logit scale).
    psi : array_like
        (2, 2) fitted between-study covariance of (logit sens, logit FPR).
    correction : {"all", "single"}
        Continuity correction for the within-study variances.
    X : array_like, optional
        (k, p) design of a meta-regression whose residual covariance ``psi`` is;
        the typical variances are then metafor's ``(k - p) / tr(P)``.
    within : WithinStudy, optional
        The table's within-study quantities under ``correction``, to reuse.

    Returns
    -------
    dict
        ``logit_sens``, ``logit_fpr``, ``bivariate`` (proportions in [0, 1]; the
        bivariate value is NaN when the correlation is on the boundary +-1).

    References
    ----------
    .. [1] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    .. [2] Jackson D, White IR, Riley RD. Quantifying the impact of
       between-study heterogeneity in multivariate meta-analyses. Stat Med
       2012;31:3805-3820. (The idea of comparing generalised variances; the
       bivariate formula here is adapted, not theirs.)
    """
    psi = np.asarray(psi, dtype=float)
    w = _within(table, correction, within)
    if X is None:
        s1, s2 = w.typical
    else:
        data = w.outcomes
        s1 = typical_within_variance(data["logit_sens"][1], X)
        s2 = typical_within_variance(data["logit_fpr"][1], X)
    return {
        "logit_sens": _i2_from(psi[0, 0], s1),
        "logit_fpr": _i2_from(psi[1, 1], s2),
        "bivariate": _generalised_share(psi, s1 * s2),
    }


# ---------------------------------------------------------------------------
# Holling et al. (2020): I2 of the proportional-hazards (Lehmann) parameter
# ---------------------------------------------------------------------------

HOLLING_KEYS = (
    "HollingUnadjusted1", "HollingUnadjusted2", "HollingUnadjusted3",
    "HollingAdjusted1", "HollingAdjusted2", "HollingAdjusted3",
)


def harmonic_mean_variance(v: ArrayLike) -> float:
    """Harmonic mean ``k / sum(1/v)`` of within-study variances.

    References
    ----------
    .. [1] Böhning D, Lerdsuwansri R, Holling H. Some general points on the
       I2-measure of heterogeneity in meta-analysis. Metrika 2017;80:685-695.
    """
    v = np.asarray(v, dtype=float)
    return float(len(v) / np.sum(1.0 / v))


def dersimonian_laird_tau2(y: ArrayLike, v: ArrayLike) -> float:
    """DerSimonian-Laird moment estimate of the between-study variance (truncated at 0).

    ``max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w))`` with Cochran's Q
    (:func:`cochran_q`) and ``w = 1/v``. The package's only DerSimonian-Laird
    estimator (univariate pooling and Holling's I2 use it, through its weight form).

    References
    ----------
    .. [1] DerSimonian R, Laird N. Meta-analysis in clinical trials. Control
       Clin Trials 1986;7:177-188.
    """
    y = np.asarray(y, dtype=float)
    w = 1.0 / np.asarray(v, dtype=float)
    return _dl_tau2(y, w, _add(w))


def _dl_tau2(y: np.ndarray, w: np.ndarray, sw: float) -> float:
    """:func:`dersimonian_laird_tau2` from the weights ``w = 1/v`` and their sum."""
    c = float(sw - _add(w * w) / sw)
    return max(0.0, (_cochran_q(y, w) - (len(y) - 1)) / c)


def log_lehmann_parameter(
    table: StudyTable, correction: str = "all"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-study log of the proportional-hazards (Lehmann) parameter and its variances.

    Under the proportional-hazards model of Holling et al. (2012) each study's
    ROC point satisfies ``sens = fpr ** theta``, so
    ``theta_i = log(sens_i) / log(fpr_i)``. The delta method gives, for
    ``y_i = log(theta_i) = log(-log sens_i) - log(-log fpr_i)``,

    ``var(y_i) = (1 - se) / (n1 se log(se)^2) + (1 - fp) / (n0 fp log(fp)^2)``

    with ``n1 = TP + FN`` and ``n0 = FP + TN``. The *unit* variance is the same
    expression with ``n1 = n0 = 1`` (the variance contributed by one diseased
    and one non-diseased person).

    Parameters
    ----------
    table : StudyTable
        The studies.
    correction : {"all", "single", "none"}
        Continuity correction applied to the counts first (mada's default
        ``"all"``).

    Returns
    -------
    tuple of numpy.ndarray
        ``y`` (log theta), ``v`` (within-study variance), ``u`` (unit variance).

    References
    ----------
    .. [1] Holling H, Böhning W, Böhning D. Meta-analysis of diagnostic
       studies based upon SROC-curves: a mixed model approach using the
       Lehmann family. Stat Modelling 2012;12:347-375.
    """
    return _log_lehmann(*table.corrected(correction))


def _log_lehmann(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`log_lehmann_parameter` from the corrected counts."""
    n1, n0 = tp + fn, fp + tn
    se, fr = tp / n1, fp / n0
    if np.any((se <= 0) | (se >= 1) | (fr <= 0) | (fr >= 1)):
        raise InputError("the log Lehmann parameter needs every sensitivity and false "
                         "positive rate strictly between 0 and 1; use a continuity correction.")
    y = np.log(np.log(se) / np.log(fr))
    u_sens = (1.0 - se) / (se * np.log(se) ** 2)
    u_fpr = (1.0 - fr) / (fr * np.log(fr) ** 2)
    v = u_sens / n1 + u_fpr / n0
    return y, v, u_sens + u_fpr


def i2_holling(table: StudyTable, correction: str = "all", *,
               within: WithinStudy | None = None) -> dict[str, float]:
    """Holling et al.'s I2 variants for a diagnostic meta-analysis, as mada reports them.

    The effect measure is the log of the proportional-hazards parameter,
    ``y_i = log(log sens_i / log fpr_i)`` (see :func:`log_lehmann_parameter`),
    with its delta-method within-study variance ``v_i``. ``tau2`` is its
    DerSimonian-Laird between-study variance. Each I2 is
    ``tau2 / (tau2 + s2)``, where ``s2`` summarises the within-study
    variances:

    - ``HollingUnadjusted1``: Higgins and Thompson's typical variance of ``v``;
    - ``HollingUnadjusted2``: harmonic mean of ``v``;
    - ``HollingUnadjusted3``: arithmetic mean of ``v``;
    - ``HollingAdjusted1..3``: the same three summaries of the *unit*
      variances ``u_i`` (``v_i`` with both sample sizes set to 1), which
      removes the dependence of I2 on the study sizes.

    These do not depend on the bivariate fit (nor on REML versus ML).

    Parameters
    ----------
    table : StudyTable
        The studies.
    correction : {"all", "single", "none"}
        Continuity correction of the counts (mada uses the fit's).
    within : WithinStudy, optional
        The table's within-study quantities under ``correction``, to reuse.

    Returns
    -------
    dict
        Keys :data:`HOLLING_KEYS`, values in [0, 1].

    References
    ----------
    .. [1] Holling H, Böhning W, Masoudi E, Böhning D, Sangnawakij P.
       Evaluation of a new version of I2 with emphasis on diagnostic problems.
       Commun Stat Simul Comput 2020;49:942-972.
    .. [2] Böhning D, Lerdsuwansri R, Holling H. Some general points on the
       I2-measure of heterogeneity in meta-analysis. Metrika 2017;80:685-695.
    .. [3] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
       meta-analysis. Stat Med 2002;21:1539-1558.
    """
    y, v, u = _within(table, correction, within).lehmann
    k = len(y)
    if k < 2:
        raise InputError("Holling's I2 needs at least two studies.")
    # dersimonian_laird_tau2(y, v), and per variance typical_within_variance,
    # harmonic_mean_variance (k / sum w) and the mean, on the weights 1/v and 1/u and
    # their sums, each taken once
    wv = 1.0 / v
    sv = _add(wv)
    tau2 = _dl_tau2(y, wv, sv)
    out: dict[str, float] = {}
    wu = 1.0 / u
    for label, var, w, sw in (("Unadjusted", v, wv, sv), ("Adjusted", u, wu, _add(wu))):
        summaries = (_typical(w, sw), float(k / sw), float(_add(var) / k))
        for j, s2 in enumerate(summaries, start=1):
            out[f"Holling{label}{j}"] = tau2 / (tau2 + s2)
    return out


# ---------------------------------------------------------------------------
# Zhou and Dendukuri (2014): bivariate I2 with the expected within-study variance
# ---------------------------------------------------------------------------


def expected_logit_variance_factor(mu: float, tau2: float) -> float:
    """``E[1 / (p (1 - p))]`` for ``logit p ~ N(mu, tau2)``.

    Since ``1 / (p (1 - p)) = exp(-x) + 2 + exp(x)`` with ``x = logit p``, the
    log-normal moments give ``exp(-mu + tau2/2) + 2 + exp(mu + tau2/2)``.

    References
    ----------
    .. [1] Zhou Y, Dendukuri N. Statistics for quantifying heterogeneity in
       univariate and bivariate meta-analyses of binary data: the case of
       meta-analyses of diagnostic accuracy. Stat Med 2014;33:2701-2717.
    """
    with np.errstate(over="ignore"):  # a diverging fit (huge tau2): the factor is +inf
        return float(np.exp(-mu + tau2 / 2.0) + 2.0 + np.exp(mu + tau2 / 2.0))


def _generalised_share(psi: np.ndarray, within: float) -> float:
    """``sqrt|Psi| / (sqrt|Psi| + sqrt(within))``; NaN where Psi is singular.

    With a between-study variance at 0 the ratio is 0, as it should be; with
    both variances positive but the correlation at +-1 the determinant is 0
    although each outcome is heterogeneous, and a bivariate share is undefined.
    """
    v1, v2 = float(psi[0, 0]), float(psi[1, 1])
    det = v1 * v2 - float(psi[0, 1]) ** 2
    if v1 > 0 and v2 > 0 and det <= 1e-10 * v1 * v2:
        return float("nan")
    root = math.sqrt(max(det, 0.0))
    if not math.isfinite(within):
        return 0.0
    return root / (root + math.sqrt(within))


def i2_zhou(table: StudyTable, mu: ArrayLike, psi: ArrayLike) -> dict[str, float]:
    """Zhou and Dendukuri's I2 of logit sensitivity, logit FPR and their bivariate I2.

    The within-study variance of a logit proportion from ``n`` people is about
    ``1 / (n p (1 - p))``; its expectation over the random-effects
    distribution ``logit p ~ N(mu_j, Psi_jj)``, averaged over the studies, is

    ``E_j = (exp(-mu_j + Psi_jj/2) + 2 + exp(mu_j + Psi_jj/2)) * mean_i(1 / n_ij)``

    with ``n_i1 = TP + FN`` and ``n_i2 = FP + TN`` taken from the uncorrected
    counts. Then ``I2_j = Psi_jj / (Psi_jj + E_j)`` and the bivariate I2 is the
    ratio of generalised standard deviations
    ``sqrt|Psi| / (sqrt|Psi| + sqrt(E_1 E_2))``, which accounts for the
    correlation of the random effects.

    Parameters
    ----------
    table : StudyTable
        The studies (uncorrected counts give the sample sizes).
    mu : array_like
        (2,) pooled (logit sensitivity, logit FPR).
    psi : array_like
        (2, 2) between-study covariance of (logit sensitivity, logit FPR).

    Returns
    -------
    dict
        ``logit_sens``, ``logit_fpr``, ``bivariate`` (proportions in [0, 1]; the
        bivariate value is NaN when the correlation is on the boundary +-1).

    Notes
    -----
    mada 0.5.12 reports a ``Zhou`` value in ``summary(reitsma(...))$i2`` that
    this formula does not reproduce (see ``tests/test_i2_mada.py``).

    References
    ----------
    .. [1] Zhou Y, Dendukuri N. Statistics for quantifying heterogeneity in
       univariate and bivariate meta-analyses of binary data: the case of
       meta-analyses of diagnostic accuracy. Stat Med 2014;33:2701-2717.
    """
    mu = np.asarray(mu, dtype=float)
    psi = np.asarray(psi, dtype=float)
    n1 = np.asarray(table.n_diseased, dtype=float)
    n0 = np.asarray(table.n_nondiseased, dtype=float)
    k1, k0 = len(n1), len(n0)
    # expected_logit_variance_factor of both outcomes, its four exponentials in one call
    h1, h2 = psi[0, 0] / 2.0, psi[1, 1] / 2.0
    args = np.array([-mu[0] + h1, mu[0] + h1, -mu[1] + h2, mu[1] + h2])
    if np.maximum.reduce(args) < 700.0:  # no overflow possible (nor NaN): no guard needed
        x = np.exp(args)
    else:
        with np.errstate(over="ignore"):  # a diverging fit (huge tau2): the factor is +inf
            x = np.exp(args)
    f1 = float(x[0] + 2.0 + x[1])
    f2 = float(x[2] + 2.0 + x[3])
    e1 = f1 * float(_add(1.0 / n1) / k1)
    e2 = f2 * float(_add(1.0 / n0) / k0)
    return {
        "logit_sens": float(psi[0, 0] / (psi[0, 0] + e1)) if math.isfinite(e1) else 0.0,
        "logit_fpr": float(psi[1, 1] / (psi[1, 1] + e2)) if math.isfinite(e2) else 0.0,
        "bivariate": _generalised_share(psi, e1 * e2),
    }
