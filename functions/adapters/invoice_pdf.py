"""The invoice as a PDF document, attached to the invoice email (R5).

This module lays out a document whose words are already chosen and formatted for the
contractor's language (``invoice_email`` does that); it knows nothing of languages or of
the billing rules. It is the only module that imports fpdf2, so only the function that
renders invoices loads it.

The document uses the PDF core font Helvetica, which embeds nothing and can show Latin-1
only: every text passes through ``latin1`` first, which replaces typographic characters
(narrow no-break spaces in Babel's times, curly quotes, dashes, ellipses) and drops
accents that Latin-1 lacks. The same document renders the same bytes: the creation date
is the invoice's issue instant and the file identifier is a hash of the content.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, TableCellFillMode, XPos, YPos
from fpdf.table import Table

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

_INK = (31, 41, 55)
_MUTED = (107, 114, 128)
_BRAND = (23, 63, 111)
_RULE = (209, 213, 219)
_STRIPE = (243, 244, 246)
_TONE_COLOURS = {
    "paid": (21, 128, 61),
    "open": _BRAND,
    "failed": (185, 28, 28),
}


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


class _InvoicePDF(FPDF):
    def __init__(self, document: InvoiceDocument) -> None:
        super().__init__(orientation="portrait", unit="mm", format="Letter")
        self.document = document

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", size=8)
        self.set_text_color(*_MUTED)
        page = self.document.page_label.format(page=self.page_no(), pages="{nb}")
        self.cell(
            0,
            5,
            latin1(
                f"{self.document.brand} \u00b7 {self.document.title} {self.document.invoice_id}"
            ),
            align="L",
        )
        self.set_x(self.l_margin)
        self.cell(0, 5, latin1(page), align="R")


def render_invoice_pdf(document: InvoiceDocument) -> bytes:
    """The invoice document as PDF bytes: US Letter, one or more pages."""
    pdf = _InvoicePDF(document)
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_creation_date(document.issued_at)
    pdf.set_title(latin1(f"{document.title} {document.invoice_id}"))
    pdf.set_author(latin1(document.brand))
    pdf.set_subject(latin1(f"{document.title} {document.invoice_id} - {document.business_name}"))
    pdf.set_lang(document.language)
    pdf.set_text_color(*_INK)
    pdf.set_draw_color(*_RULE)
    pdf.add_page()

    _masthead(pdf, document)
    _parties(pdf, document)
    _lines(pdf, document)
    _total(pdf, document)
    _section(
        pdf,
        document.payment_heading,
        document.payment,
        colour=_TONE_COLOURS[document.payment_tone],
        bar=True,
    )
    if document.steps_heading and document.steps:
        _section(pdf, document.steps_heading, document.steps, colour=_INK)
    _section(pdf, document.contact_heading, document.contact, colour=_INK)
    return bytes(pdf.output())


def _masthead(pdf: FPDF, document: InvoiceDocument) -> None:
    top = pdf.get_y()
    pdf.set_font("Helvetica", style="B", size=20)
    pdf.set_text_color(*_BRAND)
    pdf.cell(0, 10, latin1(document.brand), align="L")
    pdf.set_xy(pdf.l_margin, top)
    pdf.set_font("Helvetica", style="B", size=20)
    pdf.set_text_color(*_INK)
    pdf.cell(0, 10, latin1(document.title.upper()), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(
        0, 5, latin1(document.invoice_id), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(3)
    pdf.set_draw_color(*_BRAND)
    pdf.set_line_width(0.6)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    pdf.ln(6)


def _parties(pdf: FPDF, document: InvoiceDocument) -> None:
    """Who is billed, on the left; the invoice's number, date, kind and status, on the right."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    left_width = width * 0.48
    right_x = pdf.l_margin + width * 0.52
    right_width = width * 0.48
    top = pdf.get_y()

    pdf.set_font("Helvetica", style="B", size=8)
    pdf.set_text_color(*_MUTED)
    pdf.cell(
        left_width, 5, latin1(document.billed_to_label.upper()), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_font("Helvetica", style="B", size=12)
    pdf.set_text_color(*_INK)
    pdf.multi_cell(
        left_width,
        6,
        latin1(document.business_name),
        align="L",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font("Helvetica", size=10)
    for line in document.billed_to:
        pdf.multi_cell(left_width, 5, latin1(line), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_bottom = pdf.get_y()

    pdf.set_xy(right_x, top)
    label_width = right_width * 0.36
    for label, value in document.details:
        y = pdf.get_y()
        pdf.set_x(right_x)
        pdf.set_font("Helvetica", style="B", size=9)
        pdf.set_text_color(*_MUTED)
        pdf.multi_cell(label_width, 5, latin1(label), align="L", new_x=XPos.RIGHT, new_y=YPos.TOP)
        label_bottom = pdf.get_y() + 5
        pdf.set_xy(right_x + label_width, y)
        pdf.set_font("Helvetica", size=10)
        pdf.set_text_color(*_INK)
        pdf.multi_cell(
            right_width - label_width,
            5,
            latin1(value),
            align="L",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_y(max(pdf.get_y(), label_bottom) + 1)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)


def _lines(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_font("Helvetica", size=9)
    pdf.set_text_color(*_INK)
    headings = FontFace(emphasis="BOLD", color=_MUTED, fill_color=_STRIPE, size_pt=8)
    with pdf.table(
        col_widths=(30, 28, 26, 16),
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT"),
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=headings,
        line_height=5,
        padding=(1.8, 2),
        cell_fill_mode=TableCellFillMode.NONE,
        repeat_headings=1,
    ) as table:
        _table_row(table, [heading.upper() for heading in document.columns])
        for row in document.rows:
            _table_row(table, (row.date, row.category, row.lead_id, row.amount))


def _table_row(table: Table, cells: Sequence[str]) -> None:
    row = table.row()
    for text in cells:
        row.cell(latin1(text))


def _total(pdf: FPDF, document: InvoiceDocument) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.ln(2)
    pdf.set_font("Helvetica", style="B", size=12)
    pdf.set_text_color(*_INK)
    pdf.cell(width * 0.84, 8, latin1(document.total_label), align="R")
    pdf.cell(
        width * 0.16, 8, latin1(document.total), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    for label, amount in document.adjustments:
        pdf.cell(width * 0.84, 7, latin1(label), align="R")
        pdf.cell(width * 0.16, 7, latin1(amount), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(*_INK)
    pdf.line(pdf.l_margin + width * 0.6, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.set_draw_color(*_RULE)
    pdf.ln(8)


def _section(
    pdf: FPDF,
    heading: str,
    paragraphs: Sequence[str],
    *,
    colour: tuple[int, int, int],
    bar: bool = False,
) -> None:
    """A heading and its paragraphs, kept on one page when they fit on one."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    indent = 4 if bar else 0
    needed = 8 + sum(5 * (1 + len(text) // 95) + 2 for text in paragraphs)
    if pdf.get_y() + needed > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.set_text_color(*colour)
    pdf.set_x(pdf.l_margin + indent)
    pdf.cell(width - indent, 7, latin1(heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    pdf.set_text_color(*_INK)
    for text in paragraphs:
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(
            width - indent, 5, latin1(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        pdf.ln(1.5)
    if bar:
        pdf.set_fill_color(*colour)
        pdf.rect(pdf.l_margin, top + 1, 1.2, pdf.get_y() - top - 2.5, style="F")
    pdf.ln(4)
