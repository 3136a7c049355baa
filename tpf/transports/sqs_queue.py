"""Old path of the SQS work queue; the module is :mod:`tpf.transports.work.sqs`."""

from tpf.transports.work.sqs import SqsWorkQueue as SqsWorkQueue
