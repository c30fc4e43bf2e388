"""One text-presence decision per series: the CT or MR slices of a series share their layout.

A scanner burns the same overlay, or none, into every slice of a series. The first slice of a series that the
pixel stage checks (``selection`` 'check': CT, MR, PT, NM, SM without Burned In Annotation YES) is checked in
full; the decision is remembered for the series and geometry (``SeriesMemo.key``) and the next slices use it:
no text, nothing decoded; text, straight to OCR. A decision expires after ``ttl_seconds`` or ``max_uses``
slices, and the next slice is checked again.

The memo belongs to the caller (a worker lane, the batch command), which passes it to ``deidentify`` with its
own clock: the engine keeps no state and reads no clock. A memo is not shared between threads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset

Key = tuple[str, ...]


@dataclass
class _Entry:
    has_text: bool
    since: float
    uses: int = 0


class SeriesMemo:
    """Text-presence decisions per series and geometry, with an expiry (time and count) and a size bound."""

    def __init__(
        self, clock: Callable[[], float], *, ttl_seconds: float = 600.0, max_uses: int = 1000, max_series: int = 256
    ) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.max_uses = max_uses
        self.max_series = max_series
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()

    @staticmethod
    def key(ds: Dataset) -> Key | None:
        """Series, geometry and image kind: slices that share these share their overlay. None without a
        Series Instance UID (nothing to group by)."""
        series = str(ds.get("SeriesInstanceUID", "") or "")
        if not series:
            return None
        it = ds.get("ImageType")
        image_type = "\\".join(str(x) for x in ([it] if isinstance(it, str) else (it or [])))
        fields = ("Modality", "Rows", "Columns", "BitsStored", "PhotometricInterpretation", "NumberOfFrames")
        return (series, image_type, *(str(ds.get(f, "") or "") for f in fields))

    def get(self, key: Key) -> bool | None:
        """The remembered decision (True: the series has text), or None when there is none or it expired."""
        e = self._entries.get(key)
        if e is None:
            return None
        if e.uses >= self.max_uses or self.clock() - e.since > self.ttl_seconds:
            del self._entries[key]
            return None
        e.uses += 1
        self._entries.move_to_end(key)
        return e.has_text

    def put(self, key: Key, has_text: bool) -> None:
        self._entries[key] = _Entry(has_text, self.clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_series:
            self._entries.popitem(last=False)
