"""Regenerate fixed_client's protobuf and gRPC modules from the .proto files.

Run from anywhere: ``python -m fixed_client.proto.regenerate`` (or ``python fixed_client/proto/regenerate.py``).
The .proto files live under ``fixed_client/etcd/`` so that protobuf registers them as
``fixed_client/etcd/*.proto``: bare ``rpc.proto``/``kv.proto`` collide in the default descriptor pool with
other etcd packages. The generated modules are written flat into this folder and their imports are
rewritten from ``fixed_client.etcd`` to ``fixed_client.proto``.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE  # holds fixed_client/etcd/*.proto
PROTO_FILES = ("kv.proto", "rpc.proto", "v3lock.proto")
NO_SERVICES = ("kv_pb2_grpc.py",)  # kv.proto declares no service
PYI_HEADER = '# mypy: disable-error-code="type-arg"\n'
_IMPORT = re.compile(r"\bfixed_client\.etcd\b")


def generate() -> dict[str, str]:
    """Generated module texts by file name, imports already rewritten."""
    from grpc_tools import protoc  # type: ignore[import-untyped]  # dev-only dependency

    include = str(pathlib.Path(protoc.__file__).resolve().parent / "_proto")
    with tempfile.TemporaryDirectory() as out:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *(f"fixed_client/etcd/{name}" for name in PROTO_FILES),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
        generated = pathlib.Path(out) / "fixed_client" / "etcd"
        texts: dict[str, str] = {}
        for path in sorted(generated.iterdir()):
            if path.suffix not in (".py", ".pyi") or path.name in NO_SERVICES:
                continue
            text = _IMPORT.sub("fixed_client.proto", path.read_text())
            if path.suffix == ".pyi":  # protoc's stubs use bare Mapping; keep mypy --strict quiet on them
                text = PYI_HEADER + text
            texts[path.name] = text
        return texts


def main(argv: list[str]) -> int:
    """Write the generated modules; with --check, only report files that differ (exit 1)."""
    texts = generate()
    if "--check" in argv:
        stale = [name for name, text in texts.items() if not (HERE / name).is_file() or (HERE / name).read_text() != text]
        for name in stale:
            print(f"stale: {HERE / name}", file=sys.stderr)
        return 1 if stale else 0
    for name, text in texts.items():
        (HERE / name).write_text(text)
        print(f"wrote {HERE / name}")
    shutil.rmtree(HERE / "__pycache__", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
