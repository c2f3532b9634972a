"""ROI, seed, label-mapping and mask files that are malformed in ways JSON or numpy
allow: each is one sentence naming the file, exit 2, through the API and `vbq score`.

References: the hand-written files below and the phantom (whose mask labels are
TotalSpineSeg's by construction).
"""

from __future__ import annotations

import json
import time

import nibabel as nib
import numpy as np
import pytest

from vbq.cli import main
from vbq.errors import InputError
from vbq.fileio import MAX_JSON_DEPTH, read_json_file
from vbq.phantom import make_phantom
from vbq.roi.labelmask import load_label_volume
from vbq.roi.labels import get_label_scheme
from vbq.roi.rois import MAX_POLYGON_VERTICES, RoiFile
from vbq.roi.seeds import SeedFile
from vbq.roi.shapes import polygon_mask

ROI = {"format": "vbq-rois/1", "space": "pixel",
       "rois": [{"label": "L1", "shape": "circle", "center": [5, 5], "radius": 2}]}
SEED = {"format": "vbq-seeds/1", "space": "pixel", "seeds": [{"label": "L1", "point": [5, 5]}]}


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("strict") / "p", n_slices=5, rows=96,
                        distractors=None)


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def bad_input(rc, err, *needles):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vbq: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def deep(n):
    return "[" * n + "]" * n


# every reader gets the same refusals: (file text, words of the sentence)
MALFORMED = [
    ('{"format": "vbq-rois/1", "format": "vbq-rois/1"}', 'key "format" appears twice'),
    ('{"a": ' + deep(1000) + "}", "nested too deeply"),
    ('{"a": ' + deep(MAX_JSON_DEPTH + 1) + "}", "nested too deeply"),
    ('{"a": NaN}', "NaN at line 1, column 7 is not a finite number"),
    ('{"a": -Infinity}', "-Infinity at line 1, column 7 is not a finite number"),
    ('{"a": "NaN \\" NaN",\n "b": [1,\n  Infinity]}',
     "Infinity at line 3, column 3 is not a finite number"),
    ('{"a": ' + "9" * 4300 + "}", "4300 digits is too large"),
    ('{"a": ' + "9" * 401 + "}", "401 digits is too large"),
    ('{"a": ' + "9" * 309 + "}", "is too large"),
    ('{"a": 1e400}', "too large for a double"),
    ('{"a": ', "malformed JSON at line 1"),
]


@pytest.mark.parametrize(("text", "words"), MALFORMED)
def test_one_reader_refuses_the_same_things_for_all_three_formats(tmp_path, text, words):
    f = tmp_path / "in.json"
    f.write_text(text)
    for load in (RoiFile.from_json, SeedFile.from_json, get_label_scheme,
                 lambda p: read_json_file(p, "file")):
        with pytest.raises(InputError, match="in.json") as info:
            load(f)
        assert words in str(info.value)
        assert len(str(info.value).splitlines()) == 1


def test_depth_at_the_limit_is_read(tmp_path):
    f = tmp_path / "in.json"
    f.write_text(deep(MAX_JSON_DEPTH))
    assert read_json_file(f, "file") is not None


@pytest.mark.parametrize("kind", ["rois", "seeds", "labels"])
@pytest.mark.parametrize(("text", "words"), MALFORMED[:7])
def test_the_command_line_says_one_sentence_and_exits_2(ph, tmp_path, capsys, kind, text,
                                                        words):
    f = tmp_path / "in.json"
    f.write_text(text)
    argv = ["score", ph.series_dir]
    argv += {"rois": ["--rois", f], "seeds": ["--seeds", f],
             "labels": ["--mask", ph.mask_path, "--labels", f]}[kind]
    rc, _, err = run(argv, capsys)
    bad_input(rc, err, "in.json", words)


# numbers that overflow a double are located like NaN and Infinity: (text, line, column)
OVERFLOWS = [
    ('{"a": 1e400}', 1, 7),
    ('{"format": "1e400",\n "b": [1,\n   -1E+400]}', 3, 4),
    ('{"a": [11e400]}', 1, 8),
    ('{"a": 2.5e999}', 1, 7),
    ('{"a":\n ' + "9" * 401 + "}", 2, 2),
    ('{"a": [1, -' + "9" * 309 + "]}", 1, 11),
    # the same token inside a string before it is no number, and is passed over
    ('{"n": "1e400", "a": 1e400}', 1, 21),
]


