"""A series that is not sagittal is refused unless forced; an unchecked midline is warned.

References: the phantom writes its axial distractor with an axial
ImageOrientationPatient and its T1 series as sagittal slices (truth by
construction); a folder holding one slice of that series has no plane to find.
"""

from __future__ import annotations

import json
import shutil

import pytest

import vbq
from vbq.batch import run_batch
from vbq.cli import main
from vbq.errors import AnalysisError, MidlineUnknown, NotSagittalError, warning_codes
from vbq.phantom import make_phantom


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("plane") / "p", n_slices=7, rows=128,
                        distractors="axial")


def _axial(ph) -> str:
    return ph.distractor_uids["axial"]


def test_an_axial_series_named_by_uid_is_refused_on_the_command_line(ph, capsys):
    rc, out, err = run(["score", ph.series_dir, "--series", _axial(ph), "--rois",
                        ph.rois_path], capsys)
    lines = err.strip().splitlines()
    assert rc == 1 and out == "" and len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("vbq: error: series ")
    assert _axial(ph) in lines[0] and "is axial, not sagittal" in lines[0]
    assert "--force" in lines[0]


def test_score_series_refuses_it_and_force_scores_it_with_the_warning(ph):
    with pytest.raises(NotSagittalError, match="is axial, not sagittal") as caught:
        vbq.score_series(ph.series_dir, rois=ph.rois_path, series_uid=_axial(ph))
    assert isinstance(caught.value, AnalysisError) and caught.value.exit_code == 1
    # forced: the phantom's own ROI file scores on the axial slice (the levels' order along
    # the spine, meaningless on one axial slice, is not checked there)
    res = vbq.score_series(ph.series_dir, rois=ph.rois_path, series_uid=_axial(ph), force=True)
    assert "not_sagittal" in res.warning_codes and res.vbq > 0
    # the sagittal series named by UID is not refused
    res = vbq.score_series(ph.series_dir, rois=ph.rois_path, series_uid=ph.series_instance_uid)
    assert "not_sagittal" not in res.warning_codes


def test_a_batch_row_naming_an_axial_series_is_that_rows_analysis_error(ph, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,series,rois,series_uid\n"
                        f"ax,{ph.series_dir},{ph.rois_path},{_axial(ph)}\n"
                        f"sag,{ph.series_dir},{ph.rois_path},\n")
    out = tmp_path / "out.csv"
    summary = run_batch(manifest, out, progress=False)
    assert summary.failed_ids == ("ax",)
    import csv

    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    assert rows["ax"]["error_type"] == "analysis"
    assert "is axial, not sagittal" in rows["ax"]["error"]
    assert rows["sag"]["status"] == "ok"


def test_one_lateral_slice_alone_carries_midline_unknown(ph, tmp_path, capsys):
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(ph.files["t1"][1], folder / "IM0002.dcm")
    seeds = json.loads(ph.seeds_path.read_text())
    seeds.pop("slice", None)
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps(seeds))
    rc, out, err = run(["score", folder, "--seeds", path, "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert "midline_offset_mm" not in doc
    assert "midline_unknown" in doc["warning_codes"]
    text = doc["warnings"][doc["warning_codes"].index("midline_unknown")]
    assert "single slice" in text and "unchecked" in text
    assert "mid-sagittal plane could not be found" in err


def test_a_clean_phantom_finds_the_plane_and_has_no_midline_warning(ph):
    res = vbq.score_series(ph.series_dir, rois=ph.rois_path)
    assert res.midline_offset_mm is not None and "midline_unknown" not in res.warning_codes


def test_the_new_code_is_registered():
    assert warning_codes()["midline_unknown"] is MidlineUnknown


def test_usage_errors_keep_argparses_prefix_naming_the_sub_command(capsys):
    """README: usage errors read ``vbq score: error: ...`` (argparse), others ``vbq: error:``."""
    with pytest.raises(SystemExit) as caught:
        main(["score", "folder", "--rois"])
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert err.strip().splitlines() == ["vbq score: error: argument --rois: expected one "
                                        "argument"]
    with pytest.raises(SystemExit) as caught:
        main(["no-such-command"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("vbq: error: argument COMMAND: invalid choice")
