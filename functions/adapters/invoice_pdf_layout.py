"""The invoice document laid out with fpdf2 (``invoice_pdf`` holds the document).

Imported by ``invoice_pdf.render_invoice_pdf`` when an invoice is first rendered, so that
a function that never renders one never loads fpdf2, Pillow and fontTools, which take
about as long to import as boto3 itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, TableCellFillMode, XPos, YPos
from fpdf.table import Table

from functions.adapters.invoice_pdf import InvoiceDocument, latin1

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


def render(document: InvoiceDocument) -> bytes:
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
