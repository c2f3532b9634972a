"""No output of a metaanalysis command replaces one of its inputs, and results come first.

A study table placed where a command writes (``--out`` or ``--plots``, under
the name it writes) is refused with exit 2 in one sentence before anything is
written, whatever path names it (relative, through a hard link); a command
whose plot names are only known as it draws them refuses at the write, after
its result is printed. ``reproduce`` prints its table before writing files, so
a file it cannot write does not lose it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from metaanalysis.cli import main

STUDIES = Path(__file__).parents[2] / "data" / "vbq_subsequent_fracture" / "studies.csv"


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    return code, out, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("command", "name", "option"), [
    (("reproduce", "--no-glmm", "--data"), "comparison.csv", "--out"),
    (("reproduce", "--no-glmm", "--data"), "report.html", "--out"),
    (("pool",), "forest.png", "--plots"),
    (("pool",), "sroc.png", "--plots"),
    (("report",), "report.html", "--out"),
    (("report",), "report.pdf", "--out"),
    (("regress",), "regression_subgroups.png", "--plots"),
])
def test_an_input_where_the_command_writes_is_refused_before_anything_is_written(
        capsys, tmp_path, command, name, option):
    folder = tmp_path / "out"
    folder.mkdir()
    table = folder / name
    shutil.copyfile(STUDIES, table)
    before = digest(table)
    code, out, err = run(capsys, *command, table, option, folder)
    assert code == 2 and out == ""
    assert err.strip() == (f"metaanalysis: error: {option} would write {table}, which is the "
                           f"study table{' --data' if 'reproduce' in command else ''} {table}; "
                           "choose another folder or move the input.")
    assert digest(table) == before and sorted(os.listdir(folder)) == [name]


def test_a_hard_link_or_a_relative_path_to_the_input_counts_as_the_input(capsys, tmp_path,
                                                                          monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    elsewhere = tmp_path / "studies.csv"
    shutil.copyfile(STUDIES, elsewhere)
    os.link(elsewhere, folder / "forest.png")
    code, _, err = run(capsys, "pool", elsewhere, "--plots", folder)
    assert code == 2 and "which is the study table" in err
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "pool", "out/../studies.csv", "--plots", ".")
    assert code == 0, err  # forest.png in "." is not the input: written
    assert (tmp_path / "forest.png").exists() and digest(elsewhere) == digest(STUDIES)


def test_a_plot_named_like_the_input_is_refused_at_the_write_after_the_result(capsys,
                                                                              tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    table = folder / "funnel.png"  # bias draws funnel.png
    shutil.copyfile(STUDIES, table)
    code, out, err = run(capsys, "bias", table, "--plots", folder)
    assert code == 2 and "slope p =" in out  # the result is printed first
    assert err.strip().splitlines()[-1] == (
        f"metaanalysis: error: {table}: is the study table {table} of this command, and is "
        "not overwritten; choose another output folder.")
    assert digest(table) == digest(STUDIES)
    # after the command, writing there is the caller's own business again
    from metaanalysis.fileio import write_atomic

    write_atomic(table, "replaced")
    assert table.read_text() == "replaced"


def test_reproduce_prints_its_table_before_a_file_it_cannot_write(capsys, tmp_path):
    (tmp_path / "out" / "report.pdf").mkdir(parents=True)  # a folder where the PDF goes
    code, out, err = run(capsys, "reproduce", "--no-glmm", "--out", tmp_path / "out")
    assert code == 2 and "sensitivity (95% CI)" in out
    assert err.strip().splitlines()[-1].startswith(
        f"metaanalysis: error: {tmp_path / 'out' / 'report.pdf'}")


@pytest.mark.parametrize("argv", [
    ["pool", STUDIES, "--plots", ""], ["regress", STUDIES, "--plots", ""],
    ["bias", STUDIES, "--plots", ""], ["loo", STUDIES, "--plots", ""],
    ["fagan", STUDIES, "--pretest", "0.2", "--plots", ""],
    ["report", STUDIES, "--out", ""], ["reproduce", "--no-glmm", "--out", ""]])
def test_an_empty_output_folder_name_is_refused(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)  # "" would have been this folder
    code, out, err = run(capsys, *argv)
    option = argv[-2]
    assert code == 2 and out == ""
    assert err.strip() == f"metaanalysis: error: {option}: the folder name is empty; give a folder."
    assert list(tmp_path.iterdir()) == []
