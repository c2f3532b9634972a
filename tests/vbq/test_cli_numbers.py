"""Whole-number options of the ``vbq`` command line: ASCII digits only, like the table cells."""

from __future__ import annotations

import pytest

from vbq.cli import main


@pytest.mark.parametrize(("argv", "option", "text", "words"), [
    (["score", "S", "--rois", "r.json", "--slice", "1_0"], "--slice", "1_0", "a whole number"),
    (["score", "S", "--rois", "r.json", "--slice", " 3"], "--slice", " 3", "a whole number"),
    (["score", "S", "--rois", "r.json", "--slice", "\u0663"], "--slice", "\u0663",
     "a whole number"),
    (["batch", "m.csv", "--out", "o.csv", "--workers", "1_6"], "--workers", "1_6",
     "a whole number"),
    (["phantom", "OUT", "--seed", "0x10"], "--seed", "0x10", "a whole number"),
    (["phantom", "OUT", "--slices", "1_5"], "--slices", "1_5", "a whole number"),
    (["demo", "--out", "D", "--seed", "7.0"], "--seed", "7.0", "a whole number"),
])
def test_whole_number_options_take_plain_digits_only(tmp_path, capsys, argv, option, text, words):
    argv = [str(tmp_path / a) if a in ("S", "OUT", "D") else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert err.splitlines() == [
        f"vbq {argv[0]}: error: argument {option}: {text!r} is not {words}"]
    assert not any(p.name == "OUT" for p in tmp_path.iterdir())  # nothing written


def test_a_huge_whole_number_is_refused_in_one_short_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["score", str(tmp_path), "--rois", "r.json", "--slice", "9" * 5000])
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert err.splitlines() == [
        f"vbq score: error: argument --slice: {'9' * 20}... (5000 characters) is too large"]


def test_plain_numbers_in_options_are_read():
    from vbq.commands import plain_int

    assert plain_int("-3") == -3 and plain_int("+12") == 12 and plain_int("007") == 7


@pytest.mark.parametrize(("argv", "option", "text", "words"), [
    (["phantom", "OUT", "--vbq", "1_0"], "--vbq", "'1_0'", "is not a decimal number"),
    (["phantom", "OUT", "--rescale-intercept", "nan"], "--rescale-intercept", "'nan'",
     "is not a decimal number"),
    (["phantom", "OUT", "--rescale-slope", "inf"], "--rescale-slope", "'inf'",
     "is not a decimal number"),
    (["phantom", "OUT", "--rescale-slope", "1e999"], "--rescale-slope", "1e999", "is too large"),
    (["demo", "--out", "D", "--vbq", " 3"], "--vbq", "' 3'", "is not a decimal number"),
    (["demo", "--out", "D", "--vbq", "\u0663"], "--vbq", "'\u0663'", "is not a decimal number"),
])
def test_decimal_options_take_plain_numbers_only(tmp_path, capsys, argv, option, text, words):
    argv = [str(tmp_path / a) if a in ("S", "OUT", "D") else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert err.splitlines() == [f"vbq {argv[0]}: error: argument {option}: {text} {words}"]
    assert not any(p.name in ("OUT", "D") for p in tmp_path.iterdir())  # nothing written


def test_decimal_options_accept_plain_numbers():
    from vbq.commands import plain_float

    assert [plain_float(t) for t in ("3.2", "3", "-1e3", ".5", "+2.", "1E-2")] == [
        3.2, 3.0, -1000.0, 0.5, 2.0, 0.01]


@pytest.mark.parametrize("value", ["-1e3", "-1E+3", "-.5e4"])
def test_a_negative_number_in_scientific_notation_is_an_option_value(tmp_path, capsys, value):
    out = tmp_path / "OUT"
    assert main(["phantom", str(out), "--vbq", value]) == 2
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"vbq: error: target VBQ {float(value)} (--vbq) is outside the supported range 0.5 to 10"]
    assert not out.exists()


def test_a_negative_rescale_intercept_in_scientific_notation_is_read(tmp_path, capsys):
    out = tmp_path / "OUT"
    argv = ["phantom", str(out), "--slices", "3", "--size", "64", "--distractors", "none",
            "--rescale-intercept", "-1e2"]
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    import pydicom

    first = sorted((out / "series").rglob("*.dcm"))[0]
    assert float(pydicom.dcmread(first, stop_before_pixels=True).RescaleIntercept) == -100.0


def test_a_negative_value_does_not_swallow_a_following_option(tmp_path, capsys):
    # a value that looks like an option other than a number is still argparse's to refuse
    with pytest.raises(SystemExit) as info:
        main(["phantom", str(tmp_path / "OUT"), "--vbq", "--seed", "3"])
    assert info.value.code == 2
    assert "argument --vbq: expected one argument" in capsys.readouterr().err
