"""Accuracy asked for beyond the studies' cut-offs is said to be extrapolated.

Schneider 2017 (diagmeta's example) reports cut-offs from 5 to 100: ``--at 3``
and ``--at 150`` lie outside, ``--at 20`` inside (by construction of the file).
"""

from __future__ import annotations

import json
from pathlib import Path

from metaanalysis.cli import main

DATA = Path(__file__).parents[1] / "fixtures" / "diagmeta" / "Schneider2017.csv"
ARGS = ["thresholds", str(DATA), "--study-column", "study_id",
        "--columns", "cutoff=cutpoint,TP=tpos,FP=fpos,FN=fneg,TN=tneg",
        "--at", "3", "--at", "20", "--at", "150"]


def test_cut_offs_beyond_the_studies_are_flagged(capsys):
    assert main([*ARGS, "--json"]) == 0
    out, err = capsys.readouterr()
    at = json.loads(out)["at"]
    assert [(r["cutoff"], r["extrapolated"]) for r in at] == [(3, True), (20, False),
                                                              (150, True)]
    lines = [ln for ln in err.splitlines() if "--at" in ln]
    assert lines == [f"metaanalysis: warning: --at {x} lies outside the studies' cut-offs (5 "
                     "to 100): the accuracy there is extrapolated from the fitted lines, not "
                     "observed." for x in (3, 150)]
    assert main(ARGS) == 0
    text = capsys.readouterr().out
    rows = [ln for ln in text.splitlines() if ln.startswith("At cut-off")]
    assert [ln.endswith("[extrapolated: the studies' cut-offs run from 5 to 100]")
            for ln in rows] == [True, False, True]
