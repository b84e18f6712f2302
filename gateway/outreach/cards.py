"""QR codes and print-ready cards that open the web chat for an outreach source.

The link is `<public base URL>/?lang=<code>&src=<source>`. The QR code uses error correction
level Q and the standard quiet zone of 4 modules. The card (85 x 55 mm, a business card) has
the QR code, a short invitation in the chosen language and in Swedish, and the line's SMS
number. It carries no logo and no organisation name: nothing on it marks the person holding
it.

Text is shaped with HarfBuzz (fpdf2 + uharfbuzz), so Arabic joins and runs right to left and
Thai marks sit where they belong. The fonts come from Debian packages, found at run time:
fonts-noto-core (Latin, Cyrillic, Thai, Arabic) and fonts-wqy-microhei (Chinese).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import segno
from fpdf import FPDF
from fpdf.enums import Align, WrapMode

from gateway.config import Settings
from gateway.outreach.models import SOURCE_CODE
from translations.catalog import Catalog

FONT_PACKAGES = ("fonts-noto-core", "fonts-wqy-microhei")
CARD_RESPONSE = "card_invite"
ERROR_CORRECTION = "q"
QUIET_ZONE = 4  # modules
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")

# Card geometry in millimetres.
CARD_W, CARD_H = 85.0, 55.0
QR_SIZE = 33.0  # with the quiet zone, which is the QR code's margin on the card
QR_X = 1.5
TEXT_X = QR_X + QR_SIZE + 0.5
TEXT_RIGHT = 4.0
TEXT_TOP, TEXT_BOTTOM = 4.0, 4.0
BASE_PT = 9.0  # invitation in the chosen language; Swedish one point smaller
MIN_PT = 5.5
INK = (0, 0, 0)
SECOND_INK = (55, 55, 55)


class CardError(ValueError):
    """A card or link was refused (bad language or source code, a base URL that is not one)."""


class FontsMissing(RuntimeError):
    pass


# --- the link and the QR code -------------------------------------------------------------

def chat_url(base_url: str, language: str, source: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise CardError("the base URL must be http(s)://host[/path], without ? or #")
    if not LANGUAGE_CODE.match(language):
        raise CardError("the language must be a code such as ro or sv")
    if not SOURCE_CODE.match(source):
        raise CardError("the source code must be 1-32 characters: a-z, 0-9 and -")
    return f"{base_url.strip().rstrip('/')}/?{urlencode({'lang': language, 'src': source})}"


def make_qr(url: str) -> segno.QRCode:
    # boost_error=False: exactly level Q, so the code stays as small as Q allows.
    return segno.make_qr(url, error=ERROR_CORRECTION, boost_error=False)


def qr_svg(url: str, scale: int = 8) -> bytes:
    out = io.BytesIO()
    make_qr(url).save(out, kind="svg", scale=scale, border=QUIET_ZONE, xmldecl=False,
                      svgns=True, title=None, dark="#000", light="#fff")
    return out.getvalue()


def qr_png(url: str, scale: int = 10) -> bytes:
    out = io.BytesIO()
    make_qr(url).save(out, kind="png", scale=scale, border=QUIET_ZONE, dark="#000",
                      light="#fff")
    return out.getvalue()


def card_sms_number(settings: Settings) -> str | None:
    """The line's SMS number for cards. translations/contacts.yml has no entry for it (it
    holds the other services' numbers the line gives out), so it is the number the line
    sends from."""
    return (settings.twilio_from_number or "").strip() or None


# --- fonts --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FontSpec:
    family: str  # fontconfig family name
    paths: tuple[str, ...]  # where the Debian package puts it


FONTS: dict[str, FontSpec] = {
    "latin": FontSpec("Noto Sans", ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",)),
    "thai": FontSpec("Noto Sans Thai",
                     ("/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf",)),
    "arabic": FontSpec("Noto Sans Arabic",
                       ("/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",)),
    "cjk": FontSpec("WenQuanYi Micro Hei", ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                                            "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc")),
}
SCRIPT_OF_LANGUAGE = {"th": "thai", "ar": "arabic", "zh": "cjk"}
RTL_LANGUAGES = frozenset({"ar"})
# Chinese breaks between any two characters, but never before closing punctuation.
NO_LINE_START = frozenset("，。、；：？！）」』》〉】,.;:?!)")


def _fontconfig_path(family: str) -> str | None:
    if shutil.which("fc-list") is None:
        return None
    try:
        found = subprocess.run(
            ["fc-list", "--format", "%{file}\n", f":family={family}:style=Regular"],
            capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = sorted(line for line in found.splitlines() if line.endswith((".ttf", ".otf", ".ttc")))
    return paths[0] if paths else None


@cache
def font_path(script: str) -> str:
    """The font file for a script: a known Debian path, else what fontconfig knows."""
    spec = FONTS[script]
    for path in spec.paths:
        if Path(path).is_file():
            return path
    found = _fontconfig_path(spec.family)
    if found:
        return found
    raise FontsMissing(f"font {spec.family!r} not found: install the Debian packages "
                       f"{' '.join(FONT_PACKAGES)} (apt-get install -y {' '.join(FONT_PACKAGES)})")


def check_fonts() -> None:
    """Raises FontsMissing naming the packages unless every card font is installed."""
    for script in FONTS:
        font_path(script)


# --- the card -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CardText:
    language: str
    text: str


def card_texts(catalog: Catalog, language: str) -> list[CardText]:
    """The invitation in the chosen language, then in Swedish (once, for a Swedish card)."""
    if not catalog.has_language(language):
        raise CardError(f"no catalog for the language {language!r}")
    languages = [language] if language == "sv" else [language, "sv"]
    return [CardText(lang, catalog.render(CARD_RESPONSE, lang, "web")) for lang in languages]


class _Card(FPDF):
    def __init__(self, scripts: set[str]) -> None:
        super().__init__(orientation="L", unit="mm", format=(CARD_H, CARD_W))
        self.set_margins(0, 0, 0)
        self.set_auto_page_break(False)
        self.c_margin = 0
        for script in sorted(scripts | {"latin"}):  # only what the card needs (CJK is big)
            self.add_font(script, "", font_path(script))
        self.set_text_shaping(use_shaping_engine=True)


def _draw_qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """Dark modules as filled rectangles (one per run of a row), quiet zone included."""
    rows = [list(row) for row in make_qr(url).matrix_iter(scale=1, border=QUIET_ZONE)]
    module = size / len(rows)
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(*INK)
    overlap = module * 0.02  # no hairline seams between neighbouring rectangles
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(x + start * module, y + r * module, (c - start) * module + overlap,
                     module + overlap, style="F")


def _cjk_lines(pdf: FPDF, text: str, width: float) -> str:
    """Break Chinese text to the width, keeping punctuation off the start of a line."""
    lines: list[str] = []
    line = ""
    for char in text:
        if line and pdf.get_string_width(line + char) > width:
            if char in NO_LINE_START and len(line) > 1:
                lines.append(line[:-1])
                line = line[-1]
            else:
                lines.append(line)
                line = ""
        line += char
    return "\n".join([*lines, line])


def _block_lines(sms_number: str | None, texts: list[CardText]) -> list[tuple[CardText, float]]:
    sizes = [1.0] + [0.85] * (len(texts) - 1)
    lines = list(zip(texts, sizes))
    if sms_number:
        lines.append((CardText("sms", f"SMS {sms_number}"), 1.0))
    return lines


def _write_text(pdf: _Card, lines: list[tuple[CardText, float]], base_pt: float,
                width: float, *, dry_run: bool) -> float:
    """Writes (or measures) the text column; returns its height in mm."""
    height = 0.0
    for i, (item, factor) in enumerate(lines):
        script = SCRIPT_OF_LANGUAGE.get(item.language, "latin")
        pdf.set_font(script, size=base_pt * factor)
        pdf.set_fallback_fonts(["latin"] if script != "latin" else [], exact_match=False)
        pdf.set_text_color(*(INK if factor == 1.0 else SECOND_INK))
        line_h = base_pt * factor * 0.3528 * (1.45 if script in ("thai", "arabic") else 1.3)
        gap = line_h * 0.6 if i else 0.0
        if not dry_run:
            pdf.set_xy(TEXT_X, pdf.get_y() + gap)
        rtl = item.language in RTL_LANGUAGES
        text = _cjk_lines(pdf, item.text, width) if script == "cjk" else item.text
        result = pdf.multi_cell(
            width, line_h, text, align=Align.R if rtl else Align.L,
            wrapmode=WrapMode.CHAR if script == "cjk" else WrapMode.WORD,
            new_x="LMARGIN", new_y="NEXT", dry_run=dry_run, output="HEIGHT",
        )
        height += gap + float(result)
    return height


def card_pdf(url: str, texts: list[CardText], sms_number: str | None) -> bytes:
    """A one-page PDF, 85 x 55 mm: the QR code left, the texts right, no marks of origin."""
    pdf = _Card({SCRIPT_OF_LANGUAGE.get(item.language, "latin") for item in texts})
    pdf.set_title("Card")
    pdf.set_creator("")
    pdf.set_producer("")
    pdf.add_page()
    _draw_qr(pdf, url, QR_X, (CARD_H - QR_SIZE) / 2, QR_SIZE)
    width = CARD_W - TEXT_X - TEXT_RIGHT
    room = CARD_H - TEXT_TOP - TEXT_BOTTOM
    lines = _block_lines(sms_number, texts)
    size = BASE_PT
    while size > MIN_PT and _write_text(pdf, lines, size, width, dry_run=True) > room:
        size -= 0.25
    height = _write_text(pdf, lines, size, width, dry_run=True)
    pdf.set_xy(TEXT_X, max(TEXT_TOP, (CARD_H - height) / 2))
    _write_text(pdf, lines, size, width, dry_run=False)
    return bytes(pdf.output())
