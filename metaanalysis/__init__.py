"""metaanalysis: bivariate random-effects meta-analysis of diagnostic accuracy.

Entry points (everything else may move)::

    import metaanalysis as ma
    table = ma.StudyTable.from_csv("studies.csv")
    fit = ma.reitsma(table, method="reml", correction="all")   # -> ma.BivariateResult
    fit = ma.glmm(table, nagq=1)
    uni = ma.univariate(table, method="DL")
    fit.summary(), fit.to_dict(), fit.plot_sroc(ax=None), fit.plot_forest(ax=None)
    sims = ma.simulate(k=29, mu=..., psi=..., n=..., prevalence=..., seed=0)

Layout (each module imports only modules of its own or an earlier group):

- input: :mod:`~metaanalysis.errors` (errors and warning classes), :mod:`~metaanalysis.table`
  (the validated 2x2 tables and their one logit transform), :mod:`~metaanalysis.studies`
  (per-study statistics), :mod:`~metaanalysis.heterogeneity`, :mod:`~metaanalysis.sroc`,
  :mod:`~metaanalysis.regions`, :mod:`~metaanalysis.summary_points`,
  :mod:`~metaanalysis.bias` (Deeks' test), :mod:`~metaanalysis.datasets`,
  :mod:`~metaanalysis.published`, :mod:`~metaanalysis.simulation`;
- results: :mod:`~metaanalysis.results` (one base class, :class:`FitResult`);
- models: :mod:`metaanalysis.models` (reitsma, mada_path, likelihood, glmm, quadrature,
  univariate, regression, registry);
- analyses of fits: :mod:`~metaanalysis.diagnostics`, :mod:`~metaanalysis.clinical`,
  :mod:`~metaanalysis.reproduce` (computes only);
- views: :mod:`~metaanalysis.plots`, :mod:`metaanalysis.report` (renders and writes),
  with :mod:`~metaanalysis.fileio` and :mod:`~metaanalysis.jsonout`;
- shell: :mod:`~metaanalysis.cli` and :mod:`metaanalysis.commands`.

One exception: a result draws itself through :mod:`~metaanalysis.plots`
(``fit.plot_sroc()``); plots imports only input modules at run time, so the graph
has no cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; imported on first use.
_EXPORTS: dict[str, str] = {
    "StudyTable": "metaanalysis.table",
    "reitsma": "metaanalysis.models.reitsma",
    "BivariateResult": "metaanalysis.results",
    "univariate": "metaanalysis.models.univariate",
    "UnivariateResult": "metaanalysis.models.univariate",
    "simulate": "metaanalysis.simulation",
    "glmm": "metaanalysis.models.glmm",
    "thresholds": "metaanalysis.models.thresholds",
    "ThresholdsTable": "metaanalysis.thresholds_table",
    "regression": "metaanalysis.models.regression",
    "leave_one_out": "metaanalysis.diagnostics",
    "influence": "metaanalysis.diagnostics",
    "deeks_test": "metaanalysis.bias",
    "cumulative": "metaanalysis.diagnostics",
    "post_test": "metaanalysis.clinical",
    "per_1000": "metaanalysis.clinical",
    "datasets": "metaanalysis.datasets",
    "InputError": "metaanalysis.errors",
    "FitError": "metaanalysis.errors",
    "FitWarning": "metaanalysis.errors",
    "MetaAnalysisWarning": "metaanalysis.errors",
    "AnalysisError": "metaanalysis.errors",
    "FitResult": "metaanalysis.results",
    "RegressionResult": "metaanalysis.models.regression",
}

__all__ = sorted(_EXPORTS)


def __dir__() -> list[str]:
    """List the public names, lazy exports included (tab completion finds them)."""
    return sorted({*_EXPORTS, "__version__", *(n for n in globals() if n.startswith("__"))})


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        return module if name == "datasets" else getattr(module, name)
    raise AttributeError(f"module 'metaanalysis' has no attribute {name!r}")
