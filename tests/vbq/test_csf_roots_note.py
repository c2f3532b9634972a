"""The root area the CSF ROI's note gives, against a root of known size drawn in the sac.

:func:`vbq.roi.canal.place_csf` cuts the roots found in the sac out of the CSF ROI and
says so: "less the roots found over X mm2 of the sac there and 1 mm around them (N
pixels cut out)", X being the samples of the ROI's own stations that hold a root
(:func:`vbq.roi.canal._root_blocks`) times the station spacing (1 mm) and the sampling
step across the sac (0.5 mm); roots found only beyond the ROI's ends, their margin
reaching into it, are said so instead.

Reference by construction: a straight sac drawn on 0.5 mm pixels, with the canal's
axis through the body centres on a column, so that every station and every sample
across the sac falls on a pixel centre (station ``i`` on row 24 + 2 i, depth ``d`` mm on
column 60 + 2 d), and a root of known rows and columns in it.
"""

import re

import numpy as np

from vbq.dicom.geometry import SliceGeometry
from vbq.roi.canal import ROOT_FLOOR, ROOT_MARGIN_MM, ROOT_SMOOTH_MM, place_csf
from vbq.roi.shapes import rectangle_mask

PX = 0.5                    # mm
CSF, ROOT = 100.0, 125.0
SHAPE = (420, 200)
CENTRES = {lv: (60.0 + 72.0 * k, 60.0) for k, lv in enumerate(("L1", "L2", "L3", "L4", "L5"))}
GEOMETRY = SliceGeometry(np.zeros(3), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]),
                         (PX, PX), SHAPE)


def _sac(root_rows: slice) -> np.ndarray:
    """Marrow (300) 20 mm either side of the bodies' axis (column 60), epidural fat (250)
    from 20 to 23 mm behind it, the sac's CSF (100) from 23 to 37 mm, fat (250) behind;
    the body centres (L1-L5) 36 mm apart. A root (125) over ``root_rows``, 30-33 mm
    behind the axis (columns 120-125), inside the sac behind its middle."""
    img = np.full(SHAPE, 250.0)
    img[:, 20:100] = 300.0
    img[:, 106:134] = CSF
    img[root_rows, 120:126] = ROOT
    return img


def _rectangle(placed) -> np.ndarray:
    """The ROI's rectangle before the roots were cut out of it, as the ROI file reads it."""
    entry = placed.shape((PX, PX))
    return rectangle_mask(SHAPE, tuple(entry["corner"]), tuple(entry["size"]),
                          entry["angle_deg"])


def test_the_root_area_in_the_note_is_that_of_the_root_drawn_in_the_roi():
    """A root 8 mm long (rows 196-211, stations 86-93) and 3 mm wide (6 samples) in the ROI
    at L3 (stations 80-100, 0.3 of the level spacing either side of L3's centre).

    The root's excess (25 % of the CSF, a root partly in the slice) averaged over 3
    stations and 3 samples stays above :data:`ROOT_FLOOR` (the sac is noiseless) on
    each sample with at least 4 of the 9 on the root: every sample of the root (a
    corner has 4), none beside it (3 at most). So the roots are found over the root's
    own area, 8 x 3 = 24.0 mm2, and the 1 mm margin around it cuts out the root's box
    grown by 2 pixels each way: 20 rows x 10 columns.
    """
    assert ROOT_SMOOTH_MM == (3.0, 1.5) and ROOT_FLOOR == 0.10 and ROOT_MARGIN_MM == 1.0
    img = _sac(slice(196, 212))
    placed = place_csf(img, GEOMETRY, CENTRES)
    assert placed.level == "L3" and "21.0 mm along the sac" in placed.note, placed.note
    found = re.search(r"less the roots found over ([0-9.]+) mm2 of the sac there", placed.note)
    assert found is not None, placed.note
    assert abs(float(found.group(1)) - 8.0 * 3.0) < 0.05, placed.note
    cut = _rectangle(placed) & ~placed.mask
    box = np.zeros(SHAPE, dtype=bool)
    box[194:214, 118:128] = True
    assert np.array_equal(cut, box)
    assert placed.note.endswith(", less the roots found over 24.0 mm2 of the sac there and "
                                "1 mm around them (200 pixels cut out)"), placed.note


def test_a_root_only_beyond_the_roi_s_end_is_said_so():
    """A root from row 226 (station 101, just below the ROI's last station, 100) down.

    Averaged over 3 stations, station 101 has two thirds of the root's excess (16.7 %
    of the CSF, found) and station 100 a third (8.3 %, not found): no root is found in
    the ROI's own stations, but the 1 mm margin of the one at station 101 takes station
    100, the ROI's last row (224), over the root's columns and 2 pixels either side.
    """
    img = _sac(slice(226, 300))
    placed = place_csf(img, GEOMETRY, CENTRES)
    assert placed.level == "L3", placed.note
    cut = _rectangle(placed) & ~placed.mask
    box = np.zeros(SHAPE, dtype=bool)
    box[224, 118:128] = True
    assert np.array_equal(cut, box)
    assert placed.note.endswith(", less the 1 mm around roots found just beyond its ends "
                                "(10 pixels cut out)"), placed.note
    assert "roots found over" not in placed.note
