"""Scoring protocols as data: which levels, which CSF level, which statistic.

Built in (see :data:`PROTOCOLS`):

========  ======  ===================  =============================================
name      levels  CSF (then fallbacks)  source
========  ======  ===================  =============================================
lumbar    L1-L4   L3, L2, L1           Ehresman et al. 2020
cervical  C3-C6   C2                   Soliman et al. 2023
thoracic  T5-T8   T7                   Razzouk et al. 2022
s1        S1      L3                   S1 VBQ (Spine J 2024)
========  ======  ===================  =============================================

``min_levels`` is 2 where the protocol has at least two levels; the S1 score
has a single level by definition, so its minimum is 1.

References
----------
Ehresman J, Pennington Z, Schilling A, et al. Novel MRI-based score for
assessment of bone density in operative spine patients. Spine J.
2020;20(4):556-562. doi:10.1016/j.spinee.2019.10.018

Soliman MAR, Aguirre AO, Kuo CC, et al. A novel cervical vertebral bone quality
score independently predicts cage subsidence after anterior cervical diskectomy
and fusion. Neurosurgery. 2023.

Razzouk J, Ramos O, Mehta S, et al. Thoracic vertebral bone quality score.
Eur Spine J. 2022. doi:10.1007/s00586-022-07484-5

S1 vertebral bone quality score. Spine J. 2024. doi:10.1016/j.spinee.2024.04.020
"""

from __future__ import annotations

from dataclasses import dataclass

from vbq.errors import InputError
from vbq.levels import VERTEBRAL_LEVELS

STATISTICS: tuple[str, ...] = ("mean", "median")


@dataclass(frozen=True)
class Protocol:
    """How a VBQ score is measured.

    Attributes
    ----------
    name
        Short name, e.g. ``"lumbar"``.
    levels
        Vertebral levels whose signal enters the median.
    csf_levels
        Levels at which the CSF may be measured, preferred first; any later
        one is a fallback and is reported as a warning.
    statistic
        ROI signal intensity: ``"mean"`` (what a PACS ROI tool reports) or
        ``"median"``.
    min_levels
        Fewest levels left after exclusions for a score to be given.
    reference
        Where the protocol comes from.
    """

    name: str
    levels: tuple[str, ...]
    csf_levels: tuple[str, ...]
    statistic: str = "mean"
    min_levels: int = 2
    reference: str = ""

    def __post_init__(self) -> None:
        for level in (*self.levels, *self.csf_levels):
            if level not in VERTEBRAL_LEVELS:
                raise InputError(f"protocol {self.name}: unknown level {level!r}")
        if not self.levels or not self.csf_levels:
            raise InputError(f"protocol {self.name}: needs at least one level and one CSF level")
        if self.statistic not in STATISTICS:
            raise InputError(f"protocol {self.name}: unknown statistic {self.statistic!r}")
        if not 1 <= self.min_levels <= len(self.levels):
            raise InputError(
                f"protocol {self.name}: min_levels must be between 1 and {len(self.levels)}"
            )

    @property
    def csf_level(self) -> str:
        """The preferred CSF level."""
        return self.csf_levels[0]


#: The built-in protocols by name.
PROTOCOLS: dict[str, Protocol] = {
    "lumbar": Protocol(
        "lumbar", ("L1", "L2", "L3", "L4"), ("L3", "L2", "L1"),
        reference="Ehresman et al., Spine J 2020, doi:10.1016/j.spinee.2019.10.018",
    ),
    "cervical": Protocol(
        "cervical", ("C3", "C4", "C5", "C6"), ("C2",),
        reference="Soliman et al., Neurosurgery 2023",
    ),
    "thoracic": Protocol(
        "thoracic", ("T5", "T6", "T7", "T8"), ("T7",),
        reference="Razzouk et al., Eur Spine J 2022, doi:10.1007/s00586-022-07484-5",
    ),
    "s1": Protocol(
        "s1", ("S1",), ("L3",), min_levels=1,
        reference="S1 VBQ, Spine J 2024, doi:10.1016/j.spinee.2024.04.020",
    ),
}


def get_protocol(protocol: str | Protocol) -> Protocol:
    """Return the :class:`Protocol` named ``protocol`` (or ``protocol`` itself).

    Raises
    ------
    InputError
        For an unknown name, listing the known ones.
    """
    if isinstance(protocol, Protocol):
        return protocol
    key = str(protocol).strip().lower()
    if key not in PROTOCOLS:
        raise InputError(
            f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})"
        )
    return PROTOCOLS[key]
