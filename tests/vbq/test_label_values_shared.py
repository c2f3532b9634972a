"""A label value may mean one structure only: mappings that give one value to two are refused."""

from __future__ import annotations

import json

import pytest

from vbq.cli import main
from vbq.errors import InputError
from vbq.phantom import make_phantom
from vbq.roi.labels import PRESETS, LabelScheme, get_label_scheme

TOTALSPINESEG = {"format": "vbq-labels/1", "L1": 41, "L2": 42, "L3": 43, "L4": 44, "L5": 45,
                 "spinal_canal": 2, "spinal_cord": 1}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("phantom_labels"), distractors=())


def _score(phantom, labels_path, capsys):
    rc = main(["score", str(phantom.series_dir), "--mask", str(phantom.mask_path),
               "--labels", str(labels_path), "--json"])
    out, err = capsys.readouterr()
    return rc, out, err


def test_two_scored_structures_on_one_value_are_refused(phantom, tmp_path, capsys):
    # L2 and the cord share 1: the cord's voxels would be taken for L2 and L2 left out
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({**TOTALSPINESEG, "L2": 1}))
    rc, out, err = _score(phantom, path, capsys)
    assert rc == 2 and out == ""
    assert err.splitlines() == [
        f"vbq: error: label mapping {path}: keys 'L2' and 'spinal_cord' both have the label "
        "value 1, so which structure its voxels are is unknown; give each structure its own "
        "values"]


def test_the_same_mapping_without_the_clash_scores_like_the_preset(phantom, tmp_path, capsys):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(TOTALSPINESEG))
    rc, out, _ = _score(phantom, path, capsys)
    assert rc == 0
    rc0 = main(["score", str(phantom.series_dir), "--mask", str(phantom.mask_path),
                "--labels", "totalspineseg", "--json"])
    out0, _ = capsys.readouterr()
    assert rc0 == 0 and json.loads(out)["vbq"] == json.loads(out0)["vbq"]


@pytest.mark.parametrize(("mapping", "keys", "value"), [
    ({"L1": 41, "L2": [42, 142], "L3": [43, 142]}, ("L2", "L3"), 142),
    ({"L1": 41, "T12": 41}, ("L1", "T12"), 41),              # T12 is not scored: still refused
    ({"L1": 41, "spinal_canal": 2, "spinal_cord": [1, 2]}, ("spinal_canal", "spinal_cord"), 2),
    ({"L1": 41, "canal": 41}, ("L1", "canal"), 41),
])
def test_shared_values_name_both_keys_and_the_value(mapping, keys, value):
    with pytest.raises(InputError) as info:
        get_label_scheme({"format": "vbq-labels/1", **mapping})
    assert f"keys {keys[0]!r} and {keys[1]!r} both have the label value {value}," \
        in str(info.value)


def test_canal_or_cord_named_by_two_keys_is_refused():
    with pytest.raises(InputError, match="keys 'spinal_canal' and 'canal' both name the spinal "
                                         "canal"):
        get_label_scheme({"L1": 41, "spinal_canal": 2, "canal": 3})
    with pytest.raises(InputError, match="keys 'cord' and 'spinal_cord' both name the spinal "
                                         "cord"):
        get_label_scheme({"L1": 41, "cord": 1, "spinal_cord": 1})


def test_a_value_repeated_within_one_structure_is_harmless():
    scheme = get_label_scheme({"L1": 41, "L3": [43, 43]})
    assert scheme.values("L3") == (43, 43)


def test_schemes_built_in_python_are_checked_too():
    with pytest.raises(InputError, match="keys 'L1' and 'spinal_canal' both have the label "
                                         "value 7"):
        LabelScheme("mine", {"L1": (7,)}, canal=(7,))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_give_each_value_one_structure(name):
    scheme = PRESETS[name]
    values = [v for vals in scheme.vertebrae.values() for v in vals]
    values += [*scheme.canal, *scheme.cord]
    assert len(values) == len(set(values))
