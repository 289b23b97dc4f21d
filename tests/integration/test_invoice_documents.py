"""``GET /me/invoices/{invoice_id}/pdf`` against moto and localstripe (R5, R13): the PDF
the contractor downloads is the very PDF its invoice's email carried, kept in the documents
bucket when the email was sent, never rendered again; another contractor learns nothing
of it."""

from __future__ import annotations

import base64
import io
import json
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from pypdf import PdfReader

from functions.adapters.accounts import AccountStore
from functions.adapters.documents import InvoiceDocuments, InvoicePdf, invoice_key
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.mailer import SesMailer
from functions.adapters.models import AccountModel, InvoiceModel
from functions.billing.errors import StorageUnavailable
from functions.billing.invoices import InvoiceKind, InvoiceStatus, weekly_invoice_id
from functions.weekly_invoice.billing_run import WeeklyWork
from tests.integration.conftest import Clock
from tests.integration.steps import deliver, lead, open_contractor, records_for, save_card
from tests.support.aws import DOCUMENTS_BUCKET, LambdaContext, Resources, rest_event, sent_mail

# Friday 20 November 2026, 06:00 in Chicago, when the Chicago schedule fires
FRIDAY_MORNING = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FRIDAY = FRIDAY_MORNING.date()


@pytest.fixture
def cid() -> str:
    """A contractor id of this test alone: localstripe outlives each test's moto state."""
    return f"c-{uuid.uuid4().hex[:8]}"


def get_pdf(
    api: ModuleType, invoice_id: str, contractor: str, accept: str = "application/pdf"
) -> dict[str, Any]:
    """The api function's answer to the contractor's ``GET /me/invoices/<id>/pdf``, as
    API Gateway's proxy integration receives it."""
    event = rest_event("GET", f"/me/invoices/{invoice_id}/pdf")
    event["headers"]["Accept"] = accept
    event["multiValueHeaders"]["Accept"] = [accept]
    event["pathParameters"] = {"invoice_id": invoice_id}
    event["requestContext"]["authorizer"] = {
        "claims": {"username": contractor, "scope": "billing/contractor"}
    }
    return dict(api.handler(event, LambdaContext(function_name="api")))


def pdf_of(answer: dict[str, Any]) -> bytes:
    assert answer["isBase64Encoded"] is True
    return base64.b64decode(answer["body"])


def header(answer: dict[str, Any], name: str) -> str:
    headers = {key.lower(): value for key, value in (answer.get("headers") or {}).items()}
    for key, values in (answer.get("multiValueHeaders") or {}).items():
        headers.setdefault(key.lower(), values[-1])
    return str(headers[name.lower()])


def attachment_of(mail: Any) -> tuple[str, bytes]:
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    return attachment.get_filename(), attachment.get_content()


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def friday_invoice(
    weekly_invoice: ModuleType, on_lead: ModuleType, aws: Resources, cid: str
) -> str:
    """A lead on Wednesday, then the Friday run's work for the account; the invoice id."""
    deliver(
        on_lead, records_for(aws, [lead(f"{cid}-L1", 4_500, cid, at="2026-11-18T09:00:00-06:00")])
    )
    invoice = weekly_invoice.run.weekly(WeeklyWork(cid, FRIDAY), FRIDAY_MORNING)
    assert invoice is not None
    return str(invoice.invoice_id)


def kept_versions(invoice_id: str) -> list[dict[str, Any]]:
    versions = boto3.client("s3").list_object_versions(
        Bucket=DOCUMENTS_BUCKET, Prefix=invoice_key(invoice_id)
    )
    return list(versions.get("Versions", []))


# ------------------------------------------------------------ the PDF the email carried


