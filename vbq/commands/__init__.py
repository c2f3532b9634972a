"""Sub-commands of the ``vbq`` command line.

Whole-number options are read with :func:`plain_int` and decimal ones with
:func:`plain_float`, rather than ``int`` and ``float``, which would also take
``1_000``, non-ASCII digits, surrounding spaces, ``nan`` and ``inf``.
"""

from __future__ import annotations

import argparse
import re

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def plain_int(text: str) -> int:
    """Read an integer option value written with ASCII digits (and an optional sign) only.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else; argparse turns it into a usage error (exit 2).
    """
    from vbq.fileio import shown_text

    if not _INT.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{shown_text(text)!r} is not a whole number")
    if len(text.lstrip("+-0")) > 18:
        raise argparse.ArgumentTypeError(f"{text[:20]}... ({len(text)} characters) is too "
                                         "large")
    return int(text)


def plain_float(text: str) -> float:
    """Read a decimal option value (``3.2``, ``-1e3``): ASCII digits, point and exponent only.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else, ``nan``, ``inf`` and values too large for a double
        included; argparse turns it into a usage error (exit 2).
    """
    import math

    from vbq.fileio import shown_text

    shown = shown_text(text)
    if not _FLOAT.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{shown!r} is not a decimal number")
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{shown} is too large")
    return value
