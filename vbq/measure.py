"""Signal statistics of one ROI: what a PACS ROI tool reports, and a little more."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from vbq.errors import InputError


@dataclass(frozen=True)
class Measurement:
    """Statistics of the pixel values inside one ROI.

    Attributes
    ----------
    n_pixels
        Number of pixels in the ROI.
    area_mm2
        ``n_pixels`` times the area of one pixel (row spacing x column spacing).
    mean, median
        Mean and median signal (after the modality rescale).
    sd
        Sample standard deviation (``ddof=1``, as PACS tools report); NaN for
        a one-pixel ROI.
    iqr
        Interquartile range, ``q75 - q25`` with linear interpolation between
        order statistics (numpy's default, R's type 7).
    min, max
        Smallest and largest value.
    """

    n_pixels: int
    area_mm2: float
    mean: float
    median: float
    sd: float
    iqr: float
    min: float
    max: float

    def statistic(self, name: str) -> float:
        """Return the signal intensity by the protocol statistic (``"mean"`` or ``"median"``)."""
        if name == "mean":
            return self.mean
        if name == "median":
            return self.median
        raise InputError(f"unknown statistic {name!r} (expected 'mean' or 'median')")

    def to_dict(self) -> dict[str, float | int]:
        """All fields as a plain dict."""
        return asdict(self)


def measure(image: np.ndarray, mask: np.ndarray, spacing: tuple[float, float]) -> Measurement:
    """Measure the pixels of ``image`` selected by the boolean ``mask``.

    Parameters
    ----------
    image
        2-D pixel values (float), modality rescale applied.
    mask
        Boolean array of the same shape.
    spacing
        ``(row spacing, column spacing)`` in mm (DICOM PixelSpacing).

    Raises
    ------
    InputError
        If the mask selects no pixel or does not match the image's shape.

    Examples
    --------
    >>> img = np.arange(9.0).reshape(3, 3)
    >>> m = measure(img, img >= 4, (0.5, 0.5))
    >>> m.n_pixels, m.area_mm2, m.mean, m.median
    (5, 1.25, 6.0, 6.0)
    """
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.shape != mask.shape:
        raise InputError(f"ROI mask shape {mask.shape} does not match the image {image.shape}")
    values = np.asarray(image[mask], dtype=np.float64)
    n = int(values.size)
    if n == 0:
        raise InputError("ROI has no pixels")
    q25, q50, q75 = np.percentile(values, [25.0, 50.0, 75.0])
    return Measurement(
        n_pixels=n,
        area_mm2=float(n * float(spacing[0]) * float(spacing[1])),
        mean=float(values.mean()),
        median=float(q50),
        sd=float(values.std(ddof=1)) if n > 1 else float("nan"),
        iqr=float(q75 - q25),
        min=float(values.min()),
        max=float(values.max()),
    )
