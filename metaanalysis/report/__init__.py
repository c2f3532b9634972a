"""Reports: render computed results and write them to files.

This package owns rendering and writing; it computes nothing. Today it holds
the report of a reproduced meta-analysis: :mod:`~metaanalysis.report.html`
renders the self-contained one-page HTML (figures embedded as ``data:`` URIs)
and :mod:`~metaanalysis.report.reproduction` draws the figures and writes every
file. A report for any other analysis belongs here too.
"""

from __future__ import annotations

from metaanalysis.report.html import data_uri, figure_bytes, render_report
from metaanalysis.report.reproduction import (
    OUTPUT_FILES,
    forest_figure,
    sroc_figure,
    write_reproduction,
)

__all__ = ["OUTPUT_FILES", "data_uri", "figure_bytes", "forest_figure", "render_report",
           "sroc_figure", "write_reproduction"]
