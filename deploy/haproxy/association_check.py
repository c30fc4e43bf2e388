#!/usr/bin/env python3
"""Print the HAProxy ``tcp-check`` rules that health-check a deidnode replica at the DICOM level.

The check opens an association as a Verification SCU would (A-ASSOCIATE-RQ, PS3.8 9.3.2), expects an
A-ASSOCIATE-AC (PDU type 02H), releases it (A-RELEASE-RQ, 9.3.6) and expects an A-RELEASE-RP (06H). A replica
passes only when its upper layer accepts an association: a process that listens but cannot serve, a full
association table (A-ASSOCIATE-RJ, 03H) or a refused calling AE title fails the check.

    python3 deploy/haproxy/association_check.py --called DEIDNODE --calling HAPROXY

With ``--probe HOST:PORT`` it runs the same exchange itself and exits 0 (accepted and released) or 1 (with the
reason on stderr): the replicas' readiness probe in deploy/k8s/statefulset.yaml.

The calling AE title must be allowed by the replicas (``node.allowed_calling_aets``), the called one must be
theirs when ``node.check_called_aet`` is on. Standalone on purpose (the load balancer host needs no deidnode).
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"  # DICOM Application Context Name (PS3.7 A.2.1)
VERIFICATION_SOP_CLASS = b"1.2.840.10008.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = b"1.2.840.10008.1.2"
IMPLEMENTATION_CLASS_UID = b"2.25.206318916312839541867151622736584113187"  # deidnode's (deidnode/__init__.py)
IMPLEMENTATION_VERSION = b"DEIDNODE_LBCHK"
MAX_PDU = 16384


def _item(item_type: int, payload: bytes) -> bytes:
    """A variable item: type, reserved, 2-byte length (PS3.8 9.3.2.2-9.3.2.3)."""
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _ae_title(title: str) -> bytes:
    raw = title.encode("ascii")
    if not 0 < len(raw.strip()) <= 16 or b"\\" in raw:
        raise ValueError(f"not an AE title: {title!r}")
    return raw.ljust(16, b" ")


def associate_rq(called: str, calling: str) -> bytes:
    """A-ASSOCIATE-RQ proposing Verification in Implicit VR Little Endian, presentation context 1."""
    context = bytes([1, 0, 0, 0]) + _item(0x30, VERIFICATION_SOP_CLASS) + _item(0x40, IMPLICIT_VR_LITTLE_ENDIAN)
    user = (
        struct.pack(">BBHI", 0x51, 0, 4, MAX_PDU)
        + _item(0x52, IMPLEMENTATION_CLASS_UID)
        + _item(0x55, IMPLEMENTATION_VERSION)
    )
    variable = _item(0x10, APPLICATION_CONTEXT) + _item(0x20, context) + _item(0x50, user)
    body = struct.pack(">HH", 1, 0) + _ae_title(called) + _ae_title(calling) + bytes(32) + variable
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


RELEASE_RQ = struct.pack(">BBI", 0x05, 0, 4) + bytes(4)


def tcp_check_rules(called: str, calling: str) -> list[str]:
    """The rules, in order, as they appear in the backend section of haproxy.cfg."""
    return [
        "tcp-check connect",
        f"tcp-check send-binary {associate_rq(called, calling).hex()}",
        "tcp-check expect rbinary ^0200",  # A-ASSOCIATE-AC (an RJ is 03, an A-ABORT 07)
        f"tcp-check send-binary {RELEASE_RQ.hex()}",
        "tcp-check expect rbinary ^0600",  # A-RELEASE-RP
    ]


def _read_pdu(sock: socket.socket) -> bytes:
    """One PDU (type, reserved, 4-byte length, body); at most 64 KiB are read."""
    data = b""
    while len(data) < 6 or len(data) < 6 + min(struct.unpack(">I", data[2:6])[0], 65536):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the peer")
        data += chunk
    return data


def probe(host: str, port: int, called: str, calling: str, timeout: float = 5.0) -> str | None:
    """Open and release an association; None when both were answered as they should be, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(associate_rq(called, calling))
            answer = _read_pdu(sock)
            if answer[0] != 0x02:
                return f"association not accepted (PDU type {answer[0]:02X}H)"
            sock.sendall(RELEASE_RQ)
            answer = _read_pdu(sock)
            if answer[0] != 0x06:
                return f"release not confirmed (PDU type {answer[0]:02X}H)"
    except OSError as e:
        return f"{host}:{port}: {e.strerror or e}"
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--called", default="DEIDNODE", help="the replicas' AE title (default DEIDNODE)")
    p.add_argument("--calling", default="HAPROXY", help="the AE title the check calls from (default HAPROXY)")
    p.add_argument("--probe", metavar="HOST:PORT", help="run the check against HOST:PORT instead of printing it")
    args = p.parse_args()
    if args.probe:
        host, _, port = args.probe.rpartition(":")
        problem = probe(host or "127.0.0.1", int(port), args.called, args.calling)
        if problem:
            print(f"not ready: {problem}", file=sys.stderr)
            return 1
        return 0
    for rule in tcp_check_rules(args.called, args.calling):
        print(f"    {rule}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
