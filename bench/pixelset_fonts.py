"""The fonts the burned-in text benchmark draws with, split by family so that no split tunes on another's fonts.

Every font comes from a Debian package (``tools/test.sh`` installs them): scalable TrueType/OpenType families
(DejaVu, Liberation, FreeFont, Hack, Noto, Croscore, URW base35, Go, Open Sans, Cantarell, Carlito/Caladea,
Terminus TTF) and bitmap fonts in fixed cells, as many modalities burn text (X11 misc-fixed and Schumacher
clean, Terminus, the Adobe/B&H 75 and 100 dpi families, Unifont). A split's fonts are families the other
splits never see; the "style" (sans, serif, mono, bitmap) is what the report groups by, and the family too.
"""

from __future__ import annotations

import functools
import glob
import os
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

TT = "/usr/share/fonts/truetype"
OT = "/usr/share/fonts/opentype"
X11 = "/usr/share/fonts/X11"


@dataclass(frozen=True)
class FontSpec:
    path: str | None  # None: Pillow's built-in scalable font
    family: str  # the package family: dejavu, liberation, noto, misc-fixed, adobe-75dpi, ...
    style: str  # sans | serif | mono | bitmap
    strike: int | None = None  # bitmap fonts: the only pixel size they draw

    @property
    def name(self) -> str:
        return os.path.basename(self.path).split(".")[0] if self.path else "pil-default"


def _tt(family: str, style: str, *paths: str) -> list[FontSpec]:
    return [FontSpec(p, family, style) for p in paths if os.path.isfile(p)]


@functools.cache
def strike_size(path: str) -> int | None:
    """The pixel size a bitmap font file draws (FreeType refuses the others), or None."""
    for size in range(5, 41):
        try:
            ImageFont.truetype(path, size)
        except OSError:
            continue
        return size
    return None


_PRINTABLE = "".join(chr(c) for c in range(33, 127))


