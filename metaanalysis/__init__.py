"""metaanalysis: bivariate random-effects meta-analysis of diagnostic accuracy.

Entry points (everything else may move)::

    import metaanalysis as ma
    table = ma.StudyTable.from_csv("studies.csv")
    fit = ma.reitsma(table, method="reml", correction="all")   # -> ma.BivariateResult
    fit = ma.glmm(table, nagq=1)
    uni = ma.univariate(table, method="DL")
    fit.summary(), fit.to_dict(), fit.plot_sroc(ax=None), fit.plot_forest(ax=None)
    sims = ma.simulate(k=29, mu=..., psi=..., n=..., prevalence=..., seed=0)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; imported on first use.
_EXPORTS: dict[str, str] = {
    "StudyTable": "metaanalysis.table",
    "reitsma": "metaanalysis.bivariate",
    "BivariateResult": "metaanalysis.results",
    "univariate": "metaanalysis.univariate_models",
    "UnivariateResult": "metaanalysis.univariate_models",
    "simulate": "metaanalysis.simulation",
    "glmm": "metaanalysis.bivariate_glmm",
    "regression": "metaanalysis.metaregression",
    "leave_one_out": "metaanalysis.diagnostics",
    "influence": "metaanalysis.diagnostics",
    "deeks_test": "metaanalysis.diagnostics",
    "cumulative": "metaanalysis.diagnostics",
    "post_test": "metaanalysis.clinical",
    "per_1000": "metaanalysis.clinical",
    "datasets": "metaanalysis.datasets",
    "InputError": "metaanalysis.errors",
    "FitError": "metaanalysis.errors",
    "FitWarning": "metaanalysis.errors",
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
