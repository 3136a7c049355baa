"""Old path of the SQS batching helpers; the module is :mod:`tpf.transports.work.sqs_batches`."""

from tpf.transports.work.sqs_batches import SqsBatches as SqsBatches
from tpf.transports.work.sqs_batches import decode_item as decode_item
from tpf.transports.work.sqs_batches import delay_seconds as delay_seconds
