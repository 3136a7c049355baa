"""Re-export of :mod:`tpf.config.settings`, where the typed settings now live."""

from tpf.config.settings import *  # noqa: F403
from tpf.config.settings import __all__ as __all__
