"""Old path of the ``sqs`` DLQ sink; the module is :mod:`tpf.transports.dlq.sqs`."""

from tpf.transports.dlq.sqs import SqsDeadLetterSink as SqsDeadLetterSink
