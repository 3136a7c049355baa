"""The authoring API: pipelines, steps and awaits, under its public import path.

The code lives in :mod:`tpf.authoring.pipeline`; this path stays for users' imports.
"""

from tpf.authoring.await_transports import InteractionApi as InteractionApi
from tpf.authoring.await_transports import Kafka as Kafka
from tpf.authoring.await_transports import Sqs as Sqs
from tpf.authoring.context import StepContext as StepContext
from tpf.authoring.context import UnknownStepOutput as UnknownStepOutput
from tpf.authoring.pipeline import AWAIT_TRANSPORT as AWAIT_TRANSPORT
from tpf.authoring.pipeline import Pipeline as Pipeline
from tpf.authoring.pipeline import StepSpec as StepSpec
