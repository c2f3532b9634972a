"""What the leave-one-out and cumulative refits say reaches the user.

Each refit's warnings are in its JSON row as lists of texts and codes (same
order) and on stderr in text mode, each named by the refit it comes from; a
refit the model refuses (fewer studies than it fits) gives no Cook's distance;
undefined numbers are blank in the text tables, never ``NaN``.
"""

from __future__ import annotations

import json
from pathlib import Path

from metaanalysis.cli import main

FIX = Path(__file__).parents[1] / "fixtures" / "diagnostics"
FEW4 = FIX / "few4.csv"


def _with_year(tmp_path: Path, k: int) -> Path:
    lines = FEW4.read_text().splitlines()[: k + 1]
    csv = tmp_path / f"k{k}.csv"
    csv.write_text("\n".join([lines[0] + ",year"] +
                             [f"{ln},{2000 + i}" for i, ln in enumerate(lines[1:])]) + "\n")
    return csv


def test_refit_warnings_are_listed_with_codes_and_printed(capsys, tmp_path):
    csv = _with_year(tmp_path, 4)
    assert main(["loo", str(csv), "--order-by", "year", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    full_codes = out["warning_codes"]
    assert len(full_codes) == len(out["warnings"]) and "few_studies" in full_codes
    for row in out["leave_one_out"] + out["cumulative"]:
        assert isinstance(row["warnings"], list) and isinstance(row["warning_codes"], list)
        assert len(row["warnings"]) == len(row["warning_codes"])
    # three studies left: warned as a fit of three studies is (pool says the same)
    row = out["leave_one_out"][0]
    assert row["n_studies"] == 3 and "few_studies" in row["warning_codes"]
    assert row["warnings"][row["warning_codes"].index("few_studies")].startswith(
        "only 3 studies")
    # text mode: each refit's warnings on stderr, named by the refit
    assert main(["loo", str(csv), "--order-by", "year"]) == 0
    text, err = capsys.readouterr()
    first = out["leave_one_out"][0]["omitted"]
    assert f"metaanalysis: warning: fit without {first}: only 3 studies" in err
    step3 = out["cumulative"][2]
    assert (f"metaanalysis: warning: cumulative step 3 (up to {step3['added']}): only 3 "
            "studies") in err
    assert "cumulative step 1 (up to" in err and "failed: " in err  # one study: no fit
    assert "NaN" not in text and "FitError" not in text + err


def test_no_influence_from_refits_the_model_refuses(capsys, tmp_path):
    assert main(["loo", str(_with_year(tmp_path, 3)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(r["error"].startswith("only 2 studies") for r in out["leave_one_out"])
    assert [(r["cooks_distance"], r["converged"]) for r in out["influence"]] == \
        [(None, False)] * 3
    assert all(r["x2"] is not None for r in out["influence"])  # the full fit's residuals stay
    # four studies: every refit has three, and each study gets its distance
    assert main(["loo", str(_with_year(tmp_path, 4)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(r["cooks_distance"] is not None and r["cooks_distance"] >= 0
               for r in out["influence"])
