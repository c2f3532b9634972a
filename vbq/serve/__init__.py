"""The VBQ reading workstation: a local web server and the page a reader scores a lumbar MRI in.

``vbq serve FOLDER`` lists the studies under FOLDER (:mod:`vbq.serve.catalog`),
shows the chosen series' slices (:mod:`vbq.serve.render`), turns one click per
level into a proposed ellipse (:func:`vbq.roi.proposal.propose`), scores the
ROIs as ``vbq score --rois`` does, and keeps every reading in an append-only
SQLite database (:mod:`vbq.serve.storage`); a saved reading can be written to
files (:mod:`vbq.serve.exports`). :mod:`vbq.serve.security` holds the access
token, the Host and Origin checks and the path checks.

Only :mod:`vbq.serve.app` imports the web framework (Starlette, served by
uvicorn; the ``serve`` extra), and only the ``vbq serve`` command imports
:mod:`vbq.serve.app`: importing :mod:`vbq` or running any other command never
loads them.
"""
