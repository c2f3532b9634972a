"""``vbq demo``: phantom -> score -> printed result and QC figure, no input needed."""

import json

import pytest

from vbq.cli import main


def test_demo(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "demo")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.startswith("VBQ ")
    assert (tmp_path / "demo" / "qc.png").read_bytes()[:4] == b"\x89PNG"
    res = json.loads((tmp_path / "demo" / "result.json").read_text())
    truth = json.loads((tmp_path / "demo" / "phantom" / "expected.json").read_text())
    assert res["vbq"] == pytest.approx(truth["vbq"], rel=1e-9)
    assert "relative difference" in out
    assert "ROIs from seed points: VBQ" in out and (tmp_path / "demo" / "qc_seeds.png").exists()


def _refused(capsys, argv) -> str:
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_demo_refuses_what_it_cannot_do_before_writing(tmp_path, capsys):
    (tmp_path / "d" / "result.json").mkdir(parents=True)  # where the demo writes a file
    assert _refused(capsys, ["demo", "--out", str(tmp_path / "d")]) == (
        f"vbq: error: --out {tmp_path / 'd'}: {tmp_path / 'd' / 'result.json'} is a folder "
        "where the demo writes its result.json; choose another --out")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["result.json"]
    assert _refused(capsys, ["demo", "--out", ""]) == (
        "vbq: error: --out: the folder name is empty; give a folder")
    assert _refused(capsys, ["demo", "--vbq", "0.5", "--out", str(tmp_path / "v")]).startswith(
        "vbq: error: --vbq 0.5: the demo's phantom needs a VBQ above 1")
    assert not (tmp_path / "v").exists()


def test_phantom_refuses_a_file_where_its_series_goes_and_an_empty_name(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "series").write_text("x")
    assert _refused(capsys, ["phantom", str(tmp_path / "p")]) == (
        f"vbq: error: {tmp_path / 'p' / 'series'} is a file where the phantom's series folder "
        "goes; choose an empty output folder")
    assert (tmp_path / "p" / "series").read_text() == "x"
    assert _refused(capsys, ["phantom", ""]) == (
        "vbq: error: the output folder name is empty; give a folder")
