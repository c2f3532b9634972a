"""Reproduce the VBQ subsequent-fracture meta-analysis and set it against the published figures.

:func:`reproduce` fits the bivariate random-effects model of Reitsma et al.
(2005) (REML, mada's default continuity correction) to the shipped data set
``vbq_subsequent_fracture`` (or to any study table, e.g. real extracted 2x2
tables), and the binomial-normal GLMM of Chu & Cole (2006) when it is
available; :class:`Reproduction` holds the fits, the published figures and a
side-by-side comparison (as a table, text and JSON).

This module computes only: it draws and writes nothing.
:func:`metaanalysis.report.write_reproduction` renders a :class:`Reproduction`
(forest plot, SROC plot, one-page HTML report, JSON, comparison CSV) and writes
the files; ``metaanalysis reproduce`` calls both.

Examples
--------
>>> from metaanalysis.reproduce import reproduce
>>> rep = reproduce(glmm=False)
>>> rep.table.k, rep.table.n_patients
(29, 7364)
>>> round(rep.fit.sensitivity.estimate, 4), round(rep.fit.specificity.estimate, 4)
(0.8501, 0.6599)

References
----------
.. [1] Reitsma JB, Glas AS, Rutjes AWS, Scholten RJPM, Bossuyt PM, Zwinderman AH.
       Bivariate analysis of sensitivity and specificity produces informative summary
       measures in diagnostic reviews. J Clin Epidemiol 2005;58:982-990.
       doi:10.1016/j.jclinepi.2005.02.022
.. [2] Chu H, Cole SR. Bivariate meta-analysis of sensitivity and specificity with
       sparse data: a generalized linear mixed model approach. J Clin Epidemiol
       2006;59:1331-1332. doi:10.1016/j.jclinepi.2006.06.011
.. [3] Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis.
       Stat Med 2002;21:1539-1558. doi:10.1002/sim.1186
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metaanalysis.errors import MetaAnalysisError
from metaanalysis.jsonout import jsonable
from metaanalysis.published import VBQ_SUBSEQUENT_FRACTURE, PublishedFigures, implied_figures

if TYPE_CHECKING:  # pragma: no cover

    from metaanalysis.results import BivariateResult
    from metaanalysis.table import StudyTable

__all__ = ["DATASET", "Reproduction", "reproduce"]

#: The shipped data set reproduced by default.
DATASET = "vbq_subsequent_fracture"
def _model_i2(fit: Any, attr: str = "i2") -> dict[str, float]:
    """Return one of the fit's I2 dictionaries (``i2``, ``i2_cochran_q``), finite values only."""
    try:
        values = dict(getattr(fit, attr))
    except (AttributeError, TypeError, ValueError, MetaAnalysisError):
        return {}
    out = {}
    for key, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out


def _rounds_to(value: float, published: float, digits: int = 2) -> bool:
    return round(float(value), digits) == round(float(published), digits)


def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def _fmt_est(est: Any, digits: int = 2) -> str:
    """``0.85 (0.82-0.88)`` from an Estimate-like object."""
    if est is None:
        return "-"
    return (f"{est.estimate:.{digits}f} ({est.ci_low:.{digits}f}-{est.ci_high:.{digits}f})")


