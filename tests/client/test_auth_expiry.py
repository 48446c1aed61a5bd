"""An auth token expiring under an open watch stream (issue 3 item 4: "refreshed when it expires").

etcd checks a stream's token on every create, not on events: once the token the stream was opened
with has expired, existing watchers keep receiving events but the next create on that stream is
refused with "invalid auth token". The client must authenticate again, reopen the stream, and
re-create every watcher from its next revision while puts keep landing: each watcher then sees every
revision of its prefix exactly once, in order. The ``etcd_auth`` server lets tokens live 2 s.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from etcd_harness import EtcdServer, metric_sum, run_async, wait_until
from fixed_client import Client, Event
from fixed_client.aio import AsyncClient

pytestmark = pytest.mark.timeout(90)

USER, PASSWORD = "alice", "alicepw"  # tests/conftest.py: read-write on /app/ only
TOKEN_GONE = 3.5  # seconds without use after which the 2 s token has surely expired
PUTS = 240
DONE = "done"


class Writer(threading.Thread):
    """Round-robin puts under each prefix (its own client and token), recording every revision."""

    def __init__(self, endpoint: str, prefixes: list[str]) -> None:
        super().__init__(name="writer", daemon=True)
        self.endpoint, self.prefixes = endpoint, prefixes
        self.revisions: dict[str, list[int]] = {p: [] for p in prefixes}
        self.written = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Client([self.endpoint], username=USER, password=PASSWORD, timeout=5.0) as c:
                for i in range(PUTS):
                    p = self.prefixes[i % len(self.prefixes)]
                    self.revisions[p].append(c.put(f"{p}{i}", str(i)))
                    self.written = i + 1
                    time.sleep(0.005)  # spread the puts over the stream's reopening
                for p in self.prefixes:
                    self.revisions[p].append(c.put(p + DONE, DONE))
        except BaseException as exc:
            self.error = exc


def watch_rpcs_started(server: EtcdServer) -> int:
    return int(metric_sum(server.metrics(), "grpc_server_started_total", grpc_method="Watch"))


def check_each_prefix(seen: dict[str, list[Event]], writer: Writer) -> None:
    for p, events in seen.items():
        revisions = [e.mod_revision for e in events]
        assert revisions == writer.revisions[p], f"{p}: {len(revisions)} seen, {len(writer.revisions[p])} written"


def test_expired_token_on_an_open_stream_reopens_it_without_loss(etcd_auth: EtcdServer) -> None:
    base = "/app/expiry-sync/"
    prefixes = [f"{base}{name}/" for name in "abc"]
    with Client([etcd_auth.endpoint], username=USER, password=PASSWORD, timeout=5.0) as c:
        start = c.put(base + "start", "") + 1
        watches = [c.watch(p, prefix=True, start_revision=start, timeout=60) for p in prefixes]
        time.sleep(TOKEN_GONE)  # the token the stream was opened with expires unused
        opened = watch_rpcs_started(etcd_auth)
        writer = Writer(etcd_auth.endpoint, prefixes)
        writer.start()
        assert wait_until(lambda: writer.written >= PUTS // 4 or not writer.is_alive(), 30)
        # A create on the stream is now refused for the expired token: the stream must reopen.
        with c.watch(base + "late", timeout=60) as late:
            writer.join(timeout=60)
            assert writer.error is None, writer.error
            late_rev = c.put(base + "late", "x")
            assert next(iter(late)).mod_revision == late_rev
        seen: dict[str, list[Event]] = {}
        for p, w in zip(prefixes, watches):
            with w:
                seen[p] = []
                for event in w:
                    seen[p].append(event)
                    if event.key == (p + DONE).encode():
                        break
        assert c.watch_stream_count() == 0 and c.watcher_count() == 0
    assert watch_rpcs_started(etcd_auth) > opened, "the stream was never reopened"
    check_each_prefix(seen, writer)


def test_expired_token_on_an_open_stream_async(etcd_auth: EtcdServer) -> None:
    base = "/app/expiry-async/"
    prefixes = [f"{base}{name}/" for name in "abc"]

    async def collect(w: object, p: str) -> list[Event]:
        events: list[Event] = []
        async for event in w:  # type: ignore[attr-defined]
            events.append(event)
            if event.key == (p + DONE).encode():
                break
        return events

    async def body() -> tuple[dict[str, list[Event]], Writer, int]:
        async with AsyncClient([etcd_auth.endpoint], username=USER, password=PASSWORD, timeout=5.0) as c:
            start = await c.put(base + "start", "") + 1
            watches = [await c.watch(p, prefix=True, start_revision=start, timeout=60).start() for p in prefixes]
            await asyncio.sleep(TOKEN_GONE)
            opened = await asyncio.to_thread(watch_rpcs_started, etcd_auth)
            writer = Writer(etcd_auth.endpoint, prefixes)
            writer.start()
            while writer.written < PUTS // 4 and writer.is_alive():
                await asyncio.sleep(0.01)
            tasks = [asyncio.create_task(collect(w, p)) for p, w in zip(prefixes, watches)]
            async with c.watch(base + "late", timeout=60) as late:
                await asyncio.to_thread(writer.join, 60)
                assert writer.error is None, writer.error
                late_rev = await c.put(base + "late", "x")
                async for event in late:
                    assert event.mod_revision == late_rev
                    break
            seen = dict(zip(prefixes, await asyncio.gather(*tasks)))
            for w in watches:
                await w.aclose()
            assert c.watch_stream_count() == 0 and c.watcher_count() == 0
            return seen, writer, opened

    seen, writer, opened = run_async(body(), timeout=80)
    assert watch_rpcs_started(etcd_auth) > opened, "the stream was never reopened"
    check_each_prefix(seen, writer)
