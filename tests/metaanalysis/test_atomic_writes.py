"""Every file metaanalysis writes: one atomic writer, a new file's usual mode.

Reference: POSIX open(2) creates a file with mode ``0o666 & ~umask``; a plain
``open(path, "w")`` made in the same process under the same umask is the
control each written file is compared with.
"""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from metaanalysis.cli import main
from metaanalysis.fileio import write_atomic, write_figure

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

PACKAGE = Path(__file__).parents[2] / "metaanalysis"
AUDITC = Path(__file__).parents[1] / "fixtures" / "refs" / "AuditC.csv"


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def control_mode(folder: Path) -> int:
    """The mode a plain new file gets here and now."""
    path = folder / "control.txt"
    with open(path, "w") as fh:
        fh.write("x")
    mode = stat.S_IMODE(path.stat().st_mode)
    path.unlink()
    return mode


def check_folder(folder: Path, umask: int) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    expected = control_mode(folder)
    assert expected == 0o666 & ~umask
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == expected, (p, oct(p.stat().st_mode))
        assert not p.name.startswith("."), f"temporary file left behind: {p}"
    return files


def test_write_atomic_mode_and_content(tmp_path, umask):
    target = tmp_path / "a.txt"
    write_atomic(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    write_atomic(target, b"\x00\x01")  # replacing keeps the new file's mode
    assert target.read_bytes() == b"\x00\x01"
    check_folder(tmp_path, umask)


def test_write_atomic_failure_keeps_the_old_file_and_names_the_target(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 3.5)  # type: ignore[arg-type]
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]
    missing = tmp_path / "no" / "b.txt"
    with pytest.raises(OSError) as err:
        write_atomic(missing, "x")
    assert err.value.filename == str(missing)


def test_write_figure_failure_keeps_the_old_file(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    target = tmp_path / "f.png"
    target.write_bytes(b"old")
    with pytest.raises(ValueError):
        write_figure(fig, target, format="no-such-format")
    plt.close(fig)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("argv", [
    ["pool", str(AUDITC), "--plots", "{out}"],
    ["pool", str(AUDITC), "--model", "univariate", "--plots", "{out}"],
    ["loo", str(AUDITC), "--order-by", "study", "--plots", "{out}",
     "--plot-format", "png,pdf,svg"],
    ["bias", str(AUDITC), "--plots", "{out}"],
    ["fagan", str(AUDITC), "--pretest", "0.2", "--plots", "{out}"],
    ["reproduce", "--no-glmm", "--out", "{out}"],
], ids=["pool", "pool-univariate", "loo", "bias", "fagan", "reproduce"])
def test_every_command_output_has_a_new_files_mode(capsys, tmp_path, umask, argv):
    out = tmp_path / "out"
    code = main([a.replace("{out}", str(out)) for a in argv])
    capsys.readouterr()
    assert code == 0
    check_folder(out, umask)


def test_regress_subgroup_plot_has_a_new_files_mode(capsys, tmp_path, umask):
    import pandas as pd

    df = pd.read_csv(AUDITC, dtype={"study": str})
    df["design"] = ["cohort", "case-control"] * 7
    data = tmp_path / "data"
    data.mkdir()
    df.to_csv(data / "t.csv", index=False)
    out = tmp_path / "out"
    code = main(["regress", str(data / "t.csv"), "--covariate", "design", "--plots", str(out)])
    capsys.readouterr()
    assert code == 0
    assert [p.name for p in check_folder(out, umask)] == ["regression_subgroups.png"]


def test_python_api_writers_have_a_new_files_mode(tmp_path, umask):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import metaanalysis as ma
    from metaanalysis import plots
    from metaanalysis.models.regression import save_figure

    fit = ma.reitsma(ma.StudyTable.from_csv(AUDITC))
    for fmt in ("png", "pdf", "svg"):
        plots.save_figure(fit.plot_sroc(), tmp_path / f"sroc.{fmt}")
    ax = fit.plot_forest()
    save_figure(ax, tmp_path / "forest.png")
    plt.close("all")
    assert len(check_folder(tmp_path, umask)) == 4


# --------------------------------------------------- one writer, statically --

WRITERS = {"mkstemp", "NamedTemporaryFile", "replace", "rename", "write_text", "write_bytes",
           "savefig", "to_csv", "to_json", "dump"}


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            found.append((name, node))
    return found


def test_only_fileio_writes_files():
    """No module but fileio opens a file for writing, renames, or saves to a path."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "fileio.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, call in _calls(tree):
            line = f"{path.relative_to(PACKAGE)}:{call.lineno}"
            if name == "open":
                modes = [a.value for a in call.args[1:2] if isinstance(a, ast.Constant)]
                modes += [k.value.value for k in call.keywords
                          if k.arg == "mode" and isinstance(k.value, ast.Constant)]
                if any(set(str(m)) & set("wax+") for m in modes):
                    offenders.append(f"{line} open(..., {modes[0]!r})")
            elif name in WRITERS:
                first = call.args[0] if call.args else None
                # writing into a buffer or a string is fine; to a path is not
                if name in ("savefig", "to_csv", "to_json", "dump") and (
                        first is None or isinstance(first, ast.Name) and first.id == "buf"):
                    continue
                if name == "replace" and not (isinstance(call.func, ast.Attribute)
                                              and getattr(call.func.value, "id", "") == "os"):
                    continue  # str.replace, DataFrame.replace
                if name == "dump" and len(call.args) < 2:
                    continue
                offenders.append(f"{line} {name}()")
    assert not offenders, "files written outside metaanalysis.fileio: " + ", ".join(offenders)
