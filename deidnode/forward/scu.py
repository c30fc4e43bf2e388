"""C-STORE SCU to one destination, reusing its association (PS3.4 B.2; PS3.8 presentation contexts).

For every SOP class met so far the association proposes one context with the native syntaxes (Explicit then
Implicit VR Little Endian) and one per other transfer syntax seen (JPEG, RLE, Deflate...). A dataset goes out
in its own syntax when the destination accepted it; otherwise it is converted to Explicit VR Little Endian
(decompressing pixel data) - lossless, never a lossy re-encode. A new SOP class or syntax re-negotiates.
"""

from __future__ import annotations

import ssl
import time

from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, build_context
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

from ..config import Destination, RetrySettings
from ..logging import get_logger
from ..receive.scp import set_nodelay
from .base import OK, Outcome, Result
from .folder import FolderForwarder

log = get_logger("forward")

NATIVE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context IDs are odd numbers 1..255


def _client_ssl_context(dest: Destination) -> ssl.SSLContext | None:
    if dest.tls is None:
        return None
    ctx = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(dest.tls.ca) if dest.tls.ca else None
    )
    ctx.load_cert_chain(dest.tls.cert, dest.tls.key)
    return ctx


class DicomForwarder:
    """One destination's SCU. Not thread-safe: each worker process holds its own."""

    def __init__(self, dest: Destination, retry: RetrySettings) -> None:
        assert dest.ae_title and dest.host and dest.port
        self.name = dest.name
        self.dest = dest
        self.retry = retry
        self.ae = AE(ae_title=dest.calling_ae_title)
        self.ae.acse_timeout = dest.timeout
        self.ae.dimse_timeout = dest.timeout
        # The reactor aborts an association idle this long; keep it beyond our own idle release.
        self.ae.network_timeout = dest.timeout + 2 * dest.idle_release_seconds
        self.ae.connection_timeout = dest.timeout
        self.ae.maximum_pdu_size = dest.max_pdu
        self._ssl = _client_ssl_context(dest)
        self.assoc: Association | None = None
        self.wanted: dict[str, list[str]] = {}
        """SOP class -> non-native transfer syntaxes to propose, in order first seen."""
        self.last_used = 0.0
        self.down_until = 0.0
        self.failures = 0

    # -- association ----------------------------------------------------------------------------------
    def _contexts(self) -> list[PresentationContext]:
        cxs: list[PresentationContext] = []
        for sop, others in reversed(self.wanted.items()):  # newest first, so it survives the cap
            group = [build_context(sop, list(NATIVE))] + [build_context(sop, ts) for ts in others]
            if len(cxs) + len(group) > MAX_CONTEXTS:
                break
            cxs.extend(group)
        return cxs

    def _connect(self) -> Result | None:
        tls_args = (self._ssl, self.dest.host) if self._ssl else None
        try:
            assoc = self.ae.associate(
                self.dest.host,
                self.dest.port,
                contexts=self._contexts(),
                ae_title=self.dest.ae_title,
                max_pdu=self.dest.max_pdu,
                tls_args=tls_args,
            )
        except Exception as e:  # noqa: BLE001 - e.g. TLS setup
            return self._unavailable("association_failed", type(e).__name__)
        if not assoc.is_established:
            code = "association_rejected" if assoc.is_rejected else "destination_unreachable"
            return self._unavailable(code)
        sock = getattr(assoc.dul.socket, "socket", None)
        if sock is not None:
            set_nodelay(sock)
        self.assoc = assoc
        self.failures = 0
        log.info(
            "association_open", extra={"destination": self.name, "contexts": len(assoc.accepted_contexts)}
        )
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
        if self.assoc is not None:
            try:
                if abort or not self.assoc.is_established:
                    self.assoc.abort()
                else:
                    self.assoc.release()
            except Exception:  # noqa: BLE001 - closing a broken association
                pass
            self.assoc = None

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
        if self._want(sop, ts) and self.assoc is not None:
            self._drop()
        for attempt in (1, 2):
            fresh = False
            if self.assoc is None or not self.assoc.is_established:
                self._drop()
                err = self._connect()
                if err is not None:
                    return err
                fresh = True
            assert self.assoc is not None
            result = self._send_on(self.assoc, ds, sop, ts)
            self.last_used = time.monotonic()
            if result.code == "no_response" and not fresh and attempt == 1:
                continue  # the peer closed an idle association under us: reconnect once
            if result.code == "no_response":
                return self._unavailable("no_response")
            return result
        return Result(Outcome.RETRY, "no_response")  # pragma: no cover - loop always returns

    def _send_on(self, assoc: Association, ds: Dataset, sop: str, ts: str) -> Result:
        accepted = [cx for cx in assoc.accepted_contexts if cx.abstract_syntax == sop]
        if not accepted:
            return Result(Outcome.FAIL, "sop_class_not_accepted", f"destination {self.name}")
        if ts not in NATIVE and not any(cx.transfer_syntax[0] == ts for cx in accepted):
            if not any(cx.transfer_syntax[0] in NATIVE for cx in accepted):
                return Result(Outcome.FAIL, "transfer_syntax_not_accepted", f"destination {self.name}")
            err = self._to_explicit_le(ds, ts)
            if err is not None:
                return err
        try:
            status = assoc.send_c_store(ds)
        except (ValueError, AttributeError, TypeError) as e:
            return Result(Outcome.FAIL, "encode_failed", type(e).__name__)
        except RuntimeError:
            self._drop(abort=True)
            return Result(Outcome.RETRY, "no_response")
        if not status or "Status" not in status:
            self._drop(abort=True)
            return Result(Outcome.RETRY, "no_response")
        code = int(status.Status)
        if code == 0x0000 or code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF:
            return OK
        if 0xA700 <= code <= 0xA7FF:
            return Result(Outcome.RETRY, "destination_out_of_resources", f"status 0x{code:04X}")
        return Result(Outcome.FAIL, "destination_refused", f"status 0x{code:04X}")

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
        if self.assoc is not None and time.monotonic() - self.last_used > self.dest.idle_release_seconds:
            self._drop()

    def close(self) -> None:
        self._drop()


def make_forwarder(dest: Destination, retry: RetrySettings, encode) -> DicomForwarder | FolderForwarder:  # noqa: ANN001
    """The forwarder for a destination's type; ``encode`` is ``engine.encode_dataset`` (folders)."""
    if dest.type == "dicom":
        return DicomForwarder(dest, retry)
    return FolderForwarder(dest, encode)
