"""The worked-example notebooks run clean (no error cells) on the shipped data only,
and every figure they draw shows data (no empty panels)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_score_a_lumbar_mri.ipynb", "02_reproduce_meta_analysis.ipynb",
         "03_extend_with_new_studies.ipynb", "04_multiple_thresholds.ipynb")
KERNEL = "vbq-toolkit-test-python"

#: Run first in each notebook (test only): every figure rendered, inline or to a file,
#: is checked for Axes that hold no data. Reference lines (axvline/axhline, drawn in
#: axes coordinates) and the background patch are not data.
PROBE = r"""
import json as _json, math as _math
import matplotlib.backend_bases as _mbb
_EMPTY_AXES = []
def _finite_pairs(xy):
    return any(all(_math.isfinite(float(v)) for v in p) for p in xy)
def _has_data(ax):
    from matplotlib.collections import Collection, PathCollection
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    for a in ax.get_children():
        if isinstance(a, Line2D) and a.get_transform().contains_branch(ax.transData) \
                and a.get_transform() == ax.transData and len(a.get_xydata()) \
                and _finite_pairs(a.get_xydata()):
            return True
        if isinstance(a, PathCollection) and _finite_pairs(a.get_offsets()):
            return True  # markers: the offsets are the data
        if isinstance(a, Collection) and not isinstance(a, PathCollection) \
                and any(len(p.vertices) for p in a.get_paths()):
            return True  # areas, error bars: the paths are the data
        if isinstance(a, Patch) and a is not ax.patch and a.get_visible() \
                and a.get_transform() == ax.transData:
            return True
        if isinstance(a, AxesImage):
            return True
    return any(_has_data(c) for c in ax.child_axes)
_original_print = _mbb.FigureCanvasBase.print_figure
def _checked_print(self, *args, **kwargs):
    for ax in self.figure.axes:
        if ax.axison and not _has_data(ax):
            _EMPTY_AXES.append(ax.get_title() or ax.get_title(loc="left") or ax.get_ylabel()
                               or "untitled axes")
    return _original_print(self, *args, **kwargs)
_mbb.FigureCanvasBase.print_figure = _checked_print
"""
REPORT = "print('EMPTY_AXES=' + _json.dumps(_EMPTY_AXES))"


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory) -> str:
    """A kernelspec that runs *this* interpreter (the venv's), wherever jupyter looks."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "vbq-toolkit tests", "language": "python",
    }))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root))
    mp.setenv("MPLBACKEND", "Agg")
    yield KERNEL
    mp.undo()


def test_notebooks_are_stored_without_outputs():
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_clean(name, kernel_name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    client = NotebookClient(nb, timeout=240, kernel_name=kernel_name, allow_errors=False,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert errors == []
    executed = [c for c in nb.cells if c.cell_type == "code"]
    assert executed and all(c.execution_count is not None for c in executed)
    # every notebook shows at least one figure
    images = [o for c in executed for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{name} produced no figure"
    # every Axes of every figure drawn holds data (a line, markers, bars or an image)
    report = [o["text"] for o in executed[-1].outputs if o.get("name") == "stdout"]
    empty = json.loads("".join(report).strip().removeprefix("EMPTY_AXES="))
    assert empty == [], f"{name}: figures with empty Axes: {empty}"
