"""Diagnostics of a fitted meta-analysis: refits, influence, small-study effects.

This module owns the analyses that refit a model on subsets of the studies or
examine its residuals; it fits through :mod:`metaanalysis.models.registry`.

- :func:`leave_one_out`: refit without each study in turn.
- :func:`influence`: standardised residuals and Cook's distances per study for the
  bivariate normal (Reitsma) model, as metafor's ``rstandard()`` and
  ``cooks.distance()`` compute them for ``rma.mv(..., struct="UN")`` on the long format.
- :func:`deeks_test`: Deeks' funnel-plot asymmetry test for small-study effects
  (defined in :mod:`metaanalysis.bias`, re-exported here).
- :func:`cumulative`: cumulative meta-analysis with studies added in a stated order.

Fits that fail inside :func:`leave_one_out` and :func:`cumulative` (too few studies,
non-convergence) become a row carrying the error text; they never stop the loop.

References
----------
.. [1] Deeks JJ, Macaskill P, Irwig L. The performance of tests of publication bias
       and other sample size effects in systematic reviews of diagnostic test accuracy
       was assessed. J Clin Epidemiol 2005;58:882-893. doi:10.1016/j.jclinepi.2005.01.016
.. [2] Viechtbauer W, Cheung MW-L. Outlier and influence diagnostics for meta-analysis.
       Res Synth Methods 2010;1:112-125. doi:10.1002/jrsm.11
.. [3] Cook RD. Detection of influential observation in linear regression.
       Technometrics 1977;19:15-18. doi:10.1080/00401706.1977.10489493
.. [4] Lau J, et al. Cumulative meta-analysis of therapeutic trials for myocardial
       infarction. N Engl J Med 1992;327:248-254. doi:10.1056/NEJM199207233270406
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metaanalysis.bias import DeeksResult, check_table, deeks_test
from metaanalysis.errors import InputError, MetaAnalysisError
from metaanalysis.models.registry import BIVARIATE_MODELS, fit_function
from metaanalysis.models.reitsma import MIN_STUDIES, fit_bivariate_normal

if TYPE_CHECKING:  # pragma: no cover
    from metaanalysis.models.likelihood import BivariateNormalFit
    from metaanalysis.results import BivariateResult
    from metaanalysis.table import StudyTable

__all__ = [
    "DeeksResult",
    "deeks_test",
    "leave_one_out",
    "influence",
    "cumulative",
    "fit_model",
    "FIT_COLUMNS",
]

#: Columns every row of :func:`leave_one_out` and :func:`cumulative` carries.
FIT_COLUMNS: tuple[str, ...] = (
    "n_studies",
    "sensitivity", "sensitivity_ci_low", "sensitivity_ci_high",
    "specificity", "specificity_ci_low", "specificity_ci_high",
    "logit_sens", "logit_sens_se", "logit_fpr", "logit_fpr_se",
    "tau2_logit_sens", "tau2_logit_fpr", "rho_sens_fpr",
    "dor", "loglik", "converged", "warnings", "warning_codes", "error",
)


# --------------------------------------------------------------------------- model dispatch

def fit_model(table: StudyTable, model: str = "reitsma", **fit_kw: Any) -> BivariateResult:
    """Fit ``model`` ("reitsma" or "glmm") to a StudyTable and return its BivariateResult.

    Parameters
    ----------
    table : StudyTable
        The studies.
    model : {"reitsma", "glmm"}
        The bivariate normal model (:func:`metaanalysis.reitsma`) or the binomial-normal
        GLMM (:func:`metaanalysis.glmm`).
    **fit_kw
        Passed to the fitting function (``method``, ``correction``, ``nagq``, ...).

    Returns
    -------
    BivariateResult
    """
    return fit_function(model, BIVARIATE_MODELS)(table, **fit_kw)


def _fit_row(fit: Callable[[], BivariateResult], n_studies: int) -> dict[str, Any]:
    """Run ``fit`` and flatten its result into one row; failures become an ``error`` text."""
    row: dict[str, Any] = dict.fromkeys(FIT_COLUMNS, np.nan)
    row.update(n_studies=n_studies, converged=False, warnings=[], warning_codes=[], error="")
    caught: list[tuple[str, str]] = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            res = fit()
        caught = [(str(w.message), str(getattr(w.category, "code", "warning")))
                  for w in record]
    except (MetaAnalysisError, ArithmeticError, ValueError, np.linalg.LinAlgError) as err:
        row["error"] = str(err)
        return row
    se = np.sqrt(np.diag(np.asarray(res.vcov, dtype=float)))
    tau2 = res.tau2
    # the fit's warnings, then any other raised while it ran; each text once, with its code
    found = dict(zip(res.warnings, res.warning_codes, strict=True))
    for text, code in caught:
        found.setdefault(text, code)
    row.update(
        sensitivity=res.sensitivity.estimate, sensitivity_ci_low=res.sensitivity.ci_low,
        sensitivity_ci_high=res.sensitivity.ci_high,
        specificity=res.specificity.estimate, specificity_ci_low=res.specificity.ci_low,
        specificity_ci_high=res.specificity.ci_high,
        logit_sens=float(res.mu[0]), logit_sens_se=float(se[0]),
        logit_fpr=float(res.mu[1]), logit_fpr_se=float(se[1]),
        tau2_logit_sens=float(tau2[0]), tau2_logit_fpr=float(tau2[1]),
        rho_sens_fpr=float(res.rho), dor=float(res.dor.estimate), loglik=float(res.loglik),
        converged=bool(res.converged), warnings=list(found), warning_codes=list(found.values()),
    )
    return row


# --------------------------------------------------------------------------- leave one out

def leave_one_out(table: StudyTable, model: str = "reitsma", **fit_kw: Any) -> pd.DataFrame:
    """Refit the model without each study in turn.

    Parameters
    ----------
    table : StudyTable
        The studies (k >= 2).
    model : {"reitsma", "glmm"}
        Model refitted on each subset (see :func:`fit_model`).
    **fit_kw
        Passed to the fitting function. The continuity correction is re-decided on
        each subset, exactly as a direct fit of that subset would (dropping the only
        study with a zero cell switches the ``"all"`` correction off).

    Returns
    -------
    pandas.DataFrame
        One row per omitted study: ``omitted`` (study name), then :data:`FIT_COLUMNS`
        (pooled sensitivity and specificity with 95% CIs, logits and SEs, tau2, rho,
        DOR, logLik, ``converged``, ``warnings`` and ``warning_codes`` (lists of the
        fit's warning texts and their codes, same order); ``error`` holds the message of
        a fit that failed, whose numbers are then NaN).
    """
    check_table(table)
    _check_model(model)
    if table.k < 2:
        raise InputError("leave-one-out needs at least 2 studies.")
    rows = []
    for study in table.studies:
        def fit(study: str = study) -> BivariateResult:
            return fit_model(table.drop(study), model, **fit_kw)

        row = _fit_row(fit, table.k - 1)
        rows.append({"omitted": study, **row})
    return pd.DataFrame(rows, columns=["omitted", *FIT_COLUMNS])


# --------------------------------------------------------------------------- cumulative

def cumulative(table: StudyTable, order_by: str = "year", model: str = "reitsma",
               ascending: bool = True, **fit_kw: Any) -> pd.DataFrame:
    """Cumulative meta-analysis: pooled estimates as studies accumulate in a stated order.

    Parameters
    ----------
    table : StudyTable
        The studies.
    order_by : str
        Column giving the order (a covariate such as ``year``, or ``"study"``).
        Ties keep the table's order.
    model : {"reitsma", "glmm"}
        Model fitted at each step (see :func:`fit_model`).
    ascending : bool
        Oldest (smallest) first when True.
    **fit_kw
        Passed to the fitting function.

    Returns
    -------
    pandas.DataFrame
        Row ``j`` is the fit to the first ``j + 1`` studies: ``step``, ``added`` (the
        study added at that step), the ``order_by`` value, then :data:`FIT_COLUMNS`.
        Early steps that cannot be fitted (a single study) carry the error text.

    References
    ----------
    .. [4] Lau J, et al. Cumulative meta-analysis of therapeutic trials for myocardial
           infarction. N Engl J Med 1992;327:248-254. doi:10.1056/NEJM199207233270406
    """
    check_table(table)
    _check_model(model)
    df = table.df
    lookup = {str(c).lower(): c for c in df.columns}
    key = lookup.get(str(order_by).lower())
    if key is None:
        raise InputError(f"order-by column {order_by!r} is not in the study table "
                         f"(columns: {', '.join(map(str, df.columns))}).")
    values = df[key]
    missing = [str(s) for s, v in zip(table.studies, values.isna(), strict=True) if v]
    if missing:
        raise InputError(f"order-by column {key!r} is missing for studies: "
                         f"{', '.join(missing)}.")
    sort_key = values
    if not pd.api.types.is_numeric_dtype(values):
        as_number = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
        text = [f"{v!r} (study {s})" for s, v, x in
                zip(table.studies, values, as_number, strict=True) if pd.isna(x)]
        if len(text) < len(values):  # some numbers: all must be, and they sort as numbers
            if text:
                raise InputError(f"order-by column {key!r} mixes numbers and text "
                                 f"({', '.join(text[:3])}); correct those values.")
            sort_key = as_number
        else:
            sort_key = values.astype(str)
    if ascending:
        order = np.argsort(sort_key.to_numpy(), kind="stable")
    else:  # largest first; ties keep the table's order (reversing would reverse them)
        ranks = pd.Series(sort_key.to_numpy()).rank(method="dense", ascending=False)
        order = np.argsort(ranks.to_numpy(), kind="stable")
    rows = []
    for j in range(1, table.k + 1):
        idx = np.sort(order[:j])
        study = table.studies[int(order[j - 1])]

        def fit(idx: np.ndarray = idx) -> BivariateResult:
            return fit_model(table.subset(np.asarray(idx)), model, **fit_kw)

        row = _fit_row(fit, j)
        rows.append({"step": j, "added": study, key: values.iloc[int(order[j - 1])], **row})
    return pd.DataFrame(rows, columns=["step", "added", key, *FIT_COLUMNS])


# --------------------------------------------------------------------------- influence

def _long_format(result: BivariateResult) -> tuple[np.ndarray, np.ndarray]:
    """Observed logits ``y`` (k, 2) and within-study variances ``S`` (k, 2) of a Reitsma fit."""
    return result.table.logits(result.correction)


def _gls(y: np.ndarray, s: np.ndarray, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GLS estimate of mu and its covariance for fixed Psi."""
    v = psi[None, :, :] + np.einsum("ij,jk->ijk", s, np.eye(2))
    w = np.linalg.inv(v)
    vb = np.linalg.inv(w.sum(axis=0))
    mu = vb @ np.einsum("ijk,ik->j", w, y)
    return mu, vb


def influence(result: BivariateResult) -> pd.DataFrame:
    """Standardised residuals and Cook's distances per study for the bivariate normal model.

    Parameters
    ----------
    result : BivariateResult
        A Reitsma fit (``model == "reitsma"``), REML or ML.

    Returns
    -------
    pandas.DataFrame
        One row per study: ``study``; ``resid_sens``, ``resid_fpr`` (observed minus
        pooled logit); ``se_resid_sens``, ``se_resid_fpr``; ``z_sens``, ``z_fpr``
        (standardised residuals, metafor's ``rstandard()`` on the long format);
        ``x2`` (the study's two residuals jointly, ``e' Var(e)^-1 e``, approximately
        chi-square with 2 df; metafor's ``rstandard(cluster=study)``); ``p_x2``;
        ``cooks_distance`` (metafor's ``cooks.distance(cluster=study)``);
        ``tau2_logit_sens``, ``tau2_logit_fpr`` and ``rho_sens_fpr`` of the fit without the
        study; ``converged`` of that fit. With fewer than
        :data:`~metaanalysis.models.reitsma.MIN_STUDIES` studies left out of one, the
        model is not refitted (:func:`~metaanalysis.models.reitsma.reitsma` refuses it):
        those columns are NaN and ``converged`` False.

    Notes
    -----
    The model is ``y_i ~ N(mu, Psi + S_i)`` with ``y_i`` the (corrected) logit
    sensitivity and logit FPR of study ``i``. With ``V_mu = (sum_i (Psi + S_i)^-1)^-1``
    the marginal residual ``e_i = y_i - mu`` has variance ``Psi + S_i - V_mu`` (the
    block of ``(I - H) M (I - H)'`` with hat matrix ``H``), which standardises it [2]_.

    Cook's distance of study ``i`` is ``(mu - mu_(-i))' V_mu^-1 (mu - mu_(-i))`` [3]_,
    where ``mu_(-i)`` comes from refitting the model (re-estimating Psi by the same
    method) without both rows of study ``i``, with the logits kept as they were in the
    full fit (the continuity correction is not re-decided).

    References
    ----------
    .. [2] Viechtbauer W, Cheung MW-L. Outlier and influence diagnostics for
           meta-analysis. Res Synth Methods 2010;1:112-125. doi:10.1002/jrsm.11
    .. [3] Cook RD. Detection of influential observation in linear regression.
           Technometrics 1977;19:15-18. doi:10.1080/00401706.1977.10489493
    """
    from scipy import stats

    if getattr(result, "model", None) != "reitsma":
        raise InputError("influence() needs a Reitsma (bivariate normal) fit; "
                         f"got model {getattr(result, 'model', None)!r}.")
    y, s = _long_format(result)
    k = y.shape[0]
    if k < 3:
        raise InputError("influence() needs at least 3 studies.")
    psi = np.asarray(result.psi, dtype=float)
    mu, vb = _gls(y, s, psi)
    e = y - mu
    ve = psi[None, :, :] + np.einsum("ij,jk->ijk", s, np.eye(2)) - vb[None, :, :]
    se_e = np.sqrt(np.stack([ve[:, 0, 0], ve[:, 1, 1]], axis=1))
    z = e / se_e
    x2 = np.einsum("ij,ijk,ik->i", e, np.linalg.inv(ve), e)
    vb_inv = np.linalg.inv(vb)
    cook = np.full(k, np.nan)
    tau_s = np.full(k, np.nan)
    tau_f = np.full(k, np.nan)
    rho = np.full(k, np.nan)
    converged = np.zeros(k, dtype=bool)
    # a refit the model would refuse (fewer studies than reitsma() fits) is not made: its
    # row stays NaN, as the leave-one-out table shows that fit failing
    for i in range(k if k - 1 >= MIN_STUDIES else 0):
        keep = np.arange(k) != i
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_bivariate_normal(y[keep], s[keep], method=result.method)
        except (MetaAnalysisError, ArithmeticError, ValueError, np.linalg.LinAlgError):
            continue
        mu_i, psi_i, conv = _unpack_fit(fit)
        d = mu - mu_i
        cook[i] = float(d @ vb_inv @ d)
        tau_s[i], tau_f[i] = psi_i[0, 0], psi_i[1, 1]
        denom = np.sqrt(psi_i[0, 0] * psi_i[1, 1])
        rho[i] = psi_i[0, 1] / denom if denom > 0 else np.nan
        converged[i] = conv
    return pd.DataFrame({
        "study": list(result.table.studies),
        "resid_sens": e[:, 0], "resid_fpr": e[:, 1],
        "se_resid_sens": se_e[:, 0], "se_resid_fpr": se_e[:, 1],
        "z_sens": z[:, 0], "z_fpr": z[:, 1],
        "x2": x2, "p_x2": stats.chi2.sf(x2, 2),
        "cooks_distance": cook,
        "tau2_logit_sens": tau_s, "tau2_logit_fpr": tau_f, "rho_sens_fpr": rho,
        "converged": converged,
    })


def _unpack_fit(fit: BivariateNormalFit) -> tuple[np.ndarray, np.ndarray, bool]:
    """Read (mu, Psi, converged) from a :class:`metaanalysis.models.reitsma.BivariateNormalFit`."""
    mu = np.asarray(fit.coef, dtype=float)[0]
    return mu, np.asarray(fit.psi, dtype=float), bool(fit.converged)


def _check_model(model: str) -> None:
    """Raise InputError for an unknown model name (before any fit is attempted)."""
    if model not in ("reitsma", "glmm"):
        raise InputError(f"model must be 'reitsma' or 'glmm'; got {model!r}.")
