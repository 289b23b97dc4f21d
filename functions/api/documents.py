"""``GET /me/invoices/{invoice_id}/pdf`` (R13): the PDF the invoice's email carried (R5),
byte for byte, as ``weekly_invoice`` or ``card_updated`` kept it before sending the email
(``functions.adapters.documents``). It is never rendered again here: the account and the
templates may have changed since.

API Gateway hands binary bodies over base64-encoded: Powertools encodes a ``bytes`` body
and sets ``isBase64Encoded``, and API Gateway decodes it for a client whose ``Accept``
names ``application/pdf``, one of the API's binary media types (``infra/api.py``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from functions.adapters.documents import CONTENT_TYPE
from functions.api.services import current
from functions.billing.errors import InvoiceNotFound

NOT_READY = "document_not_ready"
# An invoice id: a contractor id (at most 128 characters), ``~`` and the invoice's name.
INVOICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:~-]{0,159}$"
InvoiceId = Annotated[str, Path(min_length=1, max_length=160, pattern=INVOICE_ID_PATTERN)]
# What a filename may hold inside the quotes of a Content-Disposition header.
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")

RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "The invoice's PDF, as its email carried it",
        "content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    404: {
        "description": "No such invoice of this contractor (`invoice_not_found`, the same "
        "answer for another contractor's invoice), or its email has not been sent yet "
        f"(`{NOT_READY}`)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["error", "message"],
                }
            }
        },
    },
}


def invoice_pdf(contractor_id: str, invoice_id: str) -> Response[Any]:
    """The PDF of ``contractor_id``'s invoice ``invoice_id``.

    Raises ``InvoiceNotFound`` for an invoice that does not exist and for another
    contractor's alike, so the answer tells nothing of other accounts' invoices.
    """
    services = current()
    invoice = services.invoices.get(invoice_id)
    if invoice is None or invoice.contractor_id != contractor_id:
        raise InvoiceNotFound(invoice_id)
    pdf = services.documents.get(invoice_id)
    if pdf is None:
        return Response(
            404,
            "application/json",
            {
                "error": NOT_READY,
                "message": f"the PDF of invoice {invoice_id!r} is ready once its email has "
                "been sent, when its payment has an outcome; retry later",
            },
        )
    filename = _UNSAFE_FILENAME.sub("-", pdf.filename).strip("-") or "invoice.pdf"
    return Response(
        200,
        CONTENT_TYPE,
        pdf.content,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
        # fpdf2 compresses the PDF's streams already; gzip would only cost time.
        compress=False,
    )
