"""Why an instance was quarantined: one :class:`Reason` type, with its stage and code as enums.

The engine, the worker, the forwarder's outcomes, the batch command, the quarantine store and the CLI all use
these; every code is snake_case and stable (operators grep for them, dashboards count them, audit records keep
them). A reason never holds PHI: the detail names tags, transfer syntaxes, hosts, errno names and exception
types only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """Where the instance was stopped."""

    PARSE = "parse"  # the bytes are not a DICOM data set we can read
    HEADER = "header"  # PS3.15 header de-identification
    PIXELS = "pixels"  # burned-in text, pixel codecs, overlays in pixel data
    ENGINE = "engine"  # the engine failed in a way it did not foresee
    ROUTE = "route"  # no route takes the instance
    MAPPING = "mapping"  # the mapping store could not record it
    FORWARD = "forward"  # a destination refused it for good, or never took it in time
    WORKER = "worker"  # the node could not process it (workers died on it)


class Code(StrEnum):
    """What was wrong (grouped by the stage that usually reports it)."""

    # parse
    UNPARSEABLE = "unparseable"
    INFLATE_LIMIT = "inflate_limit"
    UNKNOWN_TRANSFER_SYNTAX = "unknown_transfer_syntax"
    # header
    MISSING_SOP_CLASS_UID = "missing_sop_class_uid"
    MISSING_SOP_INSTANCE_UID = "missing_sop_instance_uid"
    UNCLEANABLE_PAYLOAD = "uncleanable_payload"
    PRIVATE_SOP_CLASS = "private_sop_class"
    ENGINE_ERROR = "engine_error"
    NER_UNAVAILABLE = "ner_unavailable"
    NER_MODELS_MISSING = "ner_models_missing"
    # pixels: the stage
    BURNED_IN_ANNOTATION = "burned_in_annotation"
    PIXEL_STAGE_UNAVAILABLE = "pixel_stage_unavailable"
    EMBEDDED_OVERLAY_NOT_CLEARED = "embedded_overlay_not_cleared"
    VIDEO_NO_PIXEL_PATH = "video_no_pixel_path"
    WSI_LABEL_DROPPED = "wsi_label_dropped"
    PHI_REMAINS = "phi_remains"
    TEXT_UNREAD = "text_unread"
    OCR_UNAVAILABLE = "ocr_unavailable"
    OCR_UNKNOWN_ENGINE = "ocr_unknown_engine"
    # pixels: the codec
    PIXEL_DATA_MISMATCH = "pixel_data_mismatch"
    MISSING_ATTRIBUTE = "missing_attribute"
    UNDECODABLE_TRANSFER_SYNTAX = "undecodable_transfer_syntax"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    DECODE_FAILED = "decode_failed"
    ENCODE_FAILED = "encode_failed"
    UNSUPPORTED_PIXEL_LAYOUT = "unsupported_pixel_layout"
    UNENCODABLE_TRANSFER_SYNTAX = "unencodable_transfer_syntax"
    PIXEL_CONVERSION_FAILED = "pixel_conversion_failed"
    CONVERSION_TARGET_NOT_NATIVE = "conversion_target_not_native"
    # route, mapping
    NO_ROUTE = "no_route"
    HEADER_STORE_FAILED = "header_store_failed"
    # forward (the forwarder's permanent outcomes, and the end of retrying)
    UNKNOWN_DESTINATION = "unknown_destination"
    RETRY_EXHAUSTED = "retry_exhausted"
    ASSOCIATION_REJECTED_PERMANENT = "association_rejected_permanent"
    SOP_CLASS_NOT_ACCEPTED = "sop_class_not_accepted"
    TRANSFER_SYNTAX_NOT_ACCEPTED = "transfer_syntax_not_accepted"
    TRANSFER_SYNTAX_FALLBACK_FAILED = "transfer_syntax_fallback_failed"
    DESTINATION_ABORTED = "destination_aborted"
    DESTINATION_REFUSED = "destination_refused"
    BAD_SOP_INSTANCE_UID = "bad_sop_instance_uid"
    # worker
    INTERNAL_ERROR = "internal_error"
    NO_DATASET = "no_dataset"
    WORKER_CRASHED = "worker_crashed"
    SPOOL_FILE_MISSING = "spool_file_missing"  # the spool's file vanished: nothing left to quarantine


@dataclass(frozen=True)
class Reason:
    """Why an instance was not forwarded. Strings are accepted where the stage or code comes from data (a
    reason file, a forwarder's result) and must name a member: an unknown one is a programming error."""

    stage: Stage
    code: Code
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage", Stage(self.stage))
        object.__setattr__(self, "code", Code(self.code))

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> Reason:
        """The reason :meth:`as_dict` wrote (a reason file, an audit record)."""
        return cls(Stage(d["stage"]), Code(d["code"]), d.get("detail", ""))

    def as_dict(self) -> dict[str, str]:
        return {"stage": self.stage.value, "code": self.code.value, "detail": self.detail}
