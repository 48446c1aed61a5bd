"""Watch throughput and watcher CPU per event: fixed_client (sync, asyncio) vs `etcdctl watch`.

Benchmark, not a test. Starts its own etcd. For each workload (puts written in txns of --txn-size,
and single puts), each consumer runs in its own process watching a fresh prefix from a known start
revision; the parent writes the puts with raw gRPC stubs and measures, per consumer, events/s
(writer start to the consumer's last event) and the consumer process's CPU per event (/proc/PID/stat,
sampled once the consumer is connected and again when it has every event). Consumers alternate
within one run, --rounds times; medians are printed with ratios to etcdctl. "grpcio stub" consumers
iterate a bare generated stub (no client around it): grpcio's own per-message floor.
--baseline-tree DIR adds "baseline" consumers importing another fixed_client copy from DIR (say, the
tree before a change), measured side by side in the same run.

    python bench/watch_throughput.py --txn-puts 100000 --single-puts 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _etcd import EtcdServer, cpu_seconds, etcdctl_binary, print_table  # noqa: E402

CONSUMERS = (
    "fixed_client sync", "fixed_client asyncio", "grpcio stub sync", "grpcio stub asyncio", "etcdctl watch",
)
BASELINE_CONSUMERS = ("baseline sync", "baseline asyncio")
BASELINE_TREE = ""  # --baseline-tree: a folder holding another fixed_client package


# -- consumer side (child process) -------------------------------------------------------------
def consume(mode: str, endpoint: str, prefix: str, start: int, count: int) -> None:
    """Watch prefix from start; print 'ready' once created and 'done' after `count` events."""
    if mode.startswith("stub"):
        consume_bare_stub(mode, endpoint, prefix, start, count)
    elif mode == "sync":
        from fixed_client import Client

        with Client([endpoint]) as c, c.watch(prefix, prefix=True, start_revision=start) as w:
            print("ready", flush=True)
            seen = 0
            for _ in w:
                seen += 1
                if seen == count:
                    break
            print("done", flush=True)
    else:
        from fixed_client.aio import AsyncClient

        async def main() -> None:
            async with AsyncClient([endpoint]) as c, c.watch(prefix, prefix=True, start_revision=start) as w:
                print("ready", flush=True)
                seen = 0
                async for _ in w:
                    seen += 1
                    if seen == count:
                        break
                print("done", flush=True)

        asyncio.run(main())
    sys.stdin.read()  # stay alive (and idle) until the parent has sampled CPU


def consume_bare_stub(mode: str, endpoint: str, prefix: str, start: int, count: int) -> None:
    """The floor: a bare generated grpcio stub iterating WatchResponses (no client around it)."""
    import grpc
    import grpc.aio

    from fixed_client.proto import rpc_pb2, rpc_pb2_grpc

    key = prefix.encode()
    end = key[:-1] + bytes([key[-1] + 1])
    create = rpc_pb2.WatchRequest(
        create_request=rpc_pb2.WatchCreateRequest(key=key, range_end=end, start_revision=start)
    )
    if mode == "stub-sync":
        with grpc.insecure_channel(endpoint) as channel:
            seen = 0
            for resp in rpc_pb2_grpc.WatchStub(channel).Watch(iter([create])):
                if resp.created:
                    print("ready", flush=True)
                seen += len(resp.events)
                if seen >= count:
                    break
            print("done", flush=True)
    else:

        async def main() -> None:
            async with grpc.aio.insecure_channel(endpoint) as channel:
                call = rpc_pb2_grpc.WatchStub(channel).Watch()
                await call.write(create)
                seen = 0
                async for resp in call:
                    if resp.created:
                        print("ready", flush=True)
                    seen += len(resp.events)
                    if seen >= count:
                        break
                print("done", flush=True)
                call.cancel()

        asyncio.run(main())
    sys.stdin.read()


# -- writer side (parent) ----------------------------------------------------------------------
class Writer:
    """Puts through raw generated stubs, so the writer is the same for every consumer."""

    def __init__(self, endpoint: str) -> None:
        import grpc

        from fixed_client.proto import rpc_pb2, rpc_pb2_grpc

        self.pb = rpc_pb2
        self.channel = grpc.insecure_channel(endpoint)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)

    def revision(self) -> int:
        return int(self.kv.Range(self.pb.RangeRequest(key=b"\0", limit=1)).header.revision)

    def txn_puts(self, prefix: str, total: int, size: int, value: bytes) -> None:
        for base in range(0, total, size):
            ops = [
                self.pb.RequestOp(request_put=self.pb.PutRequest(key=f"{prefix}{i}".encode(), value=value))
                for i in range(base, min(base + size, total))
            ]
            self.kv.Txn(self.pb.TxnRequest(success=ops))

    def single_puts(self, prefix: str, total: int, value: bytes, window: int = 64) -> None:
        pending = []
        for i in range(total):
            pending.append(self.kv.Put.future(self.pb.PutRequest(key=f"{prefix}{i % 1000}".encode(), value=value)))
            if len(pending) >= window:
                pending.pop(0).result()
        for f in pending:
            f.result()


def start_consumer(name: str, endpoint: str, prefix: str, start: int, count: int) -> subprocess.Popen[bytes]:
    if name == "etcdctl watch":
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.Popen(
            [etcdctl_binary(), f"--endpoints=http://{endpoint}", "watch", "--prefix", f"--rev={start}", prefix],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
        )
    mode = "sync" if name.endswith("sync") else "asyncio"
    env = None
    if name.startswith("grpcio stub"):
        mode = "stub-" + mode
    elif name.startswith("baseline"):
        # Another copy of fixed_client (e.g. before a change), imported ahead of the installed one.
        env = dict(os.environ, PYTHONPATH=BASELINE_TREE)
    return subprocess.Popen(
        [sys.executable, __file__, "--consume", mode, endpoint, prefix, str(start), str(count)],
        stdout=subprocess.PIPE, stdin=subprocess.PIPE, env=env,
    )


def wait_line(proc: subprocess.Popen[bytes], expected: bytes) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != expected:
        raise RuntimeError(f"consumer said {line!r}, expected {expected!r}")


def count_etcdctl_events(proc: subprocess.Popen[bytes], count: int) -> None:
    """etcdctl prints each PUT event as three lines (PUT, key, value)."""
    assert proc.stdout is not None
    lines = 0
    while lines < 3 * count:
        chunk = os.read(proc.stdout.fileno(), 1 << 16)
        if not chunk:
            raise RuntimeError("etcdctl ended early")
        lines += chunk.count(b"\n")


def measure(server: EtcdServer, writer: Writer, name: str, workload: str, count: int, txn_size: int, run: int) -> tuple[float, float]:
    prefix = f"/bench/{workload}/{run}/{name.replace(' ', '_')}/"
    start = writer.revision() + 1
    proc = start_consumer(name, server.endpoint, prefix, start, count)
    try:
        if name == "etcdctl watch":
            time.sleep(0.5)  # connected and watching by then; it prints nothing until events come
        else:
            wait_line(proc, b"ready")
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        value = b"v" * 16
        if workload == "txn":
            writer.txn_puts(prefix, count, txn_size, value)
        else:
            writer.single_puts(prefix, count, value)
        if name == "etcdctl watch":
            count_etcdctl_events(proc, count)
        else:
            wait_line(proc, b"done")
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.kill()
        proc.wait()
    return count / elapsed, cpu / count * 1e6


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--consume":
        mode, endpoint, prefix, start, count = sys.argv[2:7]
        consume(mode, endpoint, prefix, int(start), int(count))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--txn-puts", type=int, default=100_000)
    parser.add_argument("--txn-size", type=int, default=100)
    parser.add_argument("--single-puts", type=int, default=20_000)
    parser.add_argument("--workloads", default="txn,single", help="comma-separated: txn, single")
    parser.add_argument("--consumers", default=",".join(CONSUMERS), help="comma-separated consumer names")
    parser.add_argument(
        "--baseline-tree", default="", help="folder with another fixed_client/ to run side by side ('baseline ...')"
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; medians are reported")
    args = parser.parse_args()
    workloads = args.workloads.split(",")
    consumers = tuple(name for name in CONSUMERS if name in args.consumers.split(","))
    if args.baseline_tree:
        global BASELINE_TREE
        BASELINE_TREE = str(Path(args.baseline_tree).resolve())
        consumers = BASELINE_CONSUMERS + consumers
    if "etcdctl watch" not in consumers:
        parser.error("the consumers must include 'etcdctl watch' (the reference)")

    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with EtcdServer(extra_args=["--quota-backend-bytes=8589934592"]) as server:
        writer = Writer(server.endpoint)
        for run in range(args.rounds):
            for workload, count in (("txn", args.txn_puts), ("single", args.single_puts)):
                if workload not in workloads:
                    continue
                order = consumers if run % 2 == 0 else tuple(reversed(consumers))
                for name in order:
                    results.setdefault((workload, name), []).append(
                        measure(server, writer, name, workload, count, args.txn_size, run)
                    )
        writer.channel.close()

    rows: list[list[object]] = []
    summary: dict[str, dict[str, float]] = {}
    labels = {"txn": f"{args.txn_puts:,} puts in txns of {args.txn_size}", "single": f"{args.single_puts:,} single puts"}
    for workload in workloads:
        label = labels[workload]
        ref_rate = statistics.median(r for r, _ in results[(workload, "etcdctl watch")])
        ref_cpu = statistics.median(c for _, c in results[(workload, "etcdctl watch")])
        for name in consumers:
            rate = statistics.median(r for r, _ in results[(workload, name)])
            cpu = statistics.median(c for _, c in results[(workload, name)])
            rows.append([label, name, rate, cpu, f"{rate / ref_rate:.2f}", f"{cpu / ref_cpu:.2f}" if ref_cpu else "-"])
            summary[f"{workload}/{name}"] = {"events_per_s": rate, "cpu_us_per_event": cpu}
    print_table(["workload", "consumer", "events/s", "CPU us/event", "rate / etcdctl", "CPU / etcdctl"], rows)
    print("targets: rate / etcdctl >= 0.95; CPU / etcdctl <= 2")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
