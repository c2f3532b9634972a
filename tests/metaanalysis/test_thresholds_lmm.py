"""The weighted LMM behind the multiple-thresholds model: the analytic REML gradient and a
fit whose REML estimates are known in closed form.

- Gradient: against central differences of the criterion itself, step 1e-5; their error is
  O(h^2) times the third derivative, about 1e-8 here, so 1e-6 of the gradient's size pins it
  (a wrong term, e.g. a missing factor 2 or a dropped fixed-effects correction, is off by
  order 1).
- Balanced one-way random-effects ANOVA (equal weights): the REML estimates are the ANOVA
  ones, ``sigma2 = MSW`` and ``tau2 = (MSB - MSW) / m`` when positive (Searle, Casella &
  McCulloch 1992, section 4.7), exact; 1e-7 relative is what the optimiser's stopping rule
  allows.
"""

from __future__ import annotations

import numpy as np
import pytest

from metaanalysis.models.lmm import fit_reml, reml_deviance, reml_gradient
from metaanalysis.models.thresholds import RANDOM_EFFECTS


def _design(q: int, seed: int):
    rng = np.random.default_rng(seed)
    k, m = 9, 6
    grp = np.repeat(np.arange(k), m)
    n = k * m
    cut = rng.normal(size=n)
    group = rng.integers(0, 2, n).astype(float)
    cols = [np.ones(n), group, cut, group * cut]
    x = np.column_stack(cols)
    z = np.column_stack(cols[:q])
    y = x @ [0.5, 1.0, 2.0, -0.3] + (rng.normal(size=(k, q)) @ np.eye(q))[grp].sum(1) \
        + rng.normal(size=n)
    w = rng.uniform(0.2, 3.0, n)
    groups = [np.flatnonzero(grp == g) for g in range(k)]
    return y, x, z, w, groups, rng


@pytest.mark.parametrize("q", [1, 2, 3, 4])
@pytest.mark.parametrize("singular", [False, True])
def test_gradient_matches_central_differences(q, singular):
    y, x, z, w, groups, rng = _design(q, 10 + q)
    rows, cols = np.tril_indices(q)
    for _ in range(3):
        theta = rng.normal(size=len(rows))
        theta[rows == cols] = np.abs(theta[rows == cols]) + 0.1
        if singular:
            theta[np.flatnonzero(rows == cols)[-1]] = 0.0
        an = reml_gradient(theta, y, x, groups, z, w)
        h = 1e-5
        num = np.array([(reml_deviance(theta + h * e, y, x, groups, z, w)
                         - reml_deviance(theta - h * e, y, x, groups, z, w)) / (2 * h)
                        for e in np.eye(len(theta))])
        assert np.max(np.abs(an - num)) <= 1e-6 * max(1.0, np.max(np.abs(num)))


def test_structures_cover_one_to_four_effects():
    assert {len(v) for v in RANDOM_EFFECTS.values()} == {1, 2, 3, 4}


@pytest.mark.parametrize("seed", range(5))
def test_balanced_one_way_anova_is_the_reml_estimate(seed):
    rng = np.random.default_rng(seed)
    k, m = 8, 5
    grp = np.repeat(np.arange(k), m)
    y = 3.0 + rng.normal(scale=1.5, size=k)[grp] + rng.normal(size=k * m)
    means = y.reshape(k, m).mean(axis=1)
    msb = m * np.sum((means - y.mean()) ** 2) / (k - 1)
    msw = np.sum((y.reshape(k, m) - means[:, None]) ** 2) / (k * (m - 1))
    tau2 = (msb - msw) / m
    assert tau2 > 0  # these seeds give an interior estimate (else REML sits at tau2 = 0)
    fit = fit_reml(y, np.ones((k * m, 1)), np.ones((k * m, 1)), grp)
    assert fit.sigma2 == pytest.approx(msw, rel=1e-7)
    assert fit.psi[0, 0] == pytest.approx(tau2, rel=1e-7)
    assert fit.beta[0] == pytest.approx(y.mean(), rel=1e-10)
    assert fit.converged and not fit.singular
