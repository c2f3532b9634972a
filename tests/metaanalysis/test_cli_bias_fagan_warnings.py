"""Deeks' test and the Fagan translation say what limits them, in text and in JSON.

- ``bias``: fewer than ten studies (``few_studies``, with the residual degrees of
  freedom), every lnDOR from the continuity correction (``correction_driven``);
  none of it for ten or more studies, most without zero cells. JSON carries
  ``warnings`` and ``warning_codes`` (same order).
- ``fagan``: JSON carries ``warning_codes``; a fit whose pooled logit diverged
  prints "undefined" where a likelihood ratio or post-test probability cannot be
  computed (never ``nan``), draws a legend that says so, and exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from metaanalysis.cli import main

AUDITC = Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv"


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    return code, out, err


@pytest.fixture()
def auditc() -> pd.DataFrame:
    return pd.read_csv(AUDITC, dtype={"study": str})


def test_deeks_warns_of_few_studies_and_of_a_funnel_from_the_correction(capsys, auditc,
                                                                        tmp_path):
    assert len(auditc) >= 10 and not (auditc[["TP", "FP", "FN", "TN"]] == 0).any(axis=1).all()
    path = tmp_path / "all.csv"
    auditc.to_csv(path, index=False)
    code, out, err = run(capsys, "bias", path, "--json")
    d = json.loads(out)
    assert code == 0 and d["warnings"] == [] and d["warning_codes"] == [] and err == ""

    auditc.iloc[:3].to_csv(path, index=False)
    code, out, err = run(capsys, "bias", path, "--json")
    d = json.loads(out)
    assert code == 0 and d["df"] == 1 and d["warning_codes"] == ["few_studies"]
    assert d["warnings"][0].startswith("only 3 studies (1 residual degree of freedom): ")
    assert err.strip() == f"metaanalysis: warning: {d['warnings'][0]}"

    # a zero cell in every study: each lnDOR carries the 0.5
    zero = auditc.assign(TP=auditc["TP"] + auditc["FN"], FN=0)
    zero.to_csv(path, index=False)
    code, out, err = run(capsys, "bias", path, "--json")
    d = json.loads(out)
    assert code == 0 and d["warning_codes"] == ["correction_driven"]
    assert all(s["corrected"] for s in d["studies"])
    assert d["warnings"][0].startswith("every study has a zero cell, so every lnDOR includes")
    code, out, err = run(capsys, "bias", path)
    assert "correction" in err and "slope p =" in out


def test_fagan_carries_codes_and_says_undefined_where_the_fit_diverged(capsys, auditc,
                                                                       tmp_path):
    path = tmp_path / "fn0.csv"
    auditc.assign(TP=auditc["TP"] + auditc["FN"], FN=0).to_csv(path, index=False)
    code, out, err = run(capsys, "fagan", path, "--model", "glmm", "--pretest", "0.3",
                         "--json")
    d = json.loads(out)
    assert code == 1 and len(d["warning_codes"]) == len(d["warnings"])
    assert "diverging_estimate" in d["warning_codes"]
    code, out, err = run(capsys, "fagan", path, "--model", "glmm", "--pretest", "0.3",
                         "--plots", tmp_path / "plots")
    assert code == 1 and "nan" not in out.lower()
    assert "LR+ undefined (see the warnings), LR- undefined (see the warnings)" in out
    assert err.strip().splitlines()[-1].startswith("metaanalysis: error: the glmm fit of ")
    assert (tmp_path / "plots" / "fagan.png").exists()

    import matplotlib

    matplotlib.use("Agg")
    import metaanalysis as ma
    from metaanalysis import clinical

    with pytest.warns(ma.errors.MetaAnalysisWarning):  # the fit's own warnings, as above
        fit = ma.glmm(ma.StudyTable.read(path))
    legend = [t.get_text() for t in clinical.plot_fagan(fit, [0.3]).get_legend().get_texts()]
    assert legend == ["Positive test: LR+ undefined (a pooled logit diverged)",
                      "Negative test: LR\u2212 undefined (a pooled logit diverged)"]