@pytest.mark.parametrize(("text", "line", "column"), OVERFLOWS)
def test_a_number_overflowing_a_double_is_refused_with_its_line_and_column(
        ph, tmp_path, capsys, text, line, column):
    f = tmp_path / "in.json"
    f.write_text(text)
    for load in (RoiFile.from_json, SeedFile.from_json, get_label_scheme):
        with pytest.raises(InputError, match=f"line {line}, column {column}"):
            load(f)
    for kind in (["--rois", f], ["--seeds", f], ["--mask", ph.mask_path, "--labels", f]):
        rc, _, err = run(["score", ph.series_dir, *kind], capsys)
        bad_input(rc, err, "in.json", "too large", f"(line {line}, column {column})")


def test_seed_files_refuse_duplicate_keys(tmp_path):
    f = tmp_path / "s.json"
    f.write_text('{"format": "vbq-seeds/1", "seeds": [{"label": "L1", "point": [1, 1], '
                 '"point": [2, 2]}]}')
    with pytest.raises(InputError, match='s.json: key "point" appears twice'):
        SeedFile.from_json(f)


@pytest.mark.parametrize("shape", [["circle"], {"circle": 1}, 3, None])
def test_roi_shape_that_is_not_a_string(ph, tmp_path, capsys, shape):
    roi = {**ROI["rois"][0], "shape": shape}
    doc = {**ROI, "rois": [roi]}
    message = 'missing key "shape"' if shape is None else "unknown shape"
    with pytest.raises(InputError, match=message):
        RoiFile.from_json(doc)
    f = tmp_path / "r.json"
    f.write_text(json.dumps(doc))
    rc, _, err = run(["score", ph.series_dir, "--rois", f], capsys)
    bad_input(rc, err, "r.json: ROI 1 (L1)", message)


@pytest.mark.parametrize("big", [10 ** 401, 10 ** 400 * 3])
def test_coordinates_too_large_for_a_double_given_as_a_mapping(big):
    roi = {**ROI["rois"][0], "center": [big, 5]}
    with pytest.raises(InputError, match="'center' must be a list of 2 numbers"):
        RoiFile.from_json({**ROI, "rois": [roi]})
    with pytest.raises(InputError, match="'point' must be a list of 2 numbers"):
        SeedFile.from_json({**SEED, "seeds": [{"label": "L1", "point": [5, big]}]})


def test_level_null_on_a_vertebra_seed_or_roi_is_refused(ph, tmp_path, capsys):
    doc = {**SEED, "seeds": [{"label": "L1", "level": None, "point": [5, 5]}]}
    with pytest.raises(InputError, match='seed 1 \\(L1\\): key "level" is only for the CSF'):
        SeedFile.from_json(doc)
    f = tmp_path / "s.json"
    f.write_text(json.dumps(doc))
    rc, _, err = run(["score", ph.series_dir, "--seeds", f], capsys)
    bad_input(rc, err, "s.json: seed 1 (L1)", '"level" is only for the CSF seed')
    roi = {**ROI["rois"][0], "level": None}
    with pytest.raises(InputError, match='ROI 1 \\(L1\\): key "level" is only for the CSF'):
        RoiFile.from_json({**ROI, "rois": [roi]})
    # a CSF seed may still leave its level out (the protocol's is assumed, with a warning)
    sf = SeedFile.from_json({**SEED, "seeds": [{"label": "CSF", "point": [5, 5]}]})
    assert sf.seeds[0].level is None


# --------------------------------------------------------------------------- polygons


def test_a_polygon_with_too_many_vertices_is_refused_at_once(ph, tmp_path, capsys):
    n = 1_000_000
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.column_stack([48 + 10 * np.sin(t), 48 + 10 * np.cos(t)]).round(3).tolist()
    pts[-1] = "not a point"  # refused for its count before any vertex is read
    doc = {**ROI, "rois": [{"label": "L1", "shape": "polygon", "points": pts}]}
    f = tmp_path / "r.json"
    f.write_text(json.dumps(doc))
    rc, _, err = run(["score", ph.series_dir, "--rois", f], capsys)
    bad_input(rc, err, "r.json: ROI 1 (L1)", "1,000,000 vertices",
              f"{MAX_POLYGON_VERTICES:,}")
    one_more = {**doc, "rois": [{**doc["rois"][0], "points": pts[: MAX_POLYGON_VERTICES + 1]}]}
    with pytest.raises(InputError, match="10,001 vertices"):
        RoiFile.from_json(one_more)


