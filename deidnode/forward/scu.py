"""C-STORE SCU to one destination, reusing its association (PS3.4 B.2; PS3.8 presentation contexts).

For every SOP class met so far the association proposes one context with the native syntaxes (Explicit then
Implicit VR Little Endian) and one per other transfer syntax seen (JPEG, RLE, Deflate, Big Endian...), newest
first within the 128 contexts PS3.8 allows; a class or syntax not in the open association's proposal
re-negotiates. An instance goes out in its own syntax when the destination accepted it; otherwise as a
converted copy in Explicit (or Implicit) VR Little Endian: lossless, never a lossy re-encode, every UID kept
(:class:`~.base.Outgoing`). Associations and messages go through :mod:`deidnode.dimse`'s requestor port
(``dimse`` of the destination chooses the implementation).

Outcomes: RETRY when the destination is unavailable (the worker's shared clock for the destination then
decides when to try again), FAIL when this instance is refused for good (a failure status, an A-ABORT in
answer to it, a class or syntax the destination refused, an association rejected permanently).
"""

from __future__ import annotations

import io
import time
import zlib
from typing import cast

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from ..config import Destination
from ..dicomio import part10
from ..dimse import LinkFailed, Peer, Rejected, RequestorAssociation, TLSFailed, Unreachable, requestor
from ..dimse.transport import client_ssl_context
from ..logging import get_logger
from .base import OK, Outcome, Outgoing, Result
from .folder import FolderForwarder

log = get_logger("forward")

NATIVE: tuple[str, ...] = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
VERIFICATION = "1.2.840.10008.1.1"
MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context IDs are odd numbers 1..255
RESPONSE_TIMEOUT_GROWTH = 8

# PS3.8 Table 9-21: A-ASSOCIATE-RJ diagnostics by source, for the operator's log.
_RJ_REASONS = {
    (1, 1): "no reason given",
    (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognized",
    (1, 7): "called AE title not recognized",
    (2, 1): "no reason given",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded",
}


def encode_body(ds: Dataset, transfer_syntax: str) -> list[bytes | memoryview]:
    """The data set (no file meta) as a C-STORE carries it, in ``transfer_syntax`` (PS3.5 10, A.5 deflate), as
    buffers to send one after the other.

    The engine's writer frames the elements it left raw directly and hands large values (pixel data) on as
    they are; anything else goes through pydicom. A deflated data set is padded to even length (PS3.5 A.5).
    """
    implicit = transfer_syntax == ImplicitVRLittleEndian
    little = transfer_syntax != ExplicitVRBigEndian
    fast = part10.encode_body(ds, implicit, little) if transfer_syntax != DeflatedExplicitVRLittleEndian else None
    if fast is not None:
        return fast
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, correct_ambiguous_vr(ds, little))
    data = cast(io.BytesIO, fp.parent).getbuffer()  # DicomBytesIO wraps a BytesIO
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        deflated = z.compress(data) + z.flush()
        return [deflated + b"\x00" if len(deflated) % 2 else deflated]
    return [data]


class _Reconnect(Exception):
    """The reused association was closed under us (idle timeout at the peer): open a new one and send again."""


