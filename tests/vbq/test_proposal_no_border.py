"""A click whose body shows no border is refused with a sentence naming the border not seen.

References by construction: a hand-built slice of marrow-like signal with no border
within reach of the click, and the realistic phantom (seed 55, variants drawn at
random, 192 x 192 x 7: discs as bright as the marrow, 8-bit pixels of 1.46 mm) whose
L2 shows no lower endplate at its true centre.
"""

import numpy as np
import pytest

from vbq import score_series
from vbq.dicom.geometry import SliceGeometry
from vbq.errors import BodyNotFoundError
from vbq.phantom import make_phantom
from vbq.roi.proposal import fit_body


def test_no_border_and_no_body_near_says_which_border_was_not_seen():
    """Marrow-like signal (100) over 120 x 120 mm, soft tissue (40) beyond: from a click in
    its middle no dark band lies within 32 mm either way, and none above or below."""
    img = np.full((200, 200), 40.0)
    img[40:160, 40:160] = 100.0
    geo = SliceGeometry(np.zeros(3), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]),
                        (1.0, 1.0), img.shape)
    with pytest.raises(BodyNotFoundError) as err:
        fit_body(img, geo, (100.0, 100.0), name="L3", marrow=100.0)
    msg = str(err.value)
    assert msg.startswith("L3: no upper endplate or lower endplate or posterior wall or "
                          "anterior wall of a vertebral body was found within 32 mm of the "
                          "click at [100.0, 100.0] (row, column), nor a body above or below it")
    assert "--slice" in msg and "inf" not in msg.split(";")[0]


def test_a_body_whose_lower_endplate_is_not_seen_is_refused_saying_so(tmp_path):
    """The L2 click at its true centre: the lower endplate is too faint to be found, the
    bodies above and below are other clicks'. The sentence names the endplate not seen
    and what to try; it said the click was not inside a body."""
    out = tmp_path / "p"
    make_phantom(out, anatomy="realistic", seed=55, variants="random", rows=192, n_slices=7)
    with pytest.raises(BodyNotFoundError) as err:
        score_series(out / "series", seeds=out / "seeds.json")
    msg = str(err.value)
    assert "(L2): no lower endplate of a vertebral body was found within 32 mm" in msg, msg
    assert "bodies above and below it are other clicks'" in msg
    assert "--slice" in msg and "ROI file" in msg
    assert "is not inside a vertebral body" not in msg


@pytest.mark.parametrize("spot", [170.0, 50.0])
def test_a_bright_or_dark_click_with_no_border_is_not_inside_a_body(spot):
    """The marrow-like square of the first test with a spot 3 mm in radius at the click,
    brighter than the marrow (fat, 1.7 x) or darker (0.5 x): a click on fat or in the
    canal is not said to be in a body whose borders were not seen."""
    img = np.full((200, 200), 40.0)
    img[40:160, 40:160] = 100.0
    rr, cc = np.mgrid[0:200, 0:200]
    img[(rr - 100) ** 2 + (cc - 100) ** 2 <= 9] = spot
    geo = SliceGeometry(np.zeros(3), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]),
                        (1.0, 1.0), img.shape)
    with pytest.raises(BodyNotFoundError) as err:
        fit_body(img, geo, (100.0, 100.0), name="L3", marrow=100.0)
    msg = str(err.value)
    assert "is not inside a vertebral body" in msg, msg
    assert "endplate" not in msg
