"""DICOM SR (TID 1500) output.

References: the result's own numbers (read back through highdicom and pydicom
must equal what was written) and the independent validator ``dciodvfy``
(dicom3tools) when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess

import pydicom
import pytest

from vbq.cli import main
from vbq.dicom import load_series
from vbq.errors import InputError
from vbq.phantom import make_phantom
from vbq.roi.labelmask import rois_from_mask
from vbq.score import score_roi_masks, score_values
from vbq.sr import LOCAL_SCHEME, read_sr_measurements, write_sr

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom_sr")
    info = make_phantom(out, distractors=())
    series = load_series(info.series_dir).series
    result = score_roi_masks(series, rois_from_mask(series, info.mask_path),
                             exclude={"L2": "fracture"})
    path = write_sr(result, series, out / "report" / "vbq_sr.dcm")
    return {"info": info, "series": series, "result": result, "path": path}


def test_sr_reads_back_with_the_written_numbers(scored):
    res = scored["result"]
    got = read_sr_measurements(scored["path"])
    assert set(got) == {"L1 ROI", "L2 ROI", "L3 ROI", "L4 ROI", "CSF ROI", "VBQ"}
    assert got["VBQ"]["vbq"] == pytest.approx(res.vbq, rel=1e-12)
    for level in ("L1", "L2", "L3", "L4"):
        m = res.levels[level].measurement
        g = got[f"{level} ROI"]
        assert g["mean"] == pytest.approx(m.mean, rel=1e-12)
        assert g["median"] == pytest.approx(m.median, rel=1e-12)
        assert g["sd"] == pytest.approx(m.sd, rel=1e-12)
        assert g["area_mm2"] == pytest.approx(m.area_mm2, rel=1e-12)
        assert g["n_pixels"] == m.n_pixels
    assert got["CSF ROI"]["mean"] == pytest.approx(res.csf.measurement.mean, rel=1e-12)


def test_sr_header_and_references(scored):
    ds = pydicom.dcmread(scored["path"])
    series = scored["series"]
    assert ds.SOPClassUID == COMPREHENSIVE_3D_SR
    assert ds.Modality == "SR"
    assert ds.StudyInstanceUID == series.study_instance_uid
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.CompletionFlag == "COMPLETE"
    schemes = [item.CodingSchemeDesignator for item in ds.CodingSchemeIdentificationSequence]
    assert LOCAL_SCHEME in schemes
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == series.series_instance_uid
    sop = scored["result"].sop_instance_uid
    assert sop in {item.ReferencedSOPInstanceUID for item in evidence.ReferencedSOPSequence}
    text = str(ds)
    assert "Excluded: fracture" in text  # the excluded level says why


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
def test_sr_passes_dciodvfy(scored):
    run = subprocess.run(["dciodvfy", str(scored["path"])], capture_output=True, text=True,
                         timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    assert not errors, "\n".join(errors)
    assert any("Comprehensive3DSR" in line for line in lines)


def test_cli_score_writes_sr(scored, tmp_path, capsys):
    out = tmp_path / "cli_sr.dcm"
    code = main(["score", str(scored["info"].series_dir), "--mask",
                 str(scored["info"].mask_path), "--sr", str(out)])
    assert code == 0
    assert "VBQ" in read_sr_measurements(out)
    capsys.readouterr()


def test_sr_needs_a_measured_result(scored, tmp_path):
    res = score_values({"L1": 410, "L2": 395, "L3": 402, "L4": 388, "CSF": 131})
    with pytest.raises(InputError, match="measured on an image series"):
        write_sr(res, scored["series"], tmp_path / "x.dcm")
    assert not (tmp_path / "x.dcm").exists()


def test_sr_outlines_select_the_measured_pixels_again(scored):
    """The SCOORD outline, read back, rasterised by the ROI file's polygon rule = the mask."""
    import highdicom as hd
    import numpy as np

    from vbq.roi.shapes import polygon_mask

    res = scored["result"]
    sr = hd.sr.srread(str(scored["path"]))
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 5
    for group in groups:
        label = str(group.tracking_identifier).split()[0]
        region = group.roi
        assert region.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        xy = np.asarray(region.value, dtype=float)  # (column, row), corner-based
        assert np.array_equal(xy[0], xy[-1])
        rc = xy[:, ::-1] - 0.5
        mask = np.asarray(res.masks[label], dtype=bool)
        assert np.array_equal(polygon_mask(mask.shape, rc[:-1]), mask), label


@pytest.mark.parametrize("seed", range(6))
def test_outline_of_a_mask_with_holes_and_pieces_selects_it_exactly(seed):
    import numpy as np

    from vbq.roi.shapes import polygon_mask
    from vbq.sr import roi_outline

    rng = np.random.default_rng(seed)
    mask = rng.random((30, 26)) < rng.uniform(0.2, 0.7)
    outline = roi_outline(mask)
    assert np.array_equal(outline[0], outline[-1])
    assert np.array_equal(polygon_mask(mask.shape, outline[:-1]), mask)


