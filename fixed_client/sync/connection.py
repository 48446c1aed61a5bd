"""Channels to the endpoints, failover, the auth token, and unary calls with retry (sync)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
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

R = TypeVar("R", bound=Message)


@dataclass
class Stubs:
    endpoint: str
    index: int
    channel: grpc.Channel
    kv: rpc_pb2_grpc.KVStub
    watch: rpc_pb2_grpc.WatchStub
    lease: rpc_pb2_grpc.LeaseStub
    maintenance: rpc_pb2_grpc.MaintenanceStub
    auth: rpc_pb2_grpc.AuthStub
    lock: v3lock_pb2_grpc.LockStub


class Connection:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._stubs: dict[int, Stubs] = {}
        self._index = 0
        self._token: str | None = None
        self._closed = False

    # -- channels ----------------------------------------------------------------------------
    def current(self) -> Stubs:
        with self._lock:
            if self._closed:
                raise RuntimeError("client is closed")
            stubs = self._stubs.get(self._index)
            if stubs is None:
                stubs = self._open(self._index)
                self._stubs[self._index] = stubs
            return stubs

    def _open(self, index: int) -> Stubs:
        endpoint = self.settings.endpoints[index]
        options = channel_options(self.settings)
        if self.settings.secure:
            channel = grpc.secure_channel(endpoint, credentials(self.settings), options=options)
        else:
            channel = grpc.insecure_channel(endpoint, options=options)
        return Stubs(
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

    def failover(self, failed: Stubs) -> None:
        """Move to the next endpoint, unless someone already moved away from ``failed``."""
        with self._lock:
            if self._index == failed.index and len(self.settings.endpoints) > 1:
                self._index = (failed.index + 1) % len(self.settings.endpoints)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stubs, self._stubs = list(self._stubs.values()), {}
        for s in stubs:
            s.channel.close()

    # -- auth --------------------------------------------------------------------------------
    def metadata(self) -> list[tuple[str, str]]:
        if self.settings.username is None:
            return []
        token = self._token
        if token is None:
            token = self.refresh_token(None)
        return [("token", token)]

    def refresh_token(self, stale: str | None) -> str:
        """Authenticate again unless another thread already replaced ``stale``."""
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
        request = rpc_pb2.AuthenticateRequest(name=self.settings.username or "", password=self.settings.password or "")
        resp: rpc_pb2.AuthenticateResponse = self.unary(
            lambda s: s.auth.Authenticate, request, authenticated=False
        )
        with self._lock:
            self._token = resp.token
        return resp.token

    def current_token(self) -> str | None:
        return self._token

    # -- unary calls -------------------------------------------------------------------------
    def unary(
        self,
        method: Callable[[Stubs], Any],
        request: Message,
        timeout: float | None = None,
        authenticated: bool = True,
    ) -> Any:
        """Call ``method(stubs)(request)``; retry on other endpoints until the client timeout."""
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
            metadata = self.metadata() if authenticated else []
            try:
                return method(stubs)(request, timeout=remaining, metadata=metadata or None)
            except grpc.RpcError as err:
                call: grpc.Call = err  # type: ignore[assignment]
                code, details = call.code(), call.details() or ""
                if authenticated and not auth_retried and self.settings.username and is_auth_error(code, details):
                    auth_retried = True
                    self.refresh_token(metadata[0][1] if metadata else None)
                    continue
                if not is_reconnectable(code):
                    raise map_error(code, details, self.settings, list(tried)) from None
                tried[stubs.endpoint] = f"{stubs.endpoint}: {code.name} {details}".strip()
                self.failover(stubs)
                pause = min(backoff.next_delay(), deadline - time.monotonic())
                if pause > 0:
                    time.sleep(pause)
