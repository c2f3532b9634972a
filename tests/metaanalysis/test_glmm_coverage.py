"""Coverage of the GLMM's 95% Wald intervals on simulated meta-analyses of small studies.

Truth by construction: 200 meta-analyses of 15 studies with 20-60 subjects each
(prevalence 0.3-0.5, so 6-30 diseased), simulated from the bivariate binomial-normal
model with ``metaanalysis.simulate``; the Laplace fit's intervals for logit sensitivity
and logit FPR must each cover the true value in 92-98% of them.
"""

from __future__ import annotations

import warnings

import numpy as np

from metaanalysis.errors import FitWarning
from metaanalysis.models.glmm import binomial_data, fit_binomial_normal
from metaanalysis.simulation import simulate

MU = np.array([1.2, -1.4])                       # logit sens, logit FPR
PSI = np.array([[0.5, -0.1], [-0.1, 0.3]])
N_META = 200


def test_wald_interval_coverage_small_studies() -> None:
    hits = np.zeros(2)
    singular = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        for r in range(N_META):
            table = simulate(k=15, mu=MU, psi=PSI, n=(20, 60), prevalence=(0.3, 0.5),
                             seed=1000 + r)
            fit = fit_binomial_normal(binomial_data(table))
            est = np.array([fit.coef[0, 0], -fit.coef[1, 0]])
            se = np.sqrt(np.diag(fit.vcov))
            assert np.all(np.isfinite(se)) and fit.converged
            hits += np.abs(est - MU) <= 1.959963984540054 * se
            singular += fit.singular
    coverage = hits / N_META
    assert np.all(coverage >= 0.92), coverage
    assert np.all(coverage <= 0.98), coverage
    assert singular < N_META // 2