def test_sr_outline_of_an_ellipse_less_its_cut_outs(scored, tmp_path):
    """A ROI with a hole and a notch: its SCOORD selects the measured pixels, hole included."""
    import highdicom as hd
    import numpy as np

    from vbq.roi.shapes import polygon_mask
    from vbq.score import score_roi_masks as score

    base = scored["result"]
    r0, c0 = (float(np.mean(x)) for x in np.nonzero(base.masks["L3"]))
    doc = {"format": "vbq-rois/1", "space": "pixel", "slice": base.slice_index, "rois": [
        {"label": lv, "shape": "circle",
         "center": [float(np.mean(np.nonzero(base.masks[lv])[0])),
                    float(np.mean(np.nonzero(base.masks[lv])[1]))], "radius": 4}
        for lv in ("L1", "L2", "L4")] + [
        {"label": "L3", "shape": "circle", "center": [r0, c0], "radius": 5,
         "minus": [{"shape": "circle", "center": [r0, c0], "radius": 1.5},
                   {"shape": "rectangle", "corner": [r0 - 6, c0 + 3], "size": [12, 4]}]},
        {"label": "CSF", "level": "L3", "shape": "circle",
         "center": [float(np.mean(np.nonzero(base.masks["CSF"])[0])),
                    float(np.mean(np.nonzero(base.masks["CSF"])[1]))], "radius": 1.5}]}
    from vbq.roi.rois import RoiFile

    series = scored["series"]
    res = score(series, RoiFile.from_json(doc).masks(series))
    path = write_sr(res, series, tmp_path / "cut.dcm")
    groups = hd.sr.srread(str(path)).content.get_planar_roi_measurement_groups()
    l3 = next(g for g in groups if str(g.tracking_identifier).startswith("L3"))
    rc = np.asarray(l3.roi.value, dtype=float)[:, ::-1] - 0.5
    mask = np.asarray(res.masks["L3"], dtype=bool)
    assert np.array_equal(polygon_mask(mask.shape, rc[:-1]), mask)
    assert mask[int(round(r0)), int(round(c0))] == False  # noqa: E712  (the hole)


def _vbq_group_items(path) -> tuple[list[str], list[str]]:
    """The statistic each ROI gave and the VBQ group's warning codes, read with pydicom."""
    derivations, warnings = [], []

    def walk(items, in_vbq=False):
        for it in items:
            name = it.ConceptNameCodeSequence[0] if "ConceptNameCodeSequence" in it else None
            meaning = name.CodeMeaning if name is not None else ""
            if meaning == "Warning on the score":
                code = it.ConceptCodeSequence[0]
                value = getattr(code, "CodeValue", None) or code.LongCodeValue
                assert value == f"W-{code.CodeMeaning}"
                warnings.append(code.CodeMeaning)
            if meaning == "Statistic of each region of interest":
                derivations.append(it.ConceptCodeSequence[0].CodeMeaning)
            if in_vbq and meaning == "Derivation":
                derivations.append("derivation on the VBQ")  # must not be there
            if "ContentSequence" in it:
                walk(it.ContentSequence, in_vbq or meaning == "Vertebral bone quality score")

    walk(pydicom.dcmread(path).ContentSequence)
    return derivations, warnings


def test_sr_carries_the_statistic_and_every_warning_of_a_forced_score(tmp_path, capsys):
    """A phantom made at VBQ 0.9 (CSF brighter than marrow), forced, median statistic."""
    info = make_phantom(tmp_path / "p", vbq=0.9, distractors=())
    out = tmp_path / "forced.dcm"
    code = main(["score", str(info.series_dir), "--rois", str(info.rois_path), "--force",
                 "--statistic", "median", "--sr", str(out), "--json"])
    printed = capsys.readouterr().out
    assert code == 0
    import json

    res = json.loads(printed)
    derivations, warnings = _vbq_group_items(out)
    assert derivations == ["Median"]
    assert warnings == list(dict.fromkeys(res["warning_codes"]))
    assert "implausible_score_forced" in warnings and "vbq_outside_published_range" in warnings
    if shutil.which("dciodvfy"):
        run = subprocess.run(["dciodvfy", str(out)], capture_output=True, text=True, timeout=60)
        assert not [ln for ln in (run.stdout + run.stderr).splitlines()
                    if ln.startswith("Error")]


def test_sr_of_a_mean_score_says_mean_and_carries_its_warnings(scored):
    derivations, warnings = _vbq_group_items(scored["path"])
    assert derivations == ["Mean"]
    assert warnings == list(dict.fromkeys(scored["result"].warning_codes))
