"""Every file vbq writes gets a new file's usual mode (0o666 less the umask), atomically.

Reference: POSIX open(2) creates a file with mode 0o666 & ~umask; a plain
``open(path, "w")`` in this process is the control.
"""

from __future__ import annotations

import os
import stat

import pytest

from vbq.cli import main
from vbq.fileio import atomic_write, current_umask
from vbq.phantom import make_phantom

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def control_mode(folder):
    p = folder / "control.txt"
    with open(p, "w") as fh:
        fh.write("x")
    return mode(p)


def test_atomic_write_gives_the_usual_mode(tmp_path, umask):
    assert current_umask() == umask
    with atomic_write(tmp_path / "a.txt") as fh:
        fh.write("a")
    assert mode(tmp_path / "a.txt") == 0o666 & ~umask == control_mode(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, umask):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write("new")
        raise RuntimeError("fails half way")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_every_file_of_score_batch_from_values_phantom_and_demo(tmp_path, umask, capsys):
    want = 0o666 & ~umask
    assert control_mode(tmp_path) == want
    ph = make_phantom(tmp_path / "ph", n_slices=5, rows=96, distractors=None)
    for p in (ph.rois_path, ph.rois_patient_path, ph.seeds_path, ph.mask_path,
              ph.expected_path, *ph.files["t1"]):
        assert mode(p) == want, p
    out = tmp_path / "out"
    out.mkdir()
    assert main(["score", str(ph.series_dir), "--rois", str(ph.rois_path),
                 "--qc", str(out / "qc.png"), "--sr", str(out / "sr.dcm")]) == 0
    assert mode(out / "qc.png") == want
    assert mode(out / "sr.dcm") == want
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("id,series,rois\na,ph/series,ph/rois.json\n")
    assert main(["batch", str(manifest), "--out", str(out / "batch.csv"),
                 "--no-progress"]) == 0
    assert mode(out / "batch.csv") == want
    table = tmp_path / "pacs.csv"
    table.write_text("id,L1,L2,L3,L4,CSF\nP1,410,395,402,388,131\n")
    assert main(["from-values", str(table), "--out", str(out / "values.csv")]) == 0
    assert mode(out / "values.csv") == want
    capsys.readouterr()
    leftovers = [p for p in out.rglob(".*")]
    assert leftovers == []


def test_demo_files(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    for name in ("qc.png", "result.json", "qc_mask.png", "qc_seeds.png"):
        assert mode(tmp_path / "demo" / name) == 0o644, name
