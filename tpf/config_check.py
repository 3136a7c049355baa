"""Re-export of :mod:`tpf.config.check`, where the checks across a configuration now live."""

from tpf.config.check import *  # noqa: F403
from tpf.config.check import __all__ as __all__
