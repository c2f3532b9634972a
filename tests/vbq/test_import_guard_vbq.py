"""``vbq score DIR --rois F --json`` scores without matplotlib or pandas.

The command runs as ``main([...])`` in a fresh interpreter, which then lists the
modules of those libraries in ``sys.modules``. Not a timing: the QC figure and
the tables of other commands stay off this path whatever the machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vbq.phantom import make_phantom

HEAVY = ("matplotlib", "pandas")

_PROBE = """
import contextlib, io, json, sys
from vbq.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(json.loads(sys.argv[1]))
heavy = json.loads(sys.argv[2])
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
print(json.dumps({"code": code, "loaded": loaded, "out": out.getvalue()}))
"""


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("guard"), vbq=3.0, seed=1, rows=128,
                        n_slices=5)


def _run(argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_score_json_imports_neither_matplotlib_nor_pandas(ph):
    got = _run(["score", str(ph.series_dir), "--rois", str(ph.rois_path), "--json"])
    assert got["code"] == 0
    assert json.loads(got["out"])["vbq"] == pytest.approx(ph.expected["vbq"], rel=0.05)
    assert got["loaded"] == [], f"vbq score --json imported {got['loaded']}"


def test_the_probe_sees_matplotlib_when_a_qc_figure_is_asked_for(ph, tmp_path):
    got = _run(["score", str(ph.series_dir), "--rois", str(ph.rois_path), "--json",
                "--qc", str(tmp_path / "qc.png")])
    assert got["code"] == 0
    assert "matplotlib" in got["loaded"]
