"""Shared fixtures. Light on purpose: keylint-only test runs load this file too, so it imports
neither grpc nor fixed_client; etcd servers start only when a test asks for one.

The repo root is not on sys.path (the pytest script, --import-mode=importlib), so this folder is
added to it once here: test modules and bench/ scripts import the harness as `etcd_harness`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.append(str(TESTS_DIR))

from etcd_harness import EtcdCluster, EtcdServer, TlsFiles, make_tls_files  # noqa: E402

# Periodic progress notifications every second, so progress_notify is testable in seconds.
PROGRESS_ARGS = ("--experimental-watch-progress-notify-interval=1s",)


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdServer]:
    """One etcd per test module. Tests share it, so each uses its own key prefix (`prefix`)."""
    server = EtcdServer(extra_args=PROGRESS_ARGS).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fresh_etcd() -> Iterator[EtcdServer]:
    """A server of the test's own, for tests that kill, restart or compact it."""
    server = EtcdServer(extra_args=PROGRESS_ARGS).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def etcd_cluster() -> Iterator[EtcdCluster]:
    """Three members on loopback, started together; a test may stop and restart members."""
    cluster = EtcdCluster(3).start()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def etcd_tls(tls_files: TlsFiles) -> Iterator[EtcdServer]:
    """etcd serving https with client-certificate auth; `etcd_tls.tls` holds the PEM paths."""
    server = EtcdServer(tls=tls_files).start()
    try:
        yield server
    finally:
        server.close()


AUTH_USER = ("alice", "alicepw")
AUTH_PREFIX = "/app/"


@pytest.fixture(scope="module")
def etcd_auth() -> Iterator[EtcdServer]:
    """etcd with auth enabled: root/rootpw, and alice/alicepw with read-write on /app/ only.
    Simple tokens live 2 s here, so a test can watch the client refresh an expired token."""
    server = EtcdServer(extra_args=("--auth-token-ttl=2",)).start()
    try:
        server.enable_auth("rootpw", [(AUTH_USER[0], AUTH_USER[1], "app", AUTH_PREFIX)])
        yield server
    finally:
        server.close()


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix unique to this test (its node id), so tests sharing a server never collide."""
    return "/test/" + re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid) + "/"
