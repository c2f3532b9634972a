"""Numeric option values of the command line, read strictly and checked as they are parsed.

Every numeric option is declared with a type function of this module rather than
``int`` or ``float``: those would take ``nan``, ``inf``, ``1_000`` and values far
out of range, and argparse would print the whole token of a value they refuse,
however long. A value refused here is one usage error (exit 2) naming the option
(argparse adds ``argument --OPTION:``) and showing the value short
(:func:`metaanalysis.table.shown_value`). :func:`join_negative_values` lets a
value start with ``-`` (``--at -1e3``).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence

__all__ = ["join_negative_values", "whole_number", "decimal_number", "probability"]

_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: What argparse itself reads as a negative number, not an option (``-3``, ``-3.5``).
_PLAIN_NEGATIVE = re.compile(r"-[0-9]+|-[0-9]*\.[0-9]+")
#: A token that starts as a negative number does (``-1e3``, ``-.5e-2``), or is a
#: negative infinity or NaN (refused by the option's type, not taken for an option): no
#: option of ``metaanalysis`` starts so.
_STARTS_NEGATIVE = re.compile(r"-(?:\.?[0-9]|inf|nan)", re.IGNORECASE)
_NOT_FINITE = ("nan", "inf", "infinity")


def join_negative_values(argv: Sequence[str]) -> list[str]:
    """Return ``argv`` with ``--option -1e3`` written as ``--option=-1e3``.

    argparse takes a token starting with ``-`` for an option unless it is a
    plain negative number (``-3``, ``-3.5``), so ``--at -1e3`` would be refused
    as an option without its value (``--at -inf`` too, which the option's type
    then refuses as not finite). Joined to the long option before it, the
    value is that option's; plain negative numbers, and every token after
    ``--``, are left as they are.

    Parameters
    ----------
    argv : sequence of str
        The command line's arguments, without the program name.

    Returns
    -------
    list of str
        The arguments to parse.

    Examples
    --------
    >>> join_negative_values(["thresholds", "F", "--at", "-1e3", "--at", "-2"])
    ['thresholds', 'F', '--at=-1e3', '--at', '-2']
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if (token.startswith("--") and len(token) > 2 and "=" not in token
                and _STARTS_NEGATIVE.match(value) and not _PLAIN_NEGATIVE.fullmatch(value)):
            out.append(f"{token}={value}")
            i += 2
        else:
            out.append(token)
            i += 1
    return out


def _refuse(text: str, what: str) -> argparse.ArgumentTypeError:
    """Return the error of a value ``text`` that is not ``what``, the value shown short."""
    from metaanalysis.table import shown_value

    return argparse.ArgumentTypeError(f"{shown_value(text)} is not {what}")


def _finite(text: str) -> float:
    """Read ``text`` as a plain decimal number (ASCII digits, point, exponent) that is finite."""
    if not _DECIMAL.fullmatch(text):
        finite = text.strip().lstrip("+-").lower() not in _NOT_FINITE
        raise _refuse(text, "a number" if finite else "a finite number")
    value = float(text)
    if not math.isfinite(value):
        raise _refuse(text, "a finite number")
    return value


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """Return a type function reading a whole number from ``low`` to ``high``.

    Parameters
    ----------
    low, high : int
        The smallest and largest value accepted.

    Returns
    -------
    callable
        ``str -> int``; raises :class:`argparse.ArgumentTypeError` for anything else.

    Examples
    --------
    >>> whole_number(1, 50)("7")
    7
    >>> whole_number(1, 50)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '0' is not a whole number from 1 to 50
    >>> whole_number(1, 50)("1e3")  # the range is named whatever the notation
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '1e3' is not a whole number from 1 to 50
    """
    what = f"a whole number from {low} to {high}"
    digits = len(str(max(abs(low), abs(high))))

    def read(text: str) -> int:
        if not _WHOLE.fullmatch(text):
            raise _refuse(text, what)
        if len(text.lstrip("+-0")) > digits:  # out of range; int() refuses 4,301 digits
            raise _refuse(text, what)
        value = int(text)
        if not low <= value <= high:
            raise _refuse(text, what)
        return value

    return read


def decimal_number(low: float | None = None, high: float | None = None
                   ) -> Callable[[str], float]:
    """Return a type function reading a finite number, strictly between ``low`` and ``high``.

    Parameters
    ----------
    low, high : float, optional
        Bounds the value must lie strictly between (None: no bound on that side).

    Returns
    -------
    callable
        ``str -> float``; raises :class:`argparse.ArgumentTypeError` for a value
        that is not a number, not finite (``nan``, ``inf``, ``1e999``) or out of range.

    Examples
    --------
    >>> decimal_number()("-1e3")
    -1000.0
    >>> decimal_number(0, 1)("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'nan' is not a finite number
    """
    if low is not None and high is not None:
        what = f"a number strictly between {low:g} and {high:g}"
    elif low is not None:
        what = f"a number above {low:g}"
    elif high is not None:
        what = f"a number below {high:g}"
    else:
        what = "a finite number"

    def read(text: str) -> float:
        value = _finite(text)
        if (low is not None and value <= low) or (high is not None and value >= high):
            raise _refuse(text, what)
        return value

    return read


#: A probability or a weight (``--pretest``, ``--prevalence``, ``--alpha``, ``--lambda``):
#: strictly between 0 and 1.
probability = decimal_number(0.0, 1.0)
