"""Coverage-guided fuzzing of what the node parses from peers, with atheris (optional, for long runs).

``tests/test_receive_fuzz.py`` runs a bounded Hypothesis fuzz of a live SCP in CI; this runs libFuzzer over the
same parsers in-process, far faster and as long as you like. One target per run:

- ``association``: an A-ASSOCIATE-RQ body -> fixed fields, unknown-item filter, pynetdicom decode, negotiation;
- ``messages``: bytes as they arrive on an established association -> Link.read_command / read_dataset;
- ``dataset``: a Part 10 file -> the engine's framing check and parse (deflate bound, group 0002, truncation);
- ``sniff``: the head of a data set -> the SOP UIDs the receive path compares with the command.

For the network targets only the exceptions each layer promises (ProtocolError, PeerClosed...) are allowed;
anything else is a finding. For ``dataset`` any exception is allowed (the engine quarantines it): findings are
runs over the time or memory limits. Seeds are
valid inputs built from ``tests/``.

    pip install '.[fuzz]'
    .venv/bin/python bench/fuzz_receive.py association -atheris_runs=200000 -rss_limit_mb=512
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

with atheris.instrument_imports():
    from deidnode.dicomio.parse import parse_bytes
    from deidnode.dimse import Link, PeerAborted, PeerClosed, ProtocolError, acse
    from deidnode.dimse.link import ReleaseRequested
    from deidnode.receive.scp import supported_contexts
    from deidnode.receive.sniff import sop_uids

import attackers as atk  # noqa: E402
from dicom_factory import make_study, to_bytes  # noqa: E402

SUPPORTED = supported_contexts()


def association(data: bytes) -> None:
    try:
        head = acse.read_request_head(data)
        if head.calling_ae is None or head.called_ae is None:
            return
        rq = acse.decode_request(data)
        if acse.request_problem(rq) is None:
            acse.accept(rq, SUPPORTED, 16384)
    except ProtocolError:
        pass


def messages(data: bytes) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(0.2)
        b.sendall(data[: 1 << 16])
        b.shutdown(socket.SHUT_WR)
        link = Link(a, max_receive=16384)
        try:
            for _ in range(64):
                cx, cmd = link.read_command()
                if cmd.has_dataset:
                    link.read_dataset(cx, lambda v: None)
        except (ProtocolError, PeerClosed, PeerAborted, ReleaseRequested):
            pass


def dataset(data: bytes) -> None:
    try:
        parse_bytes(data, max_inflated_bytes=16 << 20)
    except Exception:  # noqa: BLE001 - deidentify_bytes quarantines any parse exception: findings here are
        pass  # hangs and memory (-rss_limit_mb), e.g. an inflation or a nesting the limits missed


def sniff(data: bytes) -> None:
    for ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):
        sop_uids(data, ts)


TARGETS = {"association": association, "messages": messages, "dataset": dataset, "sniff": sniff}


def seeds(target: str, folder: Path) -> None:
    ds = make_study(1, 1, size=16)[0]
    part10 = to_bytes(ds)
    data = atk.dataset_of(part10)
    examples = {
        "association": [atk.rq_body(), atk.rq_body(extra_user_items=atk.item(0x54, b"\x00\x051.2.3\x01\x00"))],
        "messages": [atk.echo(3) + atk.store(1, data, atk.CT, str(ds.SOPInstanceUID), fragment=300)],
        "dataset": [part10],
        "sniff": [data[:4096]],
    }[target]
    for i, e in enumerate(examples):
        (folder / f"seed{i}").write_bytes(e)


def main() -> None:
    target = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] in TARGETS else "association"
    corpus = Path(tempfile.mkdtemp(prefix=f"deidnode-fuzz-{target}-"))
    seeds(target, corpus)
    atheris.Setup([sys.argv[0], *sys.argv[1:], str(corpus)], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
