"""Former home of ROIs from seed points, kept so that ``vbq.seeds.rois_from_seeds`` works.

The code lives in :mod:`vbq.roi.seeds`; import from :mod:`vbq.roi` in new code.
"""

from vbq.roi.seeds import SeedFile, rois_from_seeds

__all__ = ["SeedFile", "rois_from_seeds"]
