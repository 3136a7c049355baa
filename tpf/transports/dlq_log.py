"""Old path of the ``log`` DLQ sink; the module is :mod:`tpf.transports.dlq.log`."""

from tpf.transports.dlq.log import LogDeadLetterSink as LogDeadLetterSink
