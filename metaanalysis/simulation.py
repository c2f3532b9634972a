"""Draw diagnostic-accuracy studies from the bivariate random-effects model.

For study ``i``: a size ``n_i`` and a prevalence ``p_i`` give
``n_dis_i ~ Binomial(n_i, p_i)`` diseased subjects (kept within
``1 .. n_i - 1``); study-level ``(logit sens_i, logit FPR_i) ~ N(mu, Psi)``;
then ``TP_i ~ Binomial(n_dis_i, sens_i)`` and ``FP_i ~ Binomial(n_i - n_dis_i,
FPR_i)``. Draws come from one :class:`numpy.random.Generator` seeded with
``seed``, in a fixed order (sizes, prevalences, diseased counts, normal
deviates, TP, FP), so a seed always gives the same table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import expit

from metaanalysis.errors import InputError
from metaanalysis.table import StudyTable

SizeSpec = int | Sequence[int] | np.ndarray | tuple[int, int] | Callable[..., Any]
RateSpec = float | Sequence[float] | np.ndarray | tuple[float, float]


def _sizes(n: SizeSpec, k: int, rng: np.random.Generator) -> np.ndarray:
    if callable(n):
        out = np.asarray(n(rng, k))
    elif isinstance(n, tuple) and len(n) == 2:
        lo, hi = int(n[0]), int(n[1])
        if lo > hi:
            raise InputError(f"study size range {n} has low > high.")
        out = rng.integers(lo, hi + 1, size=k)
    elif np.ndim(n) == 0:
        out = np.full(k, int(n))  # type: ignore[arg-type]
    else:
        out = np.asarray(n)
        if out.shape != (k,):
            raise InputError(f"n has {out.size} study sizes, expected k = {k}.")
    if not np.all(np.asarray(out, dtype=float) == np.round(out)) or np.any(out < 2):
        raise InputError("study sizes must be whole numbers of at least 2.")
    return out.astype(np.int64)


def _rates(p: RateSpec, k: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(p, tuple) and len(p) == 2:
        out = rng.uniform(float(p[0]), float(p[1]), size=k)
    elif np.ndim(p) == 0:
        out = np.full(k, float(p))  # type: ignore[arg-type]
    else:
        out = np.asarray(p, dtype=float)
        if out.shape != (k,):
            raise InputError(f"prevalence has {out.size} values, expected k = {k}.")
    if np.any((out <= 0) | (out >= 1)):
        raise InputError("prevalence must lie strictly between 0 and 1.")
    return out


def _factor(psi: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L L' = Psi``, also for a singular ``Psi``."""
    a = math.sqrt(max(psi[0, 0], 0.0))
    b = psi[0, 1] / a if a > 0 else 0.0
    c = math.sqrt(max(psi[1, 1] - b * b, 0.0))
    return np.array([[a, 0.0], [b, c]])


def simulate(
    k: int,
    mu: ArrayLike,
    psi: ArrayLike,
    n: SizeSpec = 200,
    prevalence: RateSpec = 0.3,
    seed: int | None = 0,
    *,
    return_truth: bool = False,
) -> StudyTable | tuple[StudyTable, pd.DataFrame]:
    """Simulate a meta-analysis of ``k`` studies from the bivariate model.

    Parameters
    ----------
    k : int
        Number of studies (at least 2).
    mu : array_like
        (2,) mean (logit sensitivity, logit false positive rate).
    psi : array_like
        (2, 2) between-study covariance on the same scale (may be singular).
    n : int, sequence of int, (low, high) tuple or callable
        Study sizes: one for all, one per study, drawn uniformly from the
        integers ``low..high``, or ``n(rng, k)``.
    prevalence : float, sequence of float or (low, high) tuple
        Proportion diseased: one for all, one per study, or uniform on the range.
    seed : int or None
        Seed of the :class:`numpy.random.Generator`.
    return_truth : bool
        Also return the true per-study logits and diseased counts.

    Returns
    -------
    StudyTable or (StudyTable, pandas.DataFrame)
        Studies named ``S01``, ``S02``, ...

    References
    ----------
    .. [1] Reitsma JB, Glas AS, Rutjes AWS, Scholten RJPM, Bossuyt PM,
       Zwinderman AH. Bivariate analysis of sensitivity and specificity
       produces informative summary measures in diagnostic reviews.
       J Clin Epidemiol 2005;58:982-990.

    Examples
    --------
    >>> t = simulate(k=10, mu=[2.0, -1.5], psi=[[0.5, 0.2], [0.2, 0.4]], n=(50, 300),
    ...              prevalence=0.25, seed=3)
    >>> t.k
    10
    """
    try:
        k_whole = float(k) == int(k) and not isinstance(k, bool)
    except (TypeError, ValueError, OverflowError):
        k_whole = False
    if not k_whole:
        raise InputError(f"k = {k!r}: the number of studies must be a whole number.")
    k = int(k)
    if k < 2:
        raise InputError(f"k = {k}: a simulated meta-analysis needs at least 2 studies.")
    mu = np.asarray(mu, dtype=float).reshape(-1)
    psi = np.asarray(psi, dtype=float)
    if mu.shape != (2,) or psi.shape != (2, 2):
        raise InputError("mu must have 2 entries and psi must be 2x2.")
    if not np.all(np.isfinite(mu)):
        raise InputError(f"mu must be finite logits; got {mu.tolist()}.")
    if not np.allclose(psi, psi.T) or np.linalg.eigvalsh(psi).min() < -1e-12:
        raise InputError("psi must be a symmetric positive semi-definite 2x2 matrix.")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise InputError(f"seed must be a non-negative whole number or None; got "
                         f"{seed!r}.") from None
    sizes = _sizes(n, k, rng)
    prev = _rates(prevalence, k, rng)
    n_dis = np.clip(rng.binomial(sizes, prev), 1, sizes - 1)
    z = rng.standard_normal((k, 2))
    theta = mu + z @ _factor(psi).T
    tp = rng.binomial(n_dis, expit(theta[:, 0]))
    fp = rng.binomial(sizes - n_dis, expit(theta[:, 1]))
    width = max(2, len(str(k)))
    names = [f"S{i + 1:0{width}d}" for i in range(k)]
    df = pd.DataFrame({"study": names, "TP": tp, "FP": fp, "FN": n_dis - tp,
                       "TN": sizes - n_dis - fp})
    table = StudyTable(df, source="simulate")
    if not return_truth:
        return table
    truth = pd.DataFrame({"study": names, "logit_sens": theta[:, 0], "logit_fpr": theta[:, 1],
                          "n": sizes, "n_diseased": n_dis})
    return table, truth
