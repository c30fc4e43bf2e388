"""The Storage SCP: raw bytes to the spool, fsynced, before Success (PS3.4 B.2.3, statuses in Table B.2-1).

The DICOM upper layer is :mod:`deidnode.dimse`'s acceptor port (``node.dimse`` chooses the implementation):
it listens, negotiates, frames and bounds what a peer can hold. This module is the service behind it: the
association policy, and for each C-STORE the data set streamed, never decoded or assembled, into a
:class:`~deidnode.spool.SpoolWriter` behind a preamble and file meta packed from the request
(:mod:`deidnode.dicomio.filemeta`); Success is answered only after the file and its row are durable. The
workers decode once.
"""

from __future__ import annotations

import time
from typing import Any

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]  # made at import from a table

from .. import metrics
from ..config import NodeSettings
from ..dicomio.filemeta import part10_header
from ..dimse import Acceptor, Association, AssociationRequest, Context, DataSet, Reject, acceptor
from ..dimse import commands as cmds
from ..errors import (
    STATUS_CANNOT_UNDERSTAND_PARSE,
    STATUS_DATASET_DOES_NOT_MATCH_SOP_CLASS,
    STATUS_OUT_OF_RESOURCES,
    STATUS_SUCCESS,
    os_error_name,
)
from ..logging import get_logger
from ..spool import Spool, SpoolFullError
from .policy import CALLED_AE_INVALID, CALLING_AE_INVALID, NETWORK_NOT_ALLOWED, AssociationPolicy
from .sniff import HeadKeeper, sop_uids

log = get_logger("receive")

# 0xA7xx: Refused: Out of Resources (PS3.4 Table B.2-1). The sender may try again later.
STATUS_OUT_OF_RESOURCES_DISK = STATUS_OUT_OF_RESOURCES + 0x01


def accepted_transfer_syntaxes() -> frozenset[str]:
    """The transfer syntaxes taken from senders: every one pydicom parses. The worker quarantines what the
    engine cannot clean (e.g. video) with a reason; which one is chosen per context is
    :func:`deidnode.dimse.acse.choose_transfer_syntax` (the sender's compressed syntax, else Explicit VR LE)."""
    return frozenset(ALL_TRANSFER_SYNTAXES)


def supported_contexts() -> dict[str, frozenset[str]]:
    """Abstract syntax -> transfer syntaxes: every Storage SOP class in every syntax we take, plus
    Verification; built once per SCP."""
    ts = accepted_transfer_syntaxes()
    out = {str(cx.abstract_syntax): ts for cx in AllStoragePresentationContexts}
    out[str(Verification)] = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian})
    return out


