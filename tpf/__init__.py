"""tpf-coordinator: a durable execution coordinator for long-running, human-in-the-loop
pipelines.

The authoring API is importable from the top: ``from tpf import Pipeline, NonRetryableError``,
and the await transports: ``from tpf import Kafka, Sqs, InteractionApi``;
a step's context: ``from tpf import StepContext``.
"""

from tpf.authoring.await_transports import InteractionApi as InteractionApi
from tpf.authoring.await_transports import Kafka as Kafka
from tpf.authoring.await_transports import Sqs as Sqs
from tpf.authoring.context import StepContext as StepContext
from tpf.authoring.pipeline import Pipeline as Pipeline
from tpf.core.errors import NonRetryableError as NonRetryableError
from tpf.core.errors import RetryableError as RetryableError
from tpf.core.errors import TerminalError as TerminalError

__version__ = "0.1.0"
