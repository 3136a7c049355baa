"""Old path of the local transition worker, kept for code that imports it from here (the demos
import ``StepEvent``); the module is :mod:`tpf.transports.workers.local`."""

from tpf.transports.workers.local import LocalTransitionWorker as LocalTransitionWorker
from tpf.transports.workers.local import StepEvent as StepEvent
from tpf.transports.workers.local import StepObserver as StepObserver
from tpf.transports.workers.local import error_detail as error_detail
from tpf.transports.workers.local import failure_result as failure_result
