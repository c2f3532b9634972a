"""Heterogeneity statistics for bivariate diagnostic meta-analysis (placeholder)."""

from __future__ import annotations

import numpy as np

from metaanalysis.table import StudyTable


def bivariate_i2(table: StudyTable, psi: np.ndarray, correction: str = "all") -> dict[str, float]:
    """Bivariate I2 statistics."""
    return {"Zhou": float("nan")}