class DicomForwarder:
    """One destination's SCU. Not thread-safe: each worker lane holds its own."""

    def __init__(self, dest: Destination) -> None:
        assert dest.ae_title and dest.host and dest.port
        self.name = dest.name
        self.dest = dest
        self.where = f"{dest.host}:{dest.port}"
        self._ssl = client_ssl_context(dest.tls)
        self._requestor = requestor(dest.dimse)
        self.link: RequestorAssociation | None = None
        """The open association."""
        self.contexts: dict[int, tuple[str, str]] = {}
        """Accepted contexts of the open association: ID -> (SOP class, transfer syntax)."""
        self.proposed: set[str] = set()
        """SOP classes the open association proposed (accepted or not)."""
        self.wanted: dict[str, list[str]] = {}
        """SOP class -> non-native transfer syntaxes to propose, most recently needed last."""
        self.message_id = 0
        self.last_used = 0.0
        self.response_timeout = dest.timeout
        """How long to wait for a C-STORE-RSP: ``timeout``, doubled after each response timeout (up to
        ``RESPONSE_TIMEOUT_GROWTH`` times it), so a destination slower than its configured timeout is not sent
        the same instance again and again."""

    # -- association ----------------------------------------------------------------------------------
    def _proposal(self) -> list[tuple[str, list[str]]]:
        # Verification always: an association (a probe's) proposes at least one context (PS3.8 9.3.2).
        cxs: list[tuple[str, list[str]]] = [(VERIFICATION, list(NATIVE))]
        for sop, others in reversed(self.wanted.items()):  # most recently needed first: it survives the cap
            group = [(sop, list(NATIVE))] + [(sop, [ts]) for ts in others]
            if len(cxs) + len(group) > MAX_CONTEXTS:
                break
            cxs.extend(group)
        return cxs

    def _connect(self) -> Result | None:
        dest = self.dest
        assert dest.host and dest.port and dest.ae_title
        peer = Peer(
            dest.host,
            dest.port,
            called_ae=dest.ae_title,
            calling_ae=dest.calling_ae_title,
            max_pdu=dest.max_pdu,
            timeout=dest.timeout,
            tls=self._ssl,
        )
        proposal = self._proposal()
        try:
            assoc = self._requestor.open(peer, proposal)
        except Unreachable as e:
            return Result(Outcome.RETRY, "destination_unreachable", f"{self.where}: {e.cause}")
        except Rejected as e:
            reason = _RJ_REASONS.get((e.source, e.diagnostic), "")
            detail = f"{self.where}: result {e.result} source {e.source} diagnostic {e.diagnostic} {reason}".strip()
            if e.permanent:
                log.error("association_rejected", extra={"destination": self.name, "detail": detail})
                return Result(Outcome.FAIL, "association_rejected_permanent", detail)
            return Result(Outcome.RETRY, "association_rejected_transient", detail)
        except TLSFailed as e:
            return Result(Outcome.RETRY, "tls_failed", f"{self.where}: {e.cause}")
        except LinkFailed as e:
            return Result(Outcome.RETRY, "association_failed", f"{self.where}: {e.cause}")
        self.link = assoc
        self.contexts = assoc.contexts
        self.proposed = {sop for sop, _ in proposal}
        log.info(
            "association_open",
            extra={
                "destination": self.name,
                "peer": self.where,
                "contexts": len(self.contexts),
                "proposed": len(proposal),
            },
        )
        return None

    def _drop(self, abort: bool | None = False) -> None:
        """Release (or abort, or with None just close: the peer aborted) the association; never raises."""
        link, self.link = self.link, None
        self.contexts, self.proposed = {}, set()
        if link is None:
            return
        if abort is None:
            link.close()
        elif abort:
            link.abort()
        else:
            link.release(min(self.dest.timeout, 5.0))

    # -- sending --------------------------------------------------------------------------------------
    def _want(self, sop: str, ts: str) -> bool:
        """Register a (SOP class, syntax) pair as most recently needed; True if it was new."""
        others = self.wanted.pop(sop, None)
        new = others is None
        if others is None:
            others = []
        if ts not in NATIVE and ts not in others:
            others.append(ts)
            new = True
        self.wanted[sop] = others
        return new

    def send(self, out: Outgoing) -> Result:
        sop, ts = out.sop_class, out.transfer_syntax
        new = self._want(sop, ts)
        if self.link is not None and self._stale():
            self._drop(abort=None)  # the peer released, aborted or closed it while it was idle
        if self.link is not None and (new or sop not in self.proposed):
            self._drop()  # re-negotiate: this class or syntax is not in the open association's proposal
        for _attempt in (1, 2):
            fresh = self.link is None
            if fresh:
                err = self._connect()
                if err is not None:
                    return err
            try:
                result = self._send_on(out, sop, ts, fresh)
            except _Reconnect:
                continue
            self.last_used = time.monotonic()
            return result
        return Result(Outcome.RETRY, "connection_lost", f"{self.where}: closed twice")

    def _stale(self) -> bool:
        """Whether the idle association can no longer carry a message (released, aborted or closed by the peer)."""
        assert self.link is not None
        return self.link.stale()

    def _choose_context(self, sop: str, ts: str) -> tuple[int, str] | None:
        """The context for a data set in ``ts``: its own syntax, else a native one (Explicit VR LE first)."""
        accepted = {t: cx for cx, (a, t) in self.contexts.items() if a == sop}
        if ts in accepted:
            return accepted[ts], ts
        for native in NATIVE:
            if native in accepted:
                return accepted[native], native
        return None

    def _send_on(self, out: Outgoing, sop: str, ts: str, fresh: bool) -> Result:
        assert self.link is not None
        if not any(a == sop for a, _ in self.contexts.values()):
            return Result(Outcome.FAIL, "sop_class_not_accepted", f"{self.where}: {sop}")
        chosen = self._choose_context(sop, ts)
        if chosen is None:
            return Result(Outcome.FAIL, "transfer_syntax_not_accepted", f"{self.where}: {sop} in {ts}")
        cx_id, out_ts = chosen
        try:
            ds = out.in_syntax(out_ts)
        except Exception as e:  # noqa: BLE001 - no codec for the pixels, corrupt fragments
            return Result(Outcome.FAIL, "transfer_syntax_fallback_failed", getattr(e, "code", type(e).__name__))
        try:
            body = encode_body(ds, out_ts)
        except Exception as e:  # noqa: BLE001 - a value pydicom cannot write
            return Result(Outcome.FAIL, "encode_failed", type(e).__name__)
        self.message_id = self.message_id % 0xFFFF + 1
        try:
            code = self.link.store(cx_id, self.message_id, sop, out.sop_instance, body, self.response_timeout)
        except LinkFailed as e:
            if not e.sent:
                self._drop(abort=True)
                if not fresh:
                    raise _Reconnect from e  # nothing of this message was answered: sending it again is safe
                return Result(Outcome.RETRY, "connection_lost", f"{self.where}: {e.cause}")
            if e.kind == "aborted":
                self._drop(abort=None)
                return Result(
                    Outcome.FAIL, "destination_aborted", f"{self.where}: A-ABORT in answer to the C-STORE A-ABORT"
                )
            self._drop(abort=True)
            if e.kind == "timeout":
                # The destination may still store it: no immediate resend; the retry clock decides, and the
                # next attempt waits longer.
                waited = self.response_timeout
                self.response_timeout = min(waited * 2, self.dest.timeout * RESPONSE_TIMEOUT_GROWTH)
                return Result(
                    Outcome.RETRY,
                    "response_timeout",
                    f"{self.where}: no C-STORE-RSP in {waited:g} s (next attempt waits {self.response_timeout:g} s)",
                )
            if not fresh and e.kind in ("closed", "released"):
                raise _Reconnect from e  # the peer had closed the idle association before our request
            return Result(Outcome.RETRY, "connection_lost", f"{self.where}: {e.cause}")
        if code == 0x0000 or code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF:
            return OK
        if 0xA700 <= code <= 0xA7FF:
            return Result(Outcome.RETRY, "destination_out_of_resources", f"{self.where}: status 0x{code:04X}")
        return Result(Outcome.FAIL, "destination_refused", f"{self.where}: status 0x{code:04X}")

    def probe(self) -> Result:
        """Is the destination back? An association (kept for the next instance) answers it; nothing is sent."""
        if self.link is not None:
            self._drop(abort=None if self._stale() else False)
        err = self._connect()
        if err is not None:
            return err
        self.last_used = time.monotonic()
        return OK

    def release_if_idle(self, now: float) -> None:
        """Release the association when unused for ``idle_release_seconds``."""
        if self.link is not None and time.monotonic() - self.last_used > self.dest.idle_release_seconds:
            self._drop()

    def close(self) -> None:
        self._drop()


def make_forwarder(dest: Destination) -> DicomForwarder | FolderForwarder:
    """The forwarder for a destination's type."""
    if dest.type == "dicom":
        return DicomForwarder(dest)
    return FolderForwarder(dest)
