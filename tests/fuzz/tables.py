"""Mutations of a valid study table (``study, TP, FN, FP, TN`` plus covariates).

Each mutation returns the bytes of the file, a family name, a detail that is
enough to reproduce it, and what an oracle knows: ``"input"`` when the file is
malformed by the rules of README's "When input is wrong" (a non-number, a
negative count, a duplicated study or column, a missing column, a row whose
cells are shifted), ``"same"`` when it says exactly what the base table says
(another separator, encoding, column order or case, quoting, line ending), or
nothing.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from pathlib import Path

COUNTS = ("TP", "FN", "FP", "TN")

#: Cell values no count may take: (value, family).
BAD_COUNTS: tuple[tuple[str, str], ...] = (
    ("abc", "text"), ("-3", "negative"), ("1.5", "fraction"), ("1_000", "underscore"),
    ("True", "bool"), ("False", "bool"), ("true", "bool"), ("inf", "nonfinite"),
    ("-inf", "nonfinite"), ("nan", "nonfinite"), ("NaN", "nonfinite"), ("1e400", "nonfinite"),
    ("0x1F", "hex"), ("12abc", "text"), ("\u22123", "negative"), ("NA", "missing"),
    ("", "missing"), ("None", "missing"), ("9" * 4400, "hugeint"), ("-0.5", "negative"),
    ("1e-3", "fraction"), ("\u00bd", "text"), ("[]", "text"), ("1,5", "decimal-comma"),
    ("2" * 30, "huge"),
)
#: Cell values a reader may or may not accept, with no oracle.
ODD_COUNTS: tuple[str, ...] = (" 12 ", "5.0", "+5", "1e3", "05", "\uff11\uff12", "\u0663",
                               "0", str(10 ** 12), "1E2", "12 ", "\t7")


def base_rows(refs: Path) -> list[list[str]]:
    """AuditC (14 studies) with two covariates, as cells."""
    with (refs / "AuditC.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    out = [rows[0] + ["year", "design"]]
    for i, row in enumerate(rows[1:]):
        out.append(row + [str(1995 + (i * 7) % 13), ("cohort", "case-control")[i % 2]])
    return out


def to_text(rows: list[list[str]], sep: str = ",", quote_all: bool = False,
            eol: str = "\n") -> str:
    """Write cells as CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator=eol,
                   quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    w.writerows(rows)
    return buf.getvalue()


Mutation = tuple[bytes, str, str, str | None]


def _col(rows: list[list[str]], name: str) -> int:
    return rows[0].index(name)


