"""Render a reproduced meta-analysis as the review report with the comparison added.

:func:`write_reproduction` writes the report of a review of the table
(:func:`metaanalysis.report.review.write_review`: ``report.html`` and
``report.pdf``, the same page as ``metaanalysis report`` gives) with the
comparison blocks of :func:`comparison_blocks` after the pooled estimates and
the real cohorts' figures (:attr:`Reproduction.references`) drawn on the SROC
plot, and beside it the forest and SROC plots as PNG, the JSON and the
comparison CSV, every file atomically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from metaanalysis.fileio import write_atomic
from metaanalysis.report.review import Block, layout, write_review_images

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metaanalysis.reproduce import Reproduction
    from metaanalysis.review import Review

__all__ = ["OUTPUT_FILES", "comparison_blocks", "forest_figure", "reference_lines",
           "sroc_figure", "write_reproduction"]

#: File names written by :func:`write_reproduction`.
OUTPUT_FILES = {"forest": "forest.png", "sroc": "sroc.png", "report": "report.html",
                "pdf": "report.pdf", "json": "reproduction.json",
                "comparison": "comparison.csv"}

_LABELS = {"sensitivity": "sensitivity", "specificity": "specificity", "auc": "AUC (SROC)",
           "tau2_logit_sens": "tau\u00b2 logit sensitivity",
           "tau2_logit_fpr": "tau\u00b2 logit FPR", "rho": "rho (logit sens, logit FPR)"}


def _review(rep: Reproduction) -> Review:
    if rep.review is None:
        raise ValueError("the reproduction holds no review; call reproduce(full_review=True)")
    return rep.review


def reference_lines(rep: Reproduction) -> list[tuple[float, str]]:
    """Return the horizontal lines of sensitivity drawn on the SROC plot, with their labels.

    One per real cohort of :attr:`Reproduction.references`: a sensitivity
    without a specificity is a line across ROC space, not a point.
    """
    return [(ref.sensitivity, f"{ref.label}: sensitivity {ref.sensitivity:.2f} at "
             f"{ref.threshold.split(' (')[0]} (specificity not reported)")
            for ref in rep.references]


def _fmt(x: float, digits: int = 3) -> str:
    if not math.isfinite(x):
        return "-"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"


def _range(lo: float, hi: float) -> str:
    """``lo to hi``: a hyphen would be ambiguous beside negative values."""
    return f"{_fmt(lo)} to {_fmt(hi)}" if math.isfinite(lo) and math.isfinite(hi) else "-"


def comparison_blocks(rep: Reproduction) -> list[Block]:
    """Lay out the comparison with the published figures and what it can show.

    Parameters
    ----------
    rep : Reproduction
        What :func:`metaanalysis.reproduce.reproduce` computed.

    Returns
    -------
    list of Block
        Published against reproduced (with how each figure agrees), then the
        figures a reconstruction does not fix: GLMM against Reitsma, the
        spread over the reconstructions, and the real cohorts' figures.
    """
    from metaanalysis.published import NO_COHORT_WITH_BOTH

    pub = rep.published
    b: list[Block] = [Block("h2", "Published and reproduced")]
    if rep.reconstructed:
        b.append(Block("note", "The per-study 2x2 tables of this meta-analysis are not "
                       "published. The table analysed here is a seeded reconstruction made to "
                       "agree with every published aggregate (number of studies, patients, "
                       "pooled sensitivity and specificity); it is not the authors' data. Its "
                       "agreement with those four figures holds by construction and shows "
                       "nothing about the published analysis. Replace it with real extracted "
                       "tables (metaanalysis reproduce --data FILE) to reproduce the analysis "
                       "itself."))
    if pub.doi is None:
        b.append(Block("note", "The source article of the published figures could not be "
                       "located; figures it may report beyond k, N, sensitivity and "
                       "specificity are shown as '-' or, for LR+, LR- and DOR, as values "
                       "implied by the published point estimates."))
    cmp_ = rep.comparison().drop(columns="match")
    if rep.glmm_fit is None:
        cmp_ = cmp_.drop(columns="glmm")
    header = [{"how_it_agrees": "how it agrees", "reitsma": "Reitsma (REML)",
               "glmm": "GLMM (Laplace)"}.get(c, c) for c in cmp_.columns]
    b.append(Block("table", header=header, rows=cmp_.astype(str).values.tolist(),
                   numeric=set(range(1, len(header) - 1))))

    b.append(Block("h2", "What the comparison can show"))
    b.append(Block("p", "What a reconstruction does not fix is informative: (1) the GLMM "
                   "(exact binomial likelihood) against the Reitsma estimate on the same "
                   "table; (2) the spread of further reconstructions that agree with the "
                   "same aggregates, each with its own study sizes and seed (make_studies.py "
                   "--spread), as the range and the 2.5-97.5 percentiles; (3) the one figure "
                   "of a real cohort that can be placed, drawn on the SROC plot."))
    inf = rep.informative()
    summary = rep.spread_summary()
    n = int(summary["n"].max()) if summary is not None else 0
    rows = []
    for q, r in inf.iterrows():
        rows.append([_LABELS[str(q)], _fmt(r["reitsma"]), _fmt(r["glmm"]),
                     _fmt(r["glmm_minus_reitsma"]),
                     _range(r["reitsma_min"], r["reitsma_max"]),
                     _range(r["reitsma_p2_5"], r["reitsma_p97_5"]),
                     _range(r["glmm_min"], r["glmm_max"]),
                     _range(r["glmm_p2_5"], r["glmm_p97_5"])])
    over = f"over {n} reconstructions" if n else "over reconstructions"
    b.append(Block("table", header=["quantity", "Reitsma (this table)", "GLMM (this table)",
                                    "GLMM - Reitsma", f"Reitsma {over}: min to max",
                                    "Reitsma: 2.5% to 97.5%", f"GLMM {over}: min to max",
                                    "GLMM: 2.5% to 97.5%"],
                   rows=rows, numeric=set(range(1, 8))))
    if rep.glmm_fit is None:
        b.append(Block("note", f"GLMM {rep.glmm_note or 'not fitted.'}"))
    if rep.spread is None:
        b.append(Block("note", "No spread of reconstructions: it belongs to the shipped "
                       "reconstruction, and the table analysed here "
                       f"({rep.data_source}) is another."))
    else:
        b.append(Block("p", f"Each of the {n} reconstructions was made as the shipped one "
                       "(the five real cohorts kept, the other studies' sizes and fracture "
                       "rates drawn afresh, the same between-study covariance) and accepted "
                       "only when its Reitsma estimate rounds to the published sensitivity "
                       "and specificity. So the Reitsma sensitivity and specificity hardly "
                       "move; how far the other figures move is what the published "
                       "aggregates leave open. The between-study covariance used to draw the "
                       "tables is the same in all, so the spread does not include doubt "
                       "about it."))
    for ref in rep.references:
        b.append(Block("p", f"Real cohort: {ref.citation} (doi:{ref.doi}), {ref.n_patients} "
                       f"patients, {ref.n_events} with a subsequent fracture, of whom "
                       f"{ref.tp} had {ref.threshold}: sensitivity {ref.sensitivity:.2f}, "
                       "drawn as a horizontal line on the SROC plot. Its specificity is not "
                       f"reported. Source: {ref.source}."))
    b.append(Block("p", NO_COHORT_WITH_BOTH))
    return b


def _sroc_block(rep: Reproduction) -> Block:
    blocks = layout(_review(rep), reference=reference_lines(rep))
    return next(blk for blk in blocks if blk.kind == "figure" and blk.key == "sroc")


def sroc_figure(rep: Reproduction) -> Figure:
    """Draw the report's SROC plot: summary point, regions and the real cohorts' lines."""
    draw = _sroc_block(rep).draw
    assert draw is not None
    return draw()


def forest_figure(rep: Reproduction) -> Figure:
    """Draw the paired forest plot (sensitivity, specificity) of every study."""
    import matplotlib.pyplot as plt

    ax = rep.fit.plot_forest()
    fig = ax.figure
    assert isinstance(fig, plt.Figure)
    return fig


def write_reproduction(rep: Reproduction, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the report (HTML and PDF), forest and SROC plots, JSON and comparison CSV.

    The report is the review report of the table (:attr:`Reproduction.review`)
    with :func:`comparison_blocks` after the pooled estimates and
    :func:`reference_lines` on the SROC plot; ``forest.png`` and ``sroc.png``
    are the images embedded in it. Every file is written atomically; an
    existing folder is reused and files of other names in it are left alone.

    Parameters
    ----------
    rep : Reproduction
        What :func:`metaanalysis.reproduce.reproduce` computed (with its review).
    out_dir : str or path-like
        Created if missing.

    Returns
    -------
    dict
        Paths keyed as :data:`OUTPUT_FILES`.

    Raises
    ------
    InputError
        When ``out_dir`` exists and is not a folder.
    ValueError
        When ``rep`` holds no review (``reproduce(full_review=False)``).
    """
    rev = _review(rep)
    out = Path(out_dir)
    report, images = write_review_images(rev, out, reference=reference_lines(rep),
                                         extra=comparison_blocks(rep))
    paths = {key: out / name for key, name in OUTPUT_FILES.items()}
    paths["report"], paths["pdf"] = report["html"], report["pdf"]
    for key in ("forest", "sroc"):
        if key in images:  # always, unless the review's pooled fit failed (named in it)
            write_atomic(paths[key], images[key])
    write_atomic(paths["json"], json.dumps(rep.to_dict(), indent=2) + "\n")
    write_atomic(paths["comparison"], rep.comparison().to_csv(index=False))
    return paths
