"""Every line of the QC figure stays inside the figure, however long or wide its words.

References: the figure is rendered and each text artist's window extent
(matplotlib's own measure of the drawn text) is compared with the figure's
box; the warning texts are made up to be long and set in wide capitals.
"""

from __future__ import annotations

import dataclasses

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

import vbq
from vbq.phantom import make_phantom
from vbq.qc import _figsize, _text_width, plot_qc, wrap_to_width

WIDE = ("SERIES 'T1 SAG TSE WITH A VERY LONG DESCRIPTION WRITTEN BY THE SCANNER' MEASURED "
        "WITH MANY WORDS IN CAPITALS WHICH ARE WIDER THAN LOWER CASE LETTERS ") * 2
LONG_WORD = "W" * 90 + " and after it a few ordinary words"


@pytest.fixture(scope="module")
def result():
    import tempfile

    info = make_phantom(tempfile.mkdtemp(), n_slices=7, rows=128, distractors=())
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    return dataclasses.replace(res, warnings=(WIDE, LONG_WORD, "short"),
                               warning_codes=("other", "other", "other"),
                               series={**(res.series or {}),
                                       "description": "LONG SERIES DESCRIPTION " * 6})


def _texts_outside(fig: Figure) -> list[str]:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text():
            continue
        e = t.get_window_extent(renderer)
        if e.x0 < box.x0 - 0.5 or e.x1 > box.x1 + 0.5 or e.y0 < box.y0 - 0.5 \
                or e.y1 > box.y1 + 0.5:
            out.append(t.get_text()[:50])
    return out


def test_the_lines_under_the_image_stay_inside_the_saved_figure(result):
    fig = Figure(figsize=_figsize(result), layout="constrained")
    ax = plot_qc(result, ax=fig.add_subplot(), own=True)
    assert _texts_outside(fig) == []
    label = ax.get_xlabel()
    for word in WIDE.split() + ["WWWWWWWWWW", "short", "LONG", "DESCRIPTION"]:
        assert word in label  # every word is drawn, none cut away
    assert "W" * 90 in "".join(label.split())  # the long word, cut, all there


def test_the_pyplot_figure_keeps_them_inside_too(result):
    import matplotlib.pyplot as plt

    ax = result.plot_qc()
    try:
        assert _texts_outside(ax.figure) == []
    finally:
        plt.close(ax.figure)


def test_wrapping_measures_the_words():
    lines = wrap_to_width(WIDE, 300.0, 7.0, indent="   ")
    assert len(lines) > 2
    assert all(_text_width(line, 7.0) <= 300.0 for line in lines)
    assert all(line.startswith("   ") for line in lines[1:])
    assert " ".join(" ".join(line.split()) for line in lines) == " ".join(WIDE.split())
    # narrow letters fit more on a line than wide ones
    assert len(wrap_to_width("i " * 200, 300.0)) < len(wrap_to_width("W " * 200, 300.0))
    assert wrap_to_width("", 100.0) == [""]


def test_long_text_and_unbroken_words_wrap_in_a_few_measurements(monkeypatch):
    """Each line, measured whole with the font, fits; a 900-character path without a space
    is cut into fitting pieces; and the wrapping takes a measurement per word or cut (a
    line re-measured per word, or a word per character, took thousands and seconds)."""
    import vbq.qc as qc

    long_word = "/data/" + "1.2.840.113619.2.55.3." * 40 + "dcm"
    text = ("- [csf_roi_heterogeneous] the CSF ROI's signal varies by 27% (SD / mean), more "
            "than 25%: it may include epidural fat or nerve roots; check it " + long_word
            + " on the QC figure ") * 3
    measured = []
    real = getattr(qc._text_width, "__wrapped__", qc._text_width)

    def counting(text: str, size: float) -> float:
        measured.append(text)
        return real(text, size)

    monkeypatch.setattr(qc, "_text_width", counting)
    lines = qc.wrap_to_width(text, 300.0, indent="   ")
    assert len(measured) < 1000, len(measured)   # re-measured per word and character: 14,111
    assert len(lines) > 10
    assert all(real(line, 7.0) <= 300.0 for line in lines)
    assert "".join(line.strip() for line in lines).replace(" ", "") == text.replace(" ", "")
