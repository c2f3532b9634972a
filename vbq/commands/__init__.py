"""Sub-commands of the ``vbq`` command line.

Whole-number options are read with :func:`plain_int` rather than ``int``,
which would also take ``1_000``, non-ASCII digits and surrounding spaces.
"""

from __future__ import annotations

import argparse
import re

_INT = re.compile(r"[+-]?[0-9]+")


def plain_int(text: str) -> int:
    """Read an integer option value written with ASCII digits (and an optional sign) only.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else; argparse turns it into a usage error (exit 2).
    """
    if not _INT.fullmatch(text):
        shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
        raise argparse.ArgumentTypeError(f"{shown!r} is not a whole number")
    if len(text.lstrip("+-0")) > 18:
        raise argparse.ArgumentTypeError(f"{text[:20]}... ({len(text)} characters) is too "
                                         "large")
    return int(text)
