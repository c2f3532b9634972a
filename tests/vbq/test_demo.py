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
