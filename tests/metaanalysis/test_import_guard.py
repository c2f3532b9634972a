"""``metaanalysis pool FILE.csv`` fits and prints without the heavy libraries.

Each case runs ``main([...])`` in a fresh interpreter and lists which of
scipy.stats, pandas, matplotlib and statsmodels ended up in ``sys.modules``.
Not a timing: an import that creeps back onto the path fails here whatever the
machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CSV = Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv"
HEAVY = ("scipy.stats", "pandas", "matplotlib", "statsmodels")

_PROBE = """
import contextlib, io, json, sys
from metaanalysis.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(json.loads(sys.argv[1]))
heavy = json.loads(sys.argv[2])
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
print(json.dumps({"code": code, "loaded": loaded, "out": out.getvalue()}))
"""


def _run(argv: list[str], heavy: tuple[str, ...] = HEAVY) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(heavy)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("extra", [[], ["--json"], ["--model", "glmm"],
                                   ["--model", "glmm", "--json"]],
                         ids=["reitsma-text", "reitsma-json", "glmm-text", "glmm-json"])
def test_pool_imports_no_heavy_library(extra):
    got = _run(["pool", str(CSV), *extra])
    assert got["code"] == 0
    assert got["loaded"] == [], f"pool {' '.join(extra)} imported {got['loaded']}"
    if "--json" in extra:
        assert json.loads(got["out"])["n_studies"] == 14
    else:
        assert "sensitivity" in got["out"] and "auc_exact" in got["out"]


@pytest.mark.parametrize("extra", [[], ["--json"]], ids=["text", "json"])
def test_pool_glmm_imports_no_scipy_optimiser(extra):
    # the Laplace fit's optimiser and special functions are numpy's: SciPy's optimize
    # and special cost more to import than the whole fit
    got = _run(["pool", str(CSV), "--model", "glmm", *extra],
               heavy=("scipy.optimize", "scipy.special"))
    assert got["code"] == 0
    assert got["loaded"] == [], f"pool --model glmm imported {got['loaded']}"


def test_the_probe_sees_an_import():
    # the same probe run on a path that does use pandas (a covariate frame) lists it
    code = ("import sys; import metaanalysis as ma; "
            f"t = ma.StudyTable.from_csv({str(CSV)!r}); t.covariates; "
            "print('pandas' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.stdout.strip() == "True", proc.stderr
