"""Real etcd servers for fixed_client's tests and benchmarks (standard library only).

No mocks: `EtcdServer` runs the etcd binary on free loopback ports with a temp data dir and stops it
by PID; `EtcdCluster` runs several members; `make_tls_files` writes a CA, a server certificate for
127.0.0.1 and a client certificate (with the `cryptography` package, imported only there);
`TcpProxy` forwards a loopback port to etcd so a test can cut the network and restore it.

Health and metrics are served on a separate plain-HTTP port (`--listen-metrics-urls`), so the same
probe works for TLS servers. This module must not import grpc or fixed_client: keylint-only test
runs load it through tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
INSTALL_HINT = (
    "etcd is not installed: run `apt-get install etcd-server etcd-client` (what scripts/test does) "
    "or set ETCD_BIN to an etcd binary"
)


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run one asyncio test body on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll predicate() until true or timeout; return its last truth value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)
    return True


class EtcdHarnessError(RuntimeError):
    """etcd could not be started, probed or driven."""


def etcd_binary() -> str:
    """The etcd binary: $ETCD_BIN, else `etcd` on PATH; a loud error with an install hint otherwise."""
    path = os.environ.get("ETCD_BIN") or shutil.which("etcd")
    if not path or not os.access(path, os.X_OK):
        raise EtcdHarnessError(INSTALL_HINT)
    return path


def etcdctl_binary() -> str:
    """etcdctl: $ETCDCTL_BIN, else next to the etcd binary, else on PATH."""
    explicit = os.environ.get("ETCDCTL_BIN")
    if explicit:
        return explicit
    beside = Path(etcd_binary()).with_name("etcdctl")
    if beside.exists():
        return str(beside)
    found = shutil.which("etcdctl")
    if not found:
        raise EtcdHarnessError(INSTALL_HINT)
    return found


def free_port() -> int:
    """A loopback port the kernel just handed out (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS etcd: the CA, the server pair (SAN 127.0.0.1) and a client pair."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path, client_name: str = "root") -> TlsFiles:
    """Generate a CA, a server certificate and a client certificate (CN=client_name) into directory."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("keylint test CA"))
        .issuer_name(name("keylint test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name: str, usage: x509.ObjectIdentifier, san: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        return builder.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, san=True)
    client_cert, client_key = leaf(client_name, ExtendedKeyUsageOID.CLIENT_AUTH, san=False)
    files = TlsFiles(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
    )
    pem = serialization.Encoding.PEM
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(server_cert.public_bytes(pem))
    files.client_cert.write_bytes(client_cert.public_bytes(pem))
    write_key(server_key, files.server_key)
    write_key(client_key, files.client_key)
    return files


_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text format to {series: value}; a series is `name` or `name{a="x",b="y"}`
    with its labels sorted, so callers can build the same key from a name and labels."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        metric, labels, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            continue
        samples[series_name(metric, dict(_LABEL.findall(labels or "")))] = value
    return samples


def series_name(metric: str, labels: dict[str, str]) -> str:
    if not labels:
        return metric
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


def metric_sum(samples: dict[str, float], metric: str, **labels: str) -> float:
    """Sum of every series of `metric` whose labels include `labels` (0.0 when none)."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for series, value in samples.items():
        base, _, rest = series.partition("{")
        if base == metric and all(w in rest for w in wanted):
            total += value
    return total


class EtcdServer:
    """One etcd member on loopback. Use as a context manager, or call start()/stop()."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        name: str = "etcd0",
        extra_args: Sequence[str] = (),
        tls: TlsFiles | None = None,
        client_port: int | None = None,
        peer_port: int | None = None,
        initial_cluster: str | None = None,
    ) -> None:
        self.name = name
        self._own_dir = data_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix=f"etcd-{name}-")) if data_dir is None else data_dir
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "etcd.log"
        self.extra_args = list(extra_args)
        self.tls = tls
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.metrics_port = free_port()
        self.initial_cluster = initial_cluster or f"{name}={self.peer_url}"
        self.auth: tuple[str, str] | None = None  # etcdctl's --user once auth is enabled
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: object = None
        self.starts = 0

    # -- addresses ---------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{self.endpoint}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -----------------------------------------------------------------------------
    def command(self) -> list[str]:
        args = [
            etcd_binary(),
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster,
            "--initial-cluster-state", "new",
            "--listen-metrics-urls", self.metrics_url,
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]
        if self.tls is not None:
            args += [
                "--cert-file", str(self.tls.server_cert),
                "--key-file", str(self.tls.server_key),
                "--trusted-ca-file", str(self.tls.ca),
                "--client-cert-auth",
            ]
        return args + self.extra_args

    def launch(self) -> None:
        """Start the process without waiting for health (a cluster starts all members first)."""
        if self.running():
            raise EtcdHarnessError(f"{self.name} is already running (pid {self.pid})")
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n=== start #{self.starts}: {' '.join(self.command())}\n".encode())
        log.flush()
        try:
            self._proc = subprocess.Popen(
                self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        finally:
            log.close()

    def start(self, timeout: float = STARTUP_TIMEOUT) -> EtcdServer:
        self.launch()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll /health until it says true; on failure raise with the tail of etcd's log."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise EtcdHarnessError(f"{self.name} exited with {code} while starting\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.metrics_url}/health", timeout=1.0) as reply:
                    body = json.loads(reply.read() or b"{}")
                if str(body.get("health")) == "true":
                    return
                last = repr(body)
            except (OSError, ValueError, urllib.error.URLError) as exc:
                last = repr(exc)
            time.sleep(0.05)
        self.kill()
        raise EtcdHarnessError(
            f"{self.name} not healthy after {timeout:.0f} s ({last})\n{self.log_tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM by PID, then SIGKILL if it has not exited within `timeout`."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        """SIGKILL by PID: a crash, nothing flushed beyond what etcd already synced."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(STOP_TIMEOUT)

    def restart(self, timeout: float = STARTUP_TIMEOUT, *, hard: bool = False) -> None:
        """Stop (or kill, if hard) and start again on the same ports and data dir."""
        self.kill() if hard else self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop the process and remove the temp folder this server created."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> EtcdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no etcd log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- probes ----------------------------------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics as {series: value} (see parse_prometheus)."""
        with urllib.request.urlopen(f"{self.metrics_url}/metrics", timeout=5.0) as reply:
            return parse_prometheus(reply.read().decode())

    def watchers(self) -> int:
        """Live server-side watchers (gauge etcd_debugging_mvcc_watcher_total)."""
        return int(metric_sum(self.metrics(), "etcd_debugging_mvcc_watcher_total"))

    def watch_streams(self) -> int:
        """Live server-side watch streams (gauge etcd_debugging_mvcc_watch_stream_total)."""
        return int(metric_sum(self.metrics(), "etcd_debugging_mvcc_watch_stream_total"))

    def open_watch_rpcs(self) -> int:
        """Watch RPCs started minus handled (both counters)."""
        samples = self.metrics()
        started = metric_sum(samples, "grpc_server_started_total", grpc_method="Watch")
        handled = metric_sum(samples, "grpc_server_handled_total", grpc_method="Watch")
        return int(started - handled)

    def live_leases(self) -> int:
        """Leases granted minus revoked (expiry counts as revoked), since this process started."""
        samples = self.metrics()
        granted = metric_sum(samples, "etcd_debugging_lease_granted_total")
        revoked = metric_sum(samples, "etcd_debugging_lease_revoked_total")
        return int(granted - revoked)

    def settled(self, probe: str, quiet: float = 0.3, timeout: float = 5.0) -> int:
        """A probe's value once it has held still for ``quiet`` seconds (bounded by ``timeout``): a
        baseline taken while an earlier test's cancels are still draining would be off by them."""
        deadline = time.monotonic() + timeout
        value = getattr(self, probe)()
        since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            time.sleep(0.05)
            now = getattr(self, probe)()
            if now != value:
                value, since = now, time.monotonic()
        return int(value)

    def wait_for(self, probe: str, expected: int, timeout: float = 10.0) -> int:
        """Poll a probe method (e.g. "watchers") until it equals `expected`; return the last value."""
        deadline = time.monotonic() + timeout
        value = getattr(self, probe)()
        while value != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            value = getattr(self, probe)()
        return int(value)

    # -- etcdctl -------------------------------------------------------------------------------
    def etcdctl_args(self, user: tuple[str, str] | None = None) -> list[str]:
        args = [etcdctl_binary(), f"--endpoints={self.client_url}", "--dial-timeout=5s", "--command-timeout=10s"]
        if self.tls is not None:
            args += [f"--cacert={self.tls.ca}", f"--cert={self.tls.client_cert}", f"--key={self.tls.client_key}"]
        user = user or self.auth
        if user is not None:
            args.append(f"--user={user[0]}:{user[1]}")
        return args

    def etcdctl(self, *args: str, user: tuple[str, str] | None = None, input: bytes | None = None) -> str:
        """Run `etcdctl --endpoints=... ARGS` (API v3) and return stdout; raise with stderr on failure."""
        env = dict(os.environ, ETCDCTL_API="3")
        done = subprocess.run(
            self.etcdctl_args(user) + list(args),
            input=input, capture_output=True, env=env, timeout=30,
        )
        if done.returncode != 0:
            raise EtcdHarnessError(
                f"etcdctl {' '.join(args)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
            )
        return done.stdout.decode(errors="replace")

    def enable_auth(
        self,
        root_password: str = "rootpw",
        users: Iterable[tuple[str, str, str, str]] = (("alice", "alicepw", "app", "/app/"),),
    ) -> None:
        """Create root and, for each (user, password, role, prefix), a user whose role may read
        and write keys under prefix; then enable auth. etcdctl calls use root afterwards."""
        self.etcdctl("user", "add", f"root:{root_password}")
        for user, password, role, prefix in users:
            self.etcdctl("role", "add", role)
            self.etcdctl("role", "grant-permission", role, "--prefix=true", "readwrite", prefix)
            self.etcdctl("user", "add", f"{user}:{password}")
            self.etcdctl("user", "grant-role", user, role)
        self.etcdctl("auth", "enable")
        self.auth = ("root", root_password)


class EtcdCluster:
    """`n` etcd members on loopback, one static cluster; members can be stopped and restarted."""

    def __init__(self, n: int = 3, *, extra_args: Sequence[str] = ()) -> None:
        self.base_dir = Path(tempfile.mkdtemp(prefix="etcd-cluster-"))
        peers = [(f"m{i}", free_port()) for i in range(n)]
        initial = ",".join(f"{name}=http://127.0.0.1:{port}" for name, port in peers)
        self.members = [
            EtcdServer(
                self.base_dir / name, name=name, peer_port=port, initial_cluster=initial,
                extra_args=extra_args,
            )
            for name, port in peers
        ]
        for member in self.members:
            member.base_dir.mkdir(parents=True, exist_ok=True)

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def start(self, timeout: float = STARTUP_TIMEOUT) -> EtcdCluster:
        try:
            for member in self.members:  # all first: no member is healthy before a quorum exists
                member.launch()
            for member in self.members:
                member.wait_healthy(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def running_member(self) -> EtcdServer:
        for member in self.members:
            if member.running():
                return member
        raise EtcdHarnessError("no cluster member is running")

    def close(self) -> None:
        for member in self.members:
            member.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class TcpProxy:
    """A loopback TCP forwarder to `target` ("host:port"). close() drops every connection and stops
    listening (a network cut that the client sees as closed sockets, not a black hole); reopen()
    listens again on the same port. Bounded: at most `max_connections` at once."""

    def __init__(self, target: str, *, port: int = 0, max_connections: int = 64) -> None:
        host, _, target_port = target.rpartition(":")
        self.target = (host, int(target_port))
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self.port = port
        self.accepted = 0
        self._listen()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.2)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, args=(listener,), name="tcp-proxy-accept", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                if self._listener is not listener or len(self._conns) >= 2 * self.max_connections:
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5.0)
                upstream.settimeout(None)
            except OSError:
                client.close()  # target down: the client sees a reset, as it would talking to etcd
                continue
            client.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(src, dst), name="tcp-proxy-pump", daemon=True)
                pump.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src)
            self._drop(dst)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def connection_count(self) -> int:
        with self._lock:
            return len(self._conns) // 2

    def close(self) -> None:
        """Stop listening and close every forwarded connection at once."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns = list(self._conns)
        if listener is not None:
            listener.close()
        for sock in conns:
            self._drop(sock)
        for thread in self._threads:
            thread.join(timeout=1.0)
        self._threads = [t for t in self._threads if t.is_alive()]

    def reopen(self) -> None:
        """Listen again on the same port."""
        if self._listener is None:
            self._listen()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
