"""Auth (username/password token, refreshed when it expires) and TLS with generated certificates
(issue 3, items 4 and 7), sync and asyncio."""

from __future__ import annotations

import time

import pytest

from etcd_harness import EtcdServer, make_tls_files, run_async
from fixed_client import Client, EtcdConnectionError
from fixed_client.aio import AsyncClient

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "alice", "alicepw"  # tests/conftest.py: read-write on /app/ only


def test_auth_user_reads_and_writes_its_prefix_only(etcd_auth: EtcdServer) -> None:
    with Client([etcd_auth.endpoint], username=USER, password=PASSWORD, timeout=5.0) as c:
        rev = c.put("/app/auth/k", "v")
        assert c.get("/app/auth/k")[0].mod_revision == rev
        with pytest.raises(Exception, match="(?i)permission denied"):
            c.put("/elsewhere", "v")
        with c.watch("/app/auth/", prefix=True, timeout=10) as w:
            rev2 = c.put("/app/auth/k2", "v")
            assert next(iter(w)).mod_revision == rev2
    assert "/app/auth/k" in etcd_auth.etcdctl("get", "/app/auth/k")


def test_auth_without_credentials_is_refused(etcd_auth: EtcdServer) -> None:
    with pytest.raises(Exception, match="(?i)user name is empty|permission denied|auth"):
        with Client([etcd_auth.endpoint], timeout=5.0) as c:
            c.put("/app/auth/anon", "v")


def test_auth_wrong_password_is_refused(etcd_auth: EtcdServer) -> None:
    with pytest.raises(Exception, match="(?i)authentication failed|invalid"):
        with Client([etcd_auth.endpoint], username=USER, password="wrong", timeout=5.0) as c:
            c.put("/app/auth/x", "v")


def test_auth_token_is_refreshed_after_it_expires(etcd_auth: EtcdServer) -> None:
    # The fixture's server lets simple tokens live 2 s (--auth-token-ttl=2).
    with Client([etcd_auth.endpoint], username=USER, password=PASSWORD, timeout=5.0) as c:
        c.put("/app/refresh/k", "1")
        time.sleep(4)
        assert c.put("/app/refresh/k", "2") > 0
        with c.watch("/app/refresh/k", timeout=10) as w:
            time.sleep(3)  # the token used to open the stream has expired by now
            rev = c.put("/app/refresh/k", "3")
            assert next(iter(w)).mod_revision == rev
        lock = c.lock("/app/refresh/lock", ttl=5)
        assert lock.acquire(timeout=5)
        lock.release()


def test_auth_async(etcd_auth: EtcdServer) -> None:
    async def body() -> None:
        async with AsyncClient([etcd_auth.endpoint], username=USER, password=PASSWORD, timeout=5.0) as c:
            rev = await c.put("/app/async/k", "v")
            assert (await c.get("/app/async/k"))[0].mod_revision == rev
            with pytest.raises(Exception, match="(?i)permission denied"):
                await c.put("/elsewhere", "v")
            async with c.lock("/app/async/lock", ttl=5, timeout=5):
                pass

    run_async(body())


def tls_client(server: EtcdServer, **overrides: object) -> Client:
    assert server.tls is not None
    options: dict[str, object] = {
        "ca_cert": str(server.tls.ca), "cert": str(server.tls.client_cert), "key": str(server.tls.client_key),
    }
    options.update(overrides)
    return Client([server.endpoint], timeout=3.0, **options)  # type: ignore[arg-type]


def test_tls_with_client_certificate(etcd_tls: EtcdServer) -> None:
    with tls_client(etcd_tls) as c:
        rev = c.put("/tls/k", "v")
        assert c.get("/tls/k")[0].value == b"v"
        with c.watch("/tls/", prefix=True, start_revision=rev, timeout=10) as w:
            assert next(iter(w)).mod_revision == rev
        with c.lock("/tls/lock", ttl=5, timeout=5):
            pass


def test_tls_async(etcd_tls: EtcdServer) -> None:
    assert etcd_tls.tls is not None
    tls = etcd_tls.tls

    async def body() -> None:
        async with AsyncClient(
            [etcd_tls.endpoint], timeout=3.0, ca_cert=str(tls.ca), cert=str(tls.client_cert), key=str(tls.client_key)
        ) as c:
            rev = await c.put("/tls/async", "v")
            async with c.watch("/tls/async", start_revision=rev, timeout=10) as w:
                async for event in w:
                    assert event.value == b"v"
                    break

    run_async(body())


def test_tls_without_client_certificate_is_refused(etcd_tls: EtcdServer) -> None:
    with pytest.raises(EtcdConnectionError):
        with tls_client(etcd_tls, cert=None, key=None) as c:
            c.put("/tls/nocert", "v")


def test_tls_with_an_unknown_ca_is_refused(etcd_tls: EtcdServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = make_tls_files(tmp_path_factory.mktemp("other-ca"))
    with pytest.raises(EtcdConnectionError):
        with tls_client(etcd_tls, ca_cert=str(other.ca)) as c:
            c.put("/tls/wrongca", "v")


def test_plaintext_client_cannot_talk_to_tls_server(etcd_tls: EtcdServer) -> None:
    with pytest.raises(EtcdConnectionError):
        with Client([etcd_tls.endpoint], timeout=2.0) as c:
            c.put("/tls/plain", "v")


def test_server_cancel_with_a_reason_raises_watch_canceled(etcd_auth: EtcdServer) -> None:
    from fixed_client import WatchCanceledError

    with Client([etcd_auth.endpoint], username=USER, password=PASSWORD, timeout=5.0) as c:
        with pytest.raises(WatchCanceledError, match="(?i)permission denied") as raised:
            with c.watch("/elsewhere/", prefix=True, timeout=10) as w:
                for _ in w:
                    pass
        assert "permission denied" in raised.value.reason
        assert c.watcher_count() == 0
        with c.watch("/app/after-cancel", timeout=10) as w:  # the stream still serves other watches
            rev = c.put("/app/after-cancel", "v")
            assert next(iter(w)).mod_revision == rev


def test_server_cancel_async(etcd_auth: EtcdServer) -> None:
    from fixed_client import WatchCanceledError

    async def body() -> None:
        async with AsyncClient([etcd_auth.endpoint], username=USER, password=PASSWORD, timeout=5.0) as c:
            with pytest.raises(WatchCanceledError):
                async with c.watch("/elsewhere/", prefix=True, timeout=10) as w:
                    async for _ in w:
                        pass
            assert c.watcher_count() == 0

    run_async(body())
