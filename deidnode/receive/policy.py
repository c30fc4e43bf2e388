"""Who may open an association: calling AE titles and source networks (PS3.8 9.3.4, A-ASSOCIATE-RJ)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..config import NodeSettings

# A-ASSOCIATE-RJ (PS3.8 Table 9-21): result 1 = rejected-permanent; source 1 = DICOM UL service-user.
RESULT_REJECTED_PERMANENT = 0x01
SOURCE_SERVICE_USER = 0x01
DIAG_NO_REASON = 0x01
DIAG_CALLING_AE_NOT_RECOGNISED = 0x03
DIAG_CALLED_AE_NOT_RECOGNISED = 0x07


@dataclass(frozen=True)
class Rejection:
    """An A-ASSOCIATE-RJ to send: result, source, diagnostic, and a reason code for logs and metrics."""

    result: int
    source: int
    diagnostic: int
    code: str


NETWORK_NOT_ALLOWED = Rejection(RESULT_REJECTED_PERMANENT, SOURCE_SERVICE_USER, DIAG_NO_REASON, "network_not_allowed")
CALLING_AE_INVALID = Rejection(
    RESULT_REJECTED_PERMANENT, SOURCE_SERVICE_USER, DIAG_CALLING_AE_NOT_RECOGNISED, "calling_aet_invalid"
)
CALLED_AE_INVALID = Rejection(
    RESULT_REJECTED_PERMANENT, SOURCE_SERVICE_USER, DIAG_CALLED_AE_NOT_RECOGNISED, "called_aet_invalid"
)


class AssociationPolicy:
    """Decides from the peer's address (at accept, before a byte is read) and the A-ASSOCIATE-RQ's AE titles
    (from its fixed fields, before anything else is decoded) whether to accept.

    AE titles are compared without their leading and trailing spaces only (PS3.5 6.2); a title holding a
    control character or backslash never matches (:func:`deidnode.dimse.acse.ae_title` refuses it first).
    """

    def __init__(self, settings: NodeSettings) -> None:
        self.ae_title = settings.ae_title.strip(" ")
        self.check_called = settings.check_called_aet
        self.calling = frozenset(a.strip(" ") for a in settings.allowed_calling_aets)
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks)

    def network_allowed(self, address: str) -> bool:
        """Whether a connection from ``address`` may be read at all."""
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks if net.version == ip.version)

    def check(self, calling_aet: str, called_aet: str, address: str) -> Rejection | None:
        """None to accept; otherwise the rejection. Network first: an unknown host learns nothing more."""
        if not self.network_allowed(address):
            return NETWORK_NOT_ALLOWED
        if self.calling and calling_aet.strip(" ") not in self.calling:
            return Rejection(
                RESULT_REJECTED_PERMANENT,
                SOURCE_SERVICE_USER,
                DIAG_CALLING_AE_NOT_RECOGNISED,
                "calling_aet_not_allowed",
            )
        if self.check_called and called_aet.strip(" ") != self.ae_title:
            return Rejection(
                RESULT_REJECTED_PERMANENT,
                SOURCE_SERVICE_USER,
                DIAG_CALLED_AE_NOT_RECOGNISED,
                "called_aet_not_recognised",
            )
        return None
