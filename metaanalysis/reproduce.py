"""Reproduce the VBQ subsequent-fracture meta-analysis and set it against the published figures.

:func:`reproduce` fits the bivariate random-effects model of Reitsma et al.
(2005) (REML, mada's default continuity correction) to the shipped data set
``vbq_subsequent_fracture`` (or to any study table, e.g. real extracted 2x2
tables), and the binomial-normal GLMM of Chu & Cole (2006) when it is
available, and every other part of a review of the same table
(:func:`metaanalysis.review.review`). :class:`Reproduction` holds the fits, the
review, the published figures and a side-by-side comparison (as a table, text
and JSON).

What the comparison can show is said with it. On the shipped reconstruction,
agreement with k, N, sensitivity and specificity holds by construction (the
tables were made to agree), so it is labelled that way
(:meth:`Reproduction.how_it_agrees`), not as a match. Beside it stand the
figures a reconstruction does not fix: the GLMM against the Reitsma estimate;
the spread of 50 further reconstructions of the same aggregates
(``spread.csv`` of the data set, :meth:`Reproduction.spread_summary`); and the
one real figure that can be placed, the sensitivity of the Kadri 2025 cohort
(:data:`metaanalysis.published.KADRI_2025`).

This module computes only: it draws and writes nothing.
:func:`metaanalysis.report.write_reproduction` renders a :class:`Reproduction`
(the review report, HTML and PDF, with the comparison added; forest and SROC
plots; JSON; comparison CSV) and writes the files; ``metaanalysis reproduce``
calls both.

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
from metaanalysis.published import (
    KADRI_2025,
    NO_COHORT_WITH_BOTH,
    VBQ_SUBSEQUENT_FRACTURE,
    CohortFigure,
    PublishedFigures,
    implied_figures,
)

if TYPE_CHECKING:  # pragma: no cover

    from metaanalysis.results import BivariateResult
    from metaanalysis.review import Review
    from metaanalysis.table import StudyTable

__all__ = ["BY_CONSTRUCTION", "DATASET", "SPREAD_FILE", "SPREAD_QUANTITIES", "Reproduction",
           "reproduce", "spread_summary"]

#: The shipped data set reproduced by default.
DATASET = "vbq_subsequent_fracture"
#: The data set's file of further reconstructions (written by ``make_studies.py --spread``).
SPREAD_FILE = "spread.csv"
#: The pooled quantities recorded for each reconstruction in :data:`SPREAD_FILE`.
SPREAD_QUANTITIES: tuple[str, ...] = ("sensitivity", "specificity", "auc", "tau2_logit_sens",
                                      "tau2_logit_fpr", "rho")
#: How k, N, sensitivity and specificity agree on a reconstructed table.
BY_CONSTRUCTION = "by construction of the reconstruction"
#: The default title of the reproduction's report.
TITLE = ("MRI vertebral bone quality (VBQ) for subsequent fracture after vertebral "
         "augmentation: reproduction of the 29-study meta-analysis")


def spread_summary(spread: pd.DataFrame) -> pd.DataFrame:
    """Summarise the spread of reconstructions: range and central 95% of each quantity.

    Parameters
    ----------
    spread : pandas.DataFrame
        One row per reconstruction and model, columns ``model`` and
        :data:`SPREAD_QUANTITIES` (the data set's ``spread.csv``).

    Returns
    -------
    pandas.DataFrame
        Index (``model``, ``quantity``); columns ``n``, ``min``, ``p2_5``,
        ``p97_5``, ``max``. The percentiles interpolate linearly between
        order statistics (numpy's default, R's ``quantile`` type 7).
    """
    rows = []
    for model in ("reitsma", "glmm"):
        sub = spread[spread["model"] == model]
        for q in SPREAD_QUANTITIES:
            v = sub[q].astype(float).to_numpy()
            if len(v) == 0:
                continue
            lo, hi = np.percentile(v, [2.5, 97.5])
            rows.append((model, q, len(v), float(v.min()), float(lo), float(hi),
                         float(v.max())))
    out = pd.DataFrame(rows, columns=["model", "quantity", "n", "min", "p2_5", "p97_5", "max"])
    return out.set_index(["model", "quantity"])


def _load_spread() -> pd.DataFrame:
    from metaanalysis import datasets

    return datasets.read_csv(DATASET, SPREAD_FILE)
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
    review : Review or None
        Every other part of a review of the same table
        (:func:`metaanalysis.review.review`, Reitsma REML, mada's correction).
    spread : pandas.DataFrame or None
        The data set's further reconstructions (:data:`SPREAD_FILE`), when
        the table analysed is the shipped reconstruction.
    references : tuple of CohortFigure
        Figures of real cohorts set beside the pooled estimate.

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
    review: Review | None = None
    spread: pd.DataFrame | None = None
    references: tuple[CohortFigure, ...] = (KADRI_2025,)

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

    def how_it_agrees(self) -> dict[str, str]:
        """Say how each published figure (k, N, sensitivity, specificity) is agreed with.

        On a reconstructed table the agreement holds by construction
        (:data:`BY_CONSTRUCTION`): the tables were made to agree, so it shows
        nothing about the published analysis. On other tables it is
        ``reproduced to the published digits`` or ``differs from the
        published figure``.

        Returns
        -------
        dict
            Keys as :meth:`matches`.
        """
        out = {}
        for key, ok in self.matches().items():
            if not ok:
                out[key] = "differs from the published figure"
            elif self.reconstructed:
                out[key] = BY_CONSTRUCTION
            else:
                out[key] = "reproduced to the published digits"
        return out

    def spread_summary(self) -> pd.DataFrame | None:
        """Return the range and central 95% over the reconstructions (:func:`spread_summary`)."""
        return spread_summary(self.spread) if self.spread is not None else None

    def informative(self) -> pd.DataFrame:
        """Tabulate what a reconstruction does not fix: GLMM, Reitsma and their spread.

        Returns
        -------
        pandas.DataFrame
            Index :data:`SPREAD_QUANTITIES`; columns ``reitsma`` and ``glmm``
            (this table), ``glmm_minus_reitsma``, and, with a spread,
            ``{model}_{min,p2_5,p97_5,max}`` over the reconstructions (NaN
            where not available).
        """
        def values(fit: Any) -> list[float]:
            if fit is None:
                return [float("nan")] * len(SPREAD_QUANTITIES)
            return [fit.sensitivity.estimate, fit.specificity.estimate, float(fit.auc),
                    float(fit.tau2[0]), float(fit.tau2[1]), float(fit.rho)]

        out = pd.DataFrame({"reitsma": values(self.fit), "glmm": values(self.glmm_fit)},
                           index=pd.Index(SPREAD_QUANTITIES, name="quantity"))
        out["glmm_minus_reitsma"] = out["glmm"] - out["reitsma"]
        summary = self.spread_summary()
        for model in ("reitsma", "glmm"):
            for stat in ("min", "p2_5", "p97_5", "max"):
                out[f"{model}_{stat}"] = [
                    float(summary.loc[(model, q), stat])
                    if summary is not None and (model, q) in summary.index else float("nan")
                    for q in SPREAD_QUANTITIES]
        return out

    # ------------------------------------------------------------ comparison
    def comparison(self) -> pd.DataFrame:
        """Tabulate published and reproduced figures side by side, one row per figure.

        Returns
        -------
        pandas.DataFrame
            Columns ``figure``, ``published``, ``reitsma``, ``glmm``, ``match``
            and ``how_it_agrees`` (strings, ready to print). Published figures
            that were not available are ``-``; values derived from the
            published point estimates are marked ``(implied)``. ``match``
            says whether the published digits are reproduced (``yes`` or
            ``NO``); ``how_it_agrees`` says what that agreement means
            (:meth:`how_it_agrees`): on a reconstructed table it holds by
            construction.
        """
        pub, fit, gl = self.published, self.fit, self.glmm_fit
        implied = implied_figures(pub)
        ok = self.matches()
        how = self.how_it_agrees()

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
        keys = {"studies (k)": "n_studies", "patients (N)": "n_patients",
                "sensitivity (95% CI)": "sensitivity", "specificity (95% CI)": "specificity"}

        def agrees(figure: str, published: str) -> str:
            if figure in keys:
                return how[keys[figure]]
            if published.endswith("(implied)"):
                return "not published; compared with what the published point implies"
            return "not published" if published == "-" else "estimator not stated"

        table = [(*r, agrees(r[0], r[1])) for r in rows]
        return pd.DataFrame(table, columns=["figure", "published", "reitsma", "glmm", "match",
                                            "how_it_agrees"])

    def format_table(self) -> str:
        """Format the comparison as plain text, with a note on where the data came from."""
        cmp_ = self.comparison().drop(columns="match")
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
                         "published aggregates, not the authors' extracted data; agreement "
                         "with k, N, sensitivity and specificity holds by construction.")
        summary = self.spread_summary()
        if summary is not None:
            n = int(summary["n"].max())
            for q in ("sensitivity", "specificity", "auc", "tau2_logit_sens"):
                parts = []
                for model in ("reitsma", "glmm"):
                    if (model, q) in summary.index:
                        r = summary.loc[(model, q)]
                        parts.append(f"{model} {r['min']:.3f}-{r['max']:.3f} (2.5-97.5%: "
                                     f"{r['p2_5']:.3f}-{r['p97_5']:.3f})")
                notes.append(f"spread over {n} reconstructions, {q}: " + "; ".join(parts))
        for ref in self.references:
            notes.append(f"real cohort: {ref.label}, sensitivity {ref.sensitivity:.2f} at "
                         f"{ref.threshold} ({ref.tp}/{ref.n_events} fractures, "
                         f"doi:{ref.doi}); specificity not reported")
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

        ``matches_published`` keeps its meaning (the published digits are
        reproduced); ``how_it_agrees`` says what that means
        (:meth:`how_it_agrees`; on a reconstruction: by construction).
        ``spread`` holds the reconstructions' summary (``n``, and per model
        and quantity ``min``, ``p2_5``, ``p97_5``, ``max``) or null,
        ``reference_figures`` the real cohorts' figures and
        ``no_cohort_with_both`` why no real study is placed in ROC space.
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
        out["how_it_agrees"] = self.how_it_agrees()
        summary = self.spread_summary()
        if summary is None:
            out["spread"] = None
        else:
            per_model: dict[str, dict[str, dict[str, float]]] = {}
            for (model, q), r in summary.iterrows():
                per_model.setdefault(str(model), {})[str(q)] = {
                    k: float(r[k]) for k in ("min", "p2_5", "p97_5", "max")}
            out["spread"] = {"file": f"{DATASET}/{SPREAD_FILE}",
                             "n_reconstructions": int(summary["n"].max()), **per_model}
        out["reference_figures"] = [ref.to_dict() for ref in self.references]
        out["no_cohort_with_both"] = NO_COHORT_WITH_BOTH
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
    full_review: bool = True,
    review_options: dict[str, Any] | None = None,
) -> Reproduction:
    """Fit the meta-analysis and set it against the published figures.

    Parameters
    ----------
    data : StudyTable, path, DataFrame or None
        The studies; ``None`` loads the shipped ``vbq_subsequent_fracture``
        reconstruction (and its spread of further reconstructions). Pass real
        extracted 2x2 tables (same columns as ``template.csv``) to rerun the
        analysis on them.
    glmm : bool, default True
        Also fit the binomial-normal GLMM (:func:`metaanalysis.glmm`) when it is
        available. A GLMM that cannot be fitted is reported in ``glmm_note``,
        never silently dropped; the Reitsma fit is still returned.
    published : PublishedFigures
        The figures to compare with.
    full_review : bool, default True
        Also compute every other part of a review of the table
        (:func:`metaanalysis.review.review` with the Reitsma REML model and
        mada's correction, as the comparison): what ``metaanalysis report``
        shows.
    review_options : dict, optional
        Further keywords of :func:`metaanalysis.review.review` (``covariates``,
        ``pretest``, ``prevalence``, ``grade``, ``title``, ``options``,
        ``input_path``: the file whose SHA-256 the stamp records; by default
        the shipped ``studies.csv`` or the path given as ``data``).

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
    rev = _review(table, data, review_options) if full_review else None
    spread = _load_spread() if data is None else None
    return Reproduction(table=table, fit=fit, published=published, glmm_fit=glmm_fit,
                        glmm_note=note, data_source=source, review=rev, spread=spread)


def _review(table: StudyTable, data: Any, options: dict[str, Any] | None) -> Review:
    """Review ``table`` with the comparison's model; the stamp names the input file."""
    from importlib.resources import as_file

    from metaanalysis import datasets
    from metaanalysis.review import review

    kw: dict[str, Any] = {"title": TITLE if data is None else None, **(options or {})}
    model_options = {"method": "reml", "correction": "all"}
    given = kw.pop("input_path", None)
    if data is None and given is None:
        with as_file(datasets.path(DATASET)) as path:
            return review(table, model="reitsma", model_options=model_options,
                          input_path=path, **kw)
    if given is None and isinstance(data, str | os.PathLike):
        given = data
    return review(table, model="reitsma", model_options=model_options, input_path=given, **kw)
