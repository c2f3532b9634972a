"""ROIs from label masks: placement on the series grid, presets, missing levels, formats.

Reference: the phantom's ``expected.json`` (VBQ computed by the phantom's own
code from the pixels it wrote, with its drawn ROIs) and the phantom's
TotalSpineSeg mask written on the series grid by construction.

The derived ROIs are whole eroded bodies, larger than the phantom's drawn
ellipses, so they average the phantom's marrow texture and noise differently;
each phantom's VBQ from its mask must still lie within 1 % of ``expected.json``
(over eight seeds the largest difference measured is 0.7 %), and
``tests/test_seeds.py::test_within_one_percent_over_several_phantoms`` checks
this on phantoms of other VBQs.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from vbq.cli import main
from vbq.dicom import load_series
from vbq.errors import AnalysisError, InputError
from vbq.phantom import make_phantom
from vbq.roi.labelmask import load_label_volume, rois_from_mask
from vbq.score import score_roi_masks, score_series


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom_masks")
    info = make_phantom(out)  # the default phantom, as `vbq phantom OUT` writes it
    expected = json.loads(info.expected_path.read_text())
    series = load_series(info.series_dir).series
    img = nib.load(str(info.mask_path))
    return {"info": info, "expected": expected, "series": series,
            "labels": np.asarray(img.dataobj).astype(np.int16), "affine": img.affine,
            "dir": out}


def _write_nifti(path, data, affine):
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.int16), affine), str(path))
    return path


def _score(phantom, mask, labels="totalspineseg", **kw):
    return score_roi_masks(phantom["series"], rois_from_mask(phantom["series"], mask, labels),
                           **kw)


def test_phantom_mask_gives_expected_vbq(phantom):
    exp = phantom["expected"]
    res = score_series(phantom["info"].series_dir, mask=phantom["info"].mask_path,
                       labels="totalspineseg")
    assert res.roi_source == "mask"
    assert res.slice_index == exp["slice"]  # mid-sagittal found from the bodies
    assert res.vbq == pytest.approx(exp["vbq"], rel=0.01)
    assert res.vbq == pytest.approx(exp["target_vbq"], rel=0.025)
    for level in ("L1", "L2", "L3", "L4"):  # same bodies, bigger ROIs: texture differs a little
        assert res.levels[level].si == pytest.approx(exp["levels"][level]["mean"], rel=0.05)
        assert res.levels[level].measurement.n_pixels > exp["levels"][level]["n_pixels"]
    assert res.csf.si == pytest.approx(exp["csf"]["mean"], rel=0.03)
    assert not {"labels_assumed", "mask_header_note"} & set(res.warning_codes)


def test_a_mask_without_a_label_scheme_says_which_was_assumed(phantom):
    named = rois_from_mask(phantom["series"], phantom["info"].mask_path, "totalspineseg")
    assumed = rois_from_mask(phantom["series"], phantom["info"].mask_path)
    assert "labels_assumed" not in [w.code for w in named.warnings]
    assert any(w.code == "labels_assumed"
               and "no label scheme given, so its labels were read as totalspineseg's" in str(w)
               for w in assumed.warnings)
    for label, m in named.masks.items():
        np.testing.assert_array_equal(assumed.masks[label], m, err_msg=label)


def test_rois_stay_inside_the_labelled_body_away_from_its_edge(phantom):
    rm = rois_from_mask(phantom["series"], phantom["info"].mask_path, "totalspineseg")
    lab = phantom["labels"][:, :, rm.slice_index]
    from scipy import ndimage

    for level, value in (("L1", 41), ("L2", 42), ("L3", 43), ("L4", 44)):
        roi = rm.masks[level]
        assert roi.any()
        inner = ndimage.binary_erosion(lab == value, iterations=2)  # 2 px = 2.2 mm
        assert np.all(inner[roi])
    csf = rm.masks["CSF"]
    assert np.all(lab[csf] == 2)  # canal, never cord
    assert rm.csf_level == "L3" and rm.source == "mask"


def test_cli_score_with_mask(phantom, capsys):
    code = main(["score", str(phantom["info"].series_dir), "--mask",
                 str(phantom["info"].mask_path), "--labels", "totalspineseg", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["vbq"] == pytest.approx(phantom["expected"]["vbq"], rel=0.025)
    assert data["roi_source"] == "mask"


def test_flipped_and_permuted_nifti_lands_on_the_same_pixels(phantom, tmp_path):
    data, aff = phantom["labels"], phantom["affine"]
    ref = rois_from_mask(phantom["series"], phantom["info"].mask_path, "totalspineseg")
    # dcm2niix-like: rows flipped, then axes stored as (columns, rows, slices)
    flipped = data[::-1, :, :]
    a2 = aff.copy()
    a2[:3, 3] = aff[:3, 3] + aff[:3, 0] * (data.shape[0] - 1)
    a2[:3, 0] = -aff[:3, 0]
    perm = np.transpose(flipped, (1, 0, 2))[:, :, ::-1]
    a3 = a2[:, [1, 0, 2, 3]].copy()
    a3[:3, 3] = a2[:3, 3] + a2[:3, 2] * (data.shape[2] - 1)
    a3[:3, 2] = -a2[:3, 2]
    path = _write_nifti(tmp_path / "dcm2niix_like.nii.gz", perm, a3)
    vol = load_label_volume(path, phantom["series"])
    assert np.array_equal(vol.data, data)
    got = rois_from_mask(phantom["series"], path, "totalspineseg")
    assert got.slice_index == ref.slice_index
    for label in ref.masks:
        assert np.array_equal(got.masks[label], ref.masks[label])


@pytest.mark.parametrize("change, words", [
    ("crop", ["shape differs", "256x255x15"]),
    ("origin", ["origin differs by 2.000 mm"]),
    ("spacing", ["spacing differs", "1.200"]),
    ("rotate", ["orientation differs"]),
])
def test_mask_on_another_grid_is_refused_saying_how(phantom, tmp_path, change, words, capsys):
    data, aff = phantom["labels"], phantom["affine"].copy()
    if change == "crop":
        data = data[:, :255, :]
    elif change == "origin":
        aff[:3, 3] += np.array([0.0, 2.0, 0.0])
    elif change == "spacing":
        aff[:3, 1] *= 1.2 / np.linalg.norm(aff[:3, 1])
    else:
        t = np.radians(10)
        rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
        aff[:3, :3] = rot @ aff[:3, :3]
    path = _write_nifti(tmp_path / f"{change}.nii.gz", data, aff)
    with pytest.raises(InputError) as err:
        rois_from_mask(phantom["series"], path, "totalspineseg")
    msg = str(err.value)
    assert f"{change}.nii.gz" in msg and "\n" not in msg
    for word in words:
        assert word in msg
    code = main(["score", str(phantom["info"].series_dir), "--mask", str(path)])
    assert code == 2
    assert words[0] in capsys.readouterr().err


def test_level_missing_from_mask_is_excluded_and_csf_falls_back(phantom, tmp_path):
    data = phantom["labels"].copy()
    data[data == 43] = 0  # no L3
    path = _write_nifti(tmp_path / "no_l3.nii.gz", data, phantom["affine"])
    res = _score(phantom, path)
    assert res.levels["L3"].excluded == "other" and not res.levels["L3"].used
    warned = list(zip(res.warning_codes, res.warnings, strict=True))
    assert any(code == "level_missing" and "L3 (label 43)" in w for code, w in warned)
    assert res.csf.level == "L2"
    assert any(code == "csf_fallback" and "L2" in w for code, w in warned)
    si = [res.levels[k].si for k in ("L1", "L2", "L4")]
    assert res.vbq == pytest.approx(float(np.median(si)) / res.csf.si, rel=1e-12)
    full = _score(phantom, phantom["info"].mask_path)
    assert res.levels["L1"].si == pytest.approx(full.levels["L1"].si, rel=1e-12)


def test_mask_without_canal_is_a_clear_error(phantom, tmp_path, capsys):
    data = phantom["labels"].copy()
    data[(data == 2) | (data == 1)] = 0
    path = _write_nifti(tmp_path / "no_canal.nii.gz", data, phantom["affine"])
    with pytest.raises(InputError, match=r"no spinal canal \(label 2"):
        rois_from_mask(phantom["series"], path, "totalspineseg")
    assert main(["score", str(phantom["info"].series_dir), "--mask", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vbq: error:") and "no_canal.nii.gz" in err and "Traceback" not in err


def test_mask_without_any_protocol_level_is_an_error(phantom, tmp_path):
    data = phantom["labels"].copy()
    data[(data >= 41) & (data <= 45)] = 0
    path = _write_nifti(tmp_path / "no_lumbar.nii.gz", data, phantom["affine"])
    with pytest.raises(InputError, match="contains none of L1"):
        rois_from_mask(phantom["series"], path, "totalspineseg")


def test_npy_in_either_axis_order(phantom, tmp_path):
    ref = _score(phantom, phantom["info"].mask_path)
    a = tmp_path / "rcs.npy"
    np.save(a, phantom["labels"])
    b = tmp_path / "src.npy"
    np.save(b, np.transpose(phantom["labels"], (2, 0, 1)))
    for path in (a, b):
        assert _score(phantom, path).vbq == ref.vbq
    bad = tmp_path / "bad.npy"
    np.save(bad, phantom["labels"][:, :, :10])
    with pytest.raises(InputError, match="256x256x15"):
        rois_from_mask(phantom["series"], bad, "totalspineseg")


def test_explicit_slice_overrides_the_choice(phantom):
    rm = rois_from_mask(phantom["series"], phantom["info"].mask_path, "totalspineseg", slice=6)
    assert rm.slice_index == 6
    with pytest.raises(InputError, match="outside the series"):
        rois_from_mask(phantom["series"], phantom["info"].mask_path, slice=99)


def _remap(labels, mapping):
    out = np.zeros_like(labels)
    for old, new in mapping.items():
        out[labels == old] = new
    return out


def test_spider_numbering(phantom, tmp_path):
    # SPIDER: L5 = 1 ... L1 = 5, canal 100, no cord label
    data = _remap(phantom["labels"], {45: 1, 44: 2, 43: 3, 42: 4, 41: 5, 2: 100, 1: 100})
    path = _write_nifti(tmp_path / "spider.nii.gz", data, phantom["affine"])
    res = _score(phantom, path, labels="spider")
    ref = _score(phantom, phantom["info"].mask_path)
    for level in ("L1", "L2", "L3", "L4"):
        assert res.levels[level].si == pytest.approx(ref.levels[level].si, rel=1e-12)
    assert res.vbq == pytest.approx(ref.vbq, rel=1e-12)  # no cord at L3: canal = canal - cord


def test_totalsegmentator_numbering_finds_csf_in_the_image(phantom, tmp_path):
    # vertebrae_mr: L5 = 2 ... L1 = 6; no canal or cord classes
    data = _remap(phantom["labels"], {45: 2, 44: 3, 43: 4, 42: 5, 41: 6})
    path = _write_nifti(tmp_path / "ts.nii.gz", data, phantom["affine"])
    rm = rois_from_mask(phantom["series"], path, "totalsegmentator")
    assert rm.slice_index == phantom["expected"]["slice"]
    assert any(w.code == "csf_from_image" and "no spinal canal" in str(w) for w in rm.warnings)
    canal = phantom["labels"][:, :, rm.slice_index] == 2
    assert np.all(canal[rm.masks["CSF"]])  # found inside the true canal
    res = score_roi_masks(phantom["series"], rm)
    assert res.vbq == pytest.approx(phantom["expected"]["vbq"], rel=0.025)


def test_custom_mapping_file(phantom, tmp_path):
    mapping = tmp_path / "labels.json"
    mapping.write_text(json.dumps({"format": "vbq-labels/1", "L1": 41, "L2": [42], "L3": 43,
                                   "L4": 44, "spinal_canal": 2, "spinal_cord": 1}))
    res = _score(phantom, phantom["info"].mask_path, labels=str(mapping))
    assert res.vbq == _score(phantom, phantom["info"].mask_path).vbq


def test_dicom_seg_input(phantom, tmp_path):
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    series = phantom["series"]
    sources = [pydicom.dcmread(s.path) for s in series.slices]
    names = {1: ("spinal cord", codes.SCT.SpinalCord), 2: ("spinal canal",
                                                            codes.SCT.SpinalCanalStructure)}
    names.update({40 + i: (f"L{i}", getattr(codes.SCT, f"L{i}Vertebra")) for i in range(1, 6)})
    values = sorted(v for v in np.unique(phantom["labels"]) if v in names)
    seg_array = np.zeros((len(sources), *phantom["labels"].shape[:2]), dtype=np.uint8)
    descriptions = []
    for number, value in enumerate(values, start=1):
        seg_array[np.transpose(phantom["labels"], (2, 0, 1)) == value] = number
        label, code = names[value]
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label,
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=code,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL))
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=seg_array,
        segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=99,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test",
        manufacturer_model_name="test", software_versions="1", device_serial_number="1")
    path = tmp_path / "mask_seg.dcm"
    seg.save_as(path)
    res = _score(phantom, path, labels=None)  # segment names say which is which
    ref = _score(phantom, phantom["info"].mask_path)
    assert res.vbq == pytest.approx(ref.vbq, rel=1e-12)


def test_unreadable_mask_files(phantom, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        rois_from_mask(phantom["series"], tmp_path / "nope.nii.gz")
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"not a nifti")
    with pytest.raises(InputError, match="junk.nii.gz"):
        rois_from_mask(phantom["series"], junk)
    floaty = tmp_path / "float.npy"
    np.save(floaty, phantom["labels"] + 0.5)
    with pytest.raises(InputError, match="non-integer"):
        rois_from_mask(phantom["series"], floaty)


def test_no_csf_anywhere_is_an_analysis_error(phantom, tmp_path):
    data = phantom["labels"].copy()
    canal = data == 2
    data[canal] = 0
    data[:, :, 0][canal.any(axis=2)] = 2  # the canal moved to the outermost slice
    path = _write_nifti(tmp_path / "far_canal.nii.gz", data, phantom["affine"])
    with pytest.raises(AnalysisError, match="no CSF ROI"):
        rois_from_mask(phantom["series"], path, "totalspineseg")


def test_qc_figure_draws_derived_rois_like_drawn_ones(phantom):
    import matplotlib.pyplot as plt

    info = phantom["info"]
    drawn = score_series(info.series_dir, rois=info.rois_path)
    derived = score_series(info.series_dir, mask=info.mask_path)
    labels = {}
    for name, res in (("drawn", drawn), ("derived", derived)):
        ax = res.plot_qc()
        texts = " ".join(t.get_text() for t in ax.texts)
        labels[name] = {lab for lab in ("L1", "L2", "L3", "L4", "CSF (L3)") if lab in texts}
        plt.close(ax.figure)
    assert labels["derived"] == labels["drawn"] == {"L1", "L2", "L3", "L4", "CSF (L3)"}


@pytest.mark.skipif(__import__("shutil").which("dcm2niix") is None,
                    reason="dcm2niix not installed")
def test_dcm2niix_volume_lands_on_the_series_pixels(phantom, tmp_path):
    """An independent converter's voxel order and affine map back onto every pixel."""
    import subprocess

    subprocess.run(["dcm2niix", "-z", "y", "-b", "n", "-f", "t1", "-o", str(tmp_path),
                    str(phantom["series"].slices[0].path.parent)],
                   check=True, capture_output=True, timeout=60)
    vol = load_label_volume(tmp_path / "t1.nii.gz", phantom["series"])
    for k in range(len(phantom["series"].slices)):
        assert np.array_equal(vol.data[:, :, k], phantom["series"].pixels(k).astype(int))
