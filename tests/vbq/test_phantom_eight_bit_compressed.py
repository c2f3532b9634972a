"""An 8-bit realistic phantom written compressed decodes to the values it stores.

By construction: ``expected.json["vbq"]`` is the VBQ of the written pixels; a
compressed file whose segments disagree with its BitsAllocated cannot be decoded
(an RLE encoder makes one segment per stored byte).
"""

import pytest

import vbq
from vbq.phantom import make_phantom


@pytest.mark.parametrize("compress", ["rle", "jpegls", "j2k"])
def test_eight_bit_compressed_phantom_scores_its_truth(tmp_path, compress):
    info = make_phantom(tmp_path / "p", anatomy="realistic", seed=4, variants="random,eight_bit",
                        compress=compress, rows=128, n_slices=5)
    assert info.expected["bits_stored"] == 8
    res = vbq.score_series(info.series_dir, rois=info.rois_path)
    assert res.vbq == pytest.approx(info.expected["vbq"], rel=1e-12)
