"""The loo, bias and fagan sub-commands: JSON, files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from metaanalysis.cli import main

pytestmark = pytest.mark.rref  # compares numbers with R output in tests/fixtures

FIX = Path(__file__).parents[1] / "fixtures" / "diagnostics"
AUDITC = str(FIX / "AuditC.csv")
FEW4 = str(FIX / "few4.csv")


def ref(name: str) -> dict:
    return json.loads((FIX / f"{name}.diagnostics.json").read_text())


def run_json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_bias_json_matches_r(capsys):
    out = run_json(capsys, ["bias", AUDITC, "--json"])
    d = ref("AuditC")["deeks"]
    assert out["test"] == "deeks" and out["n_studies"] == 14
    for key in ("slope", "slope_se", "intercept", "p_value"):
        assert out[key] == pytest.approx(d[key], rel=1e-6)
    assert out["asymmetry"] is True and out["alpha"] == 0.10


def test_bias_text_and_plots(capsys, tmp_path):
    assert main(["bias", AUDITC, "--plots", str(tmp_path / "figs"),
                 "--plot-format", "png,pdf,svg"]) == 0
    captured = capsys.readouterr()
    assert "slope p = 0.0315" in captured.out
    for fmt in ("png", "pdf", "svg"):
        f = tmp_path / "figs" / f"funnel.{fmt}"
        assert f.stat().st_size > 5000
        assert f"wrote {f}" in captured.err


def test_loo_json(capsys):
    out = run_json(capsys, ["loo", FEW4, "--json"])
    assert out["model"] == "reitsma" and out["n_studies"] == 4
    assert [r["omitted"] for r in out["leave_one_out"]] == ["1", "2", "3", "4"]
    assert all(r["error"] == "" for r in out["leave_one_out"])
    assert {"sensitivity", "specificity", "warnings"} <= set(out["full"])
    assert len(out["influence"]) == 4
    assert "cumulative" not in out


def test_loo_influence_json_matches_metafor(capsys):
    out = run_json(capsys, ["loo", AUDITC, "--json"])
    r = ref("AuditC")["influence_reml"]["cooks"]
    cook = dict(zip(r["study"], r["cooks_distance"], strict=True))
    for row in out["influence"]:
        assert row["cooks_distance"] == pytest.approx(cook[row["study"]], abs=1e-6)


def test_loo_cumulative_and_plots(capsys, tmp_path):
    csv = tmp_path / "with_year.csv"
    lines = Path(FEW4).read_text().splitlines()
    years = ["2004", "2001", "2003", "2002"]
    csv.write_text("\n".join([lines[0] + ",year"] +
                             [f"{ln},{y}" for ln, y in zip(lines[1:], years, strict=True)]))
    out = run_json(capsys, ["loo", str(csv), "--order-by", "Year", "--json",
                            "--plots", str(tmp_path)])
    cum = out["cumulative"]
    assert [r["added"] for r in cum] == ["2", "4", "3", "1"]
    assert cum[0]["error"] != "" and cum[0]["sensitivity"] is None     # one study: no fit
    assert cum[-1]["sensitivity"] == pytest.approx(out["full"]["sensitivity"]["estimate"])
    assert (tmp_path / "loo.png").stat().st_size > 5000
    assert (tmp_path / "cumulative.png").stat().st_size > 5000


def test_fagan_json(capsys):
    out = run_json(capsys, ["fagan", AUDITC, "--pretest", "0.2", "--pretest", "0.5",
                            "--prevalence", "0.1", "--json"])
    lrp = out["lr_positive"]["estimate"]
    lrn = out["lr_negative"]["estimate"]
    assert [r["pretest"] for r in out["post_test"]] == [0.2, 0.5]
    for r in out["post_test"]:
        odds = r["pretest"] / (1 - r["pretest"])
        assert r["post_positive"] == pytest.approx(odds * lrp / (1 + odds * lrp))
        assert r["post_negative"] == pytest.approx(odds * lrn / (1 + odds * lrn))
    cells = {r["outcome"]: r for r in out["per_1000"]}
    assert set(cells) == {"TP", "FP", "FN", "TN"}
    assert cells["TP"]["count"] == pytest.approx(100 * out["sensitivity"]["estimate"])
    assert cells["TN"]["count"] == pytest.approx(900 * out["specificity"]["estimate"])


def test_fagan_text_and_plot(capsys, tmp_path):
    assert main(["fagan", AUDITC, "--pretest", "0.3", "--plots", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "per 1,000 tested patients" in out and "prevalence 30.0%" in out
    assert (tmp_path / "fagan.png").stat().st_size > 5000


@pytest.mark.parametrize("argv, message", [
    (["loo", AUDITC, "--order-by", "year"], "--order-by column 'year' is not in the file"),
    (["bias", str(FIX / "nope.csv")], "no such file"),
    (["loo", AUDITC, "--plot-format", "jpg"], "--plot-format"),
])
def test_bad_input_exits_2_with_one_sentence(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("metaanalysis: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["fagan", AUDITC, "--pretest", "1.5"],
     "fagan: error: argument --pretest: '1.5' is not a number strictly between 0 and 1"),
    (["fagan", AUDITC, "--pretest", "0"],
     "fagan: error: argument --pretest: '0' is not a number strictly between 0 and 1"),
    (["fagan", AUDITC, "--pretest", "0.2", "--prevalence", "-1"],
     "fagan: error: argument --prevalence: '-1' is not a number strictly between 0 and 1"),
    (["loo", AUDITC, "--model", "glmm", "--nagq", "0"],
     "loo: error: argument --nagq: '0' is not a whole number from 1 to 50"),
])
def test_bad_option_values_are_usage_errors_in_one_sentence(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"metaanalysis {message}\n"


def test_bias_too_few_studies_is_an_analysis_failure_exit_1(capsys, tmp_path):
    csv = tmp_path / "two.csv"
    csv.write_text("study,TP,FN,FP,TN\na,10,2,3,20\nb,12,3,4,25\n")
    assert main(["bias", str(csv)]) == 1
    assert "at least 3 studies" in capsys.readouterr().err


def test_console_script_subprocess():
    exe = Path(sys.executable).with_name("metaanalysis")
    if not exe.exists():
        pytest.skip("console script not installed next to the interpreter")
    proc = subprocess.run([str(exe), "bias", AUDITC, "--json"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["slope"] == pytest.approx(ref("AuditC")["deeks"]["slope"],
                                                             rel=1e-6)
    proc = subprocess.run([str(exe), "fagan", AUDITC, "--pretest", "2"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
