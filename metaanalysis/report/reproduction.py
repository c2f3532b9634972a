"""Render a reproduced meta-analysis and write its files.

:func:`write_reproduction` draws the forest and SROC plots of a
:class:`~metaanalysis.reproduce.Reproduction`, renders the one-page HTML report
(:func:`metaanalysis.report.html.render_report`) and writes it with the JSON
and the comparison CSV, every file atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from metaanalysis.errors import InputError
from metaanalysis.fileio import write_atomic
from metaanalysis.report.html import figure_bytes, render_report

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metaanalysis.reproduce import Reproduction

__all__ = ["OUTPUT_FILES", "forest_figure", "sroc_figure", "write_reproduction"]

#: File names written by :func:`write_reproduction`.
OUTPUT_FILES = {"forest": "forest.png", "sroc": "sroc.png", "report": "report.html",
                "json": "reproduction.json", "comparison": "comparison.csv"}


def forest_figure(rep: Reproduction) -> Figure:
    """Draw the paired forest plot (sensitivity, specificity) of every study."""
    import matplotlib.pyplot as plt

    ax = rep.fit.plot_forest()
    fig = ax.figure
    assert isinstance(fig, plt.Figure)
    return fig


def sroc_figure(rep: Reproduction) -> Figure:
    """Draw the SROC plot with the summary point, confidence and prediction regions."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    rep.fit.plot_sroc(ax=ax)
    ax.set_title(f"SROC, {rep.table.k} studies, {rep.table.n_patients} patients")
    return fig


def write_reproduction(rep: Reproduction, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write forest plot, SROC plot, HTML report, JSON and comparison CSV of ``rep``.

    Every file is written atomically; an existing folder is reused and files of
    other names in it are left alone.

    Parameters
    ----------
    rep : Reproduction
        What :func:`metaanalysis.reproduce.reproduce` computed.
    out_dir : str or path-like
        Created if missing.

    Returns
    -------
    dict
        Paths keyed ``forest``, ``sroc``, ``report``, ``json``, ``comparison``
        (:data:`OUTPUT_FILES`).

    Raises
    ------
    InputError
        When ``out_dir`` exists and is not a folder.
    """
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in OUTPUT_FILES.items()}
    figures = {"forest": forest_figure(rep), "sroc": sroc_figure(rep)}
    images: dict[str, bytes] = {}
    try:
        for key, fig in figures.items():
            images[key] = figure_bytes(fig, "png")
            write_atomic(paths[key], images[key])
    finally:
        for fig in figures.values():
            plt.close(fig)
    write_atomic(paths["report"], render_report(rep, images))
    write_atomic(paths["json"], json.dumps(rep.to_dict(), indent=2) + "\n")
    write_atomic(paths["comparison"], rep.comparison().to_csv(index=False))
    return paths
