"""Every Python path the README and DESIGN.md show resolves: moving code must not break them."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "DESIGN.md"]
# dotted names in prose and code; file names such as vbq.csv are not paths
_DOTTED = re.compile(r"\b((?:vbq|metaanalysis)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_FROM = re.compile(r"from ((?:vbq|metaanalysis)[A-Za-z0-9_.]*) import ([A-Za-z0-9_, ]+)")
_FILES = {"csv", "json", "png", "dcm", "html", "pdf", "svg", "gz", "nii", "npy", "md"}
#: paths the README showed before the packages were split into subpackages
FORMER = ["vbq.masks.rois_from_mask", "vbq.seeds.rois_from_seeds", "vbq.batch.run_batch",
          "vbq.sr.write_sr", "vbq.phantom.make_phantom", "metaanalysis.diagnostics.deeks_test",
          "metaanalysis.diagnostics.leave_one_out", "metaanalysis.diagnostics.influence",
          "metaanalysis.diagnostics.cumulative", "metaanalysis.datasets"]


def _paths() -> list[str]:
    found: set[str] = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in _DOTTED.finditer(text):
            name = m.group(1)
            if name.rsplit(".", 1)[-1] not in _FILES:
                found.add(name)
        for m in _FROM.finditer(text):
            found.update(f"{m.group(1)}.{n.strip()}" for n in m.group(2).split(",") if n.strip())
    return sorted(found | set(FORMER))


def resolve(path: str) -> object:
    """Import the longest module prefix of ``path``, then get the remaining attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(path)


def test_the_documents_name_paths():
    paths = _paths()
    assert "vbq.masks.rois_from_mask" in paths and "vbq.score_series" in paths
    assert len(paths) > 10


@pytest.mark.parametrize("path", _paths())
def test_documented_path_resolves(path):
    resolve(path)


def test_a_wrong_path_is_caught():
    with pytest.raises(AttributeError):
        resolve("vbq.masks.no_such_function")
