"""The model and table options of every sub-command, declared once with one set of messages.

:func:`add_model_options` adds ``--model``, ``--method``, ``--correction``,
``--nagq`` and, where the command offers them, ``--optimizer`` and ``--pirls``;
:func:`model_kwargs` checks the combination given and returns the keyword
arguments of the chosen fitting function. An option that the chosen model does
not use is a usage error (exit 2) naming the option, never silently ignored.
:func:`add_table_options` adds ``--study-column``, ``--sheet`` and ``--columns``
to every command that reads a study table; :func:`table_kwargs` turns them into
the keywords of :meth:`metaanalysis.table.StudyTable.read`, the one reader.
"""

from __future__ import annotations

import argparse
from typing import Any

from metaanalysis.commands._numbers import whole_number
from metaanalysis.errors import InputError
from metaanalysis.models.registry import MAX_NAGQ

__all__ = ["CORRECTIONS", "add_model_options", "add_table_options", "model_kwargs",
           "table_kwargs"]

#: Continuity-correction rules (:meth:`metaanalysis.table.StudyTable.corrected`).
CORRECTIONS: tuple[str, ...] = ("all", "single", "none")
_HELP = {
    "model": "model to fit: {models} (default: reitsma)",
    "method": "estimation method: reml (default) or ml for reitsma{dl}; not used by glmm",
    "correction": "continuity correction for zero cells (default: all, as mada); not used by "
                  "glmm",
    "nagq": "quadrature points per dimension, --model glmm only (default 1 = Laplace; at "
            f"most {MAX_NAGQ})",
    "optimizer": "reitsma: newton (default; reaches the maximum) or mada (follows mada's "
                 "IGLS + BFGS path and reproduces its numbers)",
    "pirls": "--model glmm with --nagq 1: exact (default; Laplace at the exact conditional "
             "modes) or lme4 (reproduces glmer's default output)",
}


def add_model_options(parser: argparse.ArgumentParser, models: tuple[str, ...], *,
                      optimizer: bool = False, pirls: bool = False) -> None:
    """Add the model options to a sub-command's parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser.
    models : tuple of str
        The models the command offers (``reitsma`` first, the default).
    optimizer, pirls : bool
        Also add ``--optimizer`` (Reitsma) and ``--pirls`` (GLMM).
    """
    univariate = "univariate" in models
    methods = ("reml", "ml", "dl") if univariate else ("reml", "ml")
    parser.add_argument("--model", choices=models, default="reitsma",
                        help=_HELP["model"].format(models=", ".join(models)))
    parser.add_argument("--method", choices=methods, default=None,
                        help=_HELP["method"].format(
                            dl="; dl (default) or reml for univariate" if univariate else ""))
    parser.add_argument("--correction", choices=CORRECTIONS, default=None,
                        help=_HELP["correction"])
    parser.add_argument("--nagq", type=whole_number(1, MAX_NAGQ), default=1,
                        help=_HELP["nagq"])
    if optimizer:
        parser.add_argument("--optimizer", choices=("newton", "mada"), default="newton",
                            help=_HELP["optimizer"])
    if pirls:
        parser.add_argument("--pirls", choices=("exact", "lme4"), default="exact",
                            help=_HELP["pirls"])


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Check the model options of ``args`` and return the fitting function's keywords.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser given :func:`add_model_options`.

    Returns
    -------
    dict
        ``reitsma``: ``method``, ``correction`` (and ``optimizer``); ``glmm``:
        ``nagq`` (and ``pirls``); ``univariate``: ``method`` (``"DL"`` or
        ``"REML"``), ``correction``.

    Raises
    ------
    InputError
        An option the chosen model does not use, or a value it does not accept.
    """
    model = args.model
    method, correction, nagq = args.method, args.correction, args.nagq
    optimizer = getattr(args, "optimizer", "newton")
    pirls = getattr(args, "pirls", "exact")
    if model == "glmm":
        if method is not None:
            raise InputError(f"--method {method} is not used by --model glmm (the GLMM is "
                             "fitted by maximum likelihood); set its accuracy with --nagq.")
        if correction not in (None, "none"):
            raise InputError(f"--correction {correction} is not used by --model glmm (its "
                             "binomial likelihood needs no continuity correction); drop it.")
        if nagq < 1:
            raise InputError(f"--nagq must be at least 1; got {nagq}.")
        if pirls == "lme4" and nagq != 1:
            raise InputError(f"--pirls lme4 is glmer's Laplace fit and needs --nagq 1, got "
                             f"--nagq {nagq}; use --pirls exact for adaptive quadrature.")
    else:
        if nagq != 1:
            raise InputError(f"--nagq is only used by --model glmm; drop it for --model "
                             f"{model}.")
        if pirls != "exact":
            raise InputError(f"--pirls is only used by --model glmm; drop it for --model "
                             f"{model}.")
    if model != "reitsma" and optimizer != "newton":
        raise InputError(f"--optimizer {optimizer} is only used by --model reitsma.")
    if model == "glmm":
        return {"nagq": nagq, **({"pirls": pirls} if hasattr(args, "pirls") else {})}
    if model == "univariate":
        if method == "ml":
            raise InputError("--method ml is not available for --model univariate; use dl or "
                             "reml.")
        return {"method": (method or "dl").upper(), "correction": correction or "all"}
    if method == "dl":
        raise InputError("--method dl is only for --model univariate; use reml or ml.")
    kw: dict[str, Any] = {"method": method or "reml", "correction": correction or "all"}
    if hasattr(args, "optimizer"):
        kw["optimizer"] = optimizer
    return kw


def add_table_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--study-column``, ``--sheet`` and ``--columns`` to a command reading a study table.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser.
    """
    parser.add_argument("--study-column", metavar="NAME", default=None,
                        help="column holding the study names (default: study, else "
                             "study_id, else id, in any case)")
    parser.add_argument("--sheet", metavar="SHEET", default=None,
                        help="for an .xlsx workbook: the sheet to read, by name or position "
                             "from 1 (default: the first sheet)")
    parser.add_argument("--columns", metavar="MAP", default=None,
                        help="rename the file's columns: NAME=HEADER pairs, comma-separated, "
                             "e.g. study=Trial,TP=tp,FP=fp,FN=fn,TN=tn (any case)")


def table_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Return the keywords of :meth:`~metaanalysis.table.StudyTable.read` from the table options.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser given :func:`add_table_options`.

    Returns
    -------
    dict
        ``sheet`` and ``columns`` (a parsed mapping, or None).

    Raises
    ------
    InputError
        A ``--columns`` value that is not ``NAME=HEADER`` pairs.
    """
    from metaanalysis.table import parse_column_map

    text = getattr(args, "columns", None)
    return {"sheet": getattr(args, "sheet", None),
            "columns": parse_column_map(text) if text is not None else None}