class StorageSCP:
    """Accepts Storage and Verification through the acceptor port; applies :class:`AssociationPolicy`;
    spools every instance."""

    def __init__(self, settings: NodeSettings, spool: Spool) -> None:
        self.settings = settings
        self.spool = spool
        self.policy = AssociationPolicy(settings)
        self.contexts = supported_contexts()
        self.port: Acceptor = acceptor(settings, self.contexts, self)
        self.address: tuple[str, int] = ("", 0)

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        """Listen; associations are served on background threads. Returns the bound address."""
        self.address = self.port.start()
        return self.address

    @property
    def listening(self) -> bool:
        """The listening socket is open and its accept loop alive (for /healthz and /readyz)."""
        return self.port.listening

    def active_associations(self) -> int:
        return self.port.active_associations()

    def held_connections(self) -> int:
        """Connections held, associated or still negotiating."""
        return self.port.held_connections()

    def stop(self, grace_seconds: float) -> int:
        """Stop accepting, let open associations finish for up to ``grace_seconds``, abort the rest.

        Returns how many associations were aborted (their unacknowledged instances will be sent again).
        """
        return self.port.stop(grace_seconds)

    # -- the acceptor port's service ------------------------------------------------------------------
    def on_connect(self, peer: str) -> Reject | None:
        """A source outside ``allowed_networks`` is refused before a byte is read: plain DICOM gets an
        A-ASSOCIATE-RJ (rejected-permanent, no reason), a TLS port just closes."""
        return None if self.policy.network_allowed(peer) else NETWORK_NOT_ALLOWED

    def on_associate(self, request: AssociationRequest) -> Reject | None:
        if request.calling_ae is None:
            return CALLING_AE_INVALID
        if request.called_ae is None:
            return CALLED_AE_INVALID
        return self.policy.check(request.calling_ae, request.called_ae, request.peer)

    def on_rejected(self, code: str, calling_ae: str, peer: str) -> None:
        metrics.RECEIVE_ASSOCIATIONS.labels("rejected").inc()
        extra: dict[str, Any] = {"code": code, "peer": peer}
        if calling_ae:
            extra["calling_aet"] = calling_ae
        log.warning("connection_refused" if code == "too_many_connections" else "association_rejected", extra=extra)

    def on_accepted(self, association: Association) -> None:
        metrics.RECEIVE_ASSOCIATIONS.labels("accepted").inc()
        log.debug(
            "association_accepted",
            extra={"calling_aet": association.calling_ae, "contexts": len(association.contexts)},
        )

    def on_echo(self, association: Association) -> int:
        metrics.RECEIVE_ECHOES.inc()
        return STATUS_SUCCESS

    def on_store(self, association: Association, context: Context, command: cmds.Command, data: DataSet) -> int:
        t0 = time.perf_counter()
        status = self._spool_dataset(association.calling_ae, command, context, data)
        if status == STATUS_SUCCESS:
            metrics.STAGE_DURATION.labels("receive").observe(time.perf_counter() - t0)
        return status

    def _spool_dataset(self, calling: str, cmd: cmds.Command, context: Context, data: DataSet) -> int:
        """Read the data set into the spool; the status to answer. Network errors propagate; a data set left
        unread is dropped by the port.

        The command must agree with its presentation context and with the data set's own SOP Class and
        Instance UIDs (0xA900 otherwise, as dcmtk answers): the spool row and file meta come from the
        command, and routing reads them.
        """
        abstract, ts = context.abstract_syntax, context.transfer_syntax
        sop_class = cmd.sop_class or abstract
        if not cmd.has_dataset or not cmds.is_uid(cmd.sop_instance) or not cmds.is_uid(sop_class):
            return self._refused("unreadable_request", STATUS_CANNOT_UNDERSTAND_PARSE)
        if sop_class != abstract:
            return self._refused("sop_class_not_context", STATUS_DATASET_DOES_NOT_MATCH_SOP_CLASS)
        try:
            writer = self.spool.open_writer(calling_aet=calling, sop_class=sop_class, transfer_syntax=ts)
        except SpoolFullError:
            return self._refused("spool_full", STATUS_OUT_OF_RESOURCES_DISK)
        except OSError as e:
            return self._refused("spool_io_error", STATUS_OUT_OF_RESOURCES, e)
        keeper = HeadKeeper(writer.write)
        try:
            writer.write(part10_header(sop_class, cmd.sop_instance, ts, calling))
            size = data.read(keeper)
        except BaseException:
            writer.discard()
            raise
        if size == 0:
            writer.discard()
            return self._refused("unreadable_request", STATUS_CANNOT_UNDERSTAND_PARSE)
        if sop_uids(keeper.head, ts) != (sop_class, cmd.sop_instance):
            writer.discard()
            return self._refused("dataset_does_not_match", STATUS_DATASET_DOES_NOT_MATCH_SOP_CLASS)
        try:
            row = writer.commit()
        except SpoolFullError:
            return self._refused("spool_full", STATUS_OUT_OF_RESOURCES_DISK)
        except OSError as e:
            return self._refused("spool_io_error", STATUS_OUT_OF_RESOURCES, e)
        metrics.RECEIVE_INSTANCES.labels("stored").inc()
        metrics.RECEIVE_BYTES.inc(writer.size)
        log.debug("stored", extra={"row": row, "size": writer.size})
        return STATUS_SUCCESS

    def _refused(self, code: str, status: int, error: OSError | None = None) -> int:
        """Count and log a refused C-STORE; an I/O error is named by its errno and the spool's path."""
        metrics.RECEIVE_INSTANCES.labels("refused").inc()
        extra: dict[str, Any] = {"code": code, "status": f"0x{status:04X}"}
        if error is not None:
            extra.update(errno=os_error_name(error), path=str(self.spool.data_dir))
        log.warning("store_refused", extra=extra)
        return status
