"""Fuzzing the receive path (issue 12, "keep it checked"): PDUs and command sets mutated from a valid
conversation are sent to a live SCP on 127.0.0.1.

Whatever arrives, the SCP must: keep serving (a clean association works after every example), let go of the
connection (nothing held once the peer is gone and the deadlines passed), and never answer Success for an
instance that is not in the spool (rows added >= Success answers; every row's file holds the data set).

Bounded for CI: ``DEIDNODE_FUZZ_EXAMPLES`` examples (default 120, ~10-20 s); set it higher for a longer run.
Hypothesis keeps no example database (nothing written to the tree); failures print the reproducing example.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deidnode.config import NodeSettings
from deidnode.receive import StorageSCP
from deidnode.spool import Spool, State

sys.path.insert(0, str(Path(__file__).parent))
import attackers as atk  # noqa: E402
from dicom_factory import make_study, to_bytes  # noqa: E402

EXAMPLES = int(os.environ.get("DEIDNODE_FUZZ_EXAMPLES", "120"))
_DS = make_study(1, 1, size=16)[0]
DATA = atk.dataset_of(to_bytes(_DS))
UID = str(_DS.SOPInstanceUID)


def _conversation() -> list[bytes]:
    """A valid exchange, one PDU per entry: associate, echo, store (in 3 fragments), release."""
    third = len(DATA) // 3
    store = atk.pdu(atk.P_DATA_TF, atk.pdv(1, 0x03, atk.command(0x0001, 2, atk.CT, UID, True)))
    return [
        atk.rq(),
        atk.echo(3, 1),
        store,
        atk.pdu(atk.P_DATA_TF, atk.pdv(1, 0x00, DATA[:third])),
        atk.pdu(atk.P_DATA_TF, atk.pdv(1, 0x00, DATA[third : 2 * third])),
        atk.pdu(atk.P_DATA_TF, atk.pdv(1, 0x02, DATA[2 * third :])),
        atk.pdu(atk.A_RELEASE_RQ, b"\x00" * 4),
    ]


INTERESTING = [0, 1, 2, 5, 6, 7, 12, 13, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("length32"), st.integers(0, 10**6), st.sampled_from(INTERESTING)),
    st.tuples(st.just("length16"), st.integers(0, 10**6), st.sampled_from(INTERESTING)),
    st.tuples(st.just("drop_pdu"), st.integers(0, 6), st.just(0)),
    st.tuples(st.just("repeat_pdu"), st.integers(0, 6), st.integers(1, 50)),
)


def _apply(pdus: list[bytes], ops: list[tuple]) -> bytes:
    for op, where, arg in ops:
        if op in ("drop_pdu", "repeat_pdu"):
            i = where % len(pdus)
            pdus = pdus[:i] + ([pdus[i]] * arg if op == "repeat_pdu" else []) + pdus[i + 1 :]
            continue
        i = where % len(pdus)
        b = bytearray(pdus[i])
        pos = (where // len(pdus)) % max(len(b), 1)
        if op == "flip" and b:  # (a PDU cut to nothing has no byte to flip)
            b[pos] = arg
        elif op == "cut":
            del b[pos:]
        elif op == "insert":
            b[pos:pos] = arg
        elif op == "length32" and pos + 4 <= len(b):
            b[pos : pos + 4] = struct.pack(">I" if pos < 12 else "<I", arg & 0xFFFFFFFF)
        elif op == "length16" and pos + 2 <= len(b):
            b[pos : pos + 2] = struct.pack(">H", arg & 0xFFFF)
        pdus[i] = bytes(b)
    return b"".join(pdus)


def _run(port: int, wire: bytes) -> list[int]:
    """Send ``wire``, then read until the SCP closes (or 2 s pass); the statuses of C-STORE responses."""
    statuses = []
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        try:
            s.sendall(wire)
        except OSError:
            pass
        deadline = time.monotonic() + 2
        buf = b""
        try:
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
    pos = 0
    while pos + 6 <= len(buf):
        pdu_type, _, n = struct.unpack_from(">BBI", buf, pos)
        body = buf[pos + 6 : pos + 6 + n]
        if pdu_type == atk.P_DATA_TF and len(body) > 6:
            value = body[6:]
            fields = {}
            p = 0
            while p + 8 <= len(value):
                _, elem, ln = struct.unpack_from("<HHI", value, p)
                fields[elem] = value[p + 8 : p + 8 + ln]
                p += 8 + ln
            if fields.get(0x0100) == struct.pack("<H", 0x8001) and 0x0900 in fields:
                statuses.append(struct.unpack("<H", fields[0x0900][:2])[0])
        pos += 6 + n
    return statuses


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    spool = Spool(tmp_path_factory.mktemp("fuzz") / "spool")
    scp = StorageSCP(
        NodeSettings(
            host="127.0.0.1", port=0, max_pdu=16384, acse_timeout=1, dimse_timeout=1, network_timeout=1, dimse="fast"
        ),  # the fast acceptor's own defences
        spool,
    )
    scp.start()
    yield scp, spool
    scp.stop(0)


def test_the_unmutated_conversation_stores_once(live):
    scp, spool = live
    before = spool.depth()[State.RECEIVED]
    assert _run(scp.address[1], b"".join(_conversation())) == [0x0000]
    assert spool.depth()[State.RECEIVED] == before + 1


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(mutation, min_size=1, max_size=4))
@example(ops=[("cut", 0, 0), ("flip", 0, 0)])  # a flip on a PDU cut to nothing (the harness crashed in CI once)
def test_mutated_conversations_never_crash_leak_or_lie(live, ops):
    scp, spool = live
    before = spool.depth()[State.RECEIVED]
    statuses = _run(scp.address[1], _apply(_conversation(), ops))
    successes = statuses.count(0x0000)
    # Success only for what is in the spool (at-least-once: a row may exist whose answer was lost)
    deadline = time.monotonic() + 5
    while spool.depth()[State.RECEIVED] - before < successes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert spool.depth()[State.RECEIVED] - before >= successes
    # nothing held once the peer has gone and the deadlines (1 s) have passed
    deadline = time.monotonic() + 5
    while scp.held_connections() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not scp.held_connections(), "a connection is still held"
    assert scp.listening
    # and a clean association still works
    s, _ = atk.associate(scp.address[1])
    s.sendall(atk.echo(3))
    assert atk.response_status(s) == 0x0000
    s.close()


def test_every_spooled_file_is_the_instance_its_command_announced(live):
    """After the fuzzing: each row's file has our file meta, and its data set starts with the SOP Class and
    Instance UIDs the meta (built from the command) names."""
    from pydicom import dcmread
    from pydicom.filereader import read_file_meta_info

    from deidnode.dicomio.framing import locate
    from deidnode.receive.sniff import sop_uids

    scp, spool = live
    items = spool.claim_many("check", 10_000)
    assert items
    for item in items:
        path = spool.file_path(item)
        raw = path.read_bytes()
        layout = locate(raw)
        assert layout is not None and layout.transfer_syntax == item.transfer_syntax
        meta = read_file_meta_info(path)
        assert sop_uids(raw[layout.meta_end :], item.transfer_syntax) == (
            meta.MediaStorageSOPClassUID,
            meta.MediaStorageSOPInstanceUID,
        )
    assert dcmread(spool.file_path(items[0])).SOPInstanceUID == UID
