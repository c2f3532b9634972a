"""The ``vbq-seeds/1`` file: reading it and placing each seed on a slice.

A seed file names one point inside each vertebral body (and optionally one in
the CSF); :mod:`vbq.roi.seeds` describes the format. This module only reads
the file (:class:`SeedFile`) and places a seed on its slice (:func:`place_seed`),
so that both the region growing of :mod:`vbq.roi.seeds` and the proposals of
:mod:`vbq.roi.proposal` can use them without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vbq.dicom.series import SeriesInfo
from vbq.dicom.sliceref import SliceRef
from vbq.errors import InputError
from vbq.fileio import in_limit, shown, shown_number
from vbq.levels import CSF, check_level
from vbq.roi.inputfile import check_csf_level, check_label, read_document, read_slice

__all__ = ["FORMAT", "Seed", "SeedFile", "place_seed"]

FORMAT = "vbq-seeds/1"

_SEED_KEYS = ("label", "point", "level", "slice")


@dataclass(frozen=True)
class Seed:
    """One seed point as written in the file."""

    number: int
    label: str
    point: tuple[float, ...]
    level: str | None = None
    slice: SliceRef | None = None

    @property
    def name(self) -> str:
        """``"seed 3 (L4)"``: how messages refer to this seed."""
        return f"seed {self.number} ({self.label})"


@dataclass(frozen=True)
class SeedFile:
    """A parsed ``vbq-seeds/1`` file."""

    space: str
    seeds: tuple[Seed, ...]
    slice: SliceRef | None = None
    exclude: Mapping[str, str] = field(default_factory=dict)
    source: str = "seeds"

    @classmethod
    def from_json(cls, obj: str | Path | Mapping[str, Any]) -> SeedFile:
        """Parse a seed file from a path or an already-loaded mapping.

        Raises
        ------
        InputError
            Malformed JSON, wrong format, or an unknown, missing or invalid
            key (naming the key and the seed).
        """
        doc = read_document(obj, fmt=FORMAT, items="seeds", what="seed file")
        src, space = doc.source, doc.space
        dim = 2 if space == "pixel" else 3
        seeds: list[Seed] = []
        seen: set[str] = set()
        for i, item in enumerate(doc.items, start=1):
            where = f"{src}: seed {i}"
            if not isinstance(item, dict):
                raise InputError(f"{where}: a seed must be a JSON object")
            for key in item:
                if key not in _SEED_KEYS:
                    raise InputError(f'{where}: unknown key "{key}"')
            label = check_label(item.get("label"), where)
            where = f"{src}: seed {i} ({label})"
            if label in seen:
                raise InputError(f"{where}: label {label} has more than one seed")
            seen.add(label)
            point = item.get("point")
            ok = (isinstance(point, list) and len(point) == dim
                  and all(in_limit(v) for v in point))
            if not ok:
                raise InputError(f"{where}: 'point' must be a list of {dim} numbers (each "
                                 f"between -1e+06 and 1e+06), got {shown(point)}")
            level = item.get("level")
            if label == CSF:
                level = check_level(level, f"{where}: level") if level is not None else None
            elif "level" in item:
                raise InputError(f'{where}: key "level" is only for the CSF seed (got '
                                 f'{shown(level)})')
            sl = read_slice(item["slice"], where) if "slice" in item else None
            seeds.append(Seed(i, label, tuple(float(v) for v in list(point or ())), level, sl))
        return cls(space, tuple(seeds), doc.slice, dict(doc.exclude), src)

    def check_csf_level(self, csf_levels: Sequence[str], protocol: str) -> None:
        """Refuse a CSF seed at a level not in ``csf_levels`` (:func:`check_csf_level`)."""
        for seed in self.seeds:
            if seed.label == CSF:
                check_csf_level(f"{self.source}: {seed.name}", seed.level, csf_levels, protocol)


def place_seed(series: SeriesInfo, seed: Seed, space: str, default_index: int | None,
           file_slice: SliceRef | None, src: str) -> tuple[int, tuple[float, float]]:
    """Slice index and pixel ``(row, column)`` of a seed; refuse one off the image."""
    where = f"{src}: {seed.name}"
    if space == "pixel":
        if seed.slice is not None:
            index = series.resolve(seed.slice, f"{where}: its \"slice\"")
        elif default_index is not None:
            index = default_index
        elif file_slice is not None:
            index = series.resolve(file_slice, src)
        else:
            index = series.default_pixel_slice(src)
        rc = (seed.point[0], seed.point[1])
    else:
        index, rc_arr = series.locate(np.asarray(seed.point))
        index = int(index)
        geom = series.slices[index].geometry
        _, dist = geom.patient_to_pixel(np.asarray(seed.point))
        positions = sorted(s.position for s in series.slices)
        gap = float(np.median(np.diff(positions))) if len(positions) > 1 else 2.0
        if abs(float(dist)) > 0.5 * gap + 1e-3:
            raise InputError(f"{where}: point {list(seed.point)} lies outside the image stack "
                             f"({abs(float(dist)):.1f} mm from the nearest slice plane)")
        # as in a ROI file: a slice named for the point must be the one it lies on
        if seed.slice is not None:
            want, asked = series.resolve(seed.slice, where), "named for the seed"
        elif default_index is not None:
            want, asked = default_index, "asked for"
        elif file_slice is not None:
            want, asked = series.resolve(file_slice, src), "named in the file"
        else:
            want, asked = None, ""
        if want is not None and want != index:
            raise InputError(f"{where}: lies on slice {index}, not on the slice {want} {asked}")
        rc = (float(rc_arr[0]), float(rc_arr[1]))
    check_in_image(where, rc, series.slices[index].geometry.shape)
    return int(index), rc


def check_in_image(where: str, rc: Sequence[float], shape: Sequence[int]) -> None:
    """Refuse a pixel point ``(row, column)`` off an image of ``shape`` (one sentence)."""
    rows, cols = int(shape[0]), int(shape[1])
    if not (-0.5 <= rc[0] < rows - 0.5 and -0.5 <= rc[1] < cols - 0.5):
        raise InputError(f"{where}: point [{shown_number(rc[0], 1)}, {shown_number(rc[1], 1)}] "
                         "(row, column) lies outside "
                         f"the image ({rows} rows x {cols} columns)")
