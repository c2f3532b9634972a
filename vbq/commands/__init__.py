"""Sub-commands of the ``vbq`` command line."""