@dataclass(frozen=True)
class Reproduction:
    """A reproduction of a published diagnostic-accuracy meta-analysis.

    Attributes
    ----------
    table : StudyTable
        The studies pooled.
    fit : BivariateResult
        The Reitsma REML fit (mada's default correction).
    published : PublishedFigures
        The figures the paper reports.
    glmm_fit : BivariateResult or None
        The binomial-normal GLMM (Laplace), when it could be fitted.
    glmm_note : str or None
        Why there is no GLMM fit, when there is none.
    data_source : str
        Where the studies came from.

    Notes
    -----
    The I2 values are the fits' own (``fit.i2``, ``fit.i2_cochran_q``; see
    :mod:`metaanalysis.heterogeneity`), under the same keys as in the pool JSON.
    """

    table: StudyTable
    fit: BivariateResult
    published: PublishedFigures = VBQ_SUBSEQUENT_FRACTURE
    glmm_fit: BivariateResult | None = None
    glmm_note: str | None = None
    data_source: str = ""

    # ----------------------------------------------------------------- checks
    @property
    def reconstructed(self) -> bool:
        """True when any study row is labelled ``source=reconstructed``."""
        cov = self.table.covariates
        cols = {str(c).lower(): c for c in cov.columns}
        if "source" not in cols:
            return False
        return bool((cov[cols["source"]].astype(str).str.lower() == "reconstructed").any())

    def matches(self) -> dict[str, bool]:
        """Which published figures are reproduced (to the digits published)."""
        pub = self.published
        return {
            "n_studies": self.table.k == pub.k,
            "n_patients": self.table.n_patients == pub.n_patients,
            "sensitivity": _rounds_to(self.fit.sensitivity.estimate, pub.sensitivity),
            "specificity": _rounds_to(self.fit.specificity.estimate, pub.specificity),
        }

    # ------------------------------------------------------------ comparison
    def comparison(self) -> pd.DataFrame:
        """Tabulate published and reproduced figures side by side, one row per figure.

        Returns
        -------
        pandas.DataFrame
            Columns ``figure``, ``published``, ``reitsma``, ``glmm``, ``match``
            (strings, ready to print). Published figures that were not
            available are ``-``; values derived from the published point
            estimates are marked ``(implied)``.
        """
        pub, fit, gl = self.published, self.fit, self.glmm_fit
        implied = implied_figures(pub)
        ok = self.matches()

        def pub_ci(value: float, ci: tuple[float, float] | None) -> str:
            return _fmt(value) + (f" ({ci[0]:.2f}-{ci[1]:.2f})" if ci else "")

        def yes(key: str) -> str:
            return "yes" if ok[key] else "NO"

        def gl_est(name: str) -> str:
            return _fmt_est(getattr(gl, name)) if gl is not None else "-"

        def gl_val(fn: Any, digits: int = 3) -> str:
            return _fmt(float(fn(gl)), digits) if gl is not None else "-"

        tau2 = fit.tau2
        rows = [
            ("studies (k)", str(pub.k), str(self.table.k),
             str(gl.table.k) if gl is not None else "-", yes("n_studies")),
            ("patients (N)", str(pub.n_patients), str(self.table.n_patients),
             str(gl.table.n_patients) if gl is not None else "-", yes("n_patients")),
            ("sensitivity (95% CI)", pub_ci(pub.sensitivity, pub.sensitivity_ci),
             _fmt_est(fit.sensitivity), gl_est("sensitivity"), yes("sensitivity")),
            ("specificity (95% CI)", pub_ci(pub.specificity, pub.specificity_ci),
             _fmt_est(fit.specificity), gl_est("specificity"), yes("specificity")),
            ("LR+ (95% CI)", _fmt(pub.lr_positive) if pub.lr_positive is not None
             else f"{implied['lr_positive']:.2f} (implied)", _fmt_est(fit.lr_positive),
             gl_est("lr_positive"), ""),
            ("LR- (95% CI)", _fmt(pub.lr_negative) if pub.lr_negative is not None
             else f"{implied['lr_negative']:.2f} (implied)", _fmt_est(fit.lr_negative),
             gl_est("lr_negative"), ""),
            ("DOR (95% CI)", _fmt(pub.dor) if pub.dor is not None
             else f"{implied['dor']:.2f} (implied)", _fmt_est(fit.dor), gl_est("dor"), ""),
            ("AUC (SROC)", _fmt(pub.auc), _fmt(float(fit.auc), 3),
             gl_val(lambda g: g.auc), ""),
            ("tau2 logit sens", "-", _fmt(float(tau2[0]), 3),
             gl_val(lambda g: g.tau2[0]), ""),
            ("tau2 logit FPR", "-", _fmt(float(tau2[1]), 3),
             gl_val(lambda g: g.tau2[1]), ""),
            ("rho (logit sens, logit FPR)", "-", _fmt(float(fit.rho), 3),
             gl_val(lambda g: g.rho), ""),
        ]
        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.1f}%"

        def pub_pct(x: float | None) -> str:
            if x is None:
                return "-"
            return pct(x if x <= 1 else x / 100.0) + " (estimator not stated)"

        ht, gl_ht = _model_i2(fit), _model_i2(gl) if gl is not None else {}
        cq = _model_i2(fit, "i2_cochran_q")
        gl_cq = _model_i2(gl, "i2_cochran_q") if gl is not None else {}
        def gpct(d: dict[str, float], key: str) -> str:
            return pct(d.get(key)) if gl is not None else "-"

        rows += [
            ("I\u00b2 logit sens (Higgins-Thompson, fitted tau\u00b2)", pub_pct(pub.i2),
             pct(ht.get("logit_sens")), gpct(gl_ht, "logit_sens"), ""),
            ("I\u00b2 logit FPR (Higgins-Thompson, fitted tau\u00b2)", "-",
             pct(ht.get("logit_fpr")), gpct(gl_ht, "logit_fpr"), ""),
            ("I\u00b2 logit sens (Cochran's Q, (Q - df)/Q)", "-", pct(cq.get("logit_sens")),
             gpct(gl_cq, "logit_sens"), ""),
            ("I\u00b2 logit FPR (Cochran's Q, (Q - df)/Q)", "-", pct(cq.get("logit_fpr")),
             gpct(gl_cq, "logit_fpr"), ""),
        ]
        if ht.get("bivariate") is not None:
            rows.append(("I\u00b2 bivariate (share of generalised variance)", "-",
                         pct(ht["bivariate"]), gpct(gl_ht, "bivariate"), ""))
        return pd.DataFrame(rows, columns=["figure", "published", "reitsma", "glmm", "match"])

    def format_table(self) -> str:
        """Format the comparison as plain text, with a note on where the data came from."""
        cmp_ = self.comparison()
        if self.glmm_fit is None:
            cmp_ = cmp_.drop(columns="glmm")
        widths = {c: max(len(c), *(len(v) for v in cmp_[c])) for c in cmp_.columns}
        lines = ["  ".join(c.ljust(widths[c]) for c in cmp_.columns)]
        lines.append("  ".join("-" * widths[c] for c in cmp_.columns))
        for _, row in cmp_.iterrows():
            lines.append("  ".join(str(row[c]).ljust(widths[c]) for c in cmp_.columns).rstrip())
        notes = [f"data: {self.data_source}"]
        if self.reconstructed:
            notes.append("note: the 2x2 tables are a reconstruction consistent with the "
                         "published aggregates, not the authors' extracted data.")
        if self.glmm_note:
            notes.append(f"glmm: {self.glmm_note}")
        for w in (*self.fit.warnings, *(self.glmm_fit.warnings if self.glmm_fit else ())):
            notes.append(f"warning: {w}")
        return "\n".join([*lines, "", *notes])

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Return the pool JSON of the Reitsma fit plus ``n_patients``, ``published`` and more.

        Keys are those of ``metaanalysis pool --json`` (``model``,
        ``n_studies``, ``sensitivity``, ...), then ``n_patients``,
        ``published`` (with ``implied`` LR+/LR-/DOR), ``matches_published``,
        ``glmm`` (the GLMM's pool JSON or null), ``glmm_note``, ``data`` and
        ``reconstructed``. The I2 keys (``i2``, ``i2_cochran_q``, ``i2_zhou``,
        ``i2_holling``) are the pool JSON's, with the same values.
        """
        out = dict(self.fit.to_dict())
        out["n_patients"] = self.table.n_patients
        published = self.published.to_dict()
        published["implied"] = implied_figures(self.published)
        out["published"] = published
        out["matches_published"] = self.matches()
        out["glmm"] = self.glmm_fit.to_dict() if self.glmm_fit is not None else None
        out["glmm_note"] = self.glmm_note
        out["data"] = self.data_source
        out["reconstructed"] = self.reconstructed
        return jsonable(out)


def _load(data: StudyTable | str | os.PathLike[str] | pd.DataFrame | None) -> tuple[Any, str]:
    from metaanalysis import datasets
    from metaanalysis.table import StudyTable

    if data is None:
        return datasets.load(DATASET), f"shipped data set {DATASET!r} (metaanalysis.datasets)"
    if isinstance(data, StudyTable):
        return data, data.source or "StudyTable"
    if isinstance(data, pd.DataFrame):
        return StudyTable(data), "DataFrame"
    return StudyTable.from_csv(data), os.fspath(data)


def reproduce(
    data: StudyTable | str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    glmm: bool = True,
    published: PublishedFigures = VBQ_SUBSEQUENT_FRACTURE,
) -> Reproduction:
    """Fit the meta-analysis and set it against the published figures.

    Parameters
    ----------
    data : StudyTable, path, DataFrame or None
        The studies; ``None`` loads the shipped ``vbq_subsequent_fracture``
        reconstruction. Pass real extracted 2x2 tables (same columns as
        ``template.csv``) to rerun the analysis on them.
    glmm : bool, default True
        Also fit the binomial-normal GLMM (:func:`metaanalysis.glmm`) when it is
        available. A GLMM that cannot be fitted is reported in ``glmm_note``,
        never silently dropped; the Reitsma fit is still returned.
    published : PublishedFigures
        The figures to compare with.

    Returns
    -------
    Reproduction

    Raises
    ------
    InputError
        For a bad table (the row and column are named).
    FitError
        When the bivariate model cannot be fitted.

    References
    ----------
    .. [1] Reitsma JB, et al. J Clin Epidemiol 2005;58:982-990. doi:10.1016/j.jclinepi.2005.02.022
    .. [2] Chu H, Cole SR. J Clin Epidemiol 2006;59:1331-1332.
           doi:10.1016/j.jclinepi.2006.06.011
    """
    from metaanalysis.models.reitsma import reitsma

    table, source = _load(data)
    fit = reitsma(table, method="reml", correction="all")
    glmm_fit = None
    note: str | None = None
    if glmm:
        try:
            from metaanalysis.models.glmm import glmm as fit_glmm
        except ImportError as err:
            note = f"not fitted: the GLMM module is not available ({err})."
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # its warnings are kept on the result
                    glmm_fit = fit_glmm(table, nagq=1)
            except MetaAnalysisError as err:
                note = f"not fitted: {err}"
            except (ArithmeticError, ValueError, np.linalg.LinAlgError) as err:
                # numerical trouble on extreme data: the Reitsma result still stands
                note = f"not fitted: the fit failed numerically ({type(err).__name__}: {err})."
    else:
        note = "not requested."
    return Reproduction(table=table, fit=fit, published=published, glmm_fit=glmm_fit,
                        glmm_note=note, data_source=source)
