"""The ``cml`` command line: thin click commands over :mod:`cml.report` and friends."""
