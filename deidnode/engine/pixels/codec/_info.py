"""Image Pixel module attributes (PS3.3 C.7.6.3) gathered once, validated, PHI-free."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ....reasons import Code
from ._errors import PixelCodecError

#: Photometric interpretations as they appear in the decoded array (see ``decode_frames``): a YBR_FULL_422
#: image is held at full resolution (YBR_FULL values), YBR_ICT / YBR_RCT (the JPEG 2000 component transforms,
#: PS3.5 8.2.4) are held as RGB because the transform is part of the codestream.
WORKING_PI = {"YBR_FULL_422": "YBR_FULL", "YBR_ICT": "RGB", "YBR_RCT": "RGB"}


@dataclass(frozen=True)
class PixelInfo:
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int
    number_of_frames: int

    @classmethod
    def from_dataset(cls, ds: Dataset) -> PixelInfo:
        """Read the Image Pixel module; a missing mandatory attribute raises ``missing_attribute`` (tag only)."""
        required = {
            "Rows": "(0028,0010)",
            "Columns": "(0028,0011)",
            "BitsAllocated": "(0028,0100)",
            "PhotometricInterpretation": "(0028,0004)",
        }
        for keyword, tag in required.items():
            if ds.get(keyword) in (None, ""):
                raise PixelCodecError(Code.MISSING_ATTRIBUTE, tag)
        bits_allocated = int(ds.BitsAllocated)
        bits_stored = int(ds.get("BitsStored") or bits_allocated)
        samples = int(ds.get("SamplesPerPixel") or 1)
        try:
            frames = int(ds.get("NumberOfFrames") or 1)
        except (TypeError, ValueError) as e:
            raise PixelCodecError(Code.PIXEL_DATA_MISMATCH, "(0028,0008) not an integer") from e
        info = cls(
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            samples_per_pixel=samples,
            bits_allocated=bits_allocated,
            bits_stored=bits_stored,
            high_bit=int(ds.get("HighBit", bits_stored - 1)),
            pixel_representation=int(ds.get("PixelRepresentation") or 0),
            photometric_interpretation=str(ds.PhotometricInterpretation).strip(),
            planar_configuration=int(ds.get("PlanarConfiguration") or 0) if samples > 1 else 0,
            number_of_frames=max(frames, 1),
        )
        info.validate()
        return info

    def validate(self) -> None:
        if self.rows < 1 or self.columns < 1:
            raise PixelCodecError(Code.PIXEL_DATA_MISMATCH, "(0028,0010)/(0028,0011) must be positive")
        if self.bits_allocated not in (1, 8, 16, 32, 64) or not 1 <= self.bits_stored <= self.bits_allocated:
            raise PixelCodecError(Code.UNSUPPORTED_PIXEL_LAYOUT, "(0028,0100)/(0028,0101)")
        if self.high_bit != self.bits_stored - 1:
            # PS3.5 8.1.1 allows it for native data, but no codec supports it and no current IOD uses it.
            raise PixelCodecError(Code.UNSUPPORTED_PIXEL_LAYOUT, "(0028,0102) is not (0028,0101) - 1")
        if self.samples_per_pixel not in (1, 3):
            raise PixelCodecError(Code.UNSUPPORTED_PIXEL_LAYOUT, "(0028,0002)")

    @property
    def working_pi(self) -> str:
        return WORKING_PI.get(self.photometric_interpretation, self.photometric_interpretation)

    @property
    def dtype(self) -> np.dtype:
        if self.bits_allocated == 1:
            return np.dtype(np.uint8)
        kind = "i" if self.pixel_representation else "u"
        return np.dtype(f"{kind}{self.bits_allocated // 8}")

    @property
    def frame_shape(self) -> tuple[int, ...]:
        if self.samples_per_pixel == 1:
            return (self.rows, self.columns)
        return (self.rows, self.columns, self.samples_per_pixel)

    @property
    def frame_bits(self) -> int:
        """Bits in one native frame; YBR_FULL_422 stores two chroma samples per two pixels (PS3.3 C.7.6.3.1.2)."""
        pixels = self.rows * self.columns
        if self.photometric_interpretation == "YBR_FULL_422":
            return pixels * 2 * self.bits_allocated
        return pixels * self.samples_per_pixel * self.bits_allocated

    @property
    def frame_bytes(self) -> int:
        return (self.frame_bits + 7) // 8

    def pydicom_kwargs(self) -> dict[str, Any]:
        """The options pydicom's encoders and buffer decoders expect for one frame."""
        kwargs: dict[str, int | str] = {
            "rows": self.rows,
            "columns": self.columns,
            "samples_per_pixel": self.samples_per_pixel,
            "bits_allocated": self.bits_allocated,
            "bits_stored": self.bits_stored,
            "pixel_representation": self.pixel_representation,
            "photometric_interpretation": self.photometric_interpretation,
            "number_of_frames": 1,
        }
        if self.samples_per_pixel > 1:
            kwargs["planar_configuration"] = self.planar_configuration
        return kwargs

    def with_pi(self, pi: str) -> PixelInfo:
        return replace(self, photometric_interpretation=pi)
