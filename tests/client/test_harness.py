"""The etcd harness itself: real etcd, probes, restarts, the TCP proxy (no fixed_client involved)."""

from __future__ import annotations

import socket
import threading

import pytest

from etcd_harness import EtcdServer, TcpProxy, metric_sum, parse_prometheus

pytestmark = pytest.mark.timeout(60)


def test_parse_prometheus_labels_and_sums() -> None:
    samples = parse_prometheus(
        "# HELP x\n# TYPE x gauge\n"
        'grpc_server_started_total{grpc_method="Watch",grpc_type="bidi_stream"} 3\n'
        'grpc_server_started_total{grpc_method="Range",grpc_type="unary"} 7\n'
        "etcd_debugging_mvcc_watcher_total 2\n"
        "lease_bad NaNish\n"
    )
    assert samples['grpc_server_started_total{grpc_method="Watch",grpc_type="bidi_stream"}'] == 3
    assert metric_sum(samples, "grpc_server_started_total") == 10
    assert metric_sum(samples, "grpc_server_started_total", grpc_method="Watch") == 3
    assert metric_sum(samples, "etcd_debugging_mvcc_watcher_total") == 2
    assert "lease_bad" not in samples


def test_server_probes_and_restart_keep_data(fresh_etcd: EtcdServer) -> None:
    assert fresh_etcd.watchers() == 0 and fresh_etcd.watch_streams() == 0
    leases = fresh_etcd.live_leases()
    fresh_etcd.etcdctl("lease", "grant", "60")
    assert fresh_etcd.live_leases() == leases + 1
    fresh_etcd.etcdctl("put", "/h/k", "v1")
    pid = fresh_etcd.pid
    fresh_etcd.restart(hard=True)
    assert fresh_etcd.pid != pid and fresh_etcd.running()
    assert fresh_etcd.etcdctl("get", "/h/k").split() == ["/h/k", "v1"]


def test_proxy_forwards_cuts_and_reopens() -> None:
    upstream = socket.socket()
    upstream.bind(("127.0.0.1", 0))
    upstream.listen(8)
    stop = threading.Event()

    def echo() -> None:
        upstream.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = upstream.accept()
            except OSError:
                continue
            threading.Thread(target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(1024), b"")], daemon=True).start()

    threading.Thread(target=echo, daemon=True).start()
    try:
        with TcpProxy(f"127.0.0.1:{upstream.getsockname()[1]}") as proxy:
            first = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            first.sendall(b"ping")
            assert first.recv(16) == b"ping"
            port = proxy.port
            proxy.close()
            assert first.recv(16) == b""  # the cut closes live connections
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2)
            proxy.reopen()
            assert proxy.port == port
            second = socket.create_connection(("127.0.0.1", port), timeout=5)
            second.sendall(b"again")
            assert second.recv(16) == b"again"
            assert proxy.accepted == 2
            first.close()
            second.close()
    finally:
        stop.set()
        upstream.close()
