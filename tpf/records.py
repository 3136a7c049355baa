"""Execution, interaction and release records under their public import path.

The code lives in :mod:`tpf.core.records`; this path stays for users' imports.
"""

from tpf.core.records import CLAIMABLE_STATUSES as CLAIMABLE_STATUSES
from tpf.core.records import ENVELOPE_ENCODING as ENVELOPE_ENCODING
from tpf.core.records import NEVER_DUE_EPOCH_MS as NEVER_DUE_EPOCH_MS
from tpf.core.records import PENDING_INTERACTION_STATUSES as PENDING_INTERACTION_STATUSES
from tpf.core.records import TERMINAL_STATUSES as TERMINAL_STATUSES
from tpf.core.records import TRANSITION_ENCODING as TRANSITION_ENCODING
from tpf.core.records import ArtifactDescriptor as ArtifactDescriptor
from tpf.core.records import AwaitInteraction as AwaitInteraction
from tpf.core.records import AwaitSuspension as AwaitSuspension
from tpf.core.records import ContractStep as ContractStep
from tpf.core.records import DeadLetterEnvelope as DeadLetterEnvelope
from tpf.core.records import DispatchState as DispatchState
from tpf.core.records import ExecutionRecord as ExecutionRecord
from tpf.core.records import ExecutionStatus as ExecutionStatus
from tpf.core.records import IdempotencyPolicy as IdempotencyPolicy
from tpf.core.records import InteractionStatus as InteractionStatus
from tpf.core.records import PayloadEnvelope as PayloadEnvelope
from tpf.core.records import PipelineContract as PipelineContract
from tpf.core.records import Record as Record
from tpf.core.records import RedriveEntry as RedriveEntry
from tpf.core.records import ReleaseDescriptor as ReleaseDescriptor
from tpf.core.records import ReleaseRecord as ReleaseRecord
from tpf.core.records import ReleaseStatus as ReleaseStatus
from tpf.core.records import TransitionCommand as TransitionCommand
from tpf.core.records import TransitionFailure as TransitionFailure
from tpf.core.records import TransitionOutcome as TransitionOutcome
from tpf.core.records import TransitionResult as TransitionResult
from tpf.core.records import WorkerEvent as WorkerEvent
from tpf.core.records import WorkerEventType as WorkerEventType
from tpf.core.records import WorkerRecord as WorkerRecord
from tpf.core.records import WorkerState as WorkerState
from tpf.core.records import WorkItem as WorkItem
