"""The sockets under both hops: TCP_NODELAY and TLS contexts from the configuration (PS3.15 B.9 / BCP 195)."""

from __future__ import annotations

import socket
import ssl
from typing import Any

from ..config import TLS


def set_nodelay(sock: Any) -> None:
    """Disable Nagle: DIMSE is request/response, and a 40 ms delayed ACK per C-STORE kills throughput."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # pragma: no cover - not a TCP socket
        pass


def server_ssl_context(tls: TLS) -> ssl.SSLContext:
    """A TLS server context from the configured certificate, key and optional client CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls.cert, tls.key)
    if tls.ca is not None:
        ctx.load_verify_locations(tls.ca)
    if tls.require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_ssl_context(tls: TLS | None) -> ssl.SSLContext | None:
    """A TLS client context (server verified against ``ca``, our certificate presented), or None without TLS."""
    if tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca) if tls.ca else None)
    ctx.load_cert_chain(tls.cert, tls.key)
    return ctx
