"""The checked-in gRPC modules are exactly what ``make proto`` generates from the .proto, and the
service module imports its messages package-qualified (so it works from an installed wheel)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = Path("tpf/transports/workers/remote/grpc")
GENERATED = [
    "transition_worker_pb2.py",
    "transition_worker_pb2.pyi",
    "transition_worker_pb2_grpc.py",
]


def test_make_proto_regenerates_the_checked_in_files(tmp_path: Path) -> None:
    # The Makefile's own recipe, into a scratch directory, with this interpreter's grpcio-tools;
    # -o: the venv stamp counts as current (this interpreter is the venv).
    subprocess.run(
        [
            "make",
            "-s",
            "-o",
            ".venv/.installed-stamp",
            "proto",
            f"PROTO_OUT={tmp_path}",
            f"BIN={Path(sys.executable).parent}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    for name in GENERATED:
        fresh = (tmp_path / PACKAGE / name).read_bytes()
        assert fresh == (ROOT / PACKAGE / name).read_bytes(), f"{name} is stale: run make proto"


def test_the_service_module_imports_its_messages_package_qualified() -> None:
    text = (ROOT / PACKAGE / "transition_worker_pb2_grpc.py").read_text()
    assert "from tpf.transports.workers.remote.grpc import transition_worker_pb2 as" in text
    assert "\nimport transition_worker_pb2" not in text


def test_the_wire_names_are_the_originals() -> None:
    from tpf.transports.workers.remote import contracts
    from tpf.transports.workers.remote.grpc import transition_worker_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["TransitionWorkerService"]
    assert service.full_name == contracts.GRPC_SERVICE
    assert {m.name for m in service.methods} == {"Execute", "Capabilities"}
    fields = {
        name: [(f.name, f.number) for f in message.fields]
        for name, message in pb.DESCRIPTOR.message_types_by_name.items()
    }
    assert fields == {
        "TransitionWorkerRequest": [
            ("protocol_version", 1),
            ("payload_encoding", 2),
            ("command_envelope", 3),
            ("timestamp", 4),
            ("nonce", 5),
            ("signature", 6),
        ],
        "TransitionWorkerResponse": [
            ("protocol_version", 1),
            ("payload_encoding", 2),
            ("result_envelope", 3),
        ],
        "TransitionWorkerCapabilitiesRequest": [
            ("protocol_version", 1),
            ("timestamp", 2),
            ("nonce", 3),
            ("signature", 4),
        ],
        "TransitionWorkerCapabilitiesResponse": [("capability_envelope", 1)],
    }
