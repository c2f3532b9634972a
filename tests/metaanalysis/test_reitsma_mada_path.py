"""``optimizer="mada"`` follows mada's path where its IGLS start has a negative eigenvalue.

Reference: tests/fixtures/mada_path/mada_path_rho_boundary.txt, mada 0.5.12 ``reitsma`` (REML)
on the table beside it, made by mada_path_rho_boundary.R (printed to 10 decimals for logLik,
6 for rho, 8 for mu). mvmeta's IGLS start raises eigenvalues below 1e-8 to 1e-8 when one is
negative; a start floored at 0 instead sits on rho = 1 and BFGS on the Cholesky factor stays
there (logLik 23.7250, 0.005 below mada's).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.models.likelihood import Likelihood as _Likelihood
from metaanalysis.models.mada_path import igls_start as _igls_start

#: Compares numbers with R output in tests/fixtures (.ci/run reruns them under a second BLAS).
pytestmark = pytest.mark.rref

FIX = Path(__file__).parents[1] / "fixtures" / "mada_path"


def _mada() -> dict[str, float]:
    txt = (FIX / "mada_path_rho_boundary.txt").read_text()
    m = re.search(r"logLik (\S+) rho (\S+) mu \((\S+), (\S+)\)", txt)
    assert m is not None
    return {"loglik": float(m[1]), "rho": float(m[2]), "mu_sens": float(m[3]),
            "mu_fpr": float(m[4])}


def test_mada_path_matches_mada_where_igls_start_is_indefinite() -> None:
    ref = _mada()
    t = ma.StudyTable.from_csv(FIX / "mada_path_rho_boundary.csv")
    fit = ma.reitsma(t, optimizer="mada")
    # tolerances: the printed precision of the reference (half a unit in its last place),
    # but no tighter than the README's 1e-6 agreement with mada
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert fit.rho == pytest.approx(ref["rho"], abs=1e-6)
    assert fit.to_dict()["logit_sens"]["estimate"] == pytest.approx(ref["mu_sens"], abs=1e-6)
    assert fit.to_dict()["logit_fpr"]["estimate"] == pytest.approx(ref["mu_fpr"], abs=1e-6)
    assert "below_maximum" not in fit.warning_codes


def test_igls_start_is_never_on_the_boundary() -> None:
    """The IGLS estimate here has a negative eigenvalue: it is raised to mvmeta's 1e-8, not 0."""
    import pandas as pd

    d = pd.read_csv(FIX / "mada_path_rho_boundary.csv")          # no zero cells: no correction
    y = np.column_stack([np.log(d.TP / d.FN), np.log(d.FP / d.TN)])
    S = np.column_stack([1 / d.TP + 1 / d.FN, 1 / d.FP + 1 / d.TN])
    psi = _igls_start(_Likelihood(y, S, None, reml=True))
    ev = np.linalg.eigvalsh(psi)
    assert ev[0] == pytest.approx(1e-8, rel=1e-6)
    assert abs(psi[0, 1]) / np.sqrt(psi[0, 0] * psi[1, 1]) < 1.0
    # the default optimiser reaches the same (interior) maximum as mada here
    fit = ma.reitsma(ma.StudyTable.from_csv(FIX / "mada_path_rho_boundary.csv"))
    assert fit.loglik == pytest.approx(_mada()["loglik"], abs=1e-6)