def test_polygon_at_the_vertex_limit_selects_the_exact_pixels_quickly():
    # a regular polygon with integer-free vertices: each pixel centre is checked
    # against the even-odd rule computed independently (winding of a convex polygon)
    n = MAX_POLYGON_VERTICES
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.column_stack([256 + 200.3 * np.sin(t), 256 + 200.3 * np.cos(t)])
    t0 = time.perf_counter()
    got = polygon_mask((512, 512), pts)
    # a guard against an algorithm in vertices x pixels (10,000 x 512 x 512: minutes), not a
    # timing: the scan-line fill takes about 10 ms
    assert time.perf_counter() - t0 < 10.0
    # reference: a centre is inside a convex polygon iff it is left of every edge
    rr, cc = np.mgrid[0:512, 0:512].astype(float)
    pos = np.ones(rr.shape, dtype=bool)
    neg = np.ones(rr.shape, dtype=bool)
    nxt = np.roll(pts, -1, axis=0)
    for (r1, c1), (r2, c2) in zip(pts, nxt, strict=True):
        cross = (r2 - r1) * (cc - c1) - (c2 - c1) * (rr - r1)
        pos &= cross > 0
        neg &= cross < 0
    inside = pos | neg
    assert 100_000 < inside.sum() < 130_000   # ~ pi * 200.3**2 = 126,000
    # no pixel centre lies exactly on an edge of this polygon, so the rules agree
    assert np.array_equal(got, inside)


# --------------------------------------------------------------------------- masks


def _nifti(ph, data, path, affine=None):
    ref = nib.load(str(ph.mask_path))
    img = nib.Nifti1Image(data, ref.affine if affine is None else affine, dtype=data.dtype)
    nib.save(img, str(path))
    return path


def test_64_bit_labels_are_not_wrapped_onto_small_labels(ph, tmp_path, capsys):
    ref = np.asarray(nib.load(str(ph.mask_path)).dataobj).astype(np.int64)
    # 2**32 + 41 wraps to 41 (= L1 in TotalSpineSeg) when cast to int32
    wrapped = np.where(ref == 41, 2 ** 32 + 41, ref)
    vol = load_label_volume(_nifti(ph, wrapped, tmp_path / "m64.nii.gz"), _series(ph))
    assert vol.data.dtype == np.int64
    assert not np.any(vol.data == 41) and np.any(vol.data == 2 ** 32 + 41)
    # so L1 is not in the mask: it is reported missing, never scored from label 2**32 + 41
    rc, out, err = run(["score", ph.series_dir, "--mask", tmp_path / "m64.nii.gz", "--json"],
                       capsys)
    assert rc == 0, err
    levels = json.loads(out)["levels"]
    assert "L1" not in levels or not levels["L1"]["used"]
    assert {"L2", "L3", "L4"} <= {k for k, v in levels.items() if v["used"]}
    assert "L1" in err   # the warning names the level the mask lacks
    # a label map stored as uint64 beyond the int64 range is refused in one sentence
    huge = np.where(ref == 41, np.uint64(2 ** 64 - 1), ref.astype(np.uint64)).astype(np.uint64)
    with pytest.raises(InputError, match="label value 18446744073709551615"):
        load_label_volume(np.asarray(huge), _series(ph))


def _series(ph):
    from vbq.dicom import load_series

    return load_series(ph.series_dir).series


def test_label_mapping_values_beyond_int64_are_refused(tmp_path):
    f = tmp_path / "map.json"
    f.write_text('{"L1": 9223372036854775808}')
    with pytest.raises(InputError, match="below 2\\*\\*63"):
        get_label_scheme(f)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_affine_is_refused_naming_the_file(ph, tmp_path, capsys, bad):
    ref = nib.load(str(ph.mask_path))
    affine = ref.affine.copy()
    affine[0, 3] = bad
    img = nib.Nifti1Image(np.asarray(ref.dataobj), affine)
    img.set_sform(affine, code=1)
    img.set_qform(None, code=0)
    path = tmp_path / "nan.nii.gz"
    nib.save(img, str(path))
    assert not np.all(np.isfinite(nib.load(str(path)).affine))
    with pytest.raises(InputError, match="nan.nii.gz.*not finite"):
        load_label_volume(path, _series(ph))
    rc, _, err = run(["score", ph.series_dir, "--mask", path], capsys)
    bad_input(rc, err, "nan.nii.gz", "not finite")
