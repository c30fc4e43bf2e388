"""PDU framing over one socket (PS3.8 9.3): read PDUs, split P-DATA-TF into PDVs, send fragmented messages.

One :class:`Link` belongs to one association and one thread. Reading goes through a buffered reader (few
``recv`` calls per PDU); sending gathers PDU headers and fragment views into ``sendmsg`` calls, so a data set
is never copied to be fragmented.

What a peer can make us spend is bounded (issue 12): every read and send runs against an absolute deadline
(the association's, or the current message's: ``message_timeout`` plus the bytes moved at ``min_rate``), not
a per-``recv`` timeout a peer can renew by dripping bytes; P-DATA-TF bodies are split one PDV at a time;
a message's fragment count is bounded by its size; small data set fragments are coalesced before they are
handed on; messages are sent in bounded batches of PDUs.
"""

from __future__ import annotations

import io
import itertools
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from ..iovec import IOV_MAX, write_all
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
MAX_COMMAND_FRAGMENTS = 256
"""A command set arrives in one or two fragments; empty fragments cost memory and CPU without adding bytes."""
FREE_FRAGMENTS = 1024
SMALL_FRAGMENT_BYTES = 256
"""A data set may have ``FREE_FRAGMENTS`` fragments plus one per ``SMALL_FRAGMENT_BYTES`` of its length: real
senders fragment at their maximum PDU (4-64 KiB); a million 1-byte fragments is an attack on CPU."""
COALESCE_BELOW = 2048
COALESCE_CHUNK = 64 * 1024
"""Data set fragments shorter than ``COALESCE_BELOW`` are copied into ``COALESCE_CHUNK`` buffers before the
sink sees them: a held fragment costs a ~200-byte view object, so tiny fragments held until a flush would
multiply memory."""
CONTROL_MAX_PDU = 1024 * 1024
"""Largest non-P-DATA PDU accepted (association, release, abort PDUs), before any association exists."""
DEFAULT_SEND_PDU = 1024 * 1024
"""Fragment size when the peer announced no maximum (0 = unlimited)."""
MIN_SEND_PDU = 7
"""The smallest maximum a Link can send to (one byte per fragment); associations demand far more
(:data:`~deidnode.dimse.acse.MIN_PEER_MAX_PDU`)."""
SEND_BATCH_BYTES = 4 * 1024 * 1024
"""A message is sent in batches of at most ``IOV_MAX`` buffers or this many bytes: the PDU headers of a large
data set sent to a small maximum are never all built at once."""
DEFAULT_MIN_RATE = 16 * 1024
"""Bytes per second a message must move at, beyond its ``message_timeout``, before it is given up."""
ARM_SLACK = 0.25
"""How far past a deadline a blocking call may end (the socket timeout is reset at most this often)."""

_PDU_HEAD = struct.Struct(">BBI")
_PDV_HEAD = struct.Struct(">BBIIBB")  # PDU type, reserved, PDU length, item length, context ID, control header
_ITEM_LEN = struct.Struct(">I")
_RELEASE_RQ = _PDU_HEAD.pack(A_RELEASE_RQ, 0, 4) + b"\x00" * 4
_RELEASE_RP = _PDU_HEAD.pack(A_RELEASE_RP, 0, 4) + b"\x00" * 4


