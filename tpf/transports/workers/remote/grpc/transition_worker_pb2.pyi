from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class TransitionWorkerRequest(_message.Message):
    __slots__ = ("protocol_version", "payload_encoding", "command_envelope", "timestamp", "nonce", "signature")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_ENCODING_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    protocol_version: str
    payload_encoding: str
    command_envelope: bytes
    timestamp: str
    nonce: str
    signature: str
    def __init__(self, protocol_version: _Optional[str] = ..., payload_encoding: _Optional[str] = ..., command_envelope: _Optional[bytes] = ..., timestamp: _Optional[str] = ..., nonce: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class TransitionWorkerResponse(_message.Message):
    __slots__ = ("protocol_version", "payload_encoding", "result_envelope")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_ENCODING_FIELD_NUMBER: _ClassVar[int]
    RESULT_ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    protocol_version: str
    payload_encoding: str
    result_envelope: bytes
    def __init__(self, protocol_version: _Optional[str] = ..., payload_encoding: _Optional[str] = ..., result_envelope: _Optional[bytes] = ...) -> None: ...

class TransitionWorkerCapabilitiesRequest(_message.Message):
    __slots__ = ("protocol_version", "timestamp", "nonce", "signature")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    protocol_version: str
    timestamp: str
    nonce: str
    signature: str
    def __init__(self, protocol_version: _Optional[str] = ..., timestamp: _Optional[str] = ..., nonce: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class TransitionWorkerCapabilitiesResponse(_message.Message):
    __slots__ = ("capability_envelope",)
    CAPABILITY_ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    capability_envelope: bytes
    def __init__(self, capability_envelope: _Optional[bytes] = ...) -> None: ...
