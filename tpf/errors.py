"""The error tree under its public import path.

The code lives in :mod:`tpf.core.errors`; this path stays for users' imports.
"""

from tpf.core.errors import STORE_UNAVAILABLE_MESSAGE as STORE_UNAVAILABLE_MESSAGE
from tpf.core.errors import ActorStopped as ActorStopped
from tpf.core.errors import AskTimeout as AskTimeout
from tpf.core.errors import ConditionFailed as ConditionFailed
from tpf.core.errors import ConfigError as ConfigError
from tpf.core.errors import Conflict as Conflict
from tpf.core.errors import NonRetryableError as NonRetryableError
from tpf.core.errors import NotFound as NotFound
from tpf.core.errors import RetryableError as RetryableError
from tpf.core.errors import StoreUnavailable as StoreUnavailable
from tpf.core.errors import StoreUnusable as StoreUnusable
from tpf.core.errors import TerminalError as TerminalError
from tpf.core.errors import TpfError as TpfError
from tpf.core.errors import Unavailable as Unavailable
from tpf.core.errors import ValidationError as ValidationError
