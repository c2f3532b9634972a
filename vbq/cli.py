"""The ``vbq`` command line: one sub-command per module in :mod:`vbq.commands`.

Machine-readable output goes to stdout; logs and warnings to stderr. Exit codes:
0 ok, 1 analysis failure, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from vbq.errors import VBQError, one_line, print_message

#: Modules that each define ``register(subparsers)``; the parser they add sets
#: ``func`` to a callable ``run(args) -> int``.
COMMANDS: tuple[str, ...] = (
    "vbq.commands.score",
    "vbq.commands.batch",
    "vbq.commands.from_values",
    "vbq.commands.phantom",
    "vbq.commands.demo",
    "vbq.commands.agreement",
    "vbq.commands.serve",
    "vbq.commands.readings",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one sentence and exit 2."""

    def error(self, message: str) -> NoReturn:  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}\n")


#: What argparse itself reads as a negative number, not an option (``-3``, ``-3.5``).
_PLAIN_NEGATIVE = re.compile(r"-[0-9]+|-[0-9]*\.[0-9]+")
#: A token that starts as a negative number does (``-3,5``, ``-1e3``, ``-.5``): no
#: option of ``vbq`` starts so.
_STARTS_NEGATIVE = re.compile(r"-\.?[0-9]")


def join_negative_values(argv: Sequence[str]) -> list[str]:
    """Return ``argv`` with ``--option -3,5`` written as ``--option=-3,5``.

    argparse takes a token starting with ``-`` for an option unless it is a
    plain negative number (``-3``, ``-3.5``): ``--csf-point -3,5`` or ``--vbq
    -1e3`` would be refused as an option without its value, before the value
    reaches the command's own checks. Joined to the long option before it, the
    value is that option's (one that takes no value refuses it, as argparse
    refuses any value given to it). Plain negative numbers, and every token
    after ``--``, are left as they are.

    Parameters
    ----------
    argv
        The command line's arguments, without the program name.

    Returns
    -------
    list of str
        The arguments to parse.

    Examples
    --------
    >>> join_negative_values(["score", "S", "--csf-point", "-3,5", "--slice", "-1"])
    ['score', 'S', '--csf-point=-3,5', '--slice', '-1']
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


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command."""
    parser = _Parser(prog="vbq", description="Vertebral bone quality (VBQ) score from lumbar MRI.",
                     epilog="Run 'vbq COMMAND --help' for the options of one command. Results go "
                     "to stdout, warnings and errors to stderr. Exit codes: 0 ok, 1 the "
                     "analysis failed, 2 bad input or usage.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a sub-command not installed in this build
            if err.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    An option's value may start with ``-`` when it starts as a negative number
    does (``--csf-point -3,5``, ``--rescale-intercept -1e3``): see
    :func:`join_negative_values`.
    """
    parser = build_parser()
    args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except VBQError as err:
        print_message("error", err)
        return err.exit_code
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as err:  # Ctrl-C; a batch also says what it kept (SIGTERM too)
        said = str(err)
        print(f"vbq: interrupted: {one_line(said)}" if said else "vbq: interrupted",
              file=sys.stderr)
        return int(getattr(err, "exit_code", 130))
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as err:  # noqa: BLE001  an unexpected failure: one line unless debugging
        # BaseException: a decoder written in Rust reports a damaged file by a panic
        # (pyo3's PanicException), which derives from BaseException only
        if os.environ.get("VBQ_DEBUG"):
            raise
        print_message("internal error",
                      f"{type(err).__name__}: {err} (set VBQ_DEBUG=1 for a traceback)")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
