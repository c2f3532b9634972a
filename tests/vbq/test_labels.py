"""Label presets and mapping files.

References: TotalSegmentator's ``map_to_binary.py`` class map of the task
``vertebrae_mr`` (1 sacrum, 2 L5 ... 6 L1, 7 T12 ... 18 T1, 19 C7 ... 25 C1);
the TotalSpineSeg README (cord 1, canal 2, C1-C7 11-17, T1-T12 21-32, L1-L5
41-45); SPINEPS / VerSe vertebra ids (C1 = 1 ... L5 = 24) with semantic cord 60
and canal 61; the SPIDER challenge description (vertebrae numbered from the
bottom, L5 = 1; 101-125 partly visible; canal 100).
"""

from __future__ import annotations

import json

import pytest

from vbq.errors import InputError
from vbq.roi.labels import PRESETS, get_label_scheme, scheme_from_mapping


@pytest.mark.parametrize("preset, level, values", [
    ("totalspineseg", "L1", (41,)), ("totalspineseg", "L5", (45,)),
    ("totalspineseg", "T12", (32,)), ("totalspineseg", "C3", (13,)),
    ("totalsegmentator", "L1", (6,)), ("totalsegmentator", "L5", (2,)),
    ("totalsegmentator", "T12", (7,)), ("totalsegmentator", "T1", (18,)),
    ("totalsegmentator", "C7", (19,)), ("totalsegmentator", "C1", (25,)),
    ("spineps", "L1", (20,)), ("spineps", "L5", (24,)), ("spineps", "T12", (19,)),
    ("spineps", "C2", (2,)),
    ("spider", "L5", (1, 101)), ("spider", "L1", (5, 105)), ("spider", "T12", (6, 106)),
])
def test_preset_numbers(preset, level, values):
    assert PRESETS[preset].values(level) == values


@pytest.mark.parametrize("preset, canal, cord", [
    ("totalspineseg", (2,), (1,)), ("totalsegmentator", (), ()), ("spineps", (61,), (60,)),
    ("spider", (100,), ()),
])
def test_preset_canal_and_cord(preset, canal, cord):
    scheme = get_label_scheme(preset)
    assert scheme.canal == canal and scheme.cord == cord


def test_presets_have_no_repeated_numbers():
    for scheme in PRESETS.values():
        values = [v for vals in scheme.vertebrae.values() for v in vals]
        values += list(scheme.canal) + list(scheme.cord)
        assert len(values) == len(set(values)), scheme.name


def test_default_and_case():
    assert get_label_scheme(None).name == "totalspineseg"
    assert get_label_scheme("TotalSegmentator").name == "totalsegmentator"


def test_mapping_file(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"format": "vbq-labels/1", "L1": 7, "L2": [8, 108],
                                "canal": 3, "spinal_cord": 4}))
    scheme = get_label_scheme(path)
    assert scheme.values("L2") == (8, 108) and scheme.canal == (3,) and scheme.cord == (4,)
    assert scheme.describe("L2") == "L2 (labels 8, 108)"
    assert scheme.describe("L3").startswith("L3 (not in labels")


@pytest.mark.parametrize("mapping, words", [
    ({"L1": 1, "vertebra": 2}, "unknown key 'vertebra'"),
    ({"L1": "one"}, "key 'L1' must be a positive integer"),
    ({"L1": 0}, "key 'L1' must be a positive integer"),
    ({"L1": True}, "key 'L1' must be a positive integer"),
    ({"L1": []}, "empty list"),
    ({"spinal_canal": 2}, "names no vertebra"),
    ({"format": "other", "L1": 1}, '"format" must be "vbq-labels/1"'),
])
def test_bad_mappings(mapping, words):
    with pytest.raises(InputError, match=words):
        scheme_from_mapping(mapping)


def test_unknown_preset_and_missing_or_bad_file(tmp_path):
    with pytest.raises(InputError, match="unknown label preset 'verse'"):
        get_label_scheme("verse")
    with pytest.raises(InputError, match="does not exist"):
        get_label_scheme(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="malformed JSON"):
        get_label_scheme(bad)
    arr = tmp_path / "list.json"
    arr.write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        get_label_scheme(arr)
