"""gRPC plumbing shared by the sync and asyncio clients: endpoints, channel options, TLS, error mapping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from fixed_client.errors import (
    CompactedError,
    EtcdConnectionError,
    EtcdError,
    MessageTooLargeError,
)
from fixed_client.proto import rpc_pb2

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    endpoints: tuple[str, ...]
    timeout: float
    secure: bool
    root_certificates: bytes | None
    private_key: bytes | None
    certificate_chain: bytes | None
    max_message_bytes: int
    username: str | None
    password: str | None


def parse_endpoint(endpoint: object) -> tuple[str, bool | None]:
    """``host:port`` plus whether the scheme asked for TLS (None: no scheme given)."""
    if not isinstance(endpoint, str) or not endpoint:
        raise TypeError(f"endpoints must be 'host:port' strings, got {endpoint!r}")
    for scheme, secure in (("https://", True), ("http://", False), ("unix://", False)):
        if endpoint.startswith(scheme):
            return endpoint[len(scheme) :].rstrip("/"), secure
    return endpoint, None


def _read(path: object, name: str) -> bytes | None:
    if path is None:
        return None
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a file path (str) or None, not {type(path).__name__}")
    with open(path, "rb") as handle:
        return handle.read()


def make_settings(
    endpoints: object,
    timeout: object,
    username: object,
    password: object,
    ca_cert: object,
    cert: object,
    key: object,
    max_message_bytes: object,
) -> Settings:
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    if not isinstance(endpoints, Sequence) or not endpoints:
        raise TypeError("endpoints must be a non-empty list of 'host:port' strings")
    parsed = [parse_endpoint(e) for e in endpoints]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int) or max_message_bytes <= 0:
        raise ValueError(f"max_message_bytes must be a positive int, got {max_message_bytes!r}")
    if (username is None) != (password is None):
        raise ValueError("username and password go together")
    for value, name in ((username, "username"), (password, "password")):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be str or None, not {type(value).__name__}")
    if (cert is None) != (key is None):
        raise ValueError("cert and key go together (client certificate and its private key)")
    secure = ca_cert is not None or cert is not None or any(s is True for _, s in parsed)
    return Settings(
        endpoints=tuple(e for e, _ in parsed),
        timeout=float(timeout),
        secure=secure,
        root_certificates=_read(ca_cert, "ca_cert"),
        private_key=_read(key, "key"),
        certificate_chain=_read(cert, "cert"),
        max_message_bytes=max_message_bytes,
        username=username if isinstance(username, str) else None,
        password=password if isinstance(password, str) else None,
    )


def channel_options(settings: Settings) -> list[tuple[str, int | str]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # etcd closes connections that ping more often than every 5 s (--grpc-keepalive-min-time).
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.http2.max_pings_without_data", 0),
        # Reconnect quickly once a restarted server is back (gRPC's default backoff reaches minutes).
        ("grpc.initial_reconnect_backoff_ms", 50),
        ("grpc.min_reconnect_backoff_ms", 50),
        ("grpc.max_reconnect_backoff_ms", 500),
        ("grpc.enable_retries", 0),
        # Each client owns its connections: one client's failure handling never touches another's.
        ("grpc.use_local_subchannel_pool", 1),
    ]


def credentials(settings: Settings) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=settings.root_certificates,
        private_key=settings.private_key,
        certificate_chain=settings.certificate_chain,
    )


def is_auth_error(code: grpc.StatusCode, details: str) -> bool:
    return code == grpc.StatusCode.UNAUTHENTICATED or "invalid auth token" in details or "auth token" in details


def token_rejected(resp: rpc_pb2.WatchResponse, settings: Settings) -> bool:
    """A create refused because the stream's auth token expired (etcd checks it on every create):
    the stream must be reopened with a fresh token, not the watcher failed."""
    return (
        settings.username is not None
        and resp.created
        and resp.canceled
        and ("invalid auth token" in resp.cancel_reason or "Unauthenticated" in resp.cancel_reason)
    )


def is_reconnectable(code: grpc.StatusCode) -> bool:
    """Errors after which the same request may succeed on another attempt or endpoint."""
    return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def map_error(code: grpc.StatusCode, details: str, settings: Settings, tried: Sequence[str]) -> Exception:
    """The exception a failed unary call raises."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max" in details.lower():
        return MessageTooLargeError(settings.max_message_bytes, details)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return EtcdConnectionError(tried or settings.endpoints, f"{code.name}: {details}")
    if "required revision has been compacted" in details:
        return CompactedError(0, f"etcd: {details}")
    return EtcdError(f"etcd: {code.name}: {details}")


def watch_stream_error(code: grpc.StatusCode, details: str, settings: Settings) -> EtcdError | None:
    """A halting Watch-stream error (delivered to every watcher); None: reconnect and resume."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return MessageTooLargeError(settings.max_message_bytes, details)
    if code in (
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.UNAUTHENTICATED,
    ):
        return EtcdError(f"etcd watch stream: {code.name}: {details}")
    return None