def test_r13_the_pdf_served_is_byte_for_byte_the_one_the_email_carried(
    on_lead, weekly_invoice, api, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    # Given an invoice that the Friday run charged and emailed
    open_contractor(cid)
    save_card(localstripe, cid)
    clock.current = FRIDAY_MORNING
    invoice_id = friday_invoice(weekly_invoice, on_lead, aws, cid)
    [mail] = sent_mail()
    filename, attached = attachment_of(mail)
    # When its contractor asks for its PDF
    answer = get_pdf(api, invoice_id, cid)
    # Then the answer is the attachment, byte for byte, base64-encoded for API Gateway
    assert answer["statusCode"] == 200
    assert header(answer, "Content-Type") == "application/pdf"
    served = pdf_of(answer)
    assert served.startswith(b"%PDF")
    assert served == attached
    assert header(answer, "Content-Disposition") == f'inline; filename="{filename}"'
    assert filename == f"CraftJack-invoice-{cid}-W2026-11-20.pdf"
    # And it was kept once, under invoices/<invoice id>.pdf, as a PDF
    [version] = kept_versions(invoice_id)
    kept = boto3.client("s3").head_object(Bucket=DOCUMENTS_BUCKET, Key=invoice_key(invoice_id))
    assert kept["ContentType"] == "application/pdf"
    assert version["IsLatest"] is True


def test_r5_an_email_sent_again_carries_the_pdf_kept_first_and_does_not_replace_it(
    on_lead,
    weekly_invoice,
    api,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
    monkeypatch: pytest.MonkeyPatch,
):
    # Given an invoice whose first send failed after its PDF was kept
    open_contractor(cid)
    save_card(localstripe, cid)
    clock.current = FRIDAY_MORNING

    def ses_down(self: SesMailer, to: str, email: Any) -> str:
        raise RuntimeError("SES is unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(SesMailer, "send", ses_down)
        with pytest.raises(RuntimeError, match="SES is unavailable"):
            friday_invoice(weekly_invoice, on_lead, aws, cid)
    invoice_id = f"{cid}~W2026-11-20"
    assert sent_mail() == []
    assert InvoiceModel.get(invoice_id).email_claimed_at is None  # given back
    [first] = kept_versions(invoice_id)
    # And the account changed its name before the retry, so a new rendering would differ
    AccountModel(cid).update(actions=[AccountModel.business_name.set("Zenith Gutters")])
    # When the work is delivered again and the email goes out
    assert weekly_invoice.run.weekly(WeeklyWork(cid, FRIDAY), FRIDAY_MORNING) is not None
    # Then the email carries the PDF kept the first time, which is still the only version
    [mail] = sent_mail()
    _, attached = attachment_of(mail)
    assert "Acme Roofing" in text_of(attached)
    assert "Zenith Gutters" not in text_of(attached)
    assert kept_versions(invoice_id) == [first]
    assert pdf_of(get_pdf(api, invoice_id, cid)) == attached


def test_r5_keeping_the_pdf_twice_keeps_the_first_and_answers_it(aws: Resources):
    documents = InvoiceDocuments(boto3.client("s3"), DOCUMENTS_BUCKET)

    first = documents.store("c-1~W2026-11-20", b"%PDF-first", "first.pdf")
    again = documents.store("c-1~W2026-11-20", b"%PDF-second", "second.pdf")

    assert first == again == InvoicePdf(b"%PDF-first", "first.pdf")
    assert documents.get("c-1~W2026-11-20") == first
    assert len(kept_versions("c-1~W2026-11-20")) == 1
    assert documents.get("c-1~W2026-11-27") is None


def test_r5_a_pdf_that_cannot_be_kept_sends_nothing_and_gives_the_claim_back(
    on_lead,
    weekly_invoice,
    api,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
    monkeypatch: pytest.MonkeyPatch,
):
    # Given the bucket refuses the PDF while the Friday run emails the invoice
    open_contractor(cid)
    save_card(localstripe, cid)
    clock.current = FRIDAY_MORNING

    def bucket_down(self: InvoiceDocuments, invoice_id: str, pdf: bytes, name: str) -> Any:
        raise StorageUnavailable("S3 is unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(InvoiceDocuments, "store", bucket_down)
        with pytest.raises(StorageUnavailable):
            friday_invoice(weekly_invoice, on_lead, aws, cid)
    invoice_id = f"{cid}~W2026-11-20"
    # Then nothing was sent, the claim is given back, and there is no PDF to download yet
    assert InvoiceModel.get(invoice_id).status == "paid"
    assert sent_mail() == []
    assert InvoiceModel.get(invoice_id).email_claimed_at is None
    answer = get_pdf(api, invoice_id, cid)
    assert answer["statusCode"] == 404
    body = json.loads(answer["body"])
    assert body["error"] == "document_not_ready"
    assert "email" in body["message"]
    # When the work is delivered again, the email goes out and its PDF is served
    weekly_invoice.run.weekly(WeeklyWork(cid, FRIDAY), FRIDAY_MORNING)
    [mail] = sent_mail()
    assert pdf_of(get_pdf(api, invoice_id, cid)) == attachment_of(mail)[1]


def test_r11_an_invoice_emailed_by_card_updated_keeps_its_pdf_too(
    on_lead,
    weekly_invoice,
    card_updated,
    api,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
    monkeypatch: pytest.MonkeyPatch,
):
    # Given an invoice collected by the Friday run but not emailed (its PDF was refused)
    open_contractor(cid)
    save_card(localstripe, cid)
    clock.current = FRIDAY_MORNING
    with monkeypatch.context() as patched:
        patched.setattr(
            InvoiceDocuments,
            "store",
            lambda *args: (_ for _ in ()).throw(StorageUnavailable("S3 is unavailable")),
        )
        with pytest.raises(StorageUnavailable):
            friday_invoice(weekly_invoice, on_lead, aws, cid)
    invoice_id = f"{cid}~W2026-11-20"
    # When card_updated's collection emails it (as after a webhook settles an attempt)
    invoice = InvoiceStore().get(invoice_id)
    assert invoice is not None
    card_updated.collection.email(invoice, AccountStore().get(cid), FRIDAY_MORNING)
    # Then its PDF is kept in the same bucket and served as the email carried it
    [mail] = sent_mail()
    assert pdf_of(get_pdf(api, invoice_id, cid)) == attachment_of(mail)[1]


# ------------------------------------------------------------ tenant isolation


def test_r13_another_contractors_invoice_pdf_is_a_404_like_an_unknown_invoice(
    on_lead, weekly_invoice, api, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    # Given B's invoice, emailed with its PDF
    open_contractor(cid)
    open_contractor("c-other")
    save_card(localstripe, cid)
    clock.current = FRIDAY_MORNING
    invoice_id = friday_invoice(weekly_invoice, on_lead, aws, cid)
    [mail] = sent_mail()
    _, attached = attachment_of(mail)
    # When A asks for it, and for an invoice that does not exist
    theirs = get_pdf(api, invoice_id, "c-other")
    unknown = get_pdf(api, "c-other~W2026-11-20", "c-other")
    # Then both are the same 404, and A gets none of B's bytes
    assert theirs["statusCode"] == unknown["statusCode"] == 404
    assert theirs["isBase64Encoded"] is False
    assert json.loads(theirs["body"])["error"] == "invoice_not_found"
    assert json.loads(theirs["body"]).keys() == json.loads(unknown["body"]).keys()
    assert json.loads(theirs["body"])["message"] == f"no invoice {invoice_id!r}"
    assert base64.b64encode(attached).decode()[:64] not in theirs["body"]
    assert cid not in json.dumps({k: v for k, v in theirs.items() if k != "body"})
    # And B still gets it
    assert pdf_of(get_pdf(api, invoice_id, cid)) == attached


def test_r13_a_pdf_route_without_a_contractor_is_refused(api):
    event = rest_event("GET", "/me/invoices/c-1~W2026-11-20/pdf")
    event["pathParameters"] = {"invoice_id": "c-1~W2026-11-20"}
    answer = api.handler(event, LambdaContext(function_name="api"))
    assert answer["statusCode"] == 401


def test_r13_an_invoice_id_longer_than_any_is_refused(api):
    answer = get_pdf(api, "c-1~" + "W" * 200, "c-1")
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error"] == "invalid_request"


def test_r13_an_invoice_not_emailed_yet_has_no_pdf_to_download(
    on_lead, api, aws: Resources, clock: Clock, cid: str
):
    # Given an invoice issued whose collection has no outcome yet, so no email either
    open_contractor(cid)
    clock.current = FRIDAY_MORNING
    deliver(
        on_lead, records_for(aws, [lead(f"{cid}-L1", 4_500, cid, at="2026-11-18T09:00:00-06:00")])
    )
    invoice = InvoiceStore().issue(
        cid, weekly_invoice_id(cid, FRIDAY), InvoiceKind.WEEKLY, FRIDAY_MORNING
    )
    assert invoice is not None and invoice.status is InvoiceStatus.OPEN
    # When the contractor asks for its PDF
    answer = get_pdf(api, invoice.invoice_id, cid)
    # Then the answer says it is not ready yet, in JSON
    assert answer["statusCode"] == 404
    assert header(answer, "Content-Type") == "application/json"
    body = json.loads(answer["body"])
    assert body["error"] == "document_not_ready"
    assert "once its email has been sent" in body["message"]
