"""PDU framing over one socket (PS3.8 9.3): read PDUs, split P-DATA-TF into PDVs, send fragmented messages.

One :class:`Link` belongs to one association and one thread. Reading goes through a buffered reader (few
``recv`` calls per PDU); sending gathers PDU headers and fragment views into ``sendmsg`` calls, so a data set
is never copied to be fragmented.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections import deque
from collections.abc import Callable, Sequence

from ..iovec import write_all
from .commands import Command, decode_command

A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

# A-ABORT (PS3.8 Table 9-26): source 0 = service-user, 2 = service-provider; reasons for source 2
ABORT_SOURCE_USER = 0x00
ABORT_SOURCE_PROVIDER = 0x02
REASON_NOT_SPECIFIED = 0x00
REASON_UNRECOGNISED_PDU = 0x01
REASON_UNEXPECTED_PDU = 0x02
REASON_INVALID_PARAMETER = 0x06

HARD_MAX_PDU = 64 * 1024 * 1024
"""Refuse PDUs longer than this even when no maximum was announced (memory guard)."""
MAX_COMMAND_BYTES = 64 * 1024
"""A command set is a few hundred bytes; one longer than this is refused, not accumulated."""
CONTROL_MAX_PDU = 1024 * 1024
"""Largest non-P-DATA PDU accepted (association, release, abort PDUs), before any association exists."""
DEFAULT_SEND_PDU = 1024 * 1024
"""Fragment size when the peer announced no maximum (0 = unlimited)."""

_PDU_HEAD = struct.Struct(">BBI")
_PDV_HEAD = struct.Struct(">BBIIBB")  # PDU type, reserved, PDU length, item length, context ID, control header
_RELEASE_RQ = _PDU_HEAD.pack(A_RELEASE_RQ, 0, 4) + b"\x00" * 4
_RELEASE_RP = _PDU_HEAD.pack(A_RELEASE_RP, 0, 4) + b"\x00" * 4


class PeerClosed(ConnectionError):
    """The connection ended: end of stream, reset or timeout."""


class PeerAborted(ConnectionError):
    """The peer sent A-ABORT."""


class ReleaseRequested(Exception):
    """The peer sent A-RELEASE-RQ where a message could start."""


class ProtocolError(Exception):
    """The peer broke PS3.8; ``reason`` is the A-ABORT provider reason to answer with."""

    def __init__(self, message: str, reason: int = REASON_UNEXPECTED_PDU) -> None:
        super().__init__(message)
        self.reason = reason


def abort_pdu(source: int = ABORT_SOURCE_USER, reason: int = REASON_NOT_SPECIFIED) -> bytes:
    return _PDU_HEAD.pack(A_ABORT, 0, 4) + bytes((0, 0, source, reason))


class Link:
    """A socket carrying one association's PDUs."""

    def __init__(self, sock: socket.socket, *, max_receive: int = 0, buffer_size: int = 256 * 1024) -> None:
        self.sock = sock
        self.max_receive = max_receive or HARD_MAX_PDU
        self.peer_max = 0
        """The peer's Maximum Length Received (0: unlimited), known once the association is up."""
        self._rfile = sock.makefile("rb", buffering=buffer_size)
        self._gather = not isinstance(sock, ssl.SSLSocket)
        self._pending: deque[tuple[int, int, memoryview]] = deque()

    # -- reading --------------------------------------------------------------------------------------
    def read_pdu(self) -> tuple[int, bytes]:
        """The next PDU as (type, body without the 6-byte header)."""
        try:
            head = self._rfile.read(6)
            if len(head) < 6:
                raise PeerClosed("connection closed")
            pdu_type, _, length = _PDU_HEAD.unpack(head)
            # PS3.8 D.1.1: Maximum Length Received bounds the P-DATA-TF variable field we accept; the others are
            # small (an A-ASSOCIATE-RQ with 128 contexts of many syntaxes stays far below 1 MiB).
            limit = self.max_receive if pdu_type == P_DATA_TF else CONTROL_MAX_PDU
            if length > min(limit, HARD_MAX_PDU):
                raise ProtocolError("PDU longer than the maximum announced", REASON_INVALID_PARAMETER)
            body = self._rfile.read(length)
        except (TimeoutError, OSError, ValueError) as e:  # ValueError: read on a file closed by a timeout
            raise PeerClosed(type(e).__name__) from e
        if len(body) < length:
            raise PeerClosed("connection closed inside a PDU")
        return pdu_type, body

    def _next_pdv(self) -> tuple[int, int, memoryview]:
        while not self._pending:
            pdu_type, body = self.read_pdu()
            if pdu_type == P_DATA_TF:
                self._split(body)
            elif pdu_type == A_RELEASE_RQ:
                raise ReleaseRequested()
            elif pdu_type == A_ABORT:
                raise PeerAborted("A-ABORT")
            elif pdu_type in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_RELEASE_RP):
                raise ProtocolError(f"unexpected PDU type 0x{pdu_type:02X}", REASON_UNEXPECTED_PDU)
            else:
                raise ProtocolError(f"unknown PDU type 0x{pdu_type:02X}", REASON_UNRECOGNISED_PDU)
        return self._pending.popleft()

    def _split(self, body: bytes) -> None:
        mv = memoryview(body)
        pos, end = 0, len(mv)
        if end == 0:
            raise ProtocolError("P-DATA-TF without PDV items", REASON_INVALID_PARAMETER)
        while pos < end:
            if end - pos < 6:
                raise ProtocolError("truncated PDV item", REASON_INVALID_PARAMETER)
            (n,) = struct.unpack_from(">I", mv, pos)
            if n < 2 or pos + 4 + n > end:
                raise ProtocolError("PDV item length out of range", REASON_INVALID_PARAMETER)
            self._pending.append((mv[pos + 4], mv[pos + 5], mv[pos + 6 : pos + 4 + n]))
            pos += 4 + n

    def read_command(self) -> tuple[int, Command]:
        """The next DIMSE command set: (presentation context ID, command).

        Raises :class:`ReleaseRequested` when the peer asks to release instead.
        """
        parts: list[memoryview] = []
        size = 0
        cx_id = -1
        while True:
            cx, ctrl, value = self._next_pdv()
            if not ctrl & 0x01:
                raise ProtocolError("data set fragment where a command was expected")
            if cx_id not in (-1, cx):
                raise ProtocolError("command fragments on two presentation contexts")
            cx_id = cx
            size += len(value)
            if size > MAX_COMMAND_BYTES:
                raise ProtocolError("command set too long", REASON_INVALID_PARAMETER)
            parts.append(value)
            if ctrl & 0x02:
                break
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        try:
            return cx_id, decode_command(data)
        except ValueError as e:
            raise ProtocolError(f"bad command set: {e}", REASON_INVALID_PARAMETER) from None

    def read_dataset(self, cx_id: int, sink: Callable[[memoryview], object] | None = None) -> int:
        """Feed each fragment of the data set that follows a command to ``sink`` (None: drop it); returns the
        total length."""
        total = 0
        while True:
            cx, ctrl, value = self._next_pdv()
            if ctrl & 0x01:
                raise ProtocolError("command fragment inside a data set")
            if cx != cx_id:
                raise ProtocolError("data set fragment on another presentation context")
            total += len(value)
            if sink is not None:
                sink(value)
            if ctrl & 0x02:
                return total

    # -- writing --------------------------------------------------------------------------------------
    def _send(self, buffers: list[bytes | memoryview]) -> None:
        if self._gather:
            write_all(self.sock.sendmsg, buffers)
        else:
            self.sock.sendall(b"".join(buffers))

    def _pdvs(
        self, out: list[bytes | memoryview], cx_id: int, ctrl: int, data: Sequence[bytes | memoryview]
    ) -> None:
        """PDUs of one PDV each, at most the peer's maximum, over the buffers of ``data`` in order (a PDV may
        gather pieces of several buffers; nothing is copied)."""
        chunk = (self.peer_max or DEFAULT_SEND_PDU) - 6
        views = [memoryview(b).cast("B") for b in data if len(b)]
        total = sum(len(v) for v in views)
        sent = 0
        i, pos = 0, 0  # current view and offset in it
        while True:
            size = min(chunk, total - sent)
            flags = ctrl | (0x02 if sent + size >= total else 0x00)
            out.append(_PDV_HEAD.pack(P_DATA_TF, 0, size + 6, size + 2, cx_id, flags))
            need = size
            while need:
                piece = views[i][pos : pos + need]
                out.append(piece)
                need -= len(piece)
                pos += len(piece)
                if pos == len(views[i]):
                    i, pos = i + 1, 0
            sent += size
            if sent >= total:
                return

    def send_message(
        self,
        cx_id: int,
        command: bytes,
        dataset: bytes | memoryview | Sequence[bytes | memoryview] | None = None,
    ) -> None:
        """Send a command set and, if given, its data set (one buffer or several in order), each fragmented to
        the peer's maximum."""
        out: list[bytes | memoryview] = []
        self._pdvs(out, cx_id, 0x01, [command])
        if dataset is not None:
            self._pdvs(out, cx_id, 0x00, [dataset] if isinstance(dataset, bytes | memoryview) else dataset)
        self.send_raw(out)

    def send_raw(self, buffers: list[bytes | memoryview]) -> None:
        try:
            self._send(buffers)
        except (TimeoutError, OSError) as e:
            raise PeerClosed(type(e).__name__) from e

    def send_release_rq(self) -> None:
        self.send_raw([_RELEASE_RQ])

    def send_release_rp(self) -> None:
        self.send_raw([_RELEASE_RP])

    def send_abort(self, source: int = ABORT_SOURCE_USER, reason: int = REASON_NOT_SPECIFIED) -> None:
        """Best effort: the association is over either way."""
        try:
            self._send([abort_pdu(source, reason)])
        except OSError:
            pass

    def close(self) -> None:
        for f in (self._rfile.close, lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                f()
            except OSError:
                pass
