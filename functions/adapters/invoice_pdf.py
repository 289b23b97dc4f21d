"""The invoice as a PDF document, attached to the invoice email (R5).

This module holds the document: its words already chosen and formatted for the contractor's
language (``invoice_email`` does that); it knows nothing of languages or of the billing
rules. ``invoice_pdf_layout`` lays it out with fpdf2, the only module that imports fpdf2,
loaded by ``render_invoice_pdf`` when an invoice is first rendered: fpdf2, with Pillow and
fontTools, takes about as long to import as boto3, and every function that collects
payments imports this module at init, whether or not it renders an invoice.

The document uses the PDF core font Helvetica, which embeds nothing and can show Latin-1
only: every text passes through ``latin1`` first, which replaces typographic characters
(narrow no-break spaces in Babel's times, curly quotes, dashes, ellipses) and drops
accents that Latin-1 lacks. The same document renders the same bytes: the creation date
is the invoice's issue instant and the file identifier is a hash of the content.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Characters outside Latin-1 that the formatted texts commonly carry, and their stand-ins.
_LATIN1_STAND_INS = str.maketrans(
    {
        "\u2009": " ",  # thin space
        "\u202f": " ",  # narrow no-break space (Babel, before "PM" and "p.m.")
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u2022": "\u00b7",  # bullet -> middle dot
        "\u20ac": "EUR",
    }
)


class Tone(StrEnum):
    """How the payment section reads: settled, waiting for the charge, or needing action."""

    PAID = "paid"
    OPEN = "open"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    date: str
    category: str
    lead_id: str
    amount: str


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """An invoice with every word chosen and every value formatted for its reader."""

    language: str  # BCP 47, for the document's /Lang
    brand: str
    title: str  # "Invoice"
    invoice_id: str
    issued_at: datetime  # the creation date, so that a re-render gives the same bytes
    business_name: str
    billed_to_label: str
    billed_to: tuple[str, ...]  # lines under the business name
    details: tuple[tuple[str, str], ...]  # (label, value) beside "billed to"
    columns: tuple[str, str, str, str]  # date, category, lead id, amount
    rows: tuple[InvoiceRow, ...]
    total_label: str
    total: str
    payment_heading: str
    payment_tone: Tone
    payment: tuple[str, ...]  # paragraphs
    steps_heading: str | None  # what to do, when the payment failed
    steps: tuple[str, ...]
    contact_heading: str
    contact: tuple[str, ...]
    page_label: str  # "Page {page} of {pages}"
    # (label, amount) rows under the total: the credit applied and the amount due.
    adjustments: tuple[tuple[str, str], ...] = ()


def latin1(text: str) -> str:
    """``text`` with only characters the PDF core fonts can show."""
    text = text.translate(_LATIN1_STAND_INS)
    if all(ord(character) < 256 for character in text):
        return text
    kept = []
    for character in text:
        if ord(character) < 256:
            kept.append(character)
            continue
        # A letter with an accent Latin-1 lacks keeps its base letter (a macron, a caron).
        base = unicodedata.normalize("NFKD", character)
        latin = "".join(
            part for part in base if ord(part) < 256 and not unicodedata.combining(part)
        )
        kept.append(latin or "?")
    return "".join(kept)


def render_invoice_pdf(document: InvoiceDocument) -> bytes:
    """The invoice document as PDF bytes: US Letter, one or more pages."""
    from functions.adapters.invoice_pdf_layout import render

    return render(document)
