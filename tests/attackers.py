"""Hostile and broken DICOM peers, built byte by byte (issue 12): for tests and ``bench/attack.py``.

Everything here talks to 127.0.0.1 (any 127.x.y.z source address works on Linux loopback, so a test can
be "another host"), with socket timeouts on every call and a bound on the bytes it sends.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterable, Sequence

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"

A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x04, 0x05, 0x06, 0x07


def pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def pdv(cx: int, ctrl: int, value: bytes) -> bytes:
    return struct.pack(">IBB", len(value) + 2, cx, ctrl) + value


def item(item_type: int, value: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def _ae(title: bytes) -> bytes:
    return title.ljust(16, b" ")[:16]


def rq_body(
    *,
    calling: bytes = b"CT1",
    called: bytes = b"DEIDNODE",
    contexts: Sequence[tuple[str, Sequence[str]]] = ((CT, (EXPLICIT,)), (VERIFICATION, (IMPLICIT,))),
    max_pdu: int | None = 16384,
    extra_items: bytes = b"",
    extra_user_items: bytes = b"",
    extra_context_items: bytes = b"",
) -> bytes:
    """An A-ASSOCIATE-RQ body (PS3.8 9.3.2) with full control over every field; context IDs 1, 3, 5..."""
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + b"\x00" * 32
    body += item(0x10, APP_CONTEXT.encode())
    for i, (abstract, syntaxes) in enumerate(contexts):
        value = bytes((2 * i + 1, 0, 0, 0)) + item(0x30, abstract.encode())
        value += b"".join(item(0x40, ts.encode()) for ts in syntaxes) + extra_context_items
        body += item(0x20, value)
    user = b"" if max_pdu is None else item(0x51, struct.pack(">I", max_pdu))
    user += item(0x52, b"1.2.826.0.1.3680043.9.7433.1") + extra_user_items
    return body + item(0x50, user) + extra_items


def rq(**kw: object) -> bytes:
    return pdu(A_ASSOCIATE_RQ, rq_body(**kw))  # type: ignore[arg-type]


def connect(port: int, source: str | None = None, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to 127.0.0.1:port from ``source`` (another loopback address stands for another host)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_pdu(sock: socket.socket, limit: int = 1 << 20) -> tuple[int, bytes]:
    """The next PDU (type, body); (0, b"") when the peer closed or reset the connection."""
    head = _read_exact(sock, 6)
    if len(head) < 6:
        return 0, b""
    pdu_type, _, length = struct.unpack(">BBI", head)
    return pdu_type, _read_exact(sock, min(length, limit))


def _read_exact(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        try:
            chunk = sock.recv(n - len(out))
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def associate(port: int, source: str | None = None, **kw: object) -> tuple[socket.socket, dict[int, str]]:
    """Open an association; returns the socket and the accepted contexts {context ID: transfer syntax}."""
    s = connect(port, source)
    s.sendall(rq(**kw))
    pdu_type, body = read_pdu(s)
    if pdu_type != A_ASSOCIATE_AC:
        s.close()
        raise ConnectionError(f"association not accepted (PDU type {pdu_type})")
    return s, accepted_contexts(body)


def accepted_contexts(ac_body: bytes) -> dict[int, str]:
    out, pos = {}, 68
    while pos + 4 <= len(ac_body):
        t, _, n = struct.unpack_from(">BBH", ac_body, pos)
        value = ac_body[pos + 4 : pos + 4 + n]
        if t == 0x21 and value[2] == 0:
            sub_n = struct.unpack_from(">H", value, 6)[0]
            out[value[0]] = value[8 : 8 + sub_n].decode()
        pos += 4 + n
    return out


def user_items(ac_body: bytes) -> dict[int, list[bytes]]:
    """The user information sub-items of an A-ASSOCIATE-AC, by type."""
    out: dict[int, list[bytes]] = {}
    pos = 68
    while pos + 4 <= len(ac_body):
        t, _, n = struct.unpack_from(">BBH", ac_body, pos)
        if t == 0x50:
            value, sub = ac_body[pos + 4 : pos + 4 + n], 0
            while sub + 4 <= len(value):
                st, _, sn = struct.unpack_from(">BBH", value, sub)
                out.setdefault(st, []).append(value[sub + 4 : sub + 4 + sn])
                sub += 4 + sn
        pos += 4 + n
    return out


# -- command sets (Implicit VR LE group 0000, PS3.7 E.1) ------------------------------------------------------
def _el(elem: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0, elem, len(value)) + value


def _uid(uid: str | bytes) -> bytes:
    b = uid if isinstance(uid, bytes) else uid.encode()
    return b + b"\x00" if len(b) % 2 else b


def command(
    field: int, message_id: int, sop_class: str | bytes = "", sop_instance: str | bytes = "", data_set: bool = False
) -> bytes:
    body = b""
    if sop_class:
        body += _el(0x0002, _uid(sop_class))
    body += _el(0x0100, struct.pack("<H", field)) + _el(0x0110, struct.pack("<H", message_id))
    body += _el(0x0800, struct.pack("<H", 0x0001 if data_set else 0x0101))
    if sop_instance:
        body += _el(0x1000, _uid(sop_instance))
    return _el(0x0000, struct.pack("<I", len(body))) + body


def echo(cx: int, message_id: int = 1) -> bytes:
    return pdu(P_DATA_TF, pdv(cx, 0x03, command(0x0030, message_id, VERIFICATION)))


def store(
    cx: int,
    data_set: bytes,
    sop_class: str | bytes,
    sop_instance: str | bytes,
    message_id: int = 1,
    fragment: int = 16000,
) -> bytes:
    """A C-STORE-RQ and its data set in P-DATA-TF PDUs of one PDV each."""
    out = pdu(P_DATA_TF, pdv(cx, 0x03, command(0x0001, message_id, sop_class, sop_instance, True)))
    for i in range(0, max(len(data_set), 1), fragment):
        last = i + fragment >= len(data_set)
        out += pdu(P_DATA_TF, pdv(cx, 0x02 if last else 0x00, data_set[i : i + fragment]))
    return out


def response_status(sock: socket.socket) -> int | None:
    """The Status of the next DIMSE response; None if the peer aborted or closed instead."""
    pdu_type, body = read_pdu(sock)
    if pdu_type != P_DATA_TF:
        return None
    value = body[6:]
    pos = 0
    while pos + 8 <= len(value):
        _, elem, n = struct.unpack_from("<HHI", value, pos)
        if elem == 0x0900:
            return struct.unpack_from("<H", value, pos + 8)[0]
        pos += 8 + n
    return None


def dataset_of(part10: bytes) -> bytes:
    """The data set of a Part 10 file (what a C-STORE carries): the bytes after the file meta group."""
    meta_len = struct.unpack_from("<I", part10, 140)[0]
    return part10[144 + meta_len :]


# -- attacks ----------------------------------------------------------------------------------------------------
def drip(sock: socket.socket, data: bytes, interval: float, until: float) -> int:
    """Send ``data`` one byte every ``interval`` seconds until done or ``until`` (monotonic); returns the bytes
    sent before the peer closed (a reset or a closed socket ends the drip)."""
    sent = 0
    for b in data:
        if time.monotonic() >= until:
            break
        try:
            sock.sendall(bytes((b,)))
        except OSError:
            break
        sent += 1
        time.sleep(interval)
    return sent


def tiny_fragments(cx: int, total: int, per_pdu: int = 16000 // 7, ctrl: int = 0x00, size: int = 1) -> Iterable[bytes]:
    """P-DATA-TF PDUs packed with ``size``-byte fragments (``ctrl``: 0x00 data, 0x01 command), ``total`` bytes of
    PDUs in all; the last fragment is not marked last."""
    one = pdv(cx, ctrl, b"x" * size)
    body = one * per_pdu
    chunk = pdu(P_DATA_TF, body)
    for _ in range(max(1, total // len(chunk))):
        yield chunk


def sent_until_closed(sock: socket.socket, chunks: Iterable[bytes]) -> tuple[int, bool]:
    """Send every chunk; (bytes sent, whether the peer closed or aborted before we were done)."""
    sent = 0
    for c in chunks:
        try:
            sock.sendall(c)
        except OSError:
            return sent, True
        sent += len(c)
    return sent, False


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Whether the peer ends the connection (A-ABORT, EOF or reset) within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
            if data[:1] == bytes((A_ABORT,)):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


# -- the combined attack of issue 12 ("What it must show"), one loop per item --------------------------------------
ALLOWED_NETWORK = "127.0.0.0/24"
"""The node's allowed network in the combined attack: the legitimate sender is 127.0.0.1, each attack comes
from its own other address in it (so one attack's per-address quota does not hide another's effect)."""
ALLOWED_SOURCES = {
    "small_maximum": "127.0.0.2",
    "tiny_fragments": "127.0.0.4",
    "slow_connections": "127.0.0.5",
    "big_requests": "127.0.0.6",
}
REFUSED_SOURCE = "127.0.1.1"
"""An address outside the allowed network."""


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def attack_small_maximum(port: int, until: float) -> dict[str, int]:
    """Item 1: A-ASSOCIATE-RQs announcing a Maximum Length Received of 1-6, then a C-ECHO, from an allowed host
    with an allowed AE title."""
    counts: dict[str, int] = {}
    while time.monotonic() < until:
        for max_pdu in (1, 4, 6):
            try:
                with connect(port, ALLOWED_SOURCES["small_maximum"]) as s:
                    s.sendall(rq(max_pdu=max_pdu))
                    pdu_type, _ = read_pdu(s)
                    if pdu_type == A_ASSOCIATE_AC:
                        s.sendall(echo(3))
                    _count(counts, {A_ASSOCIATE_AC: "accepted", A_ASSOCIATE_RJ: "rejected"}.get(pdu_type, "closed"))
            except OSError:
                _count(counts, "error")
        time.sleep(0.05)
    return counts


def attack_tiny_fragments(port: int, until: float) -> dict[str, int]:
    """Item 2: associations whose C-STORE data set (or command set) arrives in 1-byte (or empty) fragments."""
    counts: dict[str, int] = {}
    data_chunks = list(tiny_fragments(1, 2 << 20))
    command_chunks = list(tiny_fragments(1, 1 << 20, ctrl=0x01, size=0))
    store_rq = pdu(P_DATA_TF, pdv(1, 0x03, command(0x0001, 1, CT, "1.2.3.4", True)))
    n = 0
    while time.monotonic() < until:
        n += 1
        try:
            s, _ = associate(port, ALLOWED_SOURCES["tiny_fragments"])
        except OSError:
            _count(counts, "error")
            time.sleep(0.1)
            continue
        with s:
            if n % 2:
                s.sendall(store_rq)
                _, closed = sent_until_closed(s, data_chunks)
            else:
                _, closed = sent_until_closed(s, command_chunks)
            _count(counts, "aborted" if closed or closed_by_peer(s, 5) else "not_aborted")
    return counts


def attack_slow_connections(port: int, until: float, per_source: int = 30) -> dict[str, int]:
    """Item 4: ``per_source`` connections from a refused address and as many from an allowed one, each dripping
    an A-ASSOCIATE-RQ at one byte per second; reopened as the node closes them."""
    import selectors

    counts: dict[str, int] = {}
    wire = rq(calling=b"CT1")
    sel = selectors.DefaultSelector()
    conns: dict[socket.socket, list] = {}

    def open_one(source: str) -> None:
        try:
            s = connect(port, source)
        except OSError:
            _count(counts, "connect_failed")
            return
        s.setblocking(False)
        conns[s] = [source, 0]
        sel.register(s, selectors.EVENT_READ)
        _count(counts, f"opened_{'refused' if source == REFUSED_SOURCE else 'allowed'}")

    def close(s: socket.socket) -> None:
        sel.unregister(s)
        conns.pop(s)
        s.close()

    next_drip = time.monotonic()
    while time.monotonic() < until:
        for source in (REFUSED_SOURCE, ALLOWED_SOURCES["slow_connections"]):
            while sum(1 for c in conns.values() if c[0] == source) < per_source and time.monotonic() < until:
                open_one(source)
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                _count(counts, "closed_by_node")
                close(s)  # type: ignore[arg-type]
        if time.monotonic() >= next_drip:
            next_drip += 1.0
            for s, state in list(conns.items()):
                try:
                    s.send(wire[state[1] : state[1] + 1])
                    state[1] = (state[1] + 1) % len(wire)
                except OSError:
                    _count(counts, "closed_by_node")
                    close(s)
    for s in list(conns):
        close(s)
    return counts


def big_request(calling: bytes) -> bytes:
    """A ~685 KB A-ASSOCIATE-RQ: 80 contexts of 120 long transfer syntax items."""
    syntaxes = [f"1.2.840.10008.1.2.4.{i}.{'9' * 40}" for i in range(120)]
    return rq(calling=calling, contexts=[(f"1.2.840.10008.5.1.4.1.1.{i}", syntaxes) for i in range(80)])


def attack_big_requests(port: int, until: float) -> dict[str, int]:
    """Item 5: 685 KB A-ASSOCIATE-RQs from a refused address, from an allowed address with a refused AE title,
    and with an allowed AE title (larger than any real peer sends)."""
    counts: dict[str, int] = {}
    cases = [
        (REFUSED_SOURCE, big_request(b"CT1"), "refused_network"),
        (ALLOWED_SOURCES["big_requests"], big_request(b"INTRUDER"), "refused_aet"),
        (ALLOWED_SOURCES["big_requests"], big_request(b"CT1"), "allowed_aet"),
    ]
    while time.monotonic() < until:
        for source, wire, name in cases:
            try:
                with connect(port, source) as s:
                    try:
                        s.sendall(wire)
                    except OSError:
                        pass
                    pdu_type, _ = read_pdu(s)
                    answer = {A_ASSOCIATE_AC: "accepted", A_ASSOCIATE_RJ: "rejected", A_ABORT: "aborted"}
                    _count(counts, f"{name}_{answer.get(pdu_type, 'closed')}")
            except OSError:
                _count(counts, f"{name}_error")
    return counts


ATTACKS = {
    "small_maximum": attack_small_maximum,
    "tiny_fragments": attack_tiny_fragments,
    "slow_connections": attack_slow_connections,
    "big_requests": attack_big_requests,
}


if __name__ == "__main__":  # python tests/attackers.py KIND PORT SECONDS: runs one attack, prints its counts
    import json
    import sys

    kind, port_arg, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(ATTACKS[kind](port_arg, time.monotonic() + seconds)), flush=True)
