"""Label numbers of spine segmentation tools, and custom label mapping files.

Owns what each integer value of a label mask means: the presets and the
``vbq-labels/1`` mapping file (read, and its ``format`` checked, as every ROI
input file is: :mod:`vbq.roi.inputfile`).

A :class:`LabelScheme` says which integer values of a label mask mean which
vertebra (``"L1"``, ``"T7"``, ...), the spinal canal and the spinal cord.
Built-in presets (``--labels NAME``):

``totalspineseg``
    TotalSpineSeg (Warszawer et al. 2024): C1-C7 = 11-17, T1-T12 = 21-32,
    L1-L5 = 41-45, spinal canal 2, spinal cord 1.
``totalsegmentator``
    TotalSegmentator task ``vertebrae_mr`` (class map in TotalSegmentator's
    ``map_to_binary.py``): sacrum 1, L5..L1 = 2..6, T12..T1 = 7..18,
    C7..C1 = 19..25. The task has no canal and no cord: the CSF ROI is then
    found in the image behind the CSF level's body (see :mod:`vbq.roi.anatomy`).
``spineps``
    SPINEPS (Moeller et al. 2024). Vertebra instance labels follow the VerSe
    convention: C1-C7 = 1-7, T1-T12 = 8-19, L1-L5 = 20-24; spinal cord 60 and
    spinal canal 61 come from the *semantic* mask. SPINEPS writes the two in
    separate files; combine them into one label map (instance labels where
    non-zero, else the semantic cord/canal labels) before use.
``spider``
    SPIDER lumbar MRI data set (van der Graaf et al. 2024): vertebrae numbered
    from the bottom, L5 = 1, L4 = 2, ..., T12 = 6, ...; 101-125 are the same
    vertebrae when only partly in the field of view; spinal canal 100; no cord
    (the CSF ROI is the canal). The numbering assumes five lumbar vertebrae
    and no sacral label, as in the data set's own description.

A custom JSON file maps our names to numbers::

    {"format": "vbq-labels/1", "L1": 41, "L2": 42, "L3": [43, 143],
     "spinal_canal": 2, "spinal_cord": 1}

References
----------
Warszawer Y, Molinier N, Valosek J, et al. Fully automatic vertebrae and
spinal cord segmentation using a hybrid approach combining nnU-Net and
iterative algorithm. Proc ISMRM 2024 (TotalSpineSeg).

Wasserthal J, Breit HC, Meyer MT, et al. TotalSegmentator: robust
segmentation of 104 anatomic structures in CT images. Radiol Artif Intell.
2023;5(5):e230024. doi:10.1148/ryai.230024

Moeller H, Graf R, Schmitt J, et al. SPINEPS - automatic whole spine
segmentation of T2-weighted MR images using a two-phase approach to
multi-class semantic and instance segmentation. Eur Radiol. 2024.
doi:10.1007/s00330-024-11155-y

van der Graaf JW, van Hooff ML, Buckens CFM, et al. Lumbar spine
segmentation in MR images: a dataset and a public benchmark. Sci Data.
2024;11:264. doi:10.1038/s41597-024-03090-w
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vbq.errors import InputError
from vbq.fileio import shown
from vbq.roi.inputfile import check_format, load_document

#: Vertebral levels a scheme may name, cranial to caudal.
LEVELS: tuple[str, ...] = (
    tuple(f"C{i}" for i in range(1, 8))
    + tuple(f"T{i}" for i in range(1, 13))
    + tuple(f"L{i}" for i in range(1, 6))
    + ("S1",)
)

#: The format string a label mapping file may carry.
FORMAT = "vbq-labels/1"

_CANAL_KEYS = ("spinal_canal", "canal")
_CORD_KEYS = ("spinal_cord", "cord")


@dataclass(frozen=True)
class LabelScheme:
    """Which label values of a mask mean which structure.

    Parameters
    ----------
    name
        Preset name or the mapping file's path.
    vertebrae
        Level name (``"L1"``) -> label values that mean that vertebra.
    canal
        Label values of the spinal canal (empty when the scheme has none).
    cord
        Label values of the spinal cord (empty when the scheme has none).
    """

    name: str
    vertebrae: Mapping[str, tuple[int, ...]]
    canal: tuple[int, ...] = ()
    cord: tuple[int, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        """Refuse a scheme in which one label value means two structures."""
        owner: dict[int, str] = {}
        structures = [*self.vertebrae.items(), ("spinal_canal", self.canal),
                      ("spinal_cord", self.cord)]
        for key, values in structures:
            for v in values:
                if owner.setdefault(v, key) != key:
                    raise InputError(_shared_value_message(self.name, owner[v], key, v))

    def values(self, level: str) -> tuple[int, ...]:
        """Label values of ``level`` (empty when the scheme does not name it)."""
        return tuple(self.vertebrae.get(level, ()))

    def describe(self, level: str) -> str:
        """Return a short text such as ``"L3 (label 43)"`` for messages."""
        vals = self.values(level)
        if not vals:
            return f"{level} (not in labels {self.name!r})"
        word = "label" if len(vals) == 1 else "labels"
        return f"{level} ({word} {', '.join(str(v) for v in vals)})"


def _shared_value_message(name: str, first: str, second: str, value: int) -> str:
    return (f"label mapping {name}: keys {first!r} and {second!r} both have the label value "
            f"{value}, so which structure its voxels are is unknown; give each structure its "
            "own values")


def _seq(start: int, names: list[str]) -> dict[str, tuple[int, ...]]:
    return {n: (start + i,) for i, n in enumerate(names)}


_C = [f"C{i}" for i in range(1, 8)]
_T = [f"T{i}" for i in range(1, 13)]
_L = [f"L{i}" for i in range(1, 6)]


def _totalspineseg() -> LabelScheme:
    v = {**_seq(11, _C), **_seq(21, _T), **_seq(41, _L)}
    return LabelScheme("totalspineseg", v, canal=(2,), cord=(1,))


def _totalsegmentator() -> LabelScheme:
    # vertebrae_mr: 1 sacrum, 2 L5, 3 L4, ..., 6 L1, 7 T12, ..., 18 T1, 19 C7, ..., 25 C1
    caudal_to_cranial = list(reversed(_C + _T + _L))
    v = {name: (2 + i,) for i, name in enumerate(caudal_to_cranial)}
    return LabelScheme("totalsegmentator", v, notes="task vertebrae_mr; no canal or cord")


def _spineps() -> LabelScheme:
    v = {**_seq(1, _C), **_seq(8, _T), **_seq(20, _L)}
    return LabelScheme("spineps", v, canal=(61,), cord=(60,))


def _spider() -> LabelScheme:
    caudal_to_cranial = list(reversed(_T + _L))  # L5 = 1, L4 = 2, ..., T12 = 6, ...
    v = {name: (1 + i, 101 + i) for i, name in enumerate(caudal_to_cranial)}
    return LabelScheme("spider", v, canal=(100,), notes="no cord label: CSF ROI = canal")


#: Built-in presets by name.
PRESETS: dict[str, LabelScheme] = {
    s.name: s for s in (_totalspineseg(), _totalsegmentator(), _spineps(), _spider())
}


def _as_values(value: object, key: str, where: str) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 < item < 2 ** 63:
            raise InputError(
                f"{where}: key {key!r} must be a positive integer label (below 2**63) or a "
                f"list of them, "
                f"got {shown(value)}"
            )
        out.append(int(item))
    if not out:
        raise InputError(f"{where}: key {key!r} has an empty list of labels")
    return tuple(out)


def scheme_from_mapping(mapping: Mapping[str, object], name: str = "custom") -> LabelScheme:
    """Build a :class:`LabelScheme` from a dict such as a ``vbq-labels/1`` file.

    Raises
    ------
    InputError
        On an unknown key, a value that is not a positive integer (list), one
        label value given to two structures (a vertebra, the canal, the
        cord), or the canal or the cord named by two keys.
    """
    where = f"label mapping {name}"
    check_format(mapping, FORMAT, where, required=False)
    vertebrae: dict[str, tuple[int, ...]] = {}
    canal: tuple[int, ...] = ()
    cord: tuple[int, ...] = ()
    owner: dict[int, str] = {}  # label value -> the key (as written) that gave it
    named: dict[str, str] = {}  # structure -> the key that named it
    for key, value in mapping.items():
        if key == "format":
            continue
        if key in LEVELS or key in _CANAL_KEYS or key in _CORD_KEYS:
            values = _as_values(value, key, where)
            structure = "canal" if key in _CANAL_KEYS else "cord" if key in _CORD_KEYS else key
            if named.setdefault(structure, key) != key:
                raise InputError(f"{where}: keys {named[structure]!r} and {key!r} both name "
                                 f"the spinal {structure}; give one of them")
            for v in values:
                if owner.setdefault(v, key) != key:
                    raise InputError(_shared_value_message(name, owner[v], key, v))
        if key in LEVELS:
            vertebrae[key] = values
        elif key in _CANAL_KEYS:
            canal = values
        elif key in _CORD_KEYS:
            cord = values
        else:
            raise InputError(
                f"{where}: unknown key {key!r} (expected vertebra names such as 'L1', "
                f"'spinal_canal', 'spinal_cord' or 'format')"
            )
    if not vertebrae:
        raise InputError(f"{where}: names no vertebra (expected keys such as 'L1': 41)")
    return LabelScheme(name, vertebrae, canal=canal, cord=cord)


def get_label_scheme(labels: str | Path | Mapping[str, object] | LabelScheme | None,
                     default: str = "totalspineseg") -> LabelScheme:
    """Resolve a preset name, a JSON mapping file, a dict or a scheme.

    Parameters
    ----------
    labels
        ``None`` (use ``default``), a preset name from :data:`PRESETS`, the
        path of a ``vbq-labels/1`` JSON file, a mapping, or a scheme.
    default
        Preset used when ``labels`` is ``None``.

    Raises
    ------
    InputError
        Unknown preset, missing or malformed mapping file.
    """
    if labels is None:
        return PRESETS[default]
    if isinstance(labels, LabelScheme):
        return labels
    if isinstance(labels, Mapping):
        return scheme_from_mapping(labels)
    text = str(labels)
    if text.lower() in PRESETS:
        return PRESETS[text.lower()]
    path = Path(text)
    if path.suffix.lower() == ".json" or path.exists():
        if not path.is_file():
            raise InputError(f"label mapping file {path} does not exist")
        data, _ = load_document(path, "label mapping file")
        if not isinstance(data, dict):
            raise InputError(f"label mapping file {path} must hold a JSON object")
        return scheme_from_mapping(data, name=str(path))
    raise InputError(
        f"unknown label preset {text!r}: use one of {', '.join(sorted(PRESETS))} "
        f"or a JSON mapping file"
    )
