"""Results, SR, seeds and masks on an Enhanced MR (multi-frame) phantom.

Reference: the phantom's expected.json (truth by construction) and the frame
numbers the phantom wrote.
"""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest

from vbq.cli import main
from vbq.phantom import make_phantom
from vbq.score import score_series


@pytest.fixture(scope="module")
def enhanced(tmp_path_factory):
    out = tmp_path_factory.mktemp("enh") / "ph"
    info = make_phantom(out, vbq=3.2, seed=3, enhanced=True, distractors=())
    return info, json.loads(info.expected_path.read_text())


def test_result_json_names_the_frame(enhanced):
    info, exp = enhanced
    res = score_series(info.series_dir, rois=info.rois_path)
    d = res.to_dict()
    assert d["slice"]["index"] == exp["slice"]
    assert d["slice"]["frame"] == exp["frame"]
    assert res.vbq == pytest.approx(exp["vbq"], rel=1e-9)


def test_seeds_may_name_a_frame(enhanced, tmp_path):
    info, exp = enhanced
    res0 = score_series(info.series_dir, rois=info.rois_path)
    seeds = json.loads(info.seeds_path.read_text())
    seeds["slice"] = {"sop_instance_uid": res0.sop_instance_uid, "frame": exp["frame"]}
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps(seeds))
    res = score_series(info.series_dir, seeds=path)
    assert res.slice_index == exp["slice"]
    assert res.vbq == pytest.approx(exp["vbq"], rel=0.01)


def test_sr_references_the_measured_frame(enhanced, tmp_path, capsys):
    validator = shutil.which("dciodvfy")
    info, exp = enhanced
    sr = tmp_path / "vbq_sr.dcm"
    code = main(["score", str(info.series_dir), "--rois", str(info.rois_path),
                 "--sr", str(sr), "--json"])
    assert code == 0
    capsys.readouterr()
    ds = pydicom.dcmread(sr)
    frames = []

    def walk(items):
        for item in items:
            for ref in getattr(item, "ReferencedSOPSequence", []):
                value = getattr(ref, "ReferencedFrameNumber", None)
                if value is not None:
                    values = value if isinstance(value, pydicom.multival.MultiValue) else [value]
                    frames.extend(int(f) for f in values)
            walk(getattr(item, "ContentSequence", []))

    walk(ds.ContentSequence)
    assert frames and set(frames) == {exp["frame"]}
    if validator:
        import subprocess

        run = subprocess.run([validator, str(sr)], capture_output=True, text=True)
        assert not [line for line in (run.stdout + run.stderr).splitlines()
                    if line.startswith("Error")]
