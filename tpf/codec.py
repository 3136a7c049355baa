"""Payload encoding under its public import path.

The code lives in :mod:`tpf.core.codec`; this path stays for users' imports.
"""

from tpf.core.codec import _SCALAR_SHAPES as _SCALAR_SHAPES
from tpf.core.codec import LIST_TYPES as LIST_TYPES
from tpf.core.codec import MAP_TYPE as MAP_TYPE
from tpf.core.codec import MAX_DEPTH as MAX_DEPTH
from tpf.core.codec import NULL_TYPE as NULL_TYPE
from tpf.core.codec import canonical_digest as canonical_digest
from tpf.core.codec import canonical_json as canonical_json
from tpf.core.codec import decode_payload as decode_payload
from tpf.core.codec import encode_payload as encode_payload
from tpf.core.codec import is_envelope as is_envelope
from tpf.core.codec import java_type_id as java_type_id
from tpf.core.codec import json_text as json_text