@functools.cache
def ascii_cells(path: str, size: int) -> tuple[bytes, ...]:
    """What the font draws for each printable ASCII character, one bitmap each."""
    font = ImageFont.truetype(path, size)
    cells = []
    for ch in _PRINTABLE:
        im = Image.new("L", (3 * size, 3 * size))
        ImageDraw.Draw(im).text((size // 2, size // 2), ch, font=font, fill=255)
        cells.append(im.tobytes())
    return tuple(cells)


def draws_ascii(path: str, size: int) -> bool:
    """Whether the font draws the printable ASCII characters as glyphs of their own (nine in ten distinct at least:
    a small strike may draw a pair alike, "l" and "|"). A bitmap file in another encoding (clR6x12-ISO8859-2 and a
    dozen more) may have no character map FreeType can use: every character comes out as one and the same box,
    which no reader, person or OCR, can read, so it is no text to score."""
    return len(set(ascii_cells(path, size))) >= 0.9 * len(_PRINTABLE)


def _bitmaps(family: str, pattern: str) -> list[FontSpec]:
    out = []
    for p in sorted(glob.glob(pattern)):
        if family == "misc-fixed" and ("-" in os.path.basename(p) or "rk" in os.path.basename(p)):
            continue  # the same cells in other encodings
        s = strike_size(p)
        if s is not None and 7 <= s <= 28 and draws_ascii(p, s):
            out.append(FontSpec(p, family, "bitmap", s))
    return out


def _dev() -> list[FontSpec]:
    d, lib, ff, hk = f"{TT}/dejavu", f"{TT}/liberation", f"{TT}/freefont", f"{TT}/hack"
    return [
        *_tt("dejavu", "sans", f"{d}/DejaVuSans.ttf", f"{d}/DejaVuSans-Bold.ttf", f"{d}/DejaVuSansCondensed.ttf"),
        *_tt("dejavu", "serif", f"{d}/DejaVuSerif.ttf", f"{d}/DejaVuSerifCondensed-Bold.ttf"),
        *_tt("dejavu", "mono", f"{d}/DejaVuSansMono.ttf", f"{d}/DejaVuSansMono-Bold.ttf"),
        *_tt("liberation", "sans", f"{lib}/LiberationSans-Regular.ttf", f"{lib}/LiberationSansNarrow-Bold.ttf"),
        *_tt("liberation", "serif", f"{lib}/LiberationSerif-Regular.ttf"),
        *_tt("liberation", "mono", f"{lib}/LiberationMono-Regular.ttf"),
        *_tt("freefont", "sans", f"{ff}/FreeSans.ttf", f"{ff}/FreeSansBold.ttf"),
        *_tt("freefont", "serif", f"{ff}/FreeSerif.ttf"),
        *_tt("freefont", "mono", f"{ff}/FreeMono.ttf", f"{ff}/FreeMonoBold.ttf"),
        *_tt("hack", "mono", f"{hk}/Hack-Regular.ttf"),
        FontSpec(None, "pil-default", "sans"),
        *_bitmaps("misc-fixed", f"{X11}/misc/[5-9]x*.pcf.gz"),
        *_bitmaps("misc-fixed", f"{X11}/misc/10x20.pcf.gz"),
        *_bitmaps("terminus", f"{X11}/misc/ter-u[0-9][0-9][nb]_iso-8859-1.pcf.gz"),
    ]


def _test() -> list[FontSpec]:
    n, cr, lib2, urw = f"{TT}/noto", f"{TT}/croscore", f"{TT}/liberation2", f"{OT}/urw-base35"
    return [
        *_tt("noto", "sans", f"{n}/NotoSans-Regular.ttf", f"{n}/NotoSans-Bold.ttf"),
        *_tt("noto", "serif", f"{n}/NotoSerif-Regular.ttf"),
        *_tt("noto", "mono", f"{n}/NotoSansMono-Regular.ttf", f"{n}/NotoMono-Regular.ttf"),
        *_tt("croscore", "sans", f"{cr}/Arimo-Regular.ttf", f"{lib2}/LiberationSans-Bold.ttf"),
        *_tt("croscore", "serif", f"{cr}/Tinos-Regular.ttf"),
        *_tt("croscore", "mono", f"{cr}/Cousine-Regular.ttf", f"{lib2}/LiberationMono-Bold.ttf"),
        *_tt("urw", "sans", f"{urw}/NimbusSans-Regular.otf", f"{urw}/URWGothic-Book.otf"),
        *_tt("urw", "serif", f"{urw}/NimbusRoman-Regular.otf"),
        *_tt("urw", "mono", f"{urw}/NimbusMonoPS-Regular.otf", f"{urw}/NimbusMonoPS-Bold.otf"),
        *_bitmaps("schumacher-clean", f"{X11}/misc/clR[5-9]x*.pcf.gz"),
        *_bitmaps("adobe-75dpi", f"{X11}/75dpi/helvR*-ISO8859-1.pcf.gz"),
        *_bitmaps("adobe-75dpi", f"{X11}/75dpi/courR*-ISO8859-1.pcf.gz"),
        *_bitmaps("adobe-75dpi", f"{X11}/75dpi/courB*-ISO8859-1.pcf.gz"),
        *_bitmaps("bh-75dpi", f"{X11}/75dpi/lutRS*-ISO8859-1.pcf.gz"),
        *_bitmaps("adobe-75dpi", f"{X11}/75dpi/timR*-ISO8859-1.pcf.gz"),
    ]


def _fresh() -> list[FontSpec]:
    go, osn, ce, urw = "/usr/share/fonts/fonts-go", f"{TT}/open-sans", f"{TT}/crosextra", f"{OT}/urw-base35"
    return [
        *_tt("go", "sans", f"{go}/Go-Regular.ttf", f"{go}/Go-Medium.ttf"),
        *_tt("go", "mono", f"{go}/Go-Mono.ttf", f"{go}/Go-Mono-Bold.ttf"),
        *_tt("open-sans", "sans", f"{osn}/OpenSans-Regular.ttf", f"{osn}/OpenSans-Semibold.ttf"),
        *_tt("cantarell", "sans", f"{OT}/cantarell/Cantarell-Regular.otf"),
        *_tt("crosextra", "sans", f"{ce}/Carlito-Regular.ttf"),
        *_tt("crosextra", "serif", f"{ce}/Caladea-Regular.ttf"),
        *_tt("urw", "serif", f"{urw}/C059-Roman.otf", f"{urw}/P052-Roman.otf", f"{urw}/URWBookman-Light.otf"),
        *_tt("terminus", "mono", f"{TT}/terminus/TerminusTTF-4.46.0.ttf"),
        *_bitmaps("adobe-100dpi", f"{X11}/100dpi/ncenR*-ISO8859-1.pcf.gz"),
        *_bitmaps("bh-100dpi", f"{X11}/100dpi/luRS*-ISO8859-1.pcf.gz"),
        *_bitmaps("bitstream-100dpi", f"{X11}/100dpi/charR*-ISO8859-1.pcf.gz"),
        *[FontSpec(p, "unifont", "bitmap", 16) for p in [f"{OT}/unifont/unifont.otf"] if os.path.isfile(p)],
    ]


def _dev_bitmap_small() -> list[FontSpec]:
    """Tuning only: bitmap strikes of 8-12 px from families no split draws with (75 dpi New Century Schoolbook,
    Lucida Bright, Lucida Sans bold; named by their file stems), for small bitmap text without the test split."""
    pats = ("ncenR0*", "ncenR1[02]", "lubR0*", "lubR1[02]", "lubB0*", "luBS0*", "luBS1[02]")
    return [f for p in pats for f in _bitmaps(p[:4], f"{X11}/75dpi/{p}-ISO8859-1.pcf.gz")]


def _dev_bitmap_large() -> list[FontSpec]:
    """Tuning only: other bitmap families no split draws with (Lucida Bright 8-24 px, the DEC terminal font,
    misc-fixed 12x24, ClearlyU 12)."""
    return [
        *_bitmaps("lucidabright", f"{X11}/75dpi/lubR*-ISO8859-1.pcf.gz"),
        *_bitmaps("lucidabright", f"{X11}/75dpi/lubB[0-9]*-ISO8859-1.pcf.gz"),
        *_bitmaps("dec", f"{X11}/75dpi/term*.pcf.gz"),
        *_bitmaps("misc12", f"{X11}/misc/12x24.pcf.gz"),
        *_bitmaps("clearlyu", f"{X11}/misc/cu12.pcf.gz"),
    ]


SPLIT_FONTS = {"dev": _dev, "test": _test, "fresh": _fresh}
TUNING_FONTS = {"bitmap-small": _dev_bitmap_small, "bitmap-large": _dev_bitmap_large}
"""Font sets the dev split can be drawn with instead of its own (``pixelset.py --split dev --fonts NAME``): the
dev seed, layouts and vocabulary in fonts no split has, to tune on a kind of text without the held-out split."""


def tune_with(name: str) -> None:
    """Draw the dev split with ``TUNING_FONTS[name]`` from now on (this process)."""
    SPLIT_FONTS["dev"] = TUNING_FONTS[name]
    fonts_for.cache_clear()


@functools.cache
def fonts_for(split: str) -> tuple[FontSpec, ...]:
    fonts = tuple(SPLIT_FONTS[split]())
    if not fonts:
        raise RuntimeError(f"no fonts for split {split}: install the Debian font packages (tools/test.sh)")
    return fonts


def load(spec: FontSpec, size: int) -> ImageFont.FreeTypeFont:
    """The font at ``size`` px (bitmap fonts: their strike, whatever is asked)."""
    if spec.path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(spec.path, spec.strike or size)
