"""Every warning carries a stable code: on the result, in its JSON and on the command line.

References: the phantom is built without a MagneticFieldStrength-free or
out-of-window acquisition, so its score has no warning; each check below
breaks one thing on purpose and expects exactly the code of that check.
"""

from __future__ import annotations

import json
import re

import pytest

import vbq
from vbq.cli import main
from vbq.errors import CsfFallback, VbqWarning, warning_codes
from vbq.phantom import make_phantom
from vbq.result import VBQResult
from vbq.score import score_values

VALUES = {"L1": 410, "L2": 395, "L3": 402, "L4": 388, "CSF": 131}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return make_phantom(tmp_path_factory.mktemp("codes"), n_slices=7, distractors=())


def test_codes_are_unique_and_named_in_snake_case():
    classes = [VbqWarning]
    todo = list(VbqWarning.__subclasses__())
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes) == len(warning_codes())
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", code) for code in codes), codes
    assert issubclass(VbqWarning, UserWarning)


def test_values_carry_a_code_per_warning():
    r = score_values({**VALUES, "L2": None, "L5": 300}, exclude={"L4": "fracture"},
                     csf_level="L2")
    assert r.warning_codes == ("not_a_protocol_level", "csf_fallback", "level_not_measured",
                               "levels_excluded")
    assert len(r.warnings) == 4 and r.warnings[1].startswith("CSF measured at L2")
    d = r.to_dict()
    assert d["warning_codes"] == list(r.warning_codes) and d["warnings"] == list(r.warnings)


def test_a_clean_phantom_has_no_warning_and_a_broken_one_names_its_code(phantom, tmp_path):
    res = vbq.score_series(phantom.series_dir, rois=phantom.rois_path)
    assert res.warnings == () and res.warning_codes == ()
    doc = json.loads(phantom.rois_path.read_text())
    for roi in doc["rois"]:
        if roi["label"] == "CSF":
            roi["level"] = "L2"
    path = tmp_path / "rois_l2.json"
    path.write_text(json.dumps(doc))
    res = vbq.score_series(phantom.series_dir, rois=path)
    assert res.warning_codes == ("csf_fallback",)
    assert res.to_dict()["warning_codes"] == ["csf_fallback"]


def test_the_json_of_the_command_line_has_the_codes(phantom, tmp_path, capsys):
    doc = json.loads(phantom.rois_path.read_text())
    doc["exclude"] = {"L2": "fracture"}
    path = tmp_path / "rois_excl.json"
    path.write_text(json.dumps(doc))
    assert main(["score", str(phantom.series_dir), "--rois", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["warning_codes"] == ["levels_excluded"]
    assert out["warnings"][0].startswith("excluded: L2 (fracture)")


def test_a_callers_text_is_carried_as_other_and_codes_must_match():
    w = CsfFallback("CSF measured at L2")
    assert (w.code, str(w), w.text) == ("csf_fallback", "CSF measured at L2",
                                        "CSF measured at L2")
    r = score_values(VALUES)
    built = VBQResult(vbq=r.vbq, protocol=r.protocol, statistic=r.statistic, levels=r.levels,
                      csf=r.csf, warnings=("checked by hand",))
    assert built.warning_codes == ("other",)
    with pytest.raises(ValueError, match="1 warnings but 2 warning codes"):
        VBQResult(vbq=r.vbq, protocol=r.protocol, statistic=r.statistic, levels=r.levels,
                  csf=r.csf, warnings=("a",), warning_codes=("other", "other"))
