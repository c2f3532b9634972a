"""Synthetic lumbar MRI phantoms whose VBQ is known by construction (truth for the tests).

Owns making a phantom study on disk: :func:`make_phantom` (in
:mod:`vbq.phantom.make`) writes the series, the ROI, seed and mask files and
``expected.json``. Its parts: :mod:`~vbq.phantom.anatomy` (the analytic spine and
scan geometry), :mod:`~vbq.phantom.image` (signal, shading, blur, noise),
:mod:`~vbq.phantom.common` (ROI membership, outputs, :class:`PhantomInfo`),
:mod:`~vbq.phantom.dicomwriter` (MR Image Storage files) and
:mod:`~vbq.phantom.enhanced` (Enhanced MR, multi-frame). It reads nothing of the
scoring code: its membership rules are implemented on their own.

``make_phantom(..., anatomy="realistic")`` (:mod:`~vbq.phantom.realistic`, on the
seeded anatomy of :mod:`~vbq.phantom.spine`) writes a spine harder than clinical
images, with switchable variants, reference ROIs and its true geometry.
"""

from __future__ import annotations

from vbq.phantom.make import DISTRACTORS, TISSUE, PhantomInfo, make_phantom, roi_membership

__all__ = ["make_phantom", "PhantomInfo", "TISSUE", "roi_membership", "DISTRACTORS"]
