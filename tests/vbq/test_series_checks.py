"""The acquisition checks of the series choice, at the exact thresholds DESIGN.md names.

Not T1-like: TR > 1000 ms or TE > 30 ms. Normative window: TR 400-850 ms, TE
8-20 ms (inclusive). Contrast: a ContrastBolusAgent value, or "+C", "GAD",
"POST" in the series description.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_rois_support import make_series

from vbq.dicom import SeriesIndex, choose_series
from vbq.errors import InputError


def series(**changes):
    return replace(make_series(np.zeros((3, 8, 8))), **changes)


def warnings_of(s):
    """Warnings when the series is named by UID (every check becomes a warning)."""
    return choose_series(SeriesIndex(series=(s,), skipped=()), s.series_instance_uid).warnings


@pytest.mark.parametrize(("tr", "te", "t1_like"), [
    (1000.0, 12.0, True), (1000.5, 12.0, False),
    (550.0, 30.0, True), (550.0, 30.5, False),
])
def test_not_t1_like_thresholds(tr, te, t1_like):
    s = series(description="SAG TSE", tr_ms=tr, te_ms=te)
    flagged = any(w.code == "not_t1" and "is not T1-like" in str(w) for w in warnings_of(s))
    assert flagged is not t1_like
    index = SeriesIndex(series=(s,), skipped=())
    if t1_like:  # chosen automatically
        assert choose_series(index).series is s
    else:        # rejected by the automatic choice
        with pytest.raises(InputError, match="no T1-weighted sagittal series"):
            choose_series(index)


@pytest.mark.parametrize(("tr", "te", "outside"), [
    (400.0, 8.0, ()), (850.0, 20.0, ()),
    (399.9, 12.0, ("TR 399.9 ms",)), (850.1, 12.0, ("TR 850.1 ms",)),
    (550.0, 7.9, ("TE 7.9 ms",)), (550.0, 20.1, ("TE 20.1 ms",)),
    (900.0, 25.0, ("TR 900 ms", "TE 25 ms")),
])
def test_normative_window_is_inclusive(tr, te, outside):
    w = [str(x) for x in warnings_of(series(tr_ms=tr, te_ms=te))
         if x.code == "outside_normative_window"]
    assert len(w) == len(outside)
    for text, line in zip(outside, w, strict=True):
        assert line.startswith(text + " is outside the normative window")


@pytest.mark.parametrize(("description", "agent", "contrast"), [
    ("T1 SAG", None, False),
    ("T1 SAG", "NONE", False),
    ("T1 SAG", "Gadobutrol", True),
    ("T1 SAG +C", None, True),
    ("T1+C SAG", None, True),
    ("T1 SAG GAD", None, True),
    ("t1 sag post", None, True),
    ("T1 SAG POSTERIOR", None, False),
])
def test_contrast_checks(description, agent, contrast):
    s = series(description=description, contrast_agent=agent)
    named = "contrast_agent" in [w.code for w in warnings_of(s)]
    assert named is contrast
    index = SeriesIndex(series=(s,), skipped=())
    if contrast:  # never chosen automatically
        with pytest.raises(InputError, match="only post-contrast T1 sagittal series"):
            choose_series(index)
    else:
        assert choose_series(index).series is s


def test_inside_everything_no_warnings():
    assert warnings_of(series()) == ()
