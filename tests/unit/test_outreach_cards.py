"""QR codes and printed cards: the code decodes back to exactly the chat link (from the PNG
and from the rendered PDF), the card text is there in the chosen language and in Swedish in
every core language (Arabic and Thai shaped), and nothing on the card marks the holder."""

from __future__ import annotations

import io
import unicodedata
from collections import Counter

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image

from gateway.config import Settings
from gateway.outreach import cards
from translations.catalog import Catalog
from translations.languages import CORE_LANGUAGES

BASE = "https://chat.example.org"
SMS = "+46 70 000 00 00"
MM_PER_PT = 25.4 / 72


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def render(pdf: bytes, dpi: int = 300) -> tuple[pdfium.PdfDocument, Image.Image, str]:
    doc = pdfium.PdfDocument(pdf)
    page = doc[0]
    text = page.get_textpage().get_text_range()
    return doc, page.render(scale=dpi / 72).to_pil(), text


def letters(text: str) -> str:
    """Letters and digits in order: PDF text extraction may move marks (Thai) and neutral
    characters (the full stop of a right-to-left line), and puts line breaks anywhere."""
    return "".join(c for c in unicodedata.normalize("NFKC", text)
                   if unicodedata.category(c)[0] in "LN")


def marks(text: str) -> Counter[str]:
    return Counter(c for c in unicodedata.normalize("NFKC", text)
                   if unicodedata.category(c) == "Mn")


def assert_contains(extracted: str, expected: str) -> None:
    assert letters(expected) in letters(extracted), (expected, extracted)
    assert not marks(expected) - marks(extracted), (expected, extracted)


def test_the_chat_link():
    assert cards.chat_url(BASE, "ro", "team-syd") == f"{BASE}/?lang=ro&src=team-syd"
    assert cards.chat_url(BASE + "/chat/", "sv", "a") == f"{BASE}/chat/?lang=sv&src=a"
    for base, lang, source in ((BASE, "ro", "Team"), (BASE, "ro", "a b"), (BASE, "RO", "a"),
                               (BASE, "r", "a"), ("chat.example.org", "ro", "a"),
                               ("javascript:alert(1)", "ro", "a"), (BASE + "/?x=1", "ro", "a")):
        with pytest.raises(cards.CardError):
            cards.chat_url(base, lang, source)


def test_the_png_decodes_to_exactly_the_link():
    url = cards.chat_url(BASE, "ro", "team-syd")
    png = cards.qr_png(url, scale=10)
    image = Image.open(io.BytesIO(png))
    assert decode(image) == [url]
    qr = cards.make_qr(url)
    assert qr.error == "Q"
    # The quiet zone: 4 modules on every side.
    assert image.size == ((qr.symbol_size(scale=1, border=0)[0] + 8) * 10,) * 2


def test_the_svg_is_plain():
    svg = cards.qr_svg(cards.chat_url(BASE, "ar", "team-syd")).decode()
    assert svg.startswith("<svg") and "</svg>" in svg
    assert "<script" not in svg and "href" not in svg


@pytest.mark.parametrize("lang", sorted(CORE_LANGUAGES))
def test_the_card_renders_in_every_core_language(catalog, lang):
    url = cards.chat_url(BASE, lang, "team-syd")
    texts = cards.card_texts(catalog, lang)
    pdf = cards.card_pdf(url, texts, SMS)
    doc, image, extracted = render(pdf)
    width, height = doc[0].get_size()
    assert (round(width * MM_PER_PT, 1), round(height * MM_PER_PT, 1)) == (85.0, 55.0)
    assert decode(image) == [url]
    assert [t.language for t in texts] == ([lang, "sv"] if lang != "sv" else ["sv"])
    for text in texts:
        assert "112" in text.text and "{" not in text.text
        assert_contains(extracted, text.text)
    assert SMS in extracted
    # Nothing marks the holder: no name of the line or organisation, in text or metadata.
    for mark in ("Rightsline", "rightsline", "Jämställdhet", "NSPM"):
        assert mark not in extracted
        assert mark.encode() not in pdf
    doc.close()


def test_arabic_and_thai_text_is_on_the_card(catalog):
    for lang, expected in (("ar", "مساعدة ومعلومات مجانية"), ("th", "ความช่วยเหลือและข้อมูลฟรี")):
        pdf = cards.card_pdf(cards.chat_url(BASE, lang, "a"), cards.card_texts(catalog, lang), SMS)
        doc, _, extracted = render(pdf, dpi=72)
        assert_contains(extracted, expected)
        assert_contains(extracted, "Gratis, anonym hjälp och information på ditt språk.")
        doc.close()
    # Arabic is shaped: the extracted words are in logical order, not reversed glyph by glyph.
    pdf = cards.card_pdf(cards.chat_url(BASE, "ar", "a"), cards.card_texts(catalog, "ar"), None)
    doc, _, extracted = render(pdf, dpi=72)
    assert "مساعدة" in extracted and "ةدعاسم" not in extracted
    doc.close()


def test_the_card_texts_are_short(catalog):
    for lang in CORE_LANGUAGES:
        text = catalog.render(cards.CARD_RESPONSE, lang, "web")
        assert len(text) <= 120, (lang, len(text))


def test_without_an_sms_number_the_card_has_no_sms_line(catalog):
    pdf = cards.card_pdf(cards.chat_url(BASE, "ro", "a"), cards.card_texts(catalog, "ro"), None)
    doc, _, extracted = render(pdf, dpi=72)
    assert "SMS" not in extracted
    doc.close()
    assert cards.card_sms_number(Settings(twilio_from_number=" +46700000000 ")) == "+46700000000"
    assert cards.card_sms_number(Settings(twilio_from_number=None)) is None


def test_missing_fonts_name_the_debian_packages(monkeypatch):
    monkeypatch.setitem(cards.FONTS, "thai", cards.FontSpec("No Such Font", ("/nonexistent.ttf",)))
    monkeypatch.setattr(cards, "_fontconfig_path", lambda family: None)
    cards.font_path.cache_clear()
    try:
        with pytest.raises(cards.FontsMissing, match="fonts-noto-core fonts-wqy-microhei"):
            cards.check_fonts()
    finally:
        cards.font_path.cache_clear()


def test_fonts_are_found_through_fontconfig_too(monkeypatch):
    spec = cards.FONTS["latin"]
    monkeypatch.setitem(cards.FONTS, "latin", cards.FontSpec(spec.family, ("/nonexistent.ttf",)))
    cards.font_path.cache_clear()
    try:
        assert cards.font_path("latin").endswith((".ttf", ".otf"))
    finally:
        cards.font_path.cache_clear()
