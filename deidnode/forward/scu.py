"""C-STORE SCU to one destination, reusing its association (PS3.4 B.2; PS3.8 presentation contexts).

For every SOP class met so far the association proposes one context with the native syntaxes (Explicit then
Implicit VR Little Endian) and one per other transfer syntax seen (JPEG, RLE, Deflate...). A dataset goes out
in its own syntax when the destination accepted it; otherwise it is converted to Explicit VR Little Endian
(decompressing pixel data) - lossless, never a lossy re-encode. A new SOP class or syntax re-negotiates.
The association and messages use :mod:`deidnode.dimse` (one blocking socket, no helper threads).
"""

from __future__ import annotations

import socket
import ssl
import time
import zlib

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from ..config import Destination, RetrySettings
from ..dimse import AssociationRejected, Link, PeerAborted, PeerClosed, ProtocolError, acse
from ..dimse import commands as cmds
from ..dimse.link import ReleaseRequested
from ..engine import part10
from ..logging import get_logger
from ..receive.scp import set_nodelay
from .base import OK, Outcome, Result
from .folder import FolderForwarder

log = get_logger("forward")

NATIVE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context IDs are odd numbers 1..255
_LINK_ERRORS = (PeerClosed, PeerAborted, ProtocolError, ReleaseRequested, OSError)


def _client_ssl_context(dest: Destination) -> ssl.SSLContext | None:
    if dest.tls is None:
        return None
    ctx = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(dest.tls.ca) if dest.tls.ca else None
    )
    ctx.load_cert_chain(dest.tls.cert, dest.tls.key)
    return ctx


def encode_body(ds: Dataset, transfer_syntax: str) -> list[bytes | memoryview]:
    """The data set (no file meta) as a C-STORE carries it, in ``transfer_syntax`` (PS3.5 10, A.5 deflate), as
    buffers to send one after the other.

    The engine's writer frames the elements it left raw directly and hands large values (pixel data) on as
    they are; anything else goes through pydicom.
    """
    implicit = transfer_syntax == ImplicitVRLittleEndian
    little = transfer_syntax != ExplicitVRBigEndian
    fast = part10.encode_body(ds, implicit, little) if transfer_syntax != DeflatedExplicitVRLittleEndian else None
    if fast is not None:
        return fast
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, correct_ambiguous_vr(ds, little))
    data = fp.parent.getbuffer()
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        return [z.compress(data) + z.flush()]
    return [data]


