"""Published figures of the VBQ subsequent-fracture meta-analysis.

The meta-analysis pooled 29 studies (7,364 patients) of the MRI vertebral bone
quality (VBQ) score for predicting a subsequent fracture after vertebral
augmentation, with a bivariate random-effects model: pooled sensitivity 0.85
and specificity 0.66.

Only these four numbers are recorded here as published. The source article
(its DOI, confidence intervals, AUC, heterogeneity statistics) could not be
located in the literature searches made for this package, so every other
figure is ``None``. The likelihood ratios and the diagnostic odds ratio that
follow from the two published point estimates are given by
:func:`implied_figures`, clearly labelled as derived, never as published.

:data:`KADRI_2025` is the one figure of a real cohort that can be set beside
the pooled estimate: a sensitivity of 0.85 at VBQ >= 3.0. No cohort of the
question found (``primary_studies.csv``, ``more_cohorts.csv``) reports both
sensitivity and specificity (:data:`NO_COHORT_WITH_BOTH`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["KADRI_2025", "NO_COHORT_WITH_BOTH", "CohortFigure", "PublishedFigures",
           "VBQ_SUBSEQUENT_FRACTURE", "implied_figures"]


@dataclass(frozen=True)
class PublishedFigures:
    """Aggregate figures reported by a diagnostic-accuracy meta-analysis.

    Attributes
    ----------
    k : int
        Number of studies pooled.
    n_patients : int
        Patients in all studies together.
    sensitivity, specificity : float
        Pooled point estimates.
    sensitivity_ci, specificity_ci : tuple of float or None
        95% confidence intervals, when published.
    auc, dor, lr_positive, lr_negative, i2 : float or None
        Further pooled figures, when published.
    model : str
        The pooling model as described by the authors.
    doi : str or None
        DOI of the publication, when known.
    source : str
        Where the figures were taken from.
    """

    k: int
    n_patients: int
    sensitivity: float
    specificity: float
    sensitivity_ci: tuple[float, float] | None = None
    specificity_ci: tuple[float, float] | None = None
    auc: float | None = None
    dor: float | None = None
    lr_positive: float | None = None
    lr_negative: float | None = None
    i2: float | None = None
    model: str = "bivariate random-effects"
    doi: str | None = None
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dictionary (tuples become lists)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


#: The headline figures of the 29-study VBQ subsequent-fracture meta-analysis.
VBQ_SUBSEQUENT_FRACTURE = PublishedFigures(
    k=29,
    n_patients=7364,
    sensitivity=0.85,
    specificity=0.66,
    model="bivariate random-effects",
    doi=None,
    source=("headline figures of the meta-analysis (29 studies, 7,364 patients, pooled "
            "sensitivity 0.85, specificity 0.66); the article itself, and with it the "
            "confidence intervals, AUC and heterogeneity, could not be located"),
    notes=(
        "Confidence intervals, AUC, DOR, likelihood ratios and I2 were not available "
        "and are left empty rather than guessed.",
        "Searches of the public literature found primary cohorts (see primary_studies.csv) "
        "but not the meta-analysis' per-study 2x2 tables.",
    ),
)


def implied_figures(published: PublishedFigures = VBQ_SUBSEQUENT_FRACTURE) -> dict[str, float]:
    """Figures that follow arithmetically from the published sensitivity and specificity.

    These are plug-in values at the pooled point (not published numbers):
    ``LR+ = sens / (1 - spec)``, ``LR- = (1 - sens) / spec`` and
    ``DOR = LR+ / LR-``.

    Parameters
    ----------
    published : PublishedFigures
        Defaults to the VBQ subsequent-fracture meta-analysis.

    Returns
    -------
    dict
        Keys ``lr_positive``, ``lr_negative``, ``dor``.

    Examples
    --------
    >>> {k: round(v, 3) for k, v in implied_figures().items()}
    {'lr_positive': 2.5, 'lr_negative': 0.227, 'dor': 11.0}
    """
    sens, spec = published.sensitivity, published.specificity
    lr_pos = sens / (1.0 - spec)
    lr_neg = (1.0 - sens) / spec
    return {"lr_positive": lr_pos, "lr_negative": lr_neg, "dor": lr_pos / lr_neg}


@dataclass(frozen=True)
class CohortFigure:
    """An accuracy figure reported by one real primary cohort.

    Attributes
    ----------
    label : str
        Short name for a plot legend (``"Kadri 2025"``).
    citation : str
        Authors, journal and year.
    doi : str
        DOI of the article.
    n_patients, n_events : int
        Cohort size and number with the outcome (subsequent fracture).
    threshold : str
        The positivity threshold of the figure.
    sensitivity : float
        The reported sensitivity.
    tp, fn : int
        The diseased cells the reported share implies.
    specificity : float or None
        ``None``: not reported.
    source : str
        Where the figures were read, and where they are kept in the data set.
    """

    label: str
    citation: str
    doi: str
    n_patients: int
    n_events: int
    threshold: str
    sensitivity: float
    tp: int
    fn: int
    specificity: float | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dictionary."""
        return asdict(self)


#: Kadri 2025: 60 patients after vertebroplasty, 20 with a secondary fracture, 85% of whom
#: had VBQ >= 3.0 (TP 17, FN 3); the non-fracture patients' VBQ split is not reported.
KADRI_2025 = CohortFigure(
    label="Kadri 2025",
    citation="Kadri A, et al. J Neurosurg Spine 2025",
    doi="10.3171/2025.1.SPINE24976",
    n_patients=60,
    n_events=20,
    threshold="VBQ >= 3.0 (T1, prespecified, checked by ROC)",
    sensitivity=0.85,
    tp=17,
    fn=3,
    specificity=None,
    source=("abstract, read at https://m.booksci.cn/literaturecn/144025195.htm; kept as S02 "
            "of primary_studies.csv and in more_cohorts.csv of the vbq_subsequent_fracture "
            "data set"),
)

#: What the literature search found about cohorts reporting both accuracy figures.
NO_COHORT_WITH_BOTH = (
    "No real cohort of VBQ for a subsequent fracture after vertebral augmentation that we "
    "found reports both sensitivity and specificity, so no real study can be placed as a "
    "point in ROC space; Kadri 2025 gives sensitivity only (0.85 at VBQ >= 3.0). The one "
    "complete 2x2 table found (Ehresman 2020, doi:10.3171/2019.9.SPINE19954: 105 patients "
    "after spine radiotherapy for metastases) is of another population and is not shown.")
