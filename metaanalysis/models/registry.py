"""Model name -> fitting function: the one list the command line and the analyses choose from.

Each entry names the module and function that fit the model; the module is
imported only when the model is first asked for, so choosing a model costs the
import of that model alone (``metaanalysis pool`` stays fast).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from metaanalysis.errors import InputError

__all__ = ["BIVARIATE_MODELS", "MAX_NAGQ", "MODELS", "fit_function"]

#: Every model by name: (module, function). The function takes a StudyTable first.
MODELS: dict[str, tuple[str, str]] = {
    "reitsma": ("metaanalysis.models.reitsma", "reitsma"),
    "glmm": ("metaanalysis.models.glmm", "glmm"),
    "univariate": ("metaanalysis.models.univariate", "univariate"),
}
#: The models whose result is a :class:`metaanalysis.results.BivariateResult`.
BIVARIATE_MODELS: tuple[str, ...] = ("reitsma", "glmm")
#: Most adaptive Gauss-Hermite quadrature points per dimension the GLMM takes (``nagq``).
MAX_NAGQ = 50


def fit_function(model: str, allowed: tuple[str, ...] = tuple(MODELS)) -> Callable[..., Any]:
    """Return the fitting function of ``model``.

    Parameters
    ----------
    model : str
        A name in :data:`MODELS`.
    allowed : tuple of str
        The names acceptable here (default: all).

    Returns
    -------
    callable
        ``fit(table, **options) -> result``.

    Raises
    ------
    InputError
        For a name not in ``allowed``.

    Examples
    --------
    >>> fit_function("reitsma").__module__
    'metaanalysis.models.reitsma'
    """
    if model not in allowed:
        names = " or ".join(repr(m) for m in allowed)
        raise InputError(f"model must be {names}; got {model!r}.")
    module, name = MODELS[model]
    fit: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fit
