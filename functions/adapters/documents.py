"""The invoice PDFs the emails carried, kept in S3 (R5, R13).

An invoice's PDF is kept under ``invoices/<invoice id>.pdf`` when its email is about to be
sent, and served later by ``GET /me/invoices/{invoice_id}/pdf``: rendering it again then
could give another document (the account's name, manager, language or grace end, or the
templates, may have changed since), so what was sent is what is kept.

Kept once: the first PDF stored for an invoice stays. The put is conditional
(``If-None-Match: *``, which S3 checks atomically), so a later send of the same invoice
(a retried send, a claim taken over) cannot replace it; ``store`` then answers the PDF
kept, and the email attaches that one. A head-then-put would leave a gap between the two
calls in which two senders both find nothing and the second replaces the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.billing.errors import StorageUnavailable

INVOICE_PREFIX = "invoices/"
CONTENT_TYPE = "application/pdf"
# The name the email gave the attachment, kept beside the bytes (S3 user metadata, ASCII).
_FILENAME = "filename"

# S3's answers to a conditional put: the key exists already (412), or another conditional
# write to it is under way (409).
_EXISTS = frozenset({"PreconditionFailed", "412"})
_CONFLICT = frozenset({"ConditionalRequestConflict", "409"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True, slots=True)
class InvoicePdf:
    """An invoice's PDF as its email carried it: the bytes and the attachment's name."""

    content: bytes
    filename: str


def invoice_key(invoice_id: str) -> str:
    return f"{INVOICE_PREFIX}{invoice_id}.pdf"


class InvoiceDocuments:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def store(self, invoice_id: str, pdf: bytes, filename: str) -> InvoicePdf:
        """Keep ``pdf`` as the invoice's PDF unless one is kept already; the PDF kept,
        which is the one to send."""
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=invoice_key(invoice_id),
                Body=pdf,
                ContentType=CONTENT_TYPE,
                Metadata={_FILENAME: filename},
                IfNoneMatch="*",
            )
        except ClientError as error:
            code = _code(error)
            kept = self.get(invoice_id) if code in _EXISTS | _CONFLICT else None
            if kept is None:  # refused, or the conflicting write did not complete
                raise StorageUnavailable(f"PDF of {invoice_id!r} not kept: {code}") from error
            return kept
        except BotoCoreError as error:
            raise StorageUnavailable(f"PDF of {invoice_id!r} not kept: {error}") from error
        return InvoicePdf(pdf, filename)

    def get(self, invoice_id: str) -> InvoicePdf | None:
        """The invoice's PDF as its email carried it; None before its email was sent."""
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=invoice_key(invoice_id))
            content = answer["Body"].read()
        except ClientError as error:
            code = _code(error)
            if code in _MISSING:
                return None
            raise StorageUnavailable(f"PDF of {invoice_id!r} not read: {code}") from error
        except BotoCoreError as error:
            raise StorageUnavailable(f"PDF of {invoice_id!r} not read: {error}") from error
        metadata = answer.get("Metadata") or {}
        return InvoicePdf(content, str(metadata.get(_FILENAME) or f"{invoice_id}.pdf"))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