def mutate(rng: random.Random, base: list[list[str]]) -> Mutation:
    """One random mutation of ``base``: (bytes, family, detail, oracle)."""
    rows = [list(r) for r in base]
    k = len(rows) - 1
    pick = rng.random()
    r = rng.randrange(1, k + 1)
    if pick < 0.22:
        col = rng.choice(COUNTS)
        value, fam = rng.choice(BAD_COUNTS)
        rows[r][_col(rows, col)] = value
        shown = value if len(value) < 40 else f"'9'*{len(value)}"
        return (to_text(rows).encode(), f"count-{fam}", f"row {r} {col} := {shown!r}",
                "input" if fam != "huge" else "refused")
    if pick < 0.30:
        col = rng.choice(COUNTS)
        value = rng.choice(ODD_COUNTS)
        rows[r][_col(rows, col)] = value
        return to_text(rows).encode(), "count-odd", f"row {r} {col} := {value!r}", None
    if pick < 0.36:
        other = rng.choice([i for i in range(1, k + 1) if i != r])
        rows[r][0] = rows[other][0]
        return (to_text(rows).encode(), "duplicate-study",
                f"row {r} study := row {other}'s {rows[other][0]!r}", "input")
    if pick < 0.41:
        col = rng.choice(("study",) + COUNTS)
        j = _col(rows, col)
        if rng.random() < 0.5:
            for row in rows:
                del row[j]
            return to_text(rows).encode(), "missing-column", f"column {col} deleted", "input"
        rows[0][j] = col + "X"
        return (to_text(rows).encode(), "missing-column", f"header {col} renamed {col}X",
                "input")
    if pick < 0.45:
        col = rng.choice(COUNTS)
        j = _col(rows, col)
        for row in rows:
            row.append(row[j] if row is not rows[0] else col.lower())
        return (to_text(rows).encode(), "duplicate-column",
                f"column {col} repeated at the end as {col.lower()}", "input")
    if pick < 0.51:
        j = rng.randrange(0, 5)
        if rng.random() < 0.5:
            # the row's last (non-empty) cell is pushed past the header: surely malformed
            rows[r].insert(j, rng.choice(("7", "x", "")) if j else "7")
            return (to_text(rows).encode(), "shifted-row-long",
                    f"row {r}: a cell inserted before cell {j} (cells shifted)", "input")
        # one cell short: indistinguishable from a row whose last covariate was left off
        del rows[r][j]
        return (to_text(rows).encode(), "shifted-row-short",
                f"row {r}: cell {j} deleted (cells shifted, last covariate cell missing)", None)
    if pick < 0.55:
        rows[r][_col(rows, "TP")] = "0"
        rows[r][_col(rows, "FN")] = "0"
        return (to_text(rows).encode(), "no-diseased", f"row {r}: TP = FN = 0",
                "input")
    if pick < 0.58:
        rows[0].append("extra")
        for row in rows[1:]:
            row.append(rng.choice(("1", "a", "", "2.5", "nan", "x" * 50)))
        return to_text(rows).encode(), "extra-column", "a random covariate column added", None
    if pick < 0.62:
        n = rng.choice((0, 1, 2, 3))
        del rows[1 + n:]
        return (to_text(rows).encode(), "few-studies", f"only the first {n} studies",
                "refused" if n == 0 else None)
    if pick < 0.64:
        rows = [rows[0]] + [list(rows[1]) for _ in range(k)]
        for i, row in enumerate(rows[1:]):
            row[0] = f"s{i}"
        return to_text(rows).encode(), "identical-studies", "every study = study 1", None
    if pick < 0.80:
        return _same(rng, rows)
    return _bytes(rng, to_text(rows).encode())


def _same(rng: random.Random, rows: list[list[str]]) -> Mutation:
    """A table that says exactly what ``rows`` says."""
    choice = rng.randrange(8)
    if choice == 0:
        sep = rng.choice((";", "\t", "|"))
        return to_text(rows, sep=sep).encode(), "separator", f"separator {sep!r}", "same-or-2"
    if choice == 1:
        enc = rng.choice(("utf-8-sig", "utf-16", "cp1252", "latin-1", "utf-16-le"))
        rows = [list(x) for x in rows]
        rows[1][0] = "M\u00fcller 2019"
        return (to_text(rows).encode(enc), "encoding",
                f"encoded {enc}, study 1 named 'M\u00fcller 2019'", "same-or-2")
    if choice == 2:
        order = list(range(len(rows[0])))
        rng.shuffle(order)
        rows = [[row[i] for i in order] for row in rows]
        return to_text(rows).encode(), "column-order", f"columns in order {order}", "same"
    if choice == 3:
        rows = [list(x) for x in rows]
        rows[0] = [c.lower() if rng.random() < 0.5 else c.upper() for c in rows[0]]
        return to_text(rows).encode(), "header-case", f"header {rows[0]}", "same"
    if choice == 4:
        return (to_text(rows, quote_all=True, eol="\r\n").encode(), "quoting",
                "every cell quoted, CRLF", "same")
    if choice == 5:
        return to_text(rows).encode() + b"\n\n", "blank-lines", "two blank lines at the end", \
            "same"
    if choice == 6:
        body = rows[1:]
        rng.shuffle(body)
        return (to_text([rows[0]] + body).encode(), "row-order",
                f"rows in order {[b[0] for b in body]}", "same-order")
    return to_text(rows, eol="\r").encode(), "old-mac-eol", "lines end in CR", "same-or-2"