class DicomForwarder:
    """One destination's SCU. Not thread-safe: each worker process holds its own."""

    def __init__(self, dest: Destination, retry: RetrySettings) -> None:
        assert dest.ae_title and dest.host and dest.port
        self.name = dest.name
        self.dest = dest
        self.retry = retry
        self._ssl = _client_ssl_context(dest)
        self.link: Link | None = None
        self.contexts: dict[int, tuple[str, str]] = {}
        """Accepted contexts of the open association: ID -> (SOP class, transfer syntax)."""
        self.wanted: dict[str, list[str]] = {}
        """SOP class -> non-native transfer syntaxes to propose, in order first seen."""
        self.message_id = 0
        self.last_used = 0.0
        self.down_until = 0.0
        self.failures = 0

    # -- association ----------------------------------------------------------------------------------
    def _proposal(self) -> list[tuple[str, list[str]]]:
        cxs: list[tuple[str, list[str]]] = []
        for sop, others in reversed(self.wanted.items()):  # newest first, so it survives the cap
            group = [(sop, list(NATIVE))] + [(sop, [ts]) for ts in others]
            if len(cxs) + len(group) > MAX_CONTEXTS:
                break
            cxs.extend(group)
        return cxs

    def _connect(self) -> Result | None:
        dest = self.dest
        assert dest.host and dest.port and dest.ae_title
        try:
            sock = socket.create_connection((dest.host, dest.port), timeout=dest.timeout)
        except OSError:
            return self._unavailable("destination_unreachable")
        link: Link | None = None
        try:
            set_nodelay(sock)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=dest.host)
            link = Link(sock, max_receive=dest.max_pdu)
            accepted = acse.request(
                link,
                calling_ae=dest.calling_ae_title,
                called_ae=dest.ae_title,
                contexts=self._proposal(),
                max_pdu=dest.max_pdu,
            )
        except (AssociationRejected, *_LINK_ERRORS, ssl.SSLError) as e:
            (link or sock).close()  # a Link closes its reader and socket
            if isinstance(e, AssociationRejected):
                return self._unavailable("association_rejected", f"result {e.result} diagnostic {e.diagnostic}")
            return self._unavailable("association_failed", type(e).__name__)
        self.link = link
        self.contexts = accepted.contexts
        self.failures = 0
        log.info("association_open", extra={"destination": self.name, "contexts": len(self.contexts)})
        return None

    def _unavailable(self, code: str, detail: str = "") -> Result:
        self.failures += 1
        backoff = min(self.retry.initial_seconds * 2 ** (self.failures - 1), self.retry.max_seconds)
        self.down_until = time.monotonic() + backoff
        log.warning(
            "destination_unavailable",
            extra={"destination": self.name, "code": code, "backoff_s": round(backoff, 3)},
        )
        return Result(Outcome.RETRY, code, detail)

    def _drop(self, abort: bool = False) -> None:
        """Release (or abort) the association; never raises."""
        link, self.link = self.link, None
        if link is None:
            return
        try:
            if abort:
                link.send_abort()
            else:
                link.sock.settimeout(min(self.dest.timeout, 5.0))
                link.send_release_rq()
                link.read_pdu()  # A-RELEASE-RP (anything else: we close anyway)
        except (*_LINK_ERRORS, ValueError):
            pass
        finally:
            link.close()

    # -- sending --------------------------------------------------------------------------------------
    def _want(self, sop: str, ts: str) -> bool:
        """Register a (SOP class, syntax) pair; True if it was new (the association must be renegotiated)."""
        others = self.wanted.get(sop)
        new = others is None
        if others is None:
            others = self.wanted[sop] = []
        if ts not in NATIVE and ts not in others:
            others.append(ts)
            new = True
        if new:
            self.wanted[sop] = self.wanted.pop(sop)  # most recent last
        return new

    def send(self, ds: Dataset) -> Result:
        now = time.monotonic()
        if now < self.down_until:
            return Result(Outcome.RETRY, "destination_backoff")
        sop = str(ds.SOPClassUID)
        ts = str(ds.file_meta.TransferSyntaxUID)
        if self._want(sop, ts) and self.link is not None:
            self._drop()
        for attempt in (1, 2):
            fresh = False
            if self.link is None:
                err = self._connect()
                if err is not None:
                    return err
                fresh = True
            result = self._send_on(ds, sop, ts)
            self.last_used = time.monotonic()
            if result.code == "no_response" and not fresh and attempt == 1:
                continue  # the peer closed an idle association under us: reconnect once
            if result.code == "no_response":
                return self._unavailable("no_response")
            return result
        return Result(Outcome.RETRY, "no_response")  # pragma: no cover - loop always returns

    def _choose_context(self, sop: str, ts: str) -> tuple[int, str] | None:
        """The context for a data set in ``ts``: its own syntax, else a native one (Explicit VR LE first)."""
        accepted = {t: cx for cx, (a, t) in self.contexts.items() if a == sop}
        if ts in accepted:
            return accepted[ts], ts
        for native in NATIVE:
            if native in accepted:
                return accepted[native], native
        return None

    def _send_on(self, ds: Dataset, sop: str, ts: str) -> Result:
        assert self.link is not None
        if not any(a == sop for a, _ in self.contexts.values()):
            return Result(Outcome.FAIL, "sop_class_not_accepted", f"destination {self.name}")
        chosen = self._choose_context(sop, ts)
        if chosen is None:
            return Result(Outcome.FAIL, "transfer_syntax_not_accepted", f"destination {self.name}")
        cx_id, out_ts = chosen
        if out_ts != ts and ts not in NATIVE:
            err = self._to_explicit_le(ds, ts)
            if err is not None:
                return err
        try:
            body = encode_body(ds, out_ts)
        except Exception as e:  # noqa: BLE001 - a value pydicom cannot write
            return Result(Outcome.FAIL, "encode_failed", type(e).__name__)
        self.message_id = self.message_id % 0xFFFF + 1
        rq = cmds.store_rq(self.message_id, sop, str(ds.SOPInstanceUID))
        try:
            self.link.send_message(cx_id, rq, body)
            rsp = self._response(cx_id)
        except (*_LINK_ERRORS, ValueError):
            self._drop(abort=True)
            return Result(Outcome.RETRY, "no_response")
        code = rsp.status if rsp.status is not None else -1
        if code == 0x0000 or code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF:
            return OK
        if 0xA700 <= code <= 0xA7FF:
            return Result(Outcome.RETRY, "destination_out_of_resources", f"status 0x{code:04X}")
        return Result(Outcome.FAIL, "destination_refused", f"status 0x{code:04X}")

    def _response(self, cx_id: int) -> cmds.Command:
        """The C-STORE-RSP to the message just sent (PS3.7 9.3.1.2)."""
        assert self.link is not None
        rsp_cx, rsp = self.link.read_command()
        if rsp.has_dataset:
            self.link.read_dataset(rsp_cx)
        if rsp.field != cmds.C_STORE_RSP or rsp.responded_to != self.message_id or rsp.status is None:
            raise ProtocolError("C-STORE-RSP does not answer the request")
        return rsp

    @staticmethod
    def _to_explicit_le(ds: Dataset, ts: str) -> Result | None:
        """Lossless fallback to Explicit VR Little Endian."""
        try:
            if ts == DeflatedExplicitVRLittleEndian or "PixelData" not in ds:
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            elif ds.file_meta.TransferSyntaxUID.is_compressed:
                ds.decompress()
            else:  # big endian with pixel data: pydicom cannot swap on write
                return Result(Outcome.FAIL, "transfer_syntax_not_accepted", "no lossless conversion")
        except Exception as e:  # noqa: BLE001 - missing codec or corrupt fragments
            return Result(Outcome.FAIL, "transfer_syntax_fallback_failed", type(e).__name__)
        return None

    def release_if_idle(self, now: float) -> None:
        """Release the association when unused for ``idle_release_seconds``."""
        if self.link is not None and time.monotonic() - self.last_used > self.dest.idle_release_seconds:
            self._drop()

    def close(self) -> None:
        self._drop()


def make_forwarder(dest: Destination, retry: RetrySettings, encode) -> DicomForwarder | FolderForwarder:  # noqa: ANN001
    """The forwarder for a destination's type; ``encode`` is ``engine.encode_dataset`` (folders)."""
    if dest.type == "dicom":
        return DicomForwarder(dest, retry)
    return FolderForwarder(dest, encode)
