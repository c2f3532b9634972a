"""Everything a diagnostic-accuracy review reports, computed from one study table.

:func:`review` runs the analyses a reader of a Cochrane DTA review expects
(pooled estimates with prediction intervals, heterogeneity, risk of bias and
a sensitivity analysis without high-risk studies, subgroups and
meta-regression, leave-one-out and influence, Deeks' test, cumulative
analysis, a GRADE summary of findings and post-test probabilities) and
returns a :class:`Review`. Each part is computed on its own: a part that
cannot be estimated (too few studies, a covariate without variation, a fit
that fails) holds the reason in :attr:`Review.notes` and the others still
stand. Every number comes from the package's own functions (the same ones
the commands ``pool``, ``regress``, ``loo``, ``bias`` and ``fagan`` call).

This module computes only; :mod:`metaanalysis.report` renders and writes.

References
----------
.. [1] Reitsma JB, et al. Bivariate analysis of sensitivity and specificity produces
       informative summary measures in diagnostic reviews. J Clin Epidemiol
       2005;58:982-990. doi:10.1016/j.jclinepi.2005.02.022
.. [2] Riley RD, Higgins JPT, Deeks JJ. Interpretation of random effects
       meta-analyses. BMJ 2011;342:d549. doi:10.1136/bmj.d549
.. [3] Whiting PF, et al. QUADAS-2: a revised tool for the quality assessment of
       diagnostic accuracy studies. Ann Intern Med 2011;155:529-536.
       doi:10.7326/0003-4819-155-8-201110180-00009
.. [4] Schunemann HJ, et al. GRADE guidelines: 21 part 1 and 2. Test accuracy.
       J Clin Epidemiol 2020;122:129-141 and 142-152. doi:10.1016/j.jclinepi.2019.12.020
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import t as student_t

from metaanalysis.errors import InputError, MetaAnalysisError
from metaanalysis.table import shown_value

if TYPE_CHECKING:  # pragma: no cover
    from metaanalysis.bias import DeeksResult
    from metaanalysis.models.regression import RegressionResult
    from metaanalysis.results import BivariateResult
    from metaanalysis.table import StudyTable

__all__ = ["GRADE_LEVELS", "QUADAS2_COLUMNS", "Review", "file_sha256", "prediction_intervals",
           "read_grade", "review", "risk_of_bias"]

#: The QUADAS-2 columns a table may carry (risk of bias, then applicability).
QUADAS2_COLUMNS: tuple[str, ...] = (
    "rob_patient_selection", "rob_index_test", "rob_reference_standard", "rob_flow_timing",
    "app_patient_selection", "app_index_test", "app_reference_standard")
#: Judgements accepted in a risk-of-bias column (any case); an empty cell is "not assessed".
ROB_VALUES: tuple[str, ...] = ("low", "high", "unclear")
#: GRADE certainty levels accepted in the ``--grade`` file.
GRADE_LEVELS: tuple[str, ...] = ("high", "moderate", "low", "very low")
#: The outcome pairs of a summary-of-findings table, as keys of the ``--grade`` file.
GRADE_OUTCOMES: dict[str, str] = {"sensitivity": "true positives / false negatives (TP/FN)",
                                  "specificity": "true negatives / false positives (TN/FP)"}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------- prediction intervals --
def prediction_intervals(fit: BivariateResult, level: float = 0.95) -> pd.DataFrame:
    """Per-outcome prediction intervals for a new study's sensitivity and specificity.

    ``expit(mu_j +- t_{k-2, (1+level)/2} sqrt(tau2_j + SE(mu_j)^2))`` on each
    logit separately (Riley et al. 2011). Each interval is for one outcome on
    its own; it is not the projection of the two-dimensional prediction region
    (which is wider, being a joint region).

    Parameters
    ----------
    fit : BivariateResult
        A pooled fit.
    level : float
        Coverage of the interval.

    Returns
    -------
    pandas.DataFrame
        Index ``sensitivity``, ``specificity``; columns ``estimate``,
        ``pi_low``, ``pi_high``, ``df``.

    Raises
    ------
    AnalysisError
        With fewer than 3 studies (``k - 2`` degrees of freedom are needed).

    References
    ----------
    .. [1] Riley RD, Higgins JPT, Deeks JJ. BMJ 2011;342:d549. doi:10.1136/bmj.d549
    """
    from metaanalysis.errors import AnalysisError

    k = fit.table.k
    if k < 3:
        raise AnalysisError(f"a prediction interval needs at least 3 studies (t with k - 2 "
                            f"degrees of freedom); there are {k}.")
    q = float(student_t.ppf(0.5 + level / 2.0, k - 2))
    rows = {}
    for j, name in enumerate(("sensitivity", "false_positive_rate")):
        m = float(fit.mu[j])
        half = q * math.sqrt(float(fit.psi[j, j]) + float(fit.vcov[j, j]))
        rows[name] = (float(expit(m)), float(expit(m - half)), float(expit(m + half)))
    s, f = rows["sensitivity"], rows["false_positive_rate"]
    return pd.DataFrame({"estimate": [s[0], 1.0 - f[0]], "pi_low": [s[1], 1.0 - f[2]],
                         "pi_high": [s[2], 1.0 - f[1]], "df": [k - 2, k - 2]},
                        index=pd.Index(["sensitivity", "specificity"]))


# ----------------------------------------------------------------------- risk of bias --
def _domain_label(column: str) -> str:
    kind, _, rest = column.partition("_")
    what = "risk of bias" if kind.lower() == "rob" else "applicability"
    return f"{rest.replace('_', ' ')} ({what})"


def risk_of_bias(table: StudyTable) -> pd.DataFrame | None:
    """Return the table's risk-of-bias and applicability judgements, or None without any.

    Every column whose name starts with ``rob_`` or ``app_`` (any case) is a
    domain: the QUADAS-2 ones (:data:`QUADAS2_COLUMNS`) first, then any other
    (QUAPAS, for example) in the table's order.

    Parameters
    ----------
    table : StudyTable
        The studies.

    Returns
    -------
    pandas.DataFrame or None
        Index the study names; one column per domain holding ``low``,
        ``high``, ``unclear`` or ``not assessed`` (an empty cell); and
        ``high_risk`` (True when any ``rob_`` domain is high).

    Raises
    ------
    InputError
        A value other than low, high, unclear (any case) or empty, naming the
        study and the column.
    """
    cov = table.covariates
    cols = [str(c) for c in cov.columns if str(c).lower().startswith(("rob_", "app_"))]
    if not cols:
        return None
    order = {c: i for i, c in enumerate(QUADAS2_COLUMNS)}
    cols.sort(key=lambda c: (order.get(c.lower(), len(order)), not c.lower().startswith("rob_")))
    out = pd.DataFrame(index=pd.Index(table.studies, name="study"))
    src = f"{table.source}: " if table.source else ""
    for c in cols:
        values = []
        for study, v in zip(table.studies, cov[c].tolist(), strict=True):
            text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            text = text.strip().lower()
            if text == "":
                values.append("not assessed")
            elif text in ROB_VALUES:
                values.append(text)
            else:
                raise InputError(f"{src}study {shown_value(study)}, column {c}: "
                                 f"{shown_value(str(v))} is not a "
                                 "risk-of-bias judgement; use low, high or unclear (empty = "
                                 "not assessed).")
        out[c] = values
    rob = [c for c in cols if c.lower().startswith("rob_")]
    out["high_risk"] = (out[rob] == "high").any(axis=1) if rob else False
    return out


# ------------------------------------------------------------------------------ GRADE --
def read_grade(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read and check the GRADE certainty judgements of a summary-of-findings table.

    The file is a JSON object with a key per outcome pair, ``sensitivity``
    (TP/FN) and/or ``specificity`` (TN/FP); each holds ``certainty`` (one of
    ``high``, ``moderate``, ``low``, ``very low``) and optionally ``reasons``
    (a string or a list of strings: why the certainty was rated down or up)::

        {"sensitivity": {"certainty": "moderate",
                         "reasons": ["risk of bias: 4 of 12 studies high risk"]},
         "specificity": {"certainty": "low",
                         "reasons": ["inconsistency", "imprecision"]}}

    Parameters
    ----------
    path : str or path-like
        The JSON file.

    Returns
    -------
    dict
        ``{outcome: {"certainty": str, "reasons": list of str}}``.

    Raises
    ------
    InputError
        A file that is not JSON, an unknown key, a certainty outside the four
        levels, or reasons that are not text; the message names the file and key.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file (--grade).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{name}: not a JSON file ({err}).") from None
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror or err}).") from None
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected a JSON object with keys sensitivity and/or "
                         "specificity.")
    out: dict[str, dict[str, Any]] = {}
    for key, entry in data.items():
        if key not in GRADE_OUTCOMES:
            raise InputError(f"{name}: unknown key {shown_value(key)}; the keys are sensitivity "
                             "(TP/FN) and specificity (TN/FP).")
        if not isinstance(entry, dict):
            raise InputError(f"{name}: {key} must be an object with certainty and reasons.")
        for sub in entry:
            if sub not in ("certainty", "reasons"):
                raise InputError(f"{name}: unknown key {shown_value(f'{key}.{sub}')}; use "
                                 "certainty and reasons.")
        level = entry.get("certainty")
        if not isinstance(level, str) or level.strip().lower() not in GRADE_LEVELS:
            raise InputError(f"{name}: {key}.certainty must be one of "
                             f"{', '.join(GRADE_LEVELS)}; got {shown_value(level)}.")
        reasons = entry.get("reasons", [])
        if isinstance(reasons, str):
            reasons = [reasons]
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise InputError(f"{name}: {key}.reasons must be a string or a list of strings.")
        out[key] = {"certainty": level.strip().lower(), "reasons": list(reasons)}
    return out


# ----------------------------------------------------------------------------- review --
@dataclass(frozen=True)
class Review:
    """The analyses of a diagnostic-accuracy review of one table.

    Attributes
    ----------
    table : StudyTable
        The studies.
    title : str
        The report's title.
    model : str
        ``reitsma`` or ``glmm``.
    model_options : dict
        The fitting function's keywords.
    fit : BivariateResult or None
        The pooled fit (None when it failed; see ``notes["pooled"]``).
    studies : pandas.DataFrame
        Each study's sensitivity and specificity with Wilson 95% CIs
        (:meth:`BivariateResult.summary_frame`, or the same from
        :func:`metaanalysis.studies.study_estimates` without a fit).
    prediction : pandas.DataFrame or None
        :func:`prediction_intervals`.
    rob : pandas.DataFrame or None
        :func:`risk_of_bias`.
    without_high_risk : BivariateResult or None
        The pooled fit without high-risk studies (a sensitivity analysis).
    regressions : dict
        ``{covariate: RegressionResult}`` for each covariate that could be fitted.
    loo, influence, cumulative : pandas.DataFrame or None
        Leave-one-out refits, influence diagnostics, cumulative analysis by year.
    deeks : DeeksResult or None
        Deeks' funnel-plot asymmetry test.
    per_1000 : pandas.DataFrame or None
        :func:`metaanalysis.clinical.per_1000` at each prevalence.
    post_test : pandas.DataFrame or None
        :func:`metaanalysis.clinical.post_test` at each pre-test probability.
    covariates : tuple of str
        The covariates requested (each fitted or explained in ``notes``).
    pretest, prevalence : tuple of float
    grade : dict
        :func:`read_grade` (empty: not assessed).
    suggestions : dict
        Computed flags that may inform a GRADE judgement, per outcome.
    notes : dict
        ``{part: why it could not be estimated}``.
    stamp : dict
        Package version, model and options, date (UTC), input file and SHA-256.
    """

    table: StudyTable
    title: str
    model: str
    model_options: dict[str, Any]
    fit: BivariateResult | None
    studies: pd.DataFrame
    prediction: pd.DataFrame | None = None
    rob: pd.DataFrame | None = None
    without_high_risk: BivariateResult | None = None
    regressions: dict[str, RegressionResult] = field(default_factory=dict)
    loo: pd.DataFrame | None = None
    influence: pd.DataFrame | None = None
    cumulative: pd.DataFrame | None = None
    deeks: DeeksResult | None = None
    per_1000: pd.DataFrame | None = None
    post_test: pd.DataFrame | None = None
    covariates: tuple[str, ...] = ()
    pretest: tuple[float, ...] = ()
    prevalence: tuple[float, ...] = ()
    grade: dict[str, dict[str, Any]] = field(default_factory=dict)
    suggestions: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    stamp: dict[str, Any] = field(default_factory=dict)

    @property
    def provenance_columns(self) -> list[str]:
        """The table's other columns (doi, design, country, ...), risk of bias excepted."""
        return [str(c) for c in self.table.covariates.columns
                if not str(c).lower().startswith(("rob_", "app_"))]

    @property
    def warnings(self) -> list[str]:
        """Every caveat of every fit, prefixed with the part it comes from."""
        out = [f"pooled: {w}" for w in (self.fit.warnings if self.fit is not None else ())]
        if self.without_high_risk is not None:
            out += [f"without high-risk studies: {w}" for w in self.without_high_risk.warnings]
        for cov, res in self.regressions.items():  # named once, not twice
            out += [w if w.startswith(f"covariate {cov!r}") else f"covariate {cov}: {w}"
                    for w in res.warnings]
        return out


