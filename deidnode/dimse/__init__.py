"""A lean DICOM upper layer (PS3.8) and DIMSE command codec (PS3.7) for the node's two hops.

pynetdicom's association machinery (two polling threads per association, a full DIMSE dataset codec per
message) cost ~2 ms of CPU per C-STORE on each hop; on a 2-core node that was most of the budget. This
package keeps pynetdicom for what it does once per association (A-ASSOCIATE PDU codec and presentation
context negotiation) and does the per-message work itself: PDUs are read from a buffered socket by one
blocking thread, PDV fragments are handed on as memory views (written to the spool or sent without
assembling a copy), and the handful of command sets a Storage SCP/SCU needs are packed by hand.
"""

from .acse import Accepted, AssociationRejected, accept, request
from .commands import Command, decode_command, echo_rsp, store_rq, store_rsp
from .link import Link, PeerAborted, PeerClosed, ProtocolError

__all__ = [
    "Accepted",
    "AssociationRejected",
    "Command",
    "Link",
    "PeerAborted",
    "PeerClosed",
    "ProtocolError",
    "accept",
    "decode_command",
    "echo_rsp",
    "request",
    "store_rq",
    "store_rsp",
]
