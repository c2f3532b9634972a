"""What the click engine cuts out of a body's ellipse, worked out by hand.

A focal structure is where the body's marrow, smoothed by a Gaussian of
``LESION_SMOOTH_MM`` (1 mm), departs from the body's usual signal by more than
``LESION_BRIGHT`` (1.10) or ``LESION_DARK`` (0.7); the cut-out is every pixel
within ``LESION_MARGIN_MM`` (1.5 mm) of it. On a noiseless body of marrow 100
with a square lesion of contrast ``c`` (its signal ``100 c``, more than 20% from
the marrow, so the marrow level stays 100), the smoothed signal across the
middle of one of its straight sides is ``1 + (c - 1) Phi(x / sigma)`` at ``x``
mm inside the side. It crosses the bound ``B`` at
``x = sigma Phi^-1((B - 1) / (c - 1))``, so the cut-out reaches
``LESION_MARGIN_MM - x`` mm beyond the side: 2.34 mm for a bright lesion at
``c = 1.5`` (``Phi^-1(0.2) = -0.8416``), 1.5 mm for a dark one at ``c = 0.4``
(``Phi^-1(0.5) = 0``). A bound of 1.05 or 1.15 would give 2.78 or 2.02 mm; a
margin of 1 or 2 mm, 1.84 or 2.84 mm.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from vbq.dicom.geometry import SliceGeometry
from vbq.errors import BodyNotFoundError
from vbq.roi import proposal

PX = 0.125                 # mm per pixel: fine enough to tell 2.34 mm from 2.02 mm and 2.78 mm
N = 400                    # 50 mm of image
CENTRE = (200.0, 200.0)    # pixels
HALF_D, HALF_H = 16.0, 14.0   # mm: the body's half depth (columns) and half height (rows)
SIDE = 6.0                 # mm: the lesion's side
LESION_AT = (0.0, -6.0)    # mm (rows, columns) from the body's centre to the lesion's centre


def _slice(contrast: float) -> tuple[proposal._Slice, proposal._Frame, float]:
    """The body, its frame, and the column (pixels) of the lesion's posterior side."""
    img = np.full((N, N), 40.0)
    rr, cc = np.mgrid[0:N, 0:N]
    dr, dc = (rr - CENTRE[0]) * PX, (cc - CENTRE[1]) * PX
    img[(np.abs(dr) <= HALF_H + 2.0) & (np.abs(dc) <= HALF_D + 2.0)] = 30.0      # cortex
    img[(np.abs(dr) <= HALF_H) & (np.abs(dc) <= HALF_D)] = 100.0
    lr, lc = dr - LESION_AT[0], dc - LESION_AT[1]
    img[(np.abs(lr) < 0.5 * SIDE) & (np.abs(lc) < 0.5 * SIDE)] = 100.0 * contrast
    geo = SliceGeometry(np.zeros(3), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]),
                        (PX, PX), img.shape)
    frame = proposal._Frame(centre=np.array(CENTRE), a=np.array([0.0, 1.0]),
                            t=np.array([-1.0, 0.0]), half_d=HALF_D, half_h=HALF_H,
                            marrow=100.0, borders={})
    # pixel centres run from -3 mm to +3 mm - PX; the side lies half a pixel beyond the last
    side = CENTRE[1] + (LESION_AT[1] + 0.5 * SIDE) / PX - 0.5
    return proposal._Slice(img, geo), frame, side


def _reach_mm(contrast: float) -> float:
    """How far (mm) the cut-out reaches beyond the lesion's posterior side, on its middle row."""
    sl, frame, side = _slice(contrast)
    rows, cols, near = proposal._focal(sl, frame)
    row = int(np.flatnonzero(rows == int(CENTRE[0] + LESION_AT[0] / PX))[0])
    cut = cols[near[row]]
    last = cut[(cut > side - 4.0 / PX) & (cut < side + 6.0 / PX)].max()
    return float(last - side) * PX


@pytest.mark.parametrize("contrast, bound", [(1.5, proposal.LESION_BRIGHT),
                                             (1.8, proposal.LESION_BRIGHT),
                                             (0.4, proposal.LESION_DARK)])
def test_the_cut_out_reaches_the_margin_beyond_where_the_smoothed_lesion_crosses_its_bound(
        contrast, bound):
    assert (proposal.LESION_BRIGHT, proposal.LESION_DARK) == (1.10, 0.7)
    assert (proposal.LESION_MARGIN_MM, proposal.LESION_SMOOTH_MM) == (1.5, 1.0)
    inside = proposal.LESION_SMOOTH_MM * norm.ppf((bound - 1.0) / (contrast - 1.0))
    expected = proposal.LESION_MARGIN_MM - inside       # 2.34, 2.48, 1.5 mm
    # the last pixel centre within the margin lies at most one pixel short of it
    assert expected - PX - 1e-9 <= _reach_mm(contrast) <= expected + 1e-9


def test_marrow_texture_within_the_bounds_is_not_cut():
    """A zone 8% brighter than the marrow (under 1.10) stays in; at 12% it is cut out.

    Only the lesion's neighbourhood is looked at: the body's own borders, blurred
    with the cortex, fall below 0.7 of the marrow and are cut there.
    """
    for contrast, cut in ((1.08, False), (1.12, True)):
        sl, frame, _ = _slice(contrast)
        rows, cols, near = proposal._focal(sl, frame)
        dr = (rows[:, None] - CENTRE[0]) * PX - LESION_AT[0]
        dc = (cols[None, :] - CENTRE[1]) * PX - LESION_AT[1]
        around = (np.abs(dr) <= 0.5 * SIDE + 3.0) & (np.abs(dc) <= 0.5 * SIDE + 3.0)
        assert bool((near & around).any()) is cut, contrast


def _ellipse_left_with(monkeypatch, keep: int) -> proposal.BodyFit:
    """Fit the ellipse with everything but its first ``keep`` pixels (raster order) cut out."""
    sl, frame, _ = _slice(1.0)
    rv = min(2.0 * proposal.AXIS_FRACTION * HALF_H, HALF_H - proposal.CLEARANCE_MM)
    ru = min(2.0 * proposal.AXIS_FRACTION * HALF_D, HALF_D - proposal.CLEARANCE_MM)
    whole = proposal.ellipse_mask(sl.image.shape, CENTRE, (rv, ru), 0.0, sl.spacing)
    flat = np.flatnonzero(whole.ravel())
    near = whole.copy().ravel()
    near[flat[:keep]] = False
    monkeypatch.setattr(proposal, "_focal", lambda *_: (np.arange(N), np.arange(N),
                                                        near.reshape(N, N)))
    return proposal._ellipse(sl, frame, CENTRE, 0.0, "seed 3 (L2)"), int(whole.sum())


def test_a_body_is_refused_when_cut_outs_leave_less_than_a_quarter_of_its_ellipse(monkeypatch):
    fit, n = _ellipse_left_with(monkeypatch, 10 ** 9)     # nothing cut
    assert fit.cut_pixels == 0 and int(fit.mask.sum()) == n
    quarter = n // 4
    fit, _ = _ellipse_left_with(monkeypatch, quarter)
    assert int(fit.mask.sum()) == quarter and fit.cut_pixels == n - quarter
    with pytest.raises(BodyNotFoundError, match=r"seed 3 \(L2\): focal structures .* fill "
                       rf"{n - quarter + 1} of the {n} pixels"):
        _ellipse_left_with(monkeypatch, quarter - 1)
