"""Reports: render computed results and write them to files.

This package owns rendering and writing; it computes nothing.
:mod:`~metaanalysis.report.review` lays out, renders and writes the report of
any diagnostic-accuracy review (one self-contained HTML page and a PDF);
:mod:`~metaanalysis.report.reproduction` writes the same report for a
reproduced meta-analysis with its comparison added; :mod:`~metaanalysis.report.html`
holds the HTML pieces they share (figures as ``data:`` URIs).
"""

from __future__ import annotations

from metaanalysis.report.html import data_uri, figure_bytes
from metaanalysis.report.reproduction import (
    OUTPUT_FILES,
    comparison_blocks,
    forest_figure,
    reference_lines,
    sroc_figure,
    write_reproduction,
)
from metaanalysis.report.review import REVIEW_FILES, write_review

__all__ = ["OUTPUT_FILES", "REVIEW_FILES", "comparison_blocks", "data_uri", "figure_bytes",
           "forest_figure", "reference_lines", "sroc_figure", "write_reproduction",
           "write_review"]
