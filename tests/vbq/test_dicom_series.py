"""Series index, series choice and pixel access, on phantoms whose truth is known."""

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from vbq.dicom import choose_series, describe_choice, index_folder, load_series, pixels
from vbq.errors import InputError
from vbq.phantom import make_phantom, roi_membership


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Small phantom with every distractor series (T2, post-contrast T1, axial)."""
    return make_phantom(tmp_path_factory.mktemp("study"), rows=128, n_slices=7, seed=1)


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory):
    """Renamed, shuffled files, reversed InstanceNumbers and a rescale slope/intercept."""
    return make_phantom(tmp_path_factory.mktemp("shuffled"), rows=128, n_slices=7, seed=2,
                        shuffle_names=True, reverse_instance_numbers=True,
                        rescale_slope=0.25, rescale_intercept=-7.0)


def _copy_series(info, names, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        for i, p in enumerate(info.files[name]):
            shutil.copy(p, dest / f"{name}_{i}.dcm")
    return dest


def test_chooses_plain_t1_sagittal_and_explains_rejections(study):
    choice = load_series(study.series_dir)
    assert choice.series.series_instance_uid == study.series_instance_uid
    assert "sagittal" in choice.reason and "T1-weighted" in choice.reason
    why = {uid: reason for uid, _, reason in choice.rejected}
    assert set(why) == set(study.distractor_uids.values())
    assert "T2" in why[study.distractor_uids["t2"]]
    assert "axial" in why[study.distractor_uids["axial"]]
    assert "post-contrast" in why[study.distractor_uids["t1_post"]]
    assert "ContrastBolusAgent" in why[study.distractor_uids["t1_post"]]
    assert choice.warnings == ()  # TR 520 / TE 12 at 1.5 T is inside the normative window
    lines = describe_choice(choice)
    assert lines[0].startswith("chosen:") and sum(x.startswith("rejected:") for x in lines) == 3


def test_series_metadata_block(study):
    s = load_series(study.series_dir).series
    md = s.metadata()
    assert md["series_instance_uid"] == study.series_instance_uid
    assert md["field_strength_t"] == 1.5 and md["tr_ms"] == 520.0 and md["te_ms"] == 12.0
    assert md["manufacturer"] == "vbq-toolkit" and md["pixel_bandwidth"] == 190.0
    assert s.plane == "sagittal" and len(s) == 7 and s.mid_slice == 3
    assert s.modality == "MR" and s.contrast_agent is None


def test_ordering_by_position_not_instance_number_or_name(shuffled):
    s = load_series(shuffled.series_dir).series
    pos = [sl.position for sl in s.slices]
    assert pos == sorted(pos)
    np.testing.assert_allclose(np.diff(pos), 4.4, atol=1e-6)
    # instance numbers were written reversed: they descend along the sorted stack
    assert [sl.instance_number for sl in s.slices] == list(range(7, 0, -1))
    # file names are random; the mid slice is still the one the ROI truth refers to
    assert s.slices[shuffled.slice].sop_instance_uid == shuffled.expected["sop_instance_uid"]
    assert all(sl.path.suffix == "" for sl in s.slices)


def test_rescale_applied_and_truth_reproduced(shuffled):
    s = load_series(shuffled.series_dir).series
    mid = shuffled.slice
    img = s.pixels(mid)
    raw = pydicom.dcmread(s.slices[mid].path).pixel_array
    np.testing.assert_array_equal(img, raw.astype(float) * 0.25 - 7.0)
    assert img.dtype == np.float64 and not img.flags.writeable
    rois = json.loads(shuffled.rois_path.read_text())["rois"]
    for roi in rois:
        m = roi_membership(roi, img.shape)
        truth = shuffled.expected["csf" if roi["label"] == "CSF" else "levels"]
        truth = truth if roi["label"] == "CSF" else truth[roi["label"]]
        assert img[m].mean() == pytest.approx(truth["mean"], rel=1e-12)
        assert int(m.sum()) == truth["n_pixels"]


def test_only_the_measured_slice_is_decoded(study, monkeypatch):
    calls = []
    real = pixels.decode

    def counting(sl):
        calls.append(sl.path)
        return real(sl)

    monkeypatch.setattr(pixels, "decode", counting)
    choice = load_series(study.series_dir)
    assert calls == []  # indexing and choosing read headers only
    s = choice.series
    s.pixels(s.mid_slice)
    s.pixels(s.mid_slice)  # cached
    assert calls == [s.slices[s.mid_slice].path]


def test_slice_index_and_locate(study):
    s = load_series(study.series_dir).series
    mid = s.mid_slice
    assert s.slice_index(s.slices[5].sop_instance_uid) == 5
    with pytest.raises(InputError, match="1.2.3.4 is not a slice"):
        s.slice_index("1.2.3.4")
    g = s.slices[mid].geometry
    xyz = g.pixel_to_patient([40.25, 61.5]) + 1.0 * g.normal
    k, rc = s.locate(xyz)
    assert k == mid
    np.testing.assert_allclose(rc, [40.25, 61.5], atol=1e-9)
    with pytest.raises(InputError, match="outside series"):
        s.pixels(7)


def test_series_uid_override(study):
    idx = index_folder(study.series_dir)
    t2 = study.distractor_uids["t2"]
    choice = choose_series(idx, series_uid=t2)
    assert choice.series.series_instance_uid == t2
    assert any(w.code == "not_t1" and "not T1-like" in str(w) for w in choice.warnings)
    post = choose_series(idx, series_uid=study.distractor_uids["t1_post"])
    assert "contrast_agent" in [w.code for w in post.warnings]
    with pytest.raises(InputError) as err:
        choose_series(idx, series_uid="9.9.9")
    msg = str(err.value)
    assert "9.9.9" in msg and study.series_instance_uid in msg and "T2 SAG TSE" in msg


def test_prefers_t1_description_then_more_slices(study, tmp_path):
    folder = _copy_series(study, ["t1"], tmp_path / "two")
    # a second non-contrast sagittal T1-like series, fewer slices, no "T1" in its name
    for i, p in enumerate(study.files["t1"][:4]):
        ds = pydicom.dcmread(p)
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1143.777"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.2.1143.777.{i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesDescription = "SAG SE"
        ds.SeriesNumber = 1
        ds.save_as(folder / f"other_{i}.dcm")
    choice = load_series(folder)
    assert choice.series.series_instance_uid == study.series_instance_uid
    (_, _, why), = choice.rejected
    assert "'T1' in its description" in why
    assert "preferred over 1 other" in choice.reason


# ------------------------------------------------------------------------ errors
def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match=r"folder .*nope does not exist"):
        index_folder(tmp_path / "nope")


def test_empty_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError, match=rf"folder {tmp_path} is empty"):
        index_folder(tmp_path)


def test_no_dicom_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "scan.dcm").write_bytes(b"\x00" * 300)
    with pytest.raises(InputError, match=rf"no DICOM files in folder {tmp_path}"):
        index_folder(tmp_path)


def test_only_axial(study, tmp_path):
    folder = _copy_series(study, ["axial"], tmp_path / "ax")
    with pytest.raises(InputError, match=rf"folder {folder} has only axial series"):
        load_series(folder)


def test_only_post_contrast_t1(study, tmp_path):
    folder = _copy_series(study, ["t1_post", "axial"], tmp_path / "post")
    with pytest.raises(InputError, match="only post-contrast T1 sagittal series") as err:
        load_series(folder)
    assert str(folder) in str(err.value) and "T1 SAG +C POST GAD" in str(err.value)


def test_no_t1_weighted_sagittal(study, tmp_path):
    folder = _copy_series(study, ["t2", "axial"], tmp_path / "t2")
    with pytest.raises(InputError, match="no T1-weighted sagittal series") as err:
        load_series(folder)
    assert "T2 SAG TSE" in str(err.value)


def test_errors_are_one_sentence(study, tmp_path):
    folder = _copy_series(study, ["t2"], tmp_path / "t2only")
    with pytest.raises(InputError) as err:
        load_series(folder)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------ damaged and odd files
def test_truncated_header_file_is_skipped_with_warning(study, tmp_path):
    folder = _copy_series(study, ["t1", "t2"], tmp_path / "trunc")
    bad = folder / "t2_3.dcm"
    bad.write_bytes(bad.read_bytes()[:400])
    (folder / "README").write_text("not dicom")
    idx = index_folder(folder)
    assert [p for p, _ in idx.skipped] == [bad]
    assert any(p == folder / "README" for p, _ in idx.ignored)
    choice = choose_series(idx)
    assert choice.series.series_instance_uid == study.series_instance_uid
    assert any(w.code == "lost_file" and str(bad) in str(w) for w in choice.warnings)


def test_truncated_pixel_data_in_chosen_series(study, tmp_path):
    folder = _copy_series(study, ["t1"], tmp_path / "trunc_px")
    s0 = load_series(folder).series
    victim = s0.slices[2].path
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 1000])
    choice = load_series(folder)
    s = choice.series
    assert len(s) == 7  # the slice keeps its place: indices do not shift
    assert any(w.code == "slice_unreadable" and str(victim) in str(w) and "truncated" in str(w)
               for w in choice.warnings)
    s.pixels(s.mid_slice)  # other slices still work
    with pytest.raises(InputError, match="truncated") as err:
        s.pixels(2)
    assert str(victim) in str(err.value)


def test_all_files_truncated(study, tmp_path):
    folder = _copy_series(study, ["t1"], tmp_path / "all_bad")
    for p in folder.iterdir():
        p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(InputError, match="no readable DICOM image") as err:
        index_folder(folder)
    assert str(folder) in str(err.value)


def test_missing_optional_tags(study, tmp_path):
    folder = tmp_path / "minimal"
    folder.mkdir()
    for i, p in enumerate(study.files["t1"]):
        ds = pydicom.dcmread(p)
        for kw in ("RescaleSlope", "RescaleIntercept", "MagneticFieldStrength", "InstanceNumber",
                   "Manufacturer", "ManufacturerModelName", "PixelBandwidth", "SeriesNumber",
                   "EchoTime", "StudyInstanceUID", "PatientID", "ContrastBolusAgent"):
            if kw in ds:
                delattr(ds, kw)
        ds.save_as(folder / f"x{i}", enforce_file_format=False)
    choice = load_series(folder)
    s = choice.series
    assert s.field_strength_t is None and s.te_ms is None and s.manufacturer is None
    assert all(sl.instance_number is None and sl.rescale_slope == 1.0 for sl in s.slices)
    codes = [w.code for w in choice.warnings]
    assert "no_field_strength" in codes
    assert any(w.code == "t1_unverified" and "EchoTime" in str(w) for w in choice.warnings)
    ref = pydicom.dcmread(study.files["t1"][3]).pixel_array
    np.testing.assert_array_equal(s.pixels(3), ref)


def test_non_image_dicom_ignored(study, tmp_path):
    folder = _copy_series(study, ["t1"], tmp_path / "with_sr")
    ds = pydicom.dcmread(study.files["t1"][0], stop_before_pixels=True)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"  # comprehensive SR
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.99"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(folder / "report.dcm")
    idx = index_folder(folder)
    assert len(idx.series) == 1 and len(idx.series[0]) == 7 and idx.skipped == ()
    assert any(p.name == "report.dcm" for p, _ in idx.ignored)


def test_warnings_outside_window_and_differing_rescale(study, tmp_path):
    folder = _copy_series(study, ["t1"], tmp_path / "window")
    for i, p in enumerate(sorted(folder.iterdir())):
        ds = pydicom.dcmread(p)
        ds.RepetitionTime = "950"
        ds.EchoTime = "25"
        if i == 0:
            ds.RescaleSlope = "2"
            ds.RescaleIntercept = "0"
        ds.save_as(p)
    w = load_series(folder).warnings
    window = [str(x) for x in w if x.code == "outside_normative_window"]
    assert any("TR 950 ms is outside the normative window 400-850" in x for x in window)
    assert any("TE 25 ms is outside the normative window 8-20" in x for x in window)
    assert "rescale_differs" in [x.code for x in w]
    assert "not_t1" not in [x.code for x in w]


def test_rescale_slope_zero_is_read_as_one_and_reported(study, tmp_path):
    folder = _copy_series(study, ["t1"], tmp_path / "zero_slope")
    files = sorted(folder.iterdir())
    ds = pydicom.dcmread(files[0])
    ds.RescaleSlope = "0"
    ds.RescaleIntercept = "0"
    ds.save_as(files[0])
    choice = load_series(folder)
    series = choice.series
    k = next(i for i, sl in enumerate(series.slices) if sl.path == files[0])
    assert series.slices[k].rescale_slope == 1.0
    raw = pydicom.dcmread(files[0]).pixel_array.astype(float)
    np.testing.assert_array_equal(series.pixels(k), raw)  # stored values, not all zero
    assert [str(x) for x in choice.warnings if x.code == "zero_rescale_slope"] == [
        f"slice(s) {k} of series {series.label()} have RescaleSlope 0, which is not a valid "
        "slope; it was read as 1"]
    assert "zero_rescale_slope" not in [x.code for x in load_series(study.series_dir).warnings]


def test_description_t1_with_long_tr_is_kept_with_warning(study, tmp_path):
    folder = _copy_series(study, ["t1"], tmp_path / "longtr")
    for p in folder.iterdir():
        ds = pydicom.dcmread(p)
        ds.RepetitionTime = "2000"
        ds.save_as(p)
    choice = load_series(folder)
    assert "T1-weighted by its description" in choice.reason
    assert any(x.code == "not_t1" and "not T1-like" in str(x) for x in choice.warnings)


def test_folder_of_non_images_names_an_example(study, tmp_path):
    folder = tmp_path / "nonimg"
    folder.mkdir()
    ds = pydicom.dcmread(study.files["t1"][0])
    del ds.ImagePositionPatient
    ds.save_as(folder / "a.dcm")
    with pytest.raises(InputError, match="no usable DICOM image") as err:
        index_folder(folder)
    assert "a.dcm has no ImagePositionPatient" in str(err.value)


def test_oblique_series_patient_space_rois_select_same_pixels(study, tmp_path):
    """Rotate the whole study rigidly: patient-space ROIs rotated alike hit the same pixels."""
    angle_a, angle_b = np.deg2rad(17.0), np.deg2rad(-11.0)
    rz = np.array([[np.cos(angle_a), -np.sin(angle_a), 0], [np.sin(angle_a), np.cos(angle_a), 0],
                   [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(angle_b), -np.sin(angle_b)],
                   [0, np.sin(angle_b), np.cos(angle_b)]])
    rot = rz @ rx
    folder = tmp_path / "oblique"
    folder.mkdir()
    for i, p in enumerate(study.files["t1"]):
        ds = pydicom.dcmread(p)
        ipp = rot @ np.array([float(v) for v in ds.ImagePositionPatient])
        iop = np.array([float(v) for v in ds.ImageOrientationPatient]).reshape(2, 3) @ rot.T
        ds.ImagePositionPatient = [f"{v:.10g}" for v in ipp]
        ds.ImageOrientationPatient = [f"{v:.10f}" for v in iop.ravel()]
        ds.save_as(folder / f"{i}.dcm")
    s = load_series(folder).series
    assert s.plane == "sagittal"  # about 20 degrees off: still mostly sagittal
    assert [sl.sop_instance_uid for sl in s.slices] == [
        sl.sop_instance_uid for sl in load_series(study.series_dir).series.slices]
    pix = json.loads(study.rois_path.read_text())["rois"]
    pat = json.loads(study.rois_patient_path.read_text())["rois"]
    for a, b in zip(pix, pat, strict=True):
        key = "center" if "center" in b else "corner" if "corner" in b else None
        pts = [b[key]] if key else b["points"]
        rotated = [rot @ np.asarray(q) for q in pts]
        k, _ = s.locate(rotated[0] if key else np.mean(rotated, axis=0))
        assert k == study.slice
        g = s.slices[k].geometry
        rc = [g.patient_to_pixel(q)[0] for q in rotated]
        conv = dict(a)
        if key:
            conv[key] = list(rc[0])
        else:
            conv["points"] = [list(x) for x in rc]
        np.testing.assert_array_equal(roi_membership(conv, g.shape), roi_membership(a, g.shape))
        np.testing.assert_allclose(rc[0], a[key] if key else a["points"][0], atol=1e-6)


@pytest.mark.parametrize("value", ["15000", "0.0001", "1e308", "-3"])
def test_a_field_strength_that_is_no_field_in_tesla_is_taken_as_unknown(study, tmp_path, value):
    """MagneticFieldStrength is in tesla; 15000 (gauss for 1.5 T), a tenth of a
    millitesla, an overflowing or a negative value is no field an MRI scanner has
    (0.05-11.7 T): it would select the 3 T plausibility limit and the cut-offs compared.
    It is taken as unknown, with a warning naming it."""
    folder = tmp_path / "gauss"
    folder.mkdir()
    for i, p in enumerate(study.files["t1"]):
        ds = pydicom.dcmread(p)
        ds.MagneticFieldStrength = value
        ds.save_as(folder / f"x{i}", enforce_file_format=False)
    choice = load_series(folder)
    assert choice.series.field_strength_t is None
    said = [str(w) for w in choice.warnings if w.code == "no_field_strength"]
    assert len(said) == 1 and f"MagneticFieldStrength {float(value):g}" in said[0], said
    assert "0.05 to 11.7 T" in said[0] and "taken as unknown" in said[0]


def test_a_field_strength_in_tesla_is_kept(study):
    choice = load_series(study.files["t1"][0].parent)
    assert choice.series.field_strength_t == pytest.approx(1.5)
    assert "no_field_strength" not in [w.code for w in choice.warnings]
