"""Numeric options of the command line: refused as they are parsed, in one short sentence.

Every numeric option (``--nagq``, ``--pretest``, ``--prevalence``, ``--alpha``,
``--lambda``, ``--at``) reads plain decimal numbers only; a value that is not a
number, not finite or out of range is a usage error (exit 2) naming the option and
showing the value short; a negative value in scientific notation reaches the option.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metaanalysis.cli import main
from metaanalysis.commands._numbers import join_negative_values

AUDITC = str(Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv")
LONG = "9" * 5000
LONG_SHOWN = "'99999999999999999999... (5000 characters)'"
BETWEEN = "a number strictly between 0 and 1"
NAGQ = "a whole number from 1 to 50"


def usage_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(("command", "option", "value", "shown", "what"), [
    ("pool", "--nagq", LONG, LONG_SHOWN, NAGQ),
    ("pool", "--nagq", "0", "'0'", NAGQ),
    ("pool", "--nagq", "51", "'51'", NAGQ),
    ("pool", "--nagq", "-1e3", "'-1e3'", NAGQ),
    ("pool", "--nagq", "nan", "'nan'", NAGQ),
    ("pool", "--nagq", "2.5", "'2.5'", NAGQ),
    ("pool", "--nagq", "1e3", "'1e3'", NAGQ),
    ("fagan", "--pretest", "nan", "'nan'", "a finite number"),
    ("fagan", "--pretest", "inf", "'inf'", "a finite number"),
    ("fagan", "--pretest", "1e999", "'1e999'", "a finite number"),
    ("fagan", "--pretest", "-1e3", "'-1e3'", BETWEEN),
    ("fagan", "--pretest", "1.5", "'1.5'", BETWEEN),
    ("fagan", "--pretest", "0", "'0'", BETWEEN),
    ("fagan", "--pretest", LONG, LONG_SHOWN, "a finite number"),
    ("fagan", "--prevalence", "-Infinity", "'-Infinity'", "a finite number"),
    ("report", "--pretest", "1", "'1'", BETWEEN),
    ("report", "--prevalence", "NaN", "'NaN'", "a finite number"),
    ("reproduce", "--pretest", "-0.5e-1", "'-0.5e-1'", BETWEEN),
    ("reproduce", "--prevalence", "0x1p-2", "'0x1p-2'", "a number"),
    ("bias", "--alpha", "nan", "'nan'", "a finite number"),
    ("bias", "--alpha", "1", "'1'", BETWEEN),
    ("thresholds", "--lambda", "inf", "'inf'", "a finite number"),
    ("thresholds", "--lambda", "0", "'0'", BETWEEN),
    ("thresholds", "--at", "nan", "'nan'", "a finite number"),
    ("thresholds", "--at", "-inf", "'-inf'", "a finite number"),
    ("thresholds", "--at", "1_000", "'1_000'", "a number"),
    ("thresholds", "--at", "-1" + "0" * 400, "'-1000000000000000000... (402 characters)'",
     "a finite number"),
])
def test_a_numeric_option_value_out_of_range_is_one_short_sentence(
        capsys, tmp_path, command, option, value, shown, what):
    extra = {"fagan": ["--pretest", "0.2"] if option != "--pretest" else [],
             "report": ["--out", str(tmp_path / "r")]}.get(command, [])
    source = ["--data", AUDITC] if command == "reproduce" else [AUDITC]
    err = usage_error(capsys, [command, *source, *extra, option, value])
    assert err == f"metaanalysis {command}: error: argument {option}: {shown} is not {what}\n"
    assert not (tmp_path / "r").exists()


def test_negative_values_in_scientific_notation_reach_the_option(tmp_path, capsys):
    rng = np.random.default_rng(3)
    rows = ["study,cutoff,TP,FP,FN,TN"]
    for i in range(10):
        v0, v1 = rng.logistic(-4.0, 0.6, 200), rng.logistic(-2.0, 0.6, 200)
        for c in (-3.5, -3.0, -2.5):
            rows.append(f"s{i},{c},{np.sum(v1 >= c)},{np.sum(v0 >= c)},{np.sum(v1 < c)},"
                        f"{np.sum(v0 < c)}")
    path = tmp_path / "negative.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["thresholds", str(path), "--model", "CI", "--json", "--at", "-3e0",
                 "--at", "-1e3", "--at", "-2.5"]) == 0
    at = json.loads(capsys.readouterr().out)["at"]
    assert [row["cutoff"] for row in at] == [-3.0, -1000.0, -2.5]


def test_a_negative_probability_in_scientific_notation_names_the_option(capsys):
    err = usage_error(capsys, ["fagan", AUDITC, "--pretest", "-2e-1"])
    assert err == f"metaanalysis fagan: error: argument --pretest: '-2e-1' is not {BETWEEN}\n"


def test_join_negative_values_joins_only_values_argparse_would_take_for_options():
    argv = ["thresholds", "F", "--at", "-1e3", "--at", "-2", "--at", "-.5", "--at=-1e2",
            "--at", "-inf", "--json", "--", "--at", "-1e3"]
    assert join_negative_values(argv) == [
        "thresholds", "F", "--at=-1e3", "--at", "-2", "--at", "-.5", "--at=-1e2",
        "--at=-inf", "--json", "--", "--at", "-1e3"]
