"""HTML pieces of the self-contained reports: figures as ``data:`` URIs, tables, style.

The figures are embedded as base64 PNG (or SVG) ``data:`` URIs, so the single
file can be mailed or archived without its folder.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["figure_bytes", "data_uri"]

_MIME = {"png": "image/png", "svg": "image/svg+xml"}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em auto;
       max-width: 60em; color: #222; line-height: 1.4; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.1em; margin-top: 1.4em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 0.5em 0.8em; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figs img { max-width: 100%; }
.small { font-size: 0.85em; color: #555; }
"""


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 110) -> bytes:
    """Render a Matplotlib figure to PNG or SVG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    fmt : {"png", "svg"}
        Output format.
    dpi : int
        Resolution for PNG.

    Returns
    -------
    bytes
    """
    if fmt not in _MIME:
        raise ValueError(f"unsupported figure format {fmt!r}; use png or svg")
    from metaanalysis.plots import raster_dpi

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=raster_dpi(fig, dpi), bbox_inches="tight")
    return buf.getvalue()


def data_uri(data: bytes, fmt: str = "png") -> str:
    """Return a ``data:`` URI embedding image bytes (base64)."""
    return f"data:{_MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"


def _table_html(rows: Sequence[Sequence[object]], header: list[str],
                numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{html.escape(str(v))}</td>' if i in numeric
            else f"<td>{html.escape(str(v))}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