class PeerClosed(ConnectionError):
    """The connection ended: end of stream, reset or timeout (the cause is a ``TimeoutError`` then)."""


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
    """A socket carrying one association's PDUs.

    Timing: ``deadline`` (monotonic seconds, set by the owner, e.g. for association setup) bounds every read
    and send while it is set. A message read with :meth:`read_command` / :meth:`read_dataset` gets its own
    deadline when its first byte arrives: ``message_timeout`` (default: the socket's timeout) plus its bytes
    at ``min_rate``; it ends with the message. Between messages only the socket's own timeout applies.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        max_receive: int = 0,
        buffer_size: int = 256 * 1024,
        message_timeout: float | None = None,
        min_rate: float = DEFAULT_MIN_RATE,
    ) -> None:
        self.sock = sock
        self.max_receive = max_receive or HARD_MAX_PDU
        self._peer_max = 0
        self._deadline: float | None = None
        self.message_timeout = message_timeout
        self.min_rate = min_rate
        self._rfile = cast(io.BufferedReader, sock.makefile("rb", buffering=buffer_size))
        self._gather = not isinstance(sock, ssl.SSLSocket)
        self._body: memoryview | None = None  # the P-DATA-TF being split
        self._pos = 0
        self._message_start: float | None = None  # when the message being read began to arrive
        self._message_bytes = 0
        self._armed_timeout: float | None = None  # the socket timeout in force while a deadline is applied
        self._user_timeout: float | None = None

    @property
    def peer_max(self) -> int:
        """The peer's Maximum Length Received (0: unlimited), known once the association is up."""
        return self._peer_max

    @peer_max.setter
    def peer_max(self, value: int) -> None:
        if value < 0 or 0 < value < MIN_SEND_PDU:
            raise ProtocolError(f"maximum length {value} leaves no room for a fragment", REASON_INVALID_PARAMETER)
        self._peer_max = value

    @property
    def deadline(self) -> float | None:
        """An absolute deadline (``time.monotonic()``) for every read and send, or None."""
        return self._deadline

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self._deadline = value
        self._disarm()  # the socket's own timeout is back until the next read or send applies the new one

    # -- deadlines ------------------------------------------------------------------------------------
    def _current_deadline(self) -> float | None:
        message = None
        if self._message_start is not None:
            timeout = self.message_timeout if self.message_timeout is not None else self._idle_timeout()
            if timeout is not None:
                message = self._message_start + timeout + self._message_bytes / self.min_rate
        if self._deadline is None:
            return message
        return self._deadline if message is None else min(self._deadline, message)

    def _idle_timeout(self) -> float | None:
        return self._user_timeout if self._armed_timeout is not None else self.sock.gettimeout()

    def _arm(self) -> None:
        """Give the socket what is left of the deadline (raises ``TimeoutError`` once it has passed).

        The socket's timeout is only reset when the one in force could let a blocking call end more than
        ``ARM_SLACK`` after the deadline (so a fast message costs one ``settimeout``, not one per ``recv``).
        """
        deadline = self._current_deadline()
        if deadline is None:
            self._disarm()
            return
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            raise TimeoutError("deadline passed")
        if self._armed_timeout is None:
            self._user_timeout = self.sock.gettimeout()
        elif now + self._armed_timeout <= deadline + ARM_SLACK:
            return
        self._armed_timeout = left
        self.sock.settimeout(left)

    def _disarm(self) -> None:
        if self._armed_timeout is not None:
            self._armed_timeout = None
            self.sock.settimeout(self._user_timeout)

    def _end_message(self) -> None:
        self._message_start = None
        self._message_bytes = 0
        self._disarm()

    # -- reading --------------------------------------------------------------------------------------
    def _read_into(self, view: memoryview, *, first_starts_message: bool = False) -> None:
        """Fill ``view`` from the socket, each ``recv`` bounded by the deadline in force."""
        got, size = 0, len(view)
        while got < size:
            self._arm()
            n = self._rfile.readinto1(view[got:])
            if not n:
                raise PeerClosed("connection closed")
            if first_starts_message and self._message_start is None:
                self._message_start = time.monotonic()
            got += n

    def read_pdu(self, *, starts_message: bool = False) -> tuple[int, bytes | bytearray]:
        """The next PDU as (type, body without the 6-byte header).

        ``starts_message``: the first byte of this PDU starts a message's deadline.
        """
        head = bytearray(6)
        try:
            self._read_into(memoryview(head), first_starts_message=starts_message)
            pdu_type, _, length = _PDU_HEAD.unpack(head)
            # PS3.8 D.1.1: Maximum Length Received bounds the P-DATA-TF variable field we accept; the others are
            # small (an A-ASSOCIATE-RQ with 128 contexts of many syntaxes stays far below 1 MiB).
            limit = self.max_receive if pdu_type == P_DATA_TF else CONTROL_MAX_PDU
            if length > min(limit, HARD_MAX_PDU):
                raise ProtocolError("PDU longer than the maximum announced", REASON_INVALID_PARAMETER)
            body = bytearray(length)
            self._read_into(memoryview(body))
        except (TimeoutError, OSError, ValueError) as e:  # ValueError: read on a file closed by a timeout
            raise PeerClosed(type(e).__name__) from e
        if self._message_start is not None:
            self._message_bytes += length + 6
        return pdu_type, body

    def _next_pdv(self, *, release_ok: bool = False) -> tuple[int, int, memoryview]:
        """The next PDV (context ID, control header, value), reading PDUs as needed; one PDV is split off the
        current P-DATA-TF at a time, so a PDU of empty PDVs costs no more memory than its own bytes."""
        while self._body is None:
            pdu_type, body = self.read_pdu(starts_message=release_ok)
            if pdu_type == P_DATA_TF:
                if not body:
                    raise ProtocolError("P-DATA-TF without PDV items", REASON_INVALID_PARAMETER)
                self._body, self._pos = memoryview(body), 0
            elif pdu_type == A_RELEASE_RQ and release_ok:
                self._end_message()
                raise ReleaseRequested()
            elif pdu_type == A_ABORT:
                raise PeerAborted("A-ABORT")
            elif pdu_type in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_RELEASE_RP, A_RELEASE_RQ):
                raise ProtocolError(f"unexpected PDU type 0x{pdu_type:02X}", REASON_UNEXPECTED_PDU)
            else:
                raise ProtocolError(f"unknown PDU type 0x{pdu_type:02X}", REASON_UNRECOGNISED_PDU)
        mv, pos = self._body, self._pos
        end = len(mv)
        if end - pos < 6:
            raise ProtocolError("truncated PDV item", REASON_INVALID_PARAMETER)
        (n,) = _ITEM_LEN.unpack_from(mv, pos)
        if n < 2 or pos + 4 + n > end:
            raise ProtocolError("PDV item length out of range", REASON_INVALID_PARAMETER)
        pdv = (mv[pos + 4], mv[pos + 5], mv[pos + 6 : pos + 4 + n])
        self._pos = pos + 4 + n
        if self._pos >= end:
            self._body = None
        return pdv

    def read_command(self) -> tuple[int, Command]:
        """The next DIMSE command set: (presentation context ID, command).

        Raises :class:`ReleaseRequested` when the peer asks to release before a message starts (an
        A-RELEASE-RQ inside a message is a protocol error).
        """
        parts: list[memoryview] = []
        size = 0
        cx_id = -1
        while True:
            cx, ctrl, value = self._next_pdv(release_ok=not parts)
            if self._message_start is None:  # the message began in a P-DATA-TF read earlier
                self._message_start = time.monotonic()
            if not ctrl & 0x01:
                raise ProtocolError("data set fragment where a command was expected")
            if cx_id not in (-1, cx):
                raise ProtocolError("command fragments on two presentation contexts")
            cx_id = cx
            size += len(value)
            if size > MAX_COMMAND_BYTES or len(parts) >= MAX_COMMAND_FRAGMENTS:
                raise ProtocolError("command set too long", REASON_INVALID_PARAMETER)
            parts.append(value)
            if ctrl & 0x02:
                break
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        try:
            cmd = decode_command(data)
        except ValueError as e:
            raise ProtocolError(f"bad command set: {e}", REASON_INVALID_PARAMETER) from None
        if not cmd.has_dataset:
            self._end_message()
        return cx_id, cmd

    def read_dataset(self, cx_id: int, sink: Callable[[memoryview], object] | None = None) -> int:
        """Feed the data set that follows a command to ``sink`` (None: drop it); returns the total length.

        Fragments reach ``sink`` in order; those shorter than ``COALESCE_BELOW`` are first copied together.
        """
        total = fragments = 0
        pending = bytearray()
        try:
            while True:
                cx, ctrl, value = self._next_pdv()
                if ctrl & 0x01:
                    raise ProtocolError("command fragment inside a data set")
                if cx != cx_id:
                    raise ProtocolError("data set fragment on another presentation context")
                total += len(value)
                fragments += 1
                if fragments > FREE_FRAGMENTS + total // SMALL_FRAGMENT_BYTES:
                    raise ProtocolError("data set in too many small fragments", REASON_INVALID_PARAMETER)
                last = bool(ctrl & 0x02)
                if sink is not None:
                    if len(value) < COALESCE_BELOW:
                        pending += value
                        if len(pending) >= COALESCE_CHUNK or last:
                            sink(memoryview(pending))
                            pending = bytearray()
                    else:
                        if pending:
                            sink(memoryview(pending))
                            pending = bytearray()
                        sink(value)
                if last:
                    return total
        finally:
            self._end_message()

    # -- writing --------------------------------------------------------------------------------------
    def _send(self, buffers: Sequence[bytes | memoryview]) -> None:
        self._arm()
        if self._gather:

            def sendmsg(batch: Sequence[memoryview]) -> int:
                self._arm()
                return self.sock.sendmsg(batch)

            write_all(sendmsg, buffers)
        else:
            data = memoryview(b"".join(buffers))
            while data:
                self._arm()
                n = self.sock.send(data)
                data = data[n:]

    def _pdus(self, cx_id: int, ctrl: int, data: Sequence[bytes | memoryview]) -> Iterator[bytes | memoryview]:
        """PDUs of one PDV each, at most the peer's maximum, over the buffers of ``data`` in order (a PDV may
        gather pieces of several buffers; nothing is copied)."""
        chunk = (self._peer_max or DEFAULT_SEND_PDU) - 6
        views = [memoryview(b).cast("B") for b in data if len(b)]
        total = sum(len(v) for v in views)
        sent = 0
        i, pos = 0, 0  # current view and offset in it
        while True:
            size = min(chunk, total - sent)
            flags = ctrl | (0x02 if sent + size >= total else 0x00)
            yield _PDV_HEAD.pack(P_DATA_TF, 0, size + 6, size + 2, cx_id, flags)
            need = size
            while need:
                piece = views[i][pos : pos + need]
                yield piece
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
        the peer's maximum, in batches of PDUs; the whole message gets a deadline like a received one."""
        parts = [] if dataset is None else [dataset] if isinstance(dataset, bytes | memoryview) else dataset
        size = len(command) + sum(len(b) for b in parts)
        self._message_start, self._message_bytes = time.monotonic(), size
        try:
            batch: list[bytes | memoryview] = []
            batch_bytes = 0
            pieces = self._pdus(cx_id, 0x01, [command])
            if dataset is not None:
                pieces = itertools.chain(pieces, self._pdus(cx_id, 0x00, parts))
            for piece in pieces:
                batch.append(piece)
                batch_bytes += len(piece)
                if len(batch) >= IOV_MAX or batch_bytes >= SEND_BATCH_BYTES:
                    self.send_raw(batch)
                    batch, batch_bytes = [], 0
            if batch:
                self.send_raw(batch)
        finally:
            self._end_message()

    def send_raw(self, buffers: Sequence[bytes | memoryview]) -> None:
        try:
            self._send(buffers)
        except (TimeoutError, OSError) as e:
            raise PeerClosed(type(e).__name__) from e

    def send_release_rq(self) -> None:
        self.send_raw([_RELEASE_RQ])

    def send_release_rp(self) -> None:
        self.send_raw([_RELEASE_RP])

    def send_abort(self, source: int = ABORT_SOURCE_USER, reason: int = REASON_NOT_SPECIFIED) -> None:
        """Best effort, without blocking for long: the association is over either way."""
        try:
            timeout = self.sock.gettimeout()
            self.sock.settimeout(min(timeout, 1.0) if timeout is not None else 1.0)
            self.sock.sendall(abort_pdu(source, reason))
        except (OSError, ValueError):
            pass

    def await_peer_close(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the peer to close its end, discarding what it still sends: after an
        A-ASSOCIATE-RJ the requestor closes the transport (PS3.8 9.2, state Sta13, bounded by ARTIM). Closing
        first races the peer's state machine (pynetdicom saw the connection end before the rejection and
        reported an abort)."""
        end = time.monotonic() + seconds
        try:
            while (left := end - time.monotonic()) > 0:
                self.sock.settimeout(left)
                if not self.sock.recv(4096):
                    return
        except (OSError, ValueError):
            return

    def close(self) -> None:
        for f in (self._rfile.close, lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                f()
            except OSError:
                pass
