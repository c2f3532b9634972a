"""Run one fuzz case through a command line and list what it did wrong.

A case is a mutated input plus what an oracle knows about it:

- ``expect=None``: nothing is known; only the universal contract is checked;
- ``expect="refused"``: the input is invalid, so no result may be produced
  (exit 1 or 2);
- ``expect="input"``: the input is malformed (a non-number, a duplicate or
  missing key, ...), so the exit code must be 2;
- ``unused_level``: no voxel carries that level's label, so a result must not
  use the level;
- ``truth``: the input means the same as a reference input, so a result, if
  one is produced, must equal ``truth`` within ``rel`` (``truth_only`` makes
  a refusal acceptable too).

The universal contract, for every case: the exit code is 0, 1 or 2; nothing
but the project's own errors and ``SystemExit`` escapes ``main``; stderr holds
no traceback, no "internal error" and no line that is not the program's own
(a raw Python warning is two lines with a source path); a failed run prints
one ``error:`` sentence; a ``--json`` result on stdout is strict JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Warning categories a real run never shows (Python hides them outside ``__main__``).
_HIDDEN = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning, ImportWarning)


@dataclass
class Case:
    """One mutated input and what is known about it."""

    kind: str
    family: str
    detail: str
    argv: list[str]
    expect: str | None = None
    truth: float | None = None
    rel: float = 1e-9
    truth_only: bool = False
    multi_error: bool = False
    unused_level: str | None = None


@dataclass
class Outcome:
    """What one run did."""

    rc: int | None
    out: str
    err: str
    escaped: str | None = None
    stray: list[str] = field(default_factory=list)


def _prints(record: logging.LogRecord) -> bool:
    """Whether a real run would print ``record`` on stderr (pytest's own handlers aside)."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    found = 0
    while logger is not None:
        for h in logger.handlers:
            if type(h).__module__.startswith("_pytest") or isinstance(h, _Recorder):
                continue
            found += 1
            # a stream handler made at import time holds whatever stderr was then
            if record.levelno >= h.level and type(h) is logging.StreamHandler \
                    and getattr(h, "stream", None) not in (sys.stdout, sys.__stdout__):
                return True
        if not logger.propagate:
            break
        logger = logger.parent  # type: ignore[assignment]
    last = logging.lastResort
    return found == 0 and last is not None and record.levelno >= last.level


class _Recorder(logging.Handler):
    """Keeps the log records a real run would print on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        if _prints(record):
            self.lines.append(f"log {record.name}: {record.getMessage()[:120]}")


def run_inprocess(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> Outcome:
    """Call ``main(argv)`` with stdout/stderr captured; never let a crash escape.

    Python warnings and log records that a real run would print on stderr
    (beside the program's own lines) are collected in ``stray``.
    """
    out, err = io.StringIO(), io.StringIO()
    rc: int | None = None
    escaped = None
    recorder = _Recorder()
    root = logging.getLogger()
    root.addHandler(recorder)
    try:
        rc, escaped, stray = _call(main, argv, out, err)
    finally:
        root.removeHandler(recorder)
    return Outcome(rc, out.getvalue(), err.getvalue(), escaped, stray + recorder.lines)


def _call(main: Callable[[Sequence[str]], int], argv: Sequence[str], out: io.StringIO,
          err: io.StringIO) -> tuple[int | None, str | None, list[str]]:
    rc: int | None = None
    escaped = None
    with warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code
            rc = code if isinstance(code, int) else (0 if code is None else 1)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - the point is to catch anything
            escaped = f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:160]}"
    stray = [f"{w.category.__name__}: {str(w.message)[:120]} ({Path(w.filename).name})"
             for w in caught if not issubclass(w.category, _HIDDEN)]
    return rc, escaped, stray


def run_subprocess(exe: Path, argv: Sequence[str], timeout: float = 120) -> Outcome:
    """Run the installed console script, as a user would."""
    r = subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    return Outcome(r.returncode, r.stdout, r.stderr)


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity."""
    def refuse(token: str) -> None:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


def problems(prog: str, case: Case, o: Outcome,
             value_of: Callable[[Any], float | None]) -> list[str]:
    """Everything ``o`` did against the contract and the case's oracle."""
    if o.escaped:
        return [f"escaped main: {o.escaped}"]
    found: list[str] = []
    if o.rc not in (0, 1, 2):
        found.append(f"exit code {o.rc}")
    lines = o.err.splitlines()
    if "Traceback" in o.err:
        found.append("traceback on stderr")
    internal = [ln for ln in lines if "internal error" in ln]
    if internal:
        found.append(internal[0])
    alien = [ln for ln in lines if not ln.startswith((prog, "wrote "))]
    if alien and not internal:
        found.append(f"stderr line that is not {prog}'s: {alien[0][:160]}")
    errors = [ln for ln in lines if re.match(rf"{prog}( [\w-]+)?: error: ", ln)]
    if o.rc in (1, 2) and not internal:
        if not errors:
            found.append(f"exit {o.rc} without an error sentence")
        elif len(errors) > 1 and not case.multi_error:
            found.append(f"{len(errors)} error lines for one failure")
    if o.rc == 0 and errors and not case.multi_error:
        found.append(f"error printed but exit 0: {errors[0][:160]}")
    found.extend(f"stray {'output' if w.startswith('log ') else 'Python warning'} {w}"
                 for w in o.stray)
    if "--json" in case.argv and o.out.strip():
        try:
            doc = strict_json(o.out)
        except ValueError as err:
            found.append(f"stdout is not strict JSON ({str(err)[:80]})")
            return found
        if o.rc == 0:
            value = value_of(doc)
            if case.expect in ("refused", "input"):
                found.append(f"a result ({value!r}) from input that must be refused")
            elif value is not None and (not isinstance(value, (int, float))
                                        or not math.isfinite(value)):
                found.append(f"non-finite result {value!r}")
            elif case.unused_level and isinstance(doc, dict) and \
                    (doc.get("levels") or {}).get(case.unused_level, {}).get("used"):
                found.append(f"{case.unused_level} measured although no voxel carries "
                             "its label")
            elif case.truth is not None and value is not None \
                    and not math.isclose(value, case.truth, rel_tol=case.rel):
                found.append(f"silently different result {value!r}, want {case.truth!r}")
    elif o.rc == 0 and case.expect in ("refused", "input"):
        found.append("exit 0 on input that must be refused")
    if case.expect == "input" and o.rc == 1 and not internal:
        found.append("exit 1 for malformed input, want 2")
    if case.truth is not None and not case.truth_only and case.expect is None and o.rc != 0 \
            and not found:
        found.append(f"exit {o.rc} on input equivalent to a valid one: "
                     f"{(errors or lines or [''])[0][:160]}")
    return found


def _normalise(text: str) -> str:
    text = re.sub(r"/\S+/", "", text)
    text = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", text)
    return text[:90]


@dataclass
class Report:
    """Failures grouped by a signature, with the first reproducer of each."""

    name: str
    cases: int = 0
    groups: dict[tuple[str, str, str], list[tuple[Case, str, Outcome]]] = field(
        default_factory=dict)

    def add(self, case: Case, found: list[str], o: Outcome) -> None:
        """Record one run."""
        self.cases += 1
        for p in found:
            key = (case.kind, case.family, _normalise(p))
            self.groups.setdefault(key, []).append((case, p, o))

    def text(self, limit: int = 60) -> str:
        """The distinct failures, most frequent first."""
        rows = sorted(self.groups.items(), key=lambda kv: -len(kv[1]))
        out = [f"{self.name}: {len(rows)} distinct failures in {self.cases} cases"]
        for (kind, family, _), hits in rows[:limit]:
            case, p, o = hits[0]
            last = (o.err.strip().splitlines() or [""])[-1][:200]
            out.append(f"- [{kind}/{family}] x{len(hits)}: {p}\n    case: {case.detail}\n"
                       f"    argv: {' '.join(case.argv)[:300]}\n    rc={o.rc} stderr: {last}")
        return "\n".join(out)

    def dump(self, folder: Path | None) -> None:
        """Write the groups as JSON when asked to (``FUZZ_REPORT_DIR``)."""
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        data = [{"kind": k[0], "family": k[1], "problem": hits[0][1], "count": len(hits),
                 "detail": hits[0][0].detail, "argv": hits[0][0].argv, "rc": hits[0][2].rc,
                 "stderr": hits[0][2].err[-2000:]}
                for k, hits in self.groups.items()]
        (folder / f"{self.name}.json").write_text(json.dumps(data, indent=1))
