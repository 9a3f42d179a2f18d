"""oe-pyproc: the Python Processor for the Open Ephys GUI, and the tools around it."""

from oe_bootstrap import __version__  # noqa: F401 (written once, in pyproject.toml)
