"""Render an outreach card PDF to PNG (pypdfium2), e.g. for the docs or a print check.

    .venv/bin/python -m scripts.render_card_png --pdf team-syd-ro.pdf team-syd-ro.png
    .venv/bin/python -m scripts.render_card_png --lang ro docs/qr-card-ro.png   (example card)

Without --pdf an example card is made first (no database needed): --source, --base-url and
--sms-number default to example values. The default SMS number is in the range the Swedish
regulator PTS keeps for fiction (070-174 06 05 ... 99), so it reaches nobody.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium

from gateway.outreach import cards
from translations.catalog import Catalog

EXAMPLE_BASE_URL = "https://chat.example.org"
EXAMPLE_SOURCE = "team-example"
EXAMPLE_SMS_NUMBER = "+46 70 174 06 05"


def render_png(pdf: bytes, out: Path, dpi: int = 300) -> tuple[int, int]:
    """Page 1 of the PDF as a PNG at dpi; returns its size in pixels."""
    document = pdfium.PdfDocument(pdf)
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out, format="PNG", dpi=(dpi, dpi), optimize=True)
        return image.size
    finally:
        document.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.render_card_png",
                                     description="Render an outreach card PDF to PNG.")
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--pdf", help="the card PDF (else an example card is made)")
    parser.add_argument("--lang", default="ro", help="example card: language code")
    parser.add_argument("--source", default=EXAMPLE_SOURCE, help="example card: source code")
    parser.add_argument("--base-url", default=EXAMPLE_BASE_URL, help="example card: chat URL")
    parser.add_argument("--sms-number", default=EXAMPLE_SMS_NUMBER,
                        help='example card: SMS number ("" for none)')
    parser.add_argument("--dpi", type=int, default=300)
    args = parser.parse_args(argv)
    try:
        if args.pdf:
            pdf = Path(args.pdf).read_bytes()
        else:
            url = cards.chat_url(args.base_url, args.lang, args.source)
            pdf = cards.card_pdf(url, cards.card_texts(Catalog.load(), args.lang),
                                 args.sms_number or None)
        width, height = render_png(pdf, Path(args.out), args.dpi)
    except (OSError, cards.CardError, cards.FontsMissing, pdfium.PdfiumError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({width} x {height} px, {args.dpi} dpi)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
