"""Study safeguards: one study per score, named on every output, and kept out when asked.

References: the phantom writes one study (StudyDate 20240115, PatientID
VBQ-PHANTOM, AccessionNumber PHANTOM0001); a prior exam is made by copying
it and rewriting its UIDs, StudyDate and AccessionNumber with pydicom, so
which study was scored is known by construction. Series and instance numbers
are read back from the measured file with pydicom, independently of vbq's
own header reader.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import pydicom
import pytest
from pydicom.uid import generate_uid

import vbq
from vbq import batch
from vbq.cli import main
from vbq.errors import InputError
from vbq.phantom import make_phantom

PRIOR_DATE = "20210105"


@pytest.fixture(scope="module")
def exams(tmp_path_factory):
    """A folder with the phantom's study and a prior exam of the same patient."""
    root = tmp_path_factory.mktemp("studies")
    info = make_phantom(root / "ph", n_slices=7, distractors=())
    folder = root / "folder"
    shutil.copytree(info.series_dir, folder / "current")
    shutil.copytree(info.series_dir, folder / "prior")
    study, series = generate_uid(), generate_uid()
    for path in sorted((folder / "prior").rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyDate, ds.AccessionNumber = PRIOR_DATE, "PRIOR0002"
        ds.SeriesNumber = 7
        ds.save_as(path)
    current = pydicom.dcmread(next((folder / "current").rglob("*.dcm")))
    return {"info": info, "folder": folder, "prior_study": study, "prior_series": series,
            "current_study": str(current.StudyInstanceUID),
            "current_series": str(current.SeriesInstanceUID)}


def _one_line(err: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err


def test_two_studies_are_an_error_that_lists_them(exams, capsys):
    with pytest.raises(InputError) as info:
        vbq.score_series(exams["folder"], rois=exams["info"].rois_path)
    text = str(info.value)
    assert "holds 2 studies" in text and "--study UID or --study DATE" in text
    assert "patient VBQ-PHANTOM, 2024-01-15, 'LUMBAR SPINE'" in text
    assert "patient VBQ-PHANTOM, 2021-01-05" in text
    assert exams["prior_study"] in text and exams["current_study"] in text
    assert main(["score", str(exams["folder"]), "--rois", str(exams["info"].rois_path)]) == 2
    _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("how", ["2021-01-05", "20210105", "uid"])
def test_study_by_date_or_uid_scores_that_study(exams, how):
    study = exams["prior_study"] if how == "uid" else how
    res = vbq.score_series(exams["folder"], rois=exams["info"].rois_path, study=study)
    assert res.study == {"study_instance_uid": exams["prior_study"],
                         "patient_id": "VBQ-PHANTOM", "study_date": "2021-01-05",
                         "accession_number": "PRIOR0002"}
    assert res.series["series_instance_uid"] == exams["prior_series"]
    assert res.series["series_number"] == 7


def test_series_implies_its_study_and_must_agree_with_it(exams):
    res = vbq.score_series(exams["folder"], rois=exams["info"].rois_path,
                           series_uid=exams["current_series"])
    assert res.study["study_date"] == "2024-01-15"
    with pytest.raises(InputError, match="is not part of the study --study 2021-01-05"):
        vbq.score_series(exams["folder"], rois=exams["info"].rois_path,
                         series_uid=exams["current_series"], study="2021-01-05")


def test_a_date_that_matches_no_study_or_several_is_an_error(exams, tmp_path):
    with pytest.raises(InputError, match="no study of folder .* is dated 1999-01-01"):
        vbq.score_series(exams["folder"], rois=exams["info"].rois_path, study="1999-01-01")
    with pytest.raises(InputError, match="neither a StudyInstanceUID .* nor a date"):
        vbq.score_series(exams["folder"], rois=exams["info"].rois_path, study="last week")
    same = tmp_path / "same_day"
    shutil.copytree(exams["folder"], same)
    for path in (same / "prior").rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.StudyDate = "20240115"
        ds.save_as(path)
    with pytest.raises(InputError, match="2 studies of folder .* are dated 2024-01-15"):
        vbq.score_series(same, rois=exams["info"].rois_path, study="2024-01-15")


def test_the_result_names_study_series_and_instance_everywhere(exams, tmp_path, capsys):
    argv = ["score", str(exams["folder"]), "--rois", str(exams["info"].rois_path),
            "--study", "2024-01-15"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    res = vbq.score_series(exams["folder"], rois=exams["info"].rois_path, study="20240115")
    measured = pydicom.dcmread(res.series_info.slices[res.slice_index].path)
    assert out["study"] == {"study_instance_uid": str(measured.StudyInstanceUID),
                            "patient_id": str(measured.PatientID), "study_date": "2024-01-15",
                            "accession_number": str(measured.AccessionNumber)}
    assert out["series"]["series_number"] == int(measured.SeriesNumber)
    assert out["slice"]["instance_number"] == int(measured.InstanceNumber)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "study: 2024-01-15, patient VBQ-PHANTOM, accession PHANTOM0001" in text
    assert f"instance {int(measured.InstanceNumber)}" in text
    ax = res.plot_qc()
    assert "2024-01-15, patient VBQ-PHANTOM" in ax.xaxis.label.get_text()


def test_no_phi_drops_patient_id_date_and_accession_from_every_output(exams, tmp_path, capsys):
    sr_path, qc_path = tmp_path / "sr.dcm", tmp_path / "qc.svg"
    argv = ["score", str(exams["folder"]), "--rois", str(exams["info"].rois_path),
            "--study", "2024-01-15", "--no-phi"]
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["study"]["patient_id"] is None and doc["study"]["study_date"] is None
    assert doc["study"]["accession_number"] is None and doc["phi_removed"] is True
    assert main([*argv, "--qc", str(qc_path), "--sr", str(sr_path)]) == 0
    out += capsys.readouterr().out + qc_path.read_text()
    for phi in ("VBQ-PHANTOM", "2024-01-15", "20240115", "PHANTOM0001"):
        assert phi not in out
    sr = pydicom.dcmread(sr_path)
    for keyword in ("PatientID", "PatientName", "StudyDate", "AccessionNumber",
                    "PatientBirthDate"):
        assert keyword in sr and not str(sr.data_element(keyword).value)
    assert sr.StudyInstanceUID == exams["current_study"]
    if shutil.which("dciodvfy"):
        report = subprocess.run(["dciodvfy", str(sr_path)], capture_output=True, text=True)
        assert "Error" not in report.stdout + report.stderr, report.stderr
    # the error listing of several studies leaves them out too
    with pytest.raises(InputError) as info:
        vbq.score_series(exams["folder"], rois=exams["info"].rois_path, phi=False)
    assert "VBQ-PHANTOM" not in str(info.value) and "2021-01-05" not in str(info.value)
    assert "--study UID" in str(info.value) and "DATE" not in str(info.value)


def _manifest(tmp_path, exams, rows):
    path = tmp_path / "manifest.csv"
    lines = ["id,series,rois,study,force"]
    lines += [f"{rid},{exams['folder']},{exams['info'].rois_path},{study},{force}"
              for rid, study, force in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_batch_takes_a_study_column_and_writes_the_study(exams, tmp_path):
    manifest = _manifest(tmp_path, exams, [("now", "2024-01-15", ""), ("prior", PRIOR_DATE, "no"),
                                           ("both", "", ""), ("bad", "", "perhaps")])
    out = tmp_path / "out.csv"
    summary = batch.run_batch(manifest, out)
    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    assert summary.n_failed == 2
    assert rows["now"]["study_date"] == "2024-01-15"
    assert rows["prior"]["study_date"] == "2021-01-05"
    assert rows["prior"]["accession_number"] == "PRIOR0002"
    assert rows["prior"]["series_number"] == "7" and rows["prior"]["instance_number"]
    assert rows["both"]["error_type"] == "input" and "holds 2 studies" in rows["both"]["error"]
    assert "column force: 'perhaps' is not yes or no" in rows["bad"]["error"]
    batch.run_batch(manifest, out, no_phi=True)
    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    assert rows["prior"]["patient_id"] == rows["prior"]["study_date"] == ""
    assert rows["prior"]["accession_number"] == "" and rows["prior"]["study_instance_uid"]
    assert "VBQ-PHANTOM" not in out.read_text() and "2021-01-05" not in out.read_text()


@pytest.mark.parametrize("tail", [batch.LEGACY_TAIL_COLUMNS, batch.MIDLINE_TAIL_COLUMNS])
def test_resume_reads_an_output_written_with_the_earlier_header(exams, tmp_path, tail):
    manifest = _manifest(tmp_path, exams, [("now", "2024-01-15", ""), ("prior", PRIOR_DATE, "")])
    columns = [*batch.HEAD_COLUMNS, "si_L1", "si_L2", "si_L3", "si_L4", *tail]
    out = tmp_path / "old.csv"
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerow({**dict.fromkeys(columns, ""), "id": "now", "status": "ok", "vbq": "3.25"})
    summary = batch.run_batch(manifest, out, resume=True)
    assert summary.n_run == 1 and summary.n_ok == 2
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == batch.output_columns(["L1", "L2", "L3", "L4"])   # rewritten
    assert rows[0]["id"] == "now" and rows[0]["vbq"] == "3.25"      # kept, not redone
    assert rows[1]["study_date"] == "2021-01-05"
    # the plane's source and distance are the scorer's for that exam
    scored = vbq.score_series(exams["folder"], rois=exams["info"].rois_path, study=PRIOR_DATE)
    assert rows[1]["midline_source"] == scored.midline_source and rows[0]["midline_source"] == ""
    assert float(rows[1]["midline_offset_mm"]) == pytest.approx(scored.midline_offset_mm,
                                                                abs=1e-6)
    assert batch.is_batch_header(columns) and not batch.is_batch_header(columns, legacy=False)
