"""Likelihood ratios and the diagnostic odds ratio at the summary point.

LR+ = sens / FPR, LR- = (1 - sens) / (1 - FPR), DOR = LR+ / LR-, all functions
of the pooled ``mu = (logit sens, logit FPR)`` with covariance ``vcov``.
Confidence intervals come from the delta method on the log scale (default) or
from Monte Carlo draws of ``mu`` (as mada's ``SummaryPts``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from metaanalysis.numerics import expit, log_expit, normal_quantile

#: The summary points, in the order they are reported.
POINTS: tuple[str, ...] = ("lr_positive", "lr_negative", "dor")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float]:
        """``{"estimate", "ci_low", "ci_high"}`` as plain floats."""
        return {"estimate": float(self.estimate), "ci_low": float(self.ci_low),
                "ci_high": float(self.ci_high)}


def _log_points(mu: np.ndarray) -> dict[str, tuple[float, np.ndarray]]:
    """Compute log LR+, log LR-, log DOR with their gradients in ``mu``."""
    m0, m1 = mu[0], mu[1]
    # the two logistic values and the four log-logistic ones, each in one call
    sens, fpr = expit(mu[:2]).tolist()
    le = log_expit(np.array([m0, m1, -m0, -m1]))
    return {
        "lr_positive": (float(le[0] - le[1]), np.array([1.0 - sens, -(1.0 - fpr)])),
        "lr_negative": (float(le[2] - le[3]), np.array([-sens, fpr])),
        "dor": (float(m0 - m1), np.array([1.0, -1.0])),
    }


#: ``normal_quantile(0.5 + level / 2)`` of each level asked for, computed once.
_Z: dict[float, float] = {}


def _z(level: float) -> float:
    """Return the two-sided normal quantile of ``level`` (kept once computed)."""
    z = _Z.get(level)
    if z is None:
        z = _Z[level] = normal_quantile(0.5 + level / 2.0)
    return z


def _exp(x: float) -> float:
    """``exp(x)``, infinite instead of an OverflowError (a diverging fit has SE ~ 1e5)."""
    return math.exp(x) if x < 709.0 else math.inf


def summary_points_delta(mu: ArrayLike, vcov: ArrayLike,
                         level: float = 0.95) -> dict[str, Estimate]:
    """LR+, LR- and DOR at the summary point with delta-method CIs.

    The estimate is the plug-in value at ``mu``; the interval is
    ``exp(log value +- z se)`` with ``se`` from the gradient of the log.

    Returns
    -------
    dict
        ``lr_positive``, ``lr_negative``, ``dor`` -> :class:`Estimate`.

    References
    ----------
    .. [1] Zwinderman AH, Bossuyt PM. We should not pool diagnostic likelihood
       ratios in systematic reviews. Stat Med 2008;27:687-697.
    """
    mu = np.asarray(mu, dtype=float)
    vcov = np.asarray(vcov, dtype=float)
    z = _z(level)
    out = {}
    for name, (val, grad) in _log_points(mu).items():
        se = math.sqrt(max(float(grad @ vcov @ grad), 0.0))
        out[name] = Estimate(_exp(val), _exp(val - z * se), _exp(val + z * se))
    return out


def summary_points_mc(mu: ArrayLike, vcov: ArrayLike, n_draws: int = 1_000_000,
                      seed: int | None = 0, level: float = 0.95) -> dict[str, dict[str, float]]:
    """Monte Carlo summaries of LR+, LR-, 1/LR- and DOR (as mada's ``SummaryPts``).

    ``mu`` is drawn ``n_draws`` times from ``N(mu, vcov)``; each quantity's
    mean, median and ``(1 - level)/2``, ``(1 + level)/2`` quantiles are
    returned.

    Returns
    -------
    dict
        ``posLR``, ``negLR``, ``invnegLR``, ``DOR`` -> ``{"mean", "median",
        "q_low", "q_high"}``.

    References
    ----------
    .. [1] Zwinderman AH, Bossuyt PM. We should not pool diagnostic likelihood
       ratios in systematic reviews. Stat Med 2008;27:687-697.
    """
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(np.asarray(mu, dtype=float),
                                    np.asarray(vcov, dtype=float), size=n_draws)
    sens = expit(draws[:, 0])
    fpr = expit(draws[:, 1])
    vals = {"posLR": sens / fpr, "negLR": (1 - sens) / (1 - fpr)}
    vals["invnegLR"] = 1.0 / vals["negLR"]
    vals["DOR"] = vals["posLR"] / vals["negLR"]
    lo, hi = (1 - level) / 2, (1 + level) / 2
    return {k: {"mean": float(v.mean()), "median": float(np.median(v)),
                "q_low": float(np.quantile(v, lo)), "q_high": float(np.quantile(v, hi))}
            for k, v in vals.items()}
