"""Sub-commands of the ``metaanalysis`` command line."""
