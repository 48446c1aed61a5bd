"""Channels to the endpoints, failover, the auth token, and unary calls with retry (asyncio)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from fixed_client._transport import (
    Settings,
    channel_options,
    credentials,
    is_auth_error,
    is_reconnectable,
    map_error,
)
from fixed_client.core.backoff import Backoff
from fixed_client.errors import EtcdConnectionError
from fixed_client.proto import rpc_pb2, rpc_pb2_grpc, v3lock_pb2_grpc


@dataclass
class AsyncStubs:
    endpoint: str
    index: int
    channel: grpc.aio.Channel
    kv: rpc_pb2_grpc.KVStub
    watch: rpc_pb2_grpc.WatchStub
    lease: rpc_pb2_grpc.LeaseStub
    maintenance: rpc_pb2_grpc.MaintenanceStub
    auth: rpc_pb2_grpc.AuthStub
    lock: v3lock_pb2_grpc.LockStub


class AsyncConnection:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stubs: dict[int, AsyncStubs] = {}
        self._index = 0
        self._token: str | None = None
        self._auth_lock: asyncio.Lock | None = None
        self._closed = False

    def current(self) -> AsyncStubs:
        if self._closed:
            raise RuntimeError("client is closed")
        stubs = self._stubs.get(self._index)
        if stubs is None:
            stubs = self._open(self._index)
            self._stubs[self._index] = stubs
        return stubs

    def _open(self, index: int) -> AsyncStubs:
        endpoint = self.settings.endpoints[index]
        options = channel_options(self.settings)
        if self.settings.secure:
            channel = grpc.aio.secure_channel(endpoint, credentials(self.settings), options=options)
        else:
            channel = grpc.aio.insecure_channel(endpoint, options=options)
        return AsyncStubs(
            endpoint=endpoint,
            index=index,
            channel=channel,
            kv=rpc_pb2_grpc.KVStub(channel),
            watch=rpc_pb2_grpc.WatchStub(channel),
            lease=rpc_pb2_grpc.LeaseStub(channel),
            maintenance=rpc_pb2_grpc.MaintenanceStub(channel),
            auth=rpc_pb2_grpc.AuthStub(channel),
            lock=v3lock_pb2_grpc.LockStub(channel),
        )

    def failover(self, failed: AsyncStubs) -> None:
        if self._index == failed.index and len(self.settings.endpoints) > 1:
            self._index = (failed.index + 1) % len(self.settings.endpoints)

    async def close(self) -> None:
        self._closed = True
        stubs, self._stubs = list(self._stubs.values()), {}
        for s in stubs:
            await s.channel.close(None)

    # -- auth --------------------------------------------------------------------------------
    async def metadata(self) -> list[tuple[str, str]]:
        if self.settings.username is None:
            return []
        token = self._token
        if token is None:
            token = await self.refresh_token(None)
        return [("token", token)]

    async def refresh_token(self, stale: str | None) -> str:
        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            if self._token is not None and self._token != stale:
                return self._token
            request = rpc_pb2.AuthenticateRequest(
                name=self.settings.username or "", password=self.settings.password or ""
            )
            resp: rpc_pb2.AuthenticateResponse = await self.unary(
                lambda s: s.auth.Authenticate, request, authenticated=False
            )
            self._token = resp.token
            return resp.token

    def current_token(self) -> str | None:
        return self._token

    # -- unary calls -------------------------------------------------------------------------
    async def unary(
        self,
        method: Callable[[AsyncStubs], Any],
        request: Message,
        timeout: float | None = None,
        authenticated: bool = True,
    ) -> Any:
        budget = self.settings.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        tried: dict[str, str] = {}
        backoff = Backoff(initial=0.02, cap=0.25)
        auth_retried = False
        while True:
            stubs = self.current()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EtcdConnectionError(list(tried) or [stubs.endpoint], "; ".join(tried.values()))
            metadata = await self.metadata() if authenticated else []
            try:
                return await method(stubs)(request, timeout=remaining, metadata=metadata or None)
            except grpc.aio.AioRpcError as err:
                code, details = err.code(), err.details() or ""
                if authenticated and not auth_retried and self.settings.username and is_auth_error(code, details):
                    auth_retried = True
                    await self.refresh_token(metadata[0][1] if metadata else None)
                    continue
                if not is_reconnectable(code):
                    raise map_error(code, details, self.settings, list(tried)) from None
                tried[stubs.endpoint] = f"{stubs.endpoint}: {code.name} {details}".strip()
                self.failover(stubs)
                pause = min(backoff.next_delay(), deadline - time.monotonic())
                if pause > 0:
                    await asyncio.sleep(pause)