def _bytes(rng: random.Random, data: bytes) -> Mutation:
    """Byte-level damage: no oracle but the universal contract."""
    b = bytearray(data)
    choice = rng.randrange(6)
    pos = rng.randrange(len(b))
    if choice == 0:
        b[pos] ^= 1 << rng.randrange(8)
        return bytes(b), "bytes-flip", f"bit flipped at byte {pos}", None
    if choice == 1:
        return bytes(b[:pos]), "bytes-truncate", f"truncated to {pos} bytes", None
    if choice == 2:
        ins = rng.choice((b"\x00", b'"', b"\xff\xfe", b"\r", b",", b"\x1a", b"\xe9"))
        b[pos:pos] = ins
        return bytes(b), "bytes-insert", f"{ins!r} inserted at byte {pos}", None
    if choice == 3:
        return b"", "empty", "empty file", "input"
    if choice == 4:
        blob = bytes(rng.randrange(256) for _ in range(200))
        return blob, "binary", f"200 random bytes (seed {pos})", "input"
    return b"study,TP,FN,FP,TN\n", "header-only", "header only", "refused"


Command = tuple[str, list[str], Callable[[dict], float | None]]


def _get(doc: dict, *path: str) -> float | None:
    cur: object = doc
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur if isinstance(cur, (int, float)) and not isinstance(cur, bool) else None


#: (name, extra argv, the number the oracle compares).
COMMANDS: tuple[Command, ...] = (
    ("pool", [], lambda d: _get(d, "sensitivity", "estimate")),
    ("pool", ["--model", "univariate"], lambda d: _get(d, "outcomes", "logit_sens", "estimate")),
    ("pool", ["--model", "glmm"], lambda d: _get(d, "sensitivity", "estimate")),
    ("regress", ["--covariate", "year"], lambda d: _get(d, "n_studies")),
    ("bias", [], lambda d: _get(d, "slope")),
    ("loo", [], lambda d: _get(d, "full", "sensitivity", "estimate")),
    ("fagan", ["--pretest", "0.2"], lambda d: _get(d, "sensitivity", "estimate")),
)

#: Option values: (command, argv, family, oracle).
OPTIONS: tuple[tuple[str, list[str], str, str | None], ...] = (
    ("fagan", ["--pretest", "nan"], "pretest", "input"),
    ("fagan", ["--pretest", "inf"], "pretest", "input"),
    ("fagan", ["--pretest", "-0.1"], "pretest", "input"),
    ("fagan", ["--pretest", "1.5"], "pretest", "input"),
    ("fagan", ["--pretest", "abc"], "pretest", "input"),
    ("fagan", ["--pretest", "0"], "pretest", None),
    ("fagan", ["--pretest", "1"], "pretest", None),
    ("fagan", ["--pretest", "1e-300"], "pretest", None),
    ("fagan", ["--pretest", "0.2", "--prevalence", "nan"], "prevalence", "input"),
    ("regress", ["--covariate", "nosuch"], "covariate", "input"),
    ("regress", ["--covariate", "study"], "covariate", None),
    ("regress", ["--covariate", "TP"], "covariate", None),
    ("regress", ["--covariate", ""], "covariate", "input"),
    ("loo", ["--order-by", "nosuch"], "order-by", "input"),
    ("loo", ["--order-by", "design"], "order-by", None),
    ("pool", ["--model", "glmm", "--nagq", "0"], "nagq", None),
    ("pool", ["--model", "glmm", "--nagq", "-1"], "nagq", "input"),
    ("pool", ["--model", "glmm", "--nagq", "abc"], "nagq", "input"),
    ("pool", ["--model", "glmm", "--nagq", "99999"], "nagq", None),
    ("pool", ["--method", "nosuch"], "method", "input"),
    ("pool", ["--correction", "nosuch"], "correction", "input"),
)
