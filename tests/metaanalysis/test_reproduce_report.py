"""``metaanalysis reproduce`` as the review report with the comparison added.

References: the API calls behind each number (reproduce, review, fit_model); the spread's
percentiles recomputed by hand from spread.csv (linear interpolation between order
statistics, R's quantile type 7); the Kadri 2025 abstract (sensitivity 0.85 at VBQ >= 3.0,
as kept in primary_studies.csv).
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _pages import open_page

from metaanalysis import cli
from metaanalysis.published import KADRI_2025, NO_COHORT_WITH_BOTH
from metaanalysis.report import reference_lines, sroc_figure
from metaanalysis.reproduce import BY_CONSTRUCTION, SPREAD_QUANTITIES, reproduce

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "vbq_subsequent_fracture"


def _run(args: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = cli.main(args)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reprep")
    code, out, _ = _run(["reproduce", "--json", "--out", str(tmp / "rep")])
    assert code == 0
    code_r, _, _ = _run(["report", str(DATA / "studies.csv"), "--out", str(tmp / "rev")])
    assert code_r == 0
    return {"json": json.loads(out), "dir": tmp / "rep",
            "html": html.unescape((tmp / "rep" / "report.html").read_text()),
            "raw": (tmp / "rep" / "report.html").read_text(),
            "review_raw": (tmp / "rev" / "report.html").read_text(), "rep": reproduce()}


def _type7(values: np.ndarray, p: float) -> float:
    """Quantile by hand: linear interpolation between order statistics (R type 7)."""
    x = sorted(float(v) for v in values)
    h = (len(x) - 1) * p
    lo = math.floor(h)
    return x[lo] + (h - lo) * (x[min(lo + 1, len(x) - 1)] - x[lo])


def test_spread_summary_by_hand(pages):
    spread = pd.read_csv(DATA / "spread.csv")
    got = pages["rep"].spread_summary()
    for model in ("reitsma", "glmm"):
        for q in SPREAD_QUANTITIES:
            v = spread.loc[spread["model"] == model, q].to_numpy()
            row = got.loc[(model, q)]
            assert row["n"] == 50
            assert row["min"] == v.min() and row["max"] == v.max()
            assert row["p2_5"] == pytest.approx(_type7(v, 0.025), abs=1e-12)
            assert row["p97_5"] == pytest.approx(_type7(v, 0.975), abs=1e-12)
            js = pages["json"]["spread"][model][q]
            assert js["p2_5"] == pytest.approx(row["p2_5"], abs=1e-12)


def test_numbers_in_the_page_equal_the_api(pages):
    rep, text = pages["rep"], pages["html"]
    inf = rep.informative()
    for q in ("sensitivity", "auc", "tau2_logit_sens", "rho"):
        r = inf.loc[q]
        for cells in ((f"{r['reitsma']:.3f}", f"{r['glmm']:.3f}",
                       f"{r['glmm_minus_reitsma']:.3f}".replace("-0.000", "0.000")),
                      (f"{r['reitsma_min']:.3f} to {r['reitsma_max']:.3f}",
                       f"{r['reitsma_p2_5']:.3f} to {r['reitsma_p97_5']:.3f}",
                       f"{r['glmm_min']:.3f} to {r['glmm_max']:.3f}",
                       f"{r['glmm_p2_5']:.3f} to {r['glmm_p97_5']:.3f}")):
            assert "</td><td class=\"num\">".join(cells) in pages["raw"], (q, cells)
    # the GLMM column is the GLMM fit's, not a copy of the Reitsma one
    assert inf.loc["sensitivity", "glmm"] == rep.glmm_fit.sensitivity.estimate
    assert inf.loc["sensitivity", "glmm"] != inf.loc["sensitivity", "reitsma"]
    cmp_ = rep.comparison().set_index("figure")
    for fig in ("sensitivity (95% CI)", "DOR (95% CI)", "tau2 logit sens"):
        assert cmp_.loc[fig, "reitsma"] in text and cmp_.loc[fig, "glmm"] in text
    assert f"{rep.fit.sensitivity.estimate:.3f} ({rep.fit.sensitivity.ci_low:.3f}-" in text
    assert pages["json"]["sensitivity"]["estimate"] == rep.fit.sensitivity.estimate


def test_agreement_is_labelled_by_construction_never_as_a_match(pages):
    rep, raw = pages["rep"], pages["raw"]
    assert rep.how_it_agrees() == dict.fromkeys(
        ("n_studies", "n_patients", "sensitivity", "specificity"), BY_CONSTRUCTION)
    head = re.search(r"<h2>Published and reproduced</h2>.*?<thead>(.*?)</thead>", raw, re.S)
    assert head is not None and "how it agrees" in head.group(1)
    assert "match" not in head.group(1)
    rows = re.findall(r"<tr><td>(studies \(k\)|patients \(N\)|sensitivity \(95% CI\)|"
                      r"specificity \(95% CI\))</td>.*?</tr>", raw)
    assert len(rows) == 4
    for fig in rows:
        row = re.search(rf"<tr><td>{re.escape(fig)}</td>(.*?)</tr>", raw).group(1)
        assert BY_CONSTRUCTION in row and ">yes<" not in row
    js = pages["json"]
    assert js["matches_published"] == dict.fromkeys(js["matches_published"], True)  # kept
    assert js["how_it_agrees"] == rep.how_it_agrees()
    assert NO_COHORT_WITH_BOTH in pages["html"]


def test_same_page_as_metaanalysis_report_plus_the_comparison(pages):
    def tables(raw: str) -> list[str]:
        return re.findall(r'<div class="tbl">.*?</div>', raw, re.S)

    review_tables = tables(pages["review_raw"])
    rep_tables = tables(pages["raw"])
    assert len(review_tables) >= 4  # studies, pooled, heterogeneity, leave-one-out
    for t in review_tables:  # every table of the review, verbatim
        assert t in rep_tables
    assert len(rep_tables) == len(review_tables) + 2  # comparison and what it can show
    h2 = re.findall(r"<h2>(.*?)</h2>", pages["raw"])
    assert [h for h in h2 if h not in ("Published and reproduced",
                                       "What the comparison can show")] == \
        re.findall(r"<h2>(.*?)</h2>", pages["review_raw"])


def test_kadri_line_is_drawn_on_the_sroc(pages):
    import matplotlib.pyplot as plt

    assert reference_lines(pages["rep"]) == [
        (0.85, "Kadri 2025: sensitivity 0.85 at VBQ >= 3.0 (specificity not reported)")]
    fig = sroc_figure(pages["rep"])
    try:
        ax = fig.axes[0]
        kadri = [ln for ln in ax.get_lines() if str(ln.get_label()).startswith("Kadri 2025")]
        assert len(kadri) == 1
        x, y = (np.asarray(a, dtype=float) for a in kadri[0].get_data())
        assert np.all(y == KADRI_2025.sensitivity)  # a horizontal line at 0.85 ...
        # ... across the whole FPR axis (axhline data runs 0..1 in axes coordinates)
        assert x.min() == 0.0 and x.max() == 1.0
        # y in data units (sensitivity), x in axes units: the line sits at sensitivity 0.85
        to_pixels = kadri[0].get_transform().transform
        assert to_pixels((0.5, 0.85))[1] == pytest.approx(ax.transData.transform((0.3, 0.85))[1])
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(lbl.startswith("Kadri 2025") for lbl in labels)
    finally:
        plt.close(fig)


def test_pdf_holds_the_comparison(pages):
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(str(pages["dir"] / "report.pdf"))
    text = "\n".join(p.extract_text() for p in reader.pages)
    for phrase in ("Published and reproduced", "What the comparison can show",
                   "holds by construction", "Kadri", "Pooled estimates", "SHA-256"):
        assert phrase in text, phrase
    assert len(reader.pages) >= 5 + 3  # five figures on pages of their own, and text


def test_page_opens_in_headless_chromium(pages, tmp_path):
    seen = open_page(pages["dir"] / "report.html", tmp_path, "reproduce.png")
    assert seen.errors == [] and seen.outside_requests == []
    assert len(seen.images) == 5 and all(done and width > 0 for _, done, width in seen.images)
    assert "What the comparison can show" in seen.headings
    assert (tmp_path / "reproduce.png").stat().st_size > 10_000
