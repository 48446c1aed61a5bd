"""The committed generated code matches the .proto files, registers under a unique path, and the
client extra's lower bounds match what the generated code checks at import."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from google.protobuf import descriptor_pool

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import fixed_client.proto
from fixed_client.proto import kv_pb2, rpc_pb2, v3lock_pb2

PROTO_DIR = Path(fixed_client.proto.__file__).resolve().parent
ROOT = PROTO_DIR.parents[1]


def _load_regenerate() -> object:
    spec = importlib.util.spec_from_file_location("fixed_client_regenerate", PROTO_DIR / "regenerate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_code_is_what_the_generator_produces() -> None:
    regenerate = _load_regenerate()
    texts = regenerate.generate()  # type: ignore[attr-defined]
    assert set(texts) == {"kv_pb2.py", "kv_pb2.pyi", "rpc_pb2.py", "rpc_pb2.pyi", "rpc_pb2_grpc.py",
                          "v3lock_pb2.py", "v3lock_pb2.pyi", "v3lock_pb2_grpc.py"}
    stale = [name for name, text in texts.items() if (PROTO_DIR / name).read_text() != text]
    assert stale == []


def test_files_register_under_a_unique_path() -> None:
    assert rpc_pb2.DESCRIPTOR.name == "fixed_client/etcd/rpc.proto"
    assert kv_pb2.DESCRIPTOR.name == "fixed_client/etcd/kv.proto"
    assert v3lock_pb2.DESCRIPTOR.name == "fixed_client/etcd/v3lock.proto"
    pool = descriptor_pool.Default()
    assert pool.FindMessageTypeByName("etcdserverpb.WatchResponse").file.name == "fixed_client/etcd/rpc.proto"
    assert list(rpc_pb2.DESCRIPTOR.services_by_name) == ["KV", "Watch", "Lease", "Maintenance", "Auth"]
    assert rpc_pb2.WatchResponse.DESCRIPTOR.fields_by_name["events"].number == 11


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_client_extra_bounds_match_the_generated_checks() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["client"]
    bounds = dict(re.fullmatch(r"(\w+)>=([\d.]+)", item).groups() for item in extra)  # type: ignore[union-attr]
    grpc_generated = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", (PROTO_DIR / "rpc_pb2_grpc.py").read_text())
    assert grpc_generated is not None and bounds["grpcio"] == grpc_generated.group(1)
    gencode = re.search(r"Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),", (PROTO_DIR / "rpc_pb2.py").read_text())
    assert gencode is not None
    assert _version(bounds["protobuf"]) == tuple(int(g) for g in gencode.groups())
