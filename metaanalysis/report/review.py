"""Render a :class:`~metaanalysis.review.Review` as one self-contained HTML page and a PDF.

The report is first laid out as a list of blocks (headings, paragraphs, notes,
tables of text, figures); :func:`render_html` and :func:`write_pdf` render the
same blocks, so the HTML and the PDF hold the same numbers. Figures are drawn
with matplotlib: embedded in the HTML as base64 PNG, placed on PDF pages by
``PdfPages`` (no browser is needed to write either file).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metaanalysis.errors import InputError
from metaanalysis.fileio import write_atomic
from metaanalysis.report.html import _CSS, _table_html, data_uri, figure_bytes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metaanalysis.review import Review

__all__ = ["Block", "REVIEW_FILES", "layout", "render_html", "write_pdf", "write_review",
           "write_review_images"]

#: File names written by :func:`write_review`.
REVIEW_FILES = {"html": "report.html", "pdf": "report.pdf"}

_PI_NOTE = ("Each prediction interval is for one outcome on its own (Riley et al. 2011: "
               "expit(mu \u00b1 t(k-2, 0.975)\u00b7sqrt(tau\u00b2 + SE\u00b2)) on each logit); "
               "it is not the projection of the two-dimensional prediction region drawn on "
               "the SROC plot, which is a joint region for both outcomes.")
_ROB_COLOURS = {"low": "#2e9e44", "high": "#d43b2a", "unclear": "#f0b400",
                "not assessed": "#bbbbbb"}


@dataclass
class Block:
    """One element of the report: ``kind`` is h2, p, note, table or figure."""

    kind: str
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    numeric: set[int] = field(default_factory=set)
    draw: Callable[[], Figure] | None = None
    key: str = ""
    cell_class: Callable[[int, int, str], str] | None = None


def _f(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.{digits}f}" if math.isfinite(v) else "-"


def _ci(est: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{_f(est, digits)} ({_f(lo, digits)}-{_f(hi, digits)})"


def _est(e: Any) -> tuple[float, float, float]:
    return float(e.estimate), float(e.ci_low), float(e.ci_high)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ---------------------------------------------------------------------------- figures --
def _rob_summary_figure(rev: Review) -> Figure:
    import matplotlib.pyplot as plt

    rob = rev.rob
    assert rob is not None
    domains = [c for c in rob.columns if c != "high_risk"]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(domains) + 1.2))
    for i, d in enumerate(domains):
        left = 0.0
        for value, colour in _ROB_COLOURS.items():
            share = float((rob[d] == value).mean())
            ax.barh(i, share, left=left, color=colour, label=value if i == 0 else None)
            left += share
    ax.set_yticks(range(len(domains)), [d for d in domains])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of studies")
    ax.set_title("Risk of bias and applicability (summary)")
    ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
    fig.tight_layout()
    return fig


def _rob_traffic_figure(rev: Review) -> Figure:
    import matplotlib.pyplot as plt

    rob = rev.rob
    assert rob is not None
    domains = [c for c in rob.columns if c != "high_risk"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(domains) + 2.0, 0.25 * len(rob) + 1.8))
    for i, study in enumerate(rob.index):
        for j, d in enumerate(domains):
            ax.scatter(j, i, s=90, color=_ROB_COLOURS[rob.loc[study, d]], edgecolor="#444")
    ax.set_xticks(range(len(domains)), domains, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(rob)), list(rob.index), fontsize=7)
    ax.set_ylim(len(rob) - 0.5, -0.5)
    ax.set_title("Risk of bias per study (green low, red high, yellow unclear, grey not "
                 "assessed)", fontsize=8)
    fig.tight_layout()
    return fig


def _axes_figure(draw: Callable[[], Any]) -> Callable[[], Figure]:
    def make() -> Figure:
        ax = draw()
        fig = ax.figure
        return fig
    return make


# ----------------------------------------------------------------------------- layout --
def layout(rev: Review, *, reference: Sequence[tuple[float, str]] = (),
           extra: Sequence[Block] = ()) -> list[Block]:
    """Lay the review out as blocks, in the order of the report.

    Parameters
    ----------
    rev : Review
        What :func:`metaanalysis.review.review` computed.
    reference : sequence of (float, str)
        Horizontal reference lines of sensitivity drawn on the SROC plot, with labels.
    extra : sequence of Block
        Blocks added after the pooled estimates (``reproduce`` adds its comparison).

    Returns
    -------
    list of Block
    """
    from metaanalysis import clinical, plots

    t, fit, notes = rev.table, rev.fit, rev.notes
    b: list[Block] = []
    st = rev.stamp
    stamp = (f"{st.get('package', '')}; model {rev.model} "
             f"({', '.join(f'{k}={v}' for k, v in rev.model_options.items()) or 'defaults'}); "
             f"{st.get('date_utc', '')}")
    if "input_sha256" in st:
        stamp += f"; input {st['input']} (SHA-256 {st['input_sha256']})"
    if st.get("options"):
        stamp += "; options " + ", ".join(f"{k}={v}" for k, v in st["options"].items())
    b.append(Block("p", f"{t.k} studies, {t.n_patients} participants. Stamp: {stamp}."))

    # -- studies
    b.append(Block("h2", "Studies"))
    prov = rev.provenance_columns
    cov = t.covariates
    rows = []
    for i, name in enumerate(t.studies):
        r = rev.studies.loc[name]
        rows.append([name, str(t.tp[i]), str(t.fp[i]), str(t.fn[i]), str(t.tn[i]),
                     _ci(r["sensitivity"], r["sensitivity_ci_low"], r["sensitivity_ci_high"]),
                     _ci(r["specificity"], r["specificity_ci_low"], r["specificity_ci_high"]),
                     *[_cell(cov[c].iloc[i]) for c in prov]])
    b.append(Block("table", header=["study", "TP", "FP", "FN", "TN",
                                    "sensitivity (95% CI)", "specificity (95% CI)", *prov],
                   rows=rows, numeric={1, 2, 3, 4, 5, 6}))
    b.append(Block("p", "Study intervals: Wilson 95% CIs on the observed counts."))

    # -- pooled
    b.append(Block("h2", "Pooled estimates"))
    if fit is None:
        b.append(Block("note", notes.get("pooled", "The pooled model could not be fitted.")))
    else:
        b.append(Block("figure", key="forest", text="Paired forest plot",
                       draw=_axes_figure(lambda: fit.plot_forest())))

        def sroc() -> Figure:
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(5.5, 5.5))
            fit.plot_sroc(ax=ax)
            for value, label in reference:
                ax.axhline(value, color="#7b3294", ls=":", lw=1.2, label=label)
            if reference:
                ax.legend(fontsize=7, loc="lower right")
            ax.set_title(f"SROC, {t.k} studies, {t.n_patients} participants")
            return fig
        b.append(Block("figure", key="sroc", text="SROC with summary point, 95% confidence "
                       "and prediction regions", draw=sroc))
        rows = [[name, _ci(e.estimate, e.ci_low, e.ci_high)] for name, e in (
            ("sensitivity", fit.sensitivity), ("specificity", fit.specificity),
            ("LR+", fit.lr_positive), ("LR-", fit.lr_negative), ("DOR", fit.dor))]
        pi = rev.prediction
        for row in rows[:2]:
            row.append(_ci(*pi.loc[row[0], ["estimate", "pi_low", "pi_high"]])
                       if pi is not None else "-")
        for row in rows[2:]:
            row.append("")
        b.append(Block("table", header=["quantity", "estimate (95% CI)",
                                        "95% prediction interval"], rows=rows, numeric={1, 2}))
        if pi is None:
            b.append(Block("note", "Prediction intervals: " + notes.get("prediction", "-")))
        else:
            b.append(Block("p", _PI_NOTE))
        t1, t2 = fit.tau2
        i2, cq = fit.i2, fit.i2_cochran_q
        het = [["tau\u00b2 logit sensitivity", _f(t1, 4)], ["tau\u00b2 logit FPR", _f(t2, 4)],
               ["correlation of the logits (rho)", _f(fit.rho, 3)],
               ["I\u00b2 logit sensitivity (Higgins-Thompson, fitted tau\u00b2)",
                _f(i2["logit_sens"], 3)],
               ["I\u00b2 logit FPR (Higgins-Thompson, fitted tau\u00b2)", _f(i2["logit_fpr"], 3)],
               ["I\u00b2 bivariate (share of generalised variance)", _f(i2["bivariate"], 3)],
               ["I\u00b2 logit sensitivity (Cochran's Q, (Q - df)/Q)", _f(cq["logit_sens"], 3)],
               ["I\u00b2 logit FPR (Cochran's Q, (Q - df)/Q)", _f(cq["logit_fpr"], 3)],
               ["AUC (SROC)", _f(fit.auc, 3)]]
        b.append(Block("h2", "Heterogeneity"))
        b.append(Block("table", header=["quantity", "value"], rows=het, numeric={1}))
        b.append(Block("p", "Heterogeneity is read from tau\u00b2 of each logit, their "
                       "correlation and the 95% prediction region on the SROC plot; I\u00b2 "
                       "values are shown under the names of their estimators, as proportions."))
        if fit.warnings:
            b.append(Block("note", "Fit warnings: " + " ".join(fit.warnings)))
    b.extend(extra)

    # -- risk of bias
    b.append(Block("h2", "Risk of bias and applicability"))
    rob = rev.rob
    if rob is None:
        b.append(Block("note", "The table has no rob_* or app_* columns (QUADAS-2: "
                       "rob_patient_selection, rob_index_test, rob_reference_standard, "
                       "rob_flow_timing, app_patient_selection, app_index_test, "
                       "app_reference_standard), so risk of bias is not shown."))
    else:
        domains = [c for c in rob.columns if c != "high_risk"]
        b.append(Block("figure", key="rob_summary", text="Risk of bias summary",
                       draw=lambda: _rob_summary_figure(rev)))
        rows = [[s, *[rob.loc[s, d] for d in domains], "yes" if rob.loc[s, "high_risk"]
                 else "no"] for s in rob.index]

        def cls(i: int, j: int, v: str) -> str:
            return f"rob-{v.replace(' ', '-')}" if 1 <= j <= len(domains) else ""
        b.append(Block("table", header=["study", *domains, "high risk"], rows=rows,
                       cell_class=cls))
        b.append(Block("figure", key="rob_traffic", text="Risk of bias per study",
                       draw=lambda: _rob_traffic_figure(rev)))
        b.append(Block("p", "A study is at high risk when any rob_* domain is high. The "
                       "main analysis includes every study; the sensitivity analysis below "
                       "leaves the high-risk studies out."))
        w = rev.without_high_risk
        if w is not None:
            b.append(Block("table", header=["analysis", "studies", "sensitivity (95% CI)",
                                            "specificity (95% CI)"],
                           rows=[["without high-risk studies", str(w.table.k),
                                  _ci(*_est(w.sensitivity)), _ci(*_est(w.specificity))]]
                           + ([["all studies (main)", str(t.k), _ci(*_est(fit.sensitivity)),
                                _ci(*_est(fit.specificity))]] if fit is not None else []),
                           numeric={1, 2, 3}))
        elif "without_high_risk" in notes:
            b.append(Block("note", "Sensitivity analysis: " + notes["without_high_risk"]))

    # -- covariates
    b.append(Block("h2", "Explaining heterogeneity"))
    covs = list(dict.fromkeys(rev.covariates))
    if not covs:
        b.append(Block("p", "No covariate requested (--covariate COL)."))
    for c in covs:
        res = rev.regressions.get(c)
        if res is None:
            b.append(Block("note", f"Covariate {c}: not estimated: {notes.get('covariate ' + c)}"))
            continue
        lrt = res.lrt
        test = (f"likelihood-ratio test against the model without {c} ({lrt.method}): "
                f"chi\u00b2 = {lrt.statistic:.3f}, df = {lrt.df}, p = {lrt.p_value:.4f}"
                if lrt is not None else "no likelihood-ratio test")
        b.append(Block("p", f"Covariate {c}: {test}."))
        coef = res.coef_table()  # one row per (outcome, term): both named in text
        text_cols = ("outcome", "term")
        b.append(Block("table", header=[str(x) for x in coef.columns],
                       rows=[[str(v) if col in text_cols else _f(v, 4)
                              for col, v in zip(coef.columns, r, strict=True)]
                             for r in coef.itertuples(index=False)],
                       numeric={i for i, col in enumerate(coef.columns)
                                if col not in text_cols}))
        sub = res.subgroups()
        if len(sub):
            b.append(Block("table", header=["level", "studies", "sensitivity (95% CI)",
                                            "specificity (95% CI)"],
                           rows=[[str(r.level), str(r.n_studies),
                                  _ci(r.sensitivity, r.sensitivity_ci_low,
                                      r.sensitivity_ci_high),
                                  _ci(r.specificity, r.specificity_ci_low,
                                      r.specificity_ci_high)]
                                 for r in sub.itertuples(index=False)], numeric={1, 2, 3}))
            b.append(Block("figure", key=f"subgroups_{c}", text=f"Subgroups by {c}",
                           draw=_axes_figure(res.plot_subgroups)))

    # -- robustness
    b.append(Block("h2", "Robustness"))
    loo = rev.loo
    if loo is None:
        b.append(Block("note", "Leave-one-out: " + notes.get("loo", "not computed.")))
    else:
        inf = rev.influence.set_index("study") if rev.influence is not None else None
        rows = []
        for r in loo.itertuples(index=False):
            row = [str(r.omitted), _ci(r.sensitivity, r.sensitivity_ci_low,
                                       r.sensitivity_ci_high),
                   _ci(r.specificity, r.specificity_ci_low, r.specificity_ci_high)]
            if inf is not None:
                row += [_f(inf.loc[r.omitted, "cooks_distance"], 3),
                        _f(inf.loc[r.omitted, "x2"], 2)]
            rows.append(row)
        head = ["omitted", "sensitivity (95% CI)", "specificity (95% CI)"]
        if inf is not None:
            head += ["Cook's distance", "residual X\u00b2 (2 df)"]
        b.append(Block("table", header=head, rows=rows, numeric={1, 2, 3, 4}))
        b.append(Block("figure", key="loo", text="Leave-one-out",
                       draw=_axes_figure(lambda: plots.plot_loo(loo))))
        if inf is None and "influence" in notes:
            b.append(Block("note", "Influence: " + notes["influence"]))
    dk = rev.deeks
    if dk is None:
        b.append(Block("note", "Deeks' test: " + notes.get("deeks", "not computed.")))
    else:
        b.append(Block("p", f"Deeks' funnel-plot asymmetry test: slope {dk.slope:.3f} "
                       f"(SE {dk.slope_se:.3f}), t = {dk.t:.3f} on {dk.df} df, "
                       f"p = {dk.p_value:.4f} (p < {dk.alpha:g} suggests small-study "
                       "effects)."))
        b.append(Block("figure", key="funnel", text="Deeks' funnel plot",
                       draw=_axes_figure(lambda: dk.plot())))
    cum = rev.cumulative
    if cum is None:
        b.append(Block("note", "Cumulative analysis by year: " +
                       notes.get("cumulative", "not computed.")))
    else:
        b.append(Block("figure", key="cumulative", text="Cumulative analysis by year",
                       draw=_axes_figure(lambda: plots.plot_cumulative(cum))))

    # -- clinicians
    b.append(Block("h2", "For clinicians: summary of findings"))
    if rev.per_1000 is None:
        why = notes.get("per_1000") or ("no --prevalence or --pretest given" if
                                        fit is not None else notes.get("pooled", ""))
        b.append(Block("note", f"Summary of findings not computed: {why}"))
    else:
        p1000 = rev.per_1000.set_index(["prevalence", "outcome"])
        rows = []
        for key, (a, c) in (("sensitivity", ("TP", "FN")), ("specificity", ("TN", "FP"))):
            n = int((t.tp + t.fn).sum()) if key == "sensitivity" else int((t.tn + t.fp).sum())
            g = rev.grade.get(key)
            certainty = (g["certainty"] + (": " + "; ".join(g["reasons"]) if g["reasons"]
                                           else "")) if g else "not assessed"
            for cell in (a, c):
                counts = [f"{p1000.loc[(p, cell), 'count']:.0f} "
                          f"({p1000.loc[(p, cell), 'low']:.0f}-"
                          f"{p1000.loc[(p, cell), 'high']:.0f})" for p in rev.prevalence]
                who = "diseased" if key == "sensitivity" else "non-diseased"
                rows.append([cell, str(t.k), f"{n} ({who})",
                             *counts, certainty,
                             "; ".join(rev.suggestions.get(key, []))])
        b.append(Block("table", header=["outcome", "studies", "participants",
                                        *[f"per 1,000 at prevalence {p:g}"
                                          for p in rev.prevalence],
                                        "certainty of evidence (GRADE)",
                                        "computed flags (suggestions only)"],
                       rows=rows, numeric=set(range(1, 3 + len(rev.prevalence)))))
        b.append(Block("p", "Counts per 1,000 tested at the pooled sensitivity and "
                       "specificity, ranges from their 95% CIs. Certainty is a judgement "
                       "read from --grade; the computed flags do not replace it."))
    if rev.post_test is not None:
        rows = [[_f(r.pretest, 3), _ci(r.post_positive, r.post_positive_low,
                                      r.post_positive_high),
                 _ci(r.post_negative, r.post_negative_low, r.post_negative_high)]
                for r in rev.post_test.itertuples(index=False)]
        b.append(Block("table", header=["pre-test probability", "post-test if positive",
                                        "post-test if negative"], rows=rows,
                       numeric={0, 1, 2}))
        pre = list(rev.pretest)
        b.append(Block("figure", key="fagan", text="Fagan nomogram",
                       draw=_axes_figure(lambda: clinical.plot_fagan(fit, pre))))
    elif fit is not None:
        b.append(Block("p", "No --pretest given: no Fagan nomogram."))
    if rev.warnings:
        b.append(Block("h2", "Warnings"))
        b.append(Block("table", header=["warning"], rows=[[w] for w in rev.warnings]))
    b.append(Block("p", "References: Reitsma JB et al., J Clin Epidemiol 2005;58:982-990; "
                   "Chu H, Cole SR, J Clin Epidemiol 2006;59:1331-1332; Riley RD et al., BMJ "
                   "2011;342:d549; Deeks JJ et al., J Clin Epidemiol 2005;58:882-893; "
                   "Whiting PF et al., Ann Intern Med 2011;155:529-536 (QUADAS-2)."))
    return b


# ----------------------------------------------------------------------------- render --
def _draw_all(blocks: list[Block]) -> dict[str, bytes]:
    import matplotlib.pyplot as plt

    images: dict[str, bytes] = {}
    for blk in blocks:
        if blk.kind == "figure" and blk.draw is not None:
            fig = blk.draw()
            try:
                images[blk.key] = figure_bytes(fig, "png")
            finally:
                plt.close(fig)
    return images


def _table(blk: Block) -> str:
    if blk.cell_class is None:
        return _table_html(blk.rows, blk.header, blk.numeric)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in blk.header)
    body = []
    for i, row in enumerate(blk.rows):
        cells = "".join(f'<td class="{blk.cell_class(i, j, v)}">{html.escape(v)}</td>'
                        for j, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(rev: Review, blocks: list[Block], images: dict[str, bytes]) -> str:
    """Render the blocks as one self-contained HTML document (figures as data: URIs)."""
    parts = [f"<h1>{html.escape(rev.title)}</h1>"]
    for blk in blocks:
        if blk.kind == "h2":
            parts.append(f"<h2>{html.escape(blk.text)}</h2>")
        elif blk.kind == "p":
            parts.append(f'<p class="small">{html.escape(blk.text)}</p>')
        elif blk.kind == "note":
            parts.append(f'<p class="note">{html.escape(blk.text)}</p>')
        elif blk.kind == "table":
            parts.append(f'<div class="tbl">{_table(blk)}</div>')
        elif blk.kind == "figure" and blk.key in images:
            parts.append(f'<figure><img alt="{html.escape(blk.text)}" '
                         f'src="{data_uri(images[blk.key])}"><figcaption class="small">'
                         f"{html.escape(blk.text)}</figcaption></figure>")
    css = _CSS + "".join(f".rob-{k.replace(' ', '-')} {{ background: {v}33; }}\n"
                         for k, v in _ROB_COLOURS.items())
    css += ".tbl { overflow-x: auto; } figure img { max-width: 100%; }\n"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f"<title>{html.escape(rev.title)}</title>\n<style>{css}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def _pdf_lines(blk: Block, width: int = 110) -> list[tuple[str, str]]:
    """Text lines of a block for the PDF: (style, text)."""
    if blk.kind == "h2":
        return [("h2", blk.text)]
    if blk.kind in ("p", "note"):
        return [("p", line) for line in _wrap(blk.text, width)]
    if blk.kind == "table":
        cols = [blk.header, *blk.rows]
        widths = [min(max(len(str(r[j])) for r in cols), 40) for j in range(len(blk.header))]
        out = []
        for r in cols:
            cells = [str(v)[:40].ljust(widths[j]) for j, v in enumerate(r)]
            line = "  ".join(cells).rstrip()
            out += [("mono", line[i:i + width]) for i in range(0, max(len(line), 1), width)]
        return out
    return []


def write_pdf(rev: Review, blocks: list[Block], images: dict[str, bytes],
              path: str | os.PathLike[str]) -> None:
    """Write the blocks to a PDF with matplotlib (text pages, one page per figure)."""
    import io as _io

    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    lines_per_page = 62
    buf = _io.BytesIO()
    with plt.rc_context({"pdf.fonttype": 42}), PdfPages(buf) as pdf:
        page: list[tuple[str, str]] = [("h1", rev.title)]

        def flush() -> None:
            if not page:
                return
            fig = plt.figure(figsize=(8.27, 11.69))
            y = 0.97
            for style, text in page:
                size = {"h1": 13, "h2": 11}.get(style, 6.5)
                fig.text(0.05, y, text, fontsize=size, va="top",
                         family="monospace" if style == "mono" else "sans-serif",
                         weight="bold" if style in ("h1", "h2") else "normal")
                y -= 0.0145 if style not in ("h1", "h2") else 0.024
            pdf.savefig(figure=fig)  # into the in-memory buffer
            plt.close(fig)
            page.clear()

        for blk in blocks:
            if blk.kind == "figure":
                if blk.key not in images:
                    continue
                flush()
                fig = plt.figure(figsize=(8.27, 11.69))
                fig.text(0.05, 0.97, blk.text, fontsize=11, weight="bold", va="top")
                ax = fig.add_axes((0.05, 0.05, 0.9, 0.88))
                ax.imshow(mpimg.imread(_io.BytesIO(images[blk.key]), format="png"))
                ax.axis("off")
                pdf.savefig(figure=fig)  # into the in-memory buffer
                plt.close(fig)
                continue
            for line in _pdf_lines(blk):
                if len(page) >= lines_per_page:
                    flush()
                page.append(line)
        flush()
        info = pdf.infodict()
        info["Title"] = rev.title
        info["Subject"] = f"{rev.stamp.get('package', '')} {rev.model}"
    write_atomic(path, buf.getvalue())


def write_review(rev: Review, out_dir: str | os.PathLike[str], *,
                 reference: Sequence[tuple[float, str]] = (),
                 extra: Sequence[Block] = ()) -> dict[str, Path]:
    """Write ``report.html`` and ``report.pdf`` of a review into ``out_dir``.

    Parameters
    ----------
    rev : Review
        What :func:`metaanalysis.review.review` computed.
    out_dir : str or path-like
        Created if missing; other files in it are left alone.
    reference, extra
        See :func:`layout`.

    Returns
    -------
    dict
        Paths keyed ``html`` and ``pdf`` (:data:`REVIEW_FILES`).
    """
    return write_review_images(rev, out_dir, reference=reference, extra=extra)[0]


def write_review_images(rev: Review, out_dir: str | os.PathLike[str], *,
                        reference: Sequence[tuple[float, str]] = (),
                        extra: Sequence[Block] = ()) -> tuple[dict[str, Path],
                                                              dict[str, bytes]]:
    """Write the report as :func:`write_review` does; also return the figures drawn.

    Returns
    -------
    tuple
        The paths (as :func:`write_review`) and ``{figure key: PNG bytes}``,
        the very images embedded in the HTML and placed in the PDF.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    blocks = layout(rev, reference=reference, extra=extra)
    images = _draw_all(blocks)
    paths = {key: out / name for key, name in REVIEW_FILES.items()}
    write_atomic(paths["html"], render_html(rev, blocks, images))
    write_pdf(rev, blocks, images, paths["pdf"])
    return paths, images
