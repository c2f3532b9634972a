"""Former home of ROIs from label masks, kept so that ``vbq.masks.rois_from_mask`` works.

The code lives in :mod:`vbq.roi.labelmask`; import from :mod:`vbq.roi` in new code.
"""

from vbq.roi.labelmask import load_label_volume, rois_from_mask

__all__ = ["load_label_volume", "rois_from_mask"]
