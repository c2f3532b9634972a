"""Scoring a ROI file gives the very answers it gave before its speed work.

Reference: ``tests/fixtures/score_speed/answers.json``, written by
``make_fixtures.py`` beside it with the code before that work. On simple and
realistic phantoms (deterministic for their arguments; multi-frame, RLE
compressed and rescaled ones among them) the result JSON of ``score_series``
with the ROI file, the canal traced on the CSF slice
(its arrays bit for bit) and both mid-sagittal planes (from the bodies and
from the sac, also with a truncated slice) are compared exactly: the speed
work changes which bytes are read and how, never a number.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "score_speed"
STORED: list[dict[str, Any]] = json.loads((FIXTURES / "answers.json").read_text())


def _maker() -> Any:
    spec = importlib.util.spec_from_file_location("score_speed_fixtures",
                                                  FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stored_cases_are_the_generator_s():
    assert [row["case"] for row in STORED] == _maker().CASES


@pytest.mark.parametrize("stored", STORED, ids=lambda row: "-".join(
    f"{k}={v}" for k, v in row["case"].items()))
def test_same_answers_as_before(tmp_path, stored):
    got = json.loads(json.dumps(_maker().answers(stored["case"], tmp_path / "ph")))
    for key in ("rois", "track", "index", "centres", "bodies", "canal", "truncated"):
        assert got[key] == stored[key], key
