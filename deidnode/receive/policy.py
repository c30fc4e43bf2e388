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


class AssociationPolicy:
    """Decides from the A-ASSOCIATE-RQ's AE titles and the peer's address whether to accept."""

    def __init__(self, settings: NodeSettings) -> None:
        self.ae_title = settings.ae_title.strip()
        self.check_called = settings.check_called_aet
        self.calling = frozenset(a.strip() for a in settings.allowed_calling_aets)
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks)

    def check(self, calling_aet: str, called_aet: str, address: str) -> Rejection | None:
        """None to accept; otherwise the rejection. Network first: an unknown host learns nothing more."""
        if self.networks:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                ip = None
            if ip is None or not any(ip in net for net in self.networks if net.version == ip.version):
                return Rejection(
                    RESULT_REJECTED_PERMANENT, SOURCE_SERVICE_USER, DIAG_NO_REASON, "network_not_allowed"
                )
        if self.calling and calling_aet.strip() not in self.calling:
            return Rejection(
                RESULT_REJECTED_PERMANENT,
                SOURCE_SERVICE_USER,
                DIAG_CALLING_AE_NOT_RECOGNISED,
                "calling_aet_not_allowed",
            )
        if self.check_called and called_aet.strip() != self.ae_title:
            return Rejection(
                RESULT_REJECTED_PERMANENT,
                SOURCE_SERVICE_USER,
                DIAG_CALLED_AE_NOT_RECOGNISED,
                "called_aet_not_recognised",
            )
        return None
