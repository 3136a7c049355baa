"""The original's ``transition_worker.proto`` and protoc's modules for it, checked in.

Checked in rather than generated at install so that installing the package never needs
grpcio-tools (a compiler toolchain) and the wire contract is reviewable in the diff.
``make proto`` regenerates them; a test checks they are byte-identical to a fresh generation.
Only ``grpc_server.py`` and ``grpc_client.py`` beside this package use them: they give the
generated, untyped service module a typed edge.
"""

from __future__ import annotations

# The original's `max-inbound-message-size` default, for both the worker server and the client.
MAX_INBOUND_MESSAGE_SIZE = 4 * 1024 * 1024
