"""Render the one-page, self-contained HTML report of a reproduced meta-analysis.

The figures are embedded as base64 PNG (or SVG) ``data:`` URIs, so the single
file can be mailed or archived without its folder.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metaanalysis.reproduce import Reproduction

__all__ = ["figure_bytes", "data_uri", "render_report"]

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


def render_report(rep: Reproduction, images: Mapping[str, bytes], fmt: str = "png") -> str:
    """Render the one-page report as HTML text.

    Parameters
    ----------
    rep : Reproduction
        The reproduced meta-analysis.
    images : mapping
        ``{"forest": bytes, "sroc": bytes}`` rendered with :func:`figure_bytes`.
    fmt : {"png", "svg"}
        Format of the image bytes.

    Returns
    -------
    str
        A complete HTML document with the figures embedded.
    """
    from metaanalysis import __version__

    pub = rep.published
    cmp_ = rep.comparison()
    if rep.glmm_fit is None:
        cmp_ = cmp_.drop(columns="glmm")
    comparison = _table_html(cmp_.astype(str).values.tolist(), list(cmp_.columns))

    t = rep.table
    df = t.df
    sens = t.tp / (t.tp + t.fn)
    spec = t.tn / (t.tn + t.fp)
    extra = [c for c in ("year", "country", "cutoff", "field_strength", "source")
             if c in df.columns]
    study_rows = []
    for i, name in enumerate(t.studies):
        row = [name, int(t.tp[i]), int(t.fp[i]), int(t.fn[i]), int(t.tn[i]),
               f"{sens[i]:.2f}", f"{spec[i]:.2f}"]
        row += [df[c].iloc[i] for c in extra]
        study_rows.append(row)
    studies = _table_html(study_rows, ["study", "TP", "FP", "FN", "TN", "sens", "spec", *extra],
                          numeric={1, 2, 3, 4, 5, 6})

    notes = []
    if rep.reconstructed:
        notes.append("The per-study 2x2 tables of this meta-analysis are not published. The "
                     "table analysed here is a seeded reconstruction consistent with every "
                     "published aggregate (number of studies, patients, pooled sensitivity and "
                     "specificity); it is not the authors' data. Replace it with real extracted "
                     "tables (<code>metaanalysis reproduce --data FILE</code>) to reproduce "
                     "the analysis itself.")
    if pub.doi is None:
        notes.append("The source article of the published figures could not be located; "
                     "figures it may report beyond k, N, sensitivity and specificity are shown "
                     "as '-' or, for LR+/LR-/DOR, as values implied by the published point "
                     "estimates.")
    note_html = "".join(f'<p class="note">{n}</p>' for n in notes)
    warn = [*rep.fit.warnings, *(rep.glmm_fit.warnings if rep.glmm_fit is not None else ())]
    if rep.glmm_note:
        warn.append(f"GLMM {rep.glmm_note}")
    warn_html = ("<h2>Warnings</h2><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warn)
                 + "</ul>") if warn else ""
    figs = "".join(
        f'<figure><img alt="{key} plot" src="{data_uri(images[key], fmt)}"></figure>'
        for key in ("forest", "sroc") if key in images
    )
    doi = f" (doi:{html.escape(pub.doi)})" if pub.doi else ""
    fit = rep.fit
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>VBQ subsequent-fracture meta-analysis: reproduction</title>
<style>{_CSS}</style></head>
<body>
<h1>MRI vertebral bone quality (VBQ) for subsequent fracture after vertebral augmentation</h1>
<p class="small">Bivariate random-effects meta-analysis (Reitsma, {html.escape(fit.method.upper())},
continuity correction "{html.escape(fit.correction)}"){doi}. Data: {html.escape(rep.data_source)}.
vbq-toolkit {html.escape(__version__)}.</p>
{note_html}
<h2>Published and reproduced</h2>
{comparison}
<h2>Figures</h2>
<div class="figs">{figs}</div>
{warn_html}
<h2>Studies ({t.k} studies, {t.n_patients} patients)</h2>
{studies}
<p class="small">References: Reitsma JB et al., J Clin Epidemiol 2005;58:982-990
(doi:10.1016/j.jclinepi.2005.02.022); Chu H, Cole SR, J Clin Epidemiol 2006;59:1331-1332
(doi:10.1016/j.jclinepi.2006.06.011); Ehresman J et al., Spine J 2020
(doi:10.1016/j.spinee.2019.10.018).</p>
</body></html>
"""
