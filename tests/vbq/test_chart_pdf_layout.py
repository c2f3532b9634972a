"""The one-page chart PDF: no text is printed over other text.

The reference is an independent reader of the PDF, poppler's ``pdftotext -bbox``, which
gives every word's box on the page. The middle of two words' boxes (their height less a
third above and below: the boxes hold the font's ascent and descent) must not overlap.
A phantom is scored with and without excluded levels (which lengthen the QC figure's
caption below its image, where the text of the page begins).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                reason="poppler-utils (pdftotext) not installed")


def _words(pdf) -> list[tuple[float, float, float, float, str]]:
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    return [(float(a), float(b), float(c), float(d), html.unescape(w)) for a, b, c, d, w in
            re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                       r'yMax="([\d.]+)">([^<]*)</word>', out)]


def _overlaps(words) -> list[tuple[str, str]]:
    def core(w):
        h = w[3] - w[1]
        return w[0], w[1] + h / 3, w[2], w[3] - h / 3
    found = []
    for i, a in enumerate(words):
        for b in words[i + 1:]:
            p, q = core(a), core(b)
            if min(p[2], q[2]) - max(p[0], q[0]) > 0.5 and min(p[3], q[3]) - max(p[1], q[1]) > 0.5:
                found.append((a[4], b[4]))
    return found


@pytest.mark.parametrize("exclude", [None, {"L2": "fracture", "L3": "hemangioma"}])
def test_no_text_of_the_chart_page_lies_over_other_text(tmp_path, exclude):
    from vbq.phantom import make_phantom
    from vbq.score import score_series
    from vbq.serve.exports import write_pdf

    info = make_phantom(tmp_path / "p", n_slices=7, rows=128, distractors=())
    result = score_series(info.series_dir, rois=info.rois_path, exclude=exclude)
    pdf = write_pdf(result, tmp_path / "chart.pdf", reader="Dr. Ann-x",
                    read_at="2026-01-01T00:00:00Z", reading_id=1, version="0")
    words = _words(pdf)
    assert any(w[4] == "Published" for w in words)  # the page's text is read
    assert _overlaps(words) == []
