"""oe-pyproc: the Python Processor for the Open Ephys GUI, and the tools around it."""

__version__ = "0.1.0"
