"""The model options: one declaration, one set of messages, in every sub-command."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaanalysis.cli import build_parser, main

AUDITC = Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv"
COMMANDS = {"pool": [], "regress": [], "loo": [], "fagan": ["--pretest", "0.2"]}


def _error(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return code, err[0]


@pytest.mark.parametrize("extra, message", [
    (["--model", "glmm", "--method", "reml"],
     "metaanalysis: error: --method reml is not used by --model glmm (the GLMM is fitted by "
     "maximum likelihood); set its accuracy with --nagq."),
    (["--model", "glmm", "--correction", "single"],
     "metaanalysis: error: --correction single is not used by --model glmm (its binomial "
     "likelihood needs no continuity correction); drop it."),
    (["--nagq", "3"],
     "metaanalysis: error: --nagq is only used by --model glmm; drop it for --model reitsma."),
])
def test_every_command_refuses_a_combination_with_the_same_sentence(capsys, extra, message):
    for command, required in COMMANDS.items():
        code, line = _error(capsys, [command, str(AUDITC), *required, *extra])
        assert (code, line) == (2, message), command


def test_every_command_refuses_a_nagq_out_of_range_as_it_is_parsed(capsys):
    for command, required in COMMANDS.items():
        with pytest.raises(SystemExit) as stop:
            main([command, str(AUDITC), *required, "--model", "glmm", "--nagq", "0"])
        assert stop.value.code == 2
        assert capsys.readouterr().err == (f"metaanalysis {command}: error: argument --nagq: "
                                           "'0' is not a whole number from 1 to 50\n")


def test_every_command_documents_the_options_with_the_same_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps: dict[str, set[str]] = {}
    for command in COMMANDS:
        for action in sub.choices[command]._actions:
            if action.dest in ("method", "correction", "nagq"):
                helps.setdefault(action.dest, set()).add(
                    action.help.replace("; dl (default) or reml for univariate", ""))
    assert {k: len(v) for k, v in helps.items()} == {"method": 1, "correction": 1, "nagq": 1}


def test_pirls_lme4_with_quadrature_is_refused_naming_both_options(capsys):
    code, line = _error(capsys, ["pool", str(AUDITC), "--model", "glmm", "--pirls", "lme4",
                                 "--nagq", "2"])
    assert (code, line) == (2, "metaanalysis: error: --pirls lme4 is glmer's Laplace fit and "
                               "needs --nagq 1, got --nagq 2; use --pirls exact for adaptive "
                               "quadrature.")
