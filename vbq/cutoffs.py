"""Published VBQ cut-offs (``vbq/data/cutoffs.csv``) and where a score falls against them.

See ``vbq/data/README.md`` for what each row is and where its numbers come
from. Rows without a threshold value are kept for provenance and never
compared.
"""

from __future__ import annotations

import csv
import io
import numbers
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

#: Field strengths closer than this (tesla) count as the same.
FIELD_TOLERANCE_T = 0.25
#: Lowest and highest field strength (tesla) accepted from a user: the span of MRI
#: scanners that image people (see :func:`is_field_strength`).
FIELD_STRENGTH_RANGE_T = (0.05, 11.7)


def is_field_strength(value: object) -> bool:
    """Whether ``value`` is a plausible field strength, in tesla, of an MRI acquisition.

    The range, :data:`FIELD_STRENGTH_RANGE_T`, is 0.05 to 11.7 T: the span of the
    magnets that image people. The weakest scanners in clinical use run at about
    0.05-0.07 T (the portable 0.064 T scanner), the strongest magnet that has imaged
    people at 11.7 T (a whole-body research magnet); weaker fields are the
    ultra-low-field experiments and stronger ones animal magnets, on neither of which
    VBQ is defined. A value outside the range is no field strength of the T1 series
    VBQ is measured on but a typing error, or a value in gauss (15000 for 1.5 T) or
    millitesla, and it would select the published-range limit and the cut-offs
    compared as if it were right. A bool, NaN and infinities are refused too.

    Examples
    --------
    >>> is_field_strength(1.5), is_field_strength(3), is_field_strength(0.064)
    (True, True, True)
    >>> is_field_strength(15000.0), is_field_strength(0), is_field_strength(float("nan"))
    (False, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        t = float(value)
    except OverflowError:   # an integer too large for a double
        return False
    low, high = FIELD_STRENGTH_RANGE_T
    return low <= t <= high


def field_strength_rule() -> str:
    """Return what a field strength must be, for messages (``"a plausible MRI field ..."``)."""
    low, high = FIELD_STRENGTH_RANGE_T
    return f"a plausible MRI field strength ({low:g} to {high:g} T)"


@dataclass(frozen=True)
class Cutoff:
    """One published threshold of the VBQ score.

    Attributes
    ----------
    id
        Short identifier (first author, year, target).
    protocol
        Protocol the threshold was derived with (e.g. ``"lumbar"``).
    value
        The threshold; a VBQ at or above it is "above". None when the source
        reports performance but no threshold.
    target
        What the threshold separates (e.g. "osteoporosis").
    reference_standard
        How the target was defined.
    auc, sensitivity, specificity
        As reported (None when not reported).
    n
        Number of patients.
    population
        Who was studied.
    field_strength_t
        Field strength the threshold applies to, None when not stated.
    first_author, year, citation, doi, notes
        Provenance (``citation`` is a short "author, journal year").
    """

    id: str
    protocol: str
    value: float | None
    target: str
    reference_standard: str
    auc: float | None
    sensitivity: float | None
    specificity: float | None
    n: int | None
    population: str
    field_strength_t: float | None
    first_author: str
    year: int | None
    citation: str
    doi: str
    notes: str

    def applies_to(self, protocol: str, field_strength_t: float | None) -> bool:
        """Whether this row can be compared with a score from ``protocol`` at that field."""
        if self.value is None or self.protocol != protocol:
            return False
        if self.field_strength_t is None or field_strength_t is None:
            return True
        return abs(self.field_strength_t - field_strength_t) <= FIELD_TOLERANCE_T

    def compare(self, vbq: float) -> dict[str, Any]:
        """Where ``vbq`` falls against this cut-off, as a result-JSON entry."""
        assert self.value is not None
        return {
            "id": self.id,
            "target": self.target,
            "value": self.value,
            "above": bool(vbq >= self.value),
            "auc": self.auc,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "population": self.population,
            "field_strength_t": self.field_strength_t,
            "source": self.citation,
            "doi": self.doi,
        }


def _opt_float(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _opt_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text else None


def parse_cutoffs(text: str) -> tuple[Cutoff, ...]:
    """Parse the CSV text of a cut-off table."""
    rows = csv.DictReader(io.StringIO(text))
    out = []
    for row in rows:
        out.append(
            Cutoff(
                id=row["id"],
                protocol=row["protocol"],
                value=_opt_float(row["value"]),
                target=row["target"],
                reference_standard=row["reference_standard"],
                auc=_opt_float(row["auc"]),
                sensitivity=_opt_float(row["sensitivity"]),
                specificity=_opt_float(row["specificity"]),
                n=_opt_int(row["n"]),
                population=row["population"],
                field_strength_t=_opt_float(row["field_strength_t"]),
                first_author=row["first_author"],
                year=_opt_int(row["year"]),
                citation=row["citation"],
                doi=row["doi"],
                notes=row["notes"],
            )
        )
    return tuple(out)


@lru_cache(maxsize=1)
def load_cutoffs() -> tuple[Cutoff, ...]:
    """Load the shipped table of published cut-offs (package data)."""
    text = resources.files("vbq").joinpath("data", "cutoffs.csv").read_text(encoding="utf-8")
    return parse_cutoffs(text)


def compare_cutoffs(
    vbq: float, protocol: str, field_strength_t: float | None = None
) -> tuple[dict[str, Any], ...]:
    """Where ``vbq`` falls against every applicable published cut-off.

    Parameters
    ----------
    vbq
        The score.
    protocol
        Name of the protocol it was measured with.
    field_strength_t
        Field strength of the series (None when unknown: every row of the
        protocol is listed, with its own field strength if it states one).
    """
    return tuple(
        c.compare(vbq) for c in load_cutoffs() if c.applies_to(protocol, field_strength_t)
    )