def _quiet(fn: Any, *args: Any, **kw: Any) -> Any:
    from metaanalysis.errors import FitWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # kept on the results
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kw)


def _why(err: Exception) -> str:
    if isinstance(err, MetaAnalysisError):
        return str(err)
    return f"the computation failed numerically ({type(err).__name__}: {err})."


_FAILURES = (MetaAnalysisError, ArithmeticError, ValueError, np.linalg.LinAlgError)


def _year_column(table: StudyTable) -> str | None:
    cov = table.covariates
    for c in cov.columns:
        if str(c).lower() == "year" and pd.api.types.is_numeric_dtype(cov[c]):
            return str(c)
    return None


def review(table: StudyTable, *, model: str = "reitsma",
           model_options: dict[str, Any] | None = None, covariates: tuple[str, ...] = (),
           pretest: tuple[float, ...] = (), prevalence: tuple[float, ...] = (),
           grade: dict[str, dict[str, Any]] | None = None, title: str | None = None,
           input_path: str | os.PathLike[str] | None = None,
           options: dict[str, Any] | None = None) -> Review:
    """Compute every part of a diagnostic-accuracy review of ``table``.

    Parameters
    ----------
    table : StudyTable
        The studies.
    model : {"reitsma", "glmm"}
        The bivariate model of every fit.
    model_options : dict, optional
        Keywords of the fitting function (``method``, ``correction``, ``nagq``).
    covariates : tuple of str
        Each is fitted on its own as a meta-regression, with the likelihood-ratio
        test against the model without it; categorical covariates also give
        subgroup estimates.
    pretest, prevalence : tuple of float
        Pre-test probabilities of the Fagan nomogram and prevalences of the
        summary-of-findings table (default for prevalence: the pre-test values).
    grade : dict, optional
        :func:`read_grade`.
    title : str, optional
        The report's title.
    input_path : path, optional
        The input file, whose SHA-256 goes into the stamp.
    options : dict, optional
        The command-line options, recorded in the stamp.

    Returns
    -------
    Review

    Raises
    ------
    InputError
        A covariate that is an input error (no such column, given twice, missing
        for some studies, numbers mixed with text: :func:`~metaanalysis.models.
        regression.check_covariates`), before anything is fitted; a covariate
        that cannot be estimated (one value in every study) is explained in
        ``notes`` instead.
    """
    from metaanalysis import clinical
    from metaanalysis import diagnostics as dg
    from metaanalysis.bias import deeks_test
    from metaanalysis.models.regression import check_covariates, regression
    from metaanalysis.studies import study_estimates

    check_covariates(table, covariates)
    kw = dict(model_options or {})
    notes: dict[str, str] = {}
    pretest = tuple(float(p) for p in pretest)
    prevalence = tuple(float(p) for p in prevalence) or pretest
    fit: BivariateResult | None = None
    try:
        fit = _quiet(dg.fit_model, table, model, **kw)
    except _FAILURES as err:
        notes["pooled"] = f"The pooled model could not be fitted: {_why(err)}"
    if fit is not None:
        studies = fit.summary_frame()
    else:
        studies = study_estimates(table).set_index("study")
    parts: dict[str, Any] = {}

    def attempt(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return _quiet(fn, *args, **kwargs)
        except _FAILURES as err:
            notes[name] = _why(err)
            return None

    if fit is not None:
        parts["prediction"] = attempt("prediction", prediction_intervals, fit)
    parts["rob"] = rob = risk_of_bias(table)
    if rob is not None and fit is not None:
        high = [s for s, h in rob["high_risk"].items() if h]
        if not high:
            notes["without_high_risk"] = ("No study is at high risk of bias in any domain, so "
                                          "the analysis without them is the main analysis.")
        elif table.k - len(high) < 2:
            notes["without_high_risk"] = (f"{len(high)} of {table.k} studies are at high risk "
                                          "of bias; fewer than 2 remain without them.")
        else:
            parts["without_high_risk"] = attempt("without_high_risk", dg.fit_model,
                                                 table.drop(high), model, **kw)
    regressions: dict[str, RegressionResult] = {}
    for cov in covariates:
        res = attempt(f"covariate {cov}", regression, table, [cov], model=model,
                      method=kw.get("method"), nagq=kw.get("nagq", 1),
                      correction=kw.get("correction", "all"))
        if res is not None:
            regressions[cov] = res
    if fit is not None:
        loo = attempt("loo", dg.leave_one_out, table, model, **kw)
        failed = (loo["error"].fillna("").astype(str) != "") if loo is not None else None
        if loo is not None and failed is not None and bool(failed.all()):
            notes["loo"] = ("No fit without one study could be made: "
                            f"{loo.loc[failed, 'error'].iloc[0]}")
            loo = None
        parts["loo"] = loo
        if model == "reitsma":
            parts["influence"] = attempt("influence", dg.influence, fit)
        else:
            notes["influence"] = ("Standardised residuals and Cook's distances are computed "
                                  "for the Reitsma model only.")
    parts["deeks"] = attempt("deeks", deeks_test, table)
    year = _year_column(table)
    if year is None:
        notes["cumulative"] = "The table has no numeric year column."
    elif fit is not None:
        parts["cumulative"] = attempt("cumulative", dg.cumulative, table, year, model, **kw)
    if fit is not None and prevalence:
        parts["per_1000"] = attempt("per_1000", clinical.per_1000, fit, list(prevalence))
    if fit is not None and pretest:
        parts["post_test"] = attempt("post_test", clinical.post_test, fit, list(pretest))
    suggestions = _suggestions(fit, parts.get("prediction"), rob)
    stamp = _stamp(model, kw, input_path, options)
    return Review(table=table, title=title or "Diagnostic accuracy review", model=model,
                  model_options=kw, fit=fit, studies=studies, regressions=regressions,
                  covariates=tuple(covariates),
                  pretest=pretest, prevalence=prevalence, grade=dict(grade or {}),
                  suggestions=suggestions, notes=notes, stamp=stamp, **parts)


def _suggestions(fit: BivariateResult | None, prediction: pd.DataFrame | None,
                 rob: pd.DataFrame | None) -> dict[str, list[str]]:
    """Return computed flags that may inform (never replace) a GRADE judgement."""
    out: dict[str, list[str]] = {"sensitivity": [], "specificity": []}
    if rob is not None:
        n_high = int(rob["high_risk"].sum())
        if n_high:
            share = f"{n_high} of {len(rob)} studies at high risk of bias in at least one domain"
            out["sensitivity"].append(share)
            out["specificity"].append(share)
    if prediction is not None:
        for outcome in ("sensitivity", "specificity"):
            lo, hi = prediction.loc[outcome, ["pi_low", "pi_high"]]
            out[outcome].append(f"95% prediction interval {lo:.2f}-{hi:.2f} "
                                f"(width {hi - lo:.2f})")
    if fit is not None:
        for outcome in ("sensitivity", "specificity"):
            e = getattr(fit, outcome)
            out[outcome].append(f"95% CI width {e.ci_high - e.ci_low:.2f}")
    return out


def _stamp(model: str, kw: dict[str, Any], input_path: Any,
           options: dict[str, Any] | None) -> dict[str, Any]:
    from metaanalysis import __version__

    stamp: dict[str, Any] = {
        "package": f"vbq-toolkit {__version__}", "model": model,
        "model_options": dict(kw), "options": dict(options or {}),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    if input_path is not None:
        stamp["input"] = os.fspath(input_path)
        stamp["input_sha256"] = file_sha256(input_path)
    return stamp
