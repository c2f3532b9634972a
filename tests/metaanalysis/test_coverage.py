"""Coverage of the 95% Wald CI of pooled logit sensitivity over simulated meta-analyses.

Truth by construction: tables drawn by ``simulate`` from known ``mu`` and ``Psi``.
Studies are large enough (400-1000 subjects) that the normal approximation of the
within-study logits is good: with 100-400 subjects and k = 20 the logit estimates
shrink towards 0 (bias -0.05) and coverage drops to about 0.91, a property of the
normal-normal model, not of the fit.
"""

import warnings

import numpy as np

import metaanalysis as ma

MU = np.array([1.5, -1.5])
PSI = np.array([[0.4, 0.1], [0.1, 0.3]])
N_META = 300


def test_ci_coverage_of_pooled_logit_sensitivity_and_fpr():
    hits = np.zeros(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(N_META):
            t = ma.simulate(k=40, mu=MU, psi=PSI, n=(400, 1000), prevalence=(0.2, 0.5),
                            seed=seed)
            f = ma.reitsma(t)
            lo = f.mu - 1.959963984540054 * f.se
            hi = f.mu + 1.959963984540054 * f.se
            hits += (lo <= MU) & (MU <= hi)
    coverage = hits / N_META
    assert 0.92 <= coverage[0] <= 0.98, coverage
    assert 0.92 <= coverage[1] <= 0.98, coverage
