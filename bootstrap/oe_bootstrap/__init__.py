"""Gets a user from nothing to a working Python Home for the Python Processor.

Standard library only, Python 3.8+: it runs before the env exists, from a
checkout or as the single-file ``oe-pyproc-bootstrap.pyz``. ``oe-pyproc`` uses
these modules as they are.
"""
__version__ = "0.1.0"

ENV_NAME = "oe-python-plugin"
PLUGIN_NAME = "Python Processor"  # the processor's name in a signal chain
PLUGIN_API = 10
PINNED_PYTHON = (3, 10)
