"""Protocols as data (DESIGN.md table)."""

import pytest

from vbq.errors import InputError
from vbq.protocol import PROTOCOLS, Protocol, get_protocol


def test_built_in_protocols_match_the_design_table():
    assert PROTOCOLS["lumbar"].levels == ("L1", "L2", "L3", "L4")
    assert PROTOCOLS["lumbar"].csf_levels == ("L3", "L2", "L1")
    assert PROTOCOLS["cervical"].levels == ("C3", "C4", "C5", "C6")
    assert PROTOCOLS["cervical"].csf_levels == ("C2",)
    assert PROTOCOLS["thoracic"].levels == ("T5", "T6", "T7", "T8")
    assert PROTOCOLS["thoracic"].csf_levels == ("T7",)
    assert PROTOCOLS["s1"].levels == ("S1",) and PROTOCOLS["s1"].csf_levels == ("L3",)
    assert all(p.statistic == "mean" for p in PROTOCOLS.values())
    assert [p.min_levels for p in PROTOCOLS.values()] == [2, 2, 2, 1]


def test_get_protocol():
    assert get_protocol("Lumbar") is PROTOCOLS["lumbar"]
    custom = Protocol("mine", ("L2", "L3"), ("L3",))
    assert get_protocol(custom) is custom
    with pytest.raises(InputError, match="unknown protocol 'sacral'"):
        get_protocol("sacral")


def test_invalid_protocols():
    with pytest.raises(InputError, match="unknown level"):
        Protocol("x", ("L9",), ("L3",))
    with pytest.raises(InputError, match="min_levels"):
        Protocol("x", ("L1",), ("L3",), min_levels=2)
    with pytest.raises(InputError, match="statistic"):
        Protocol("x", ("L1", "L2"), ("L3",), statistic="mode")
