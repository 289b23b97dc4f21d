"""``GET /me/invoices/{invoice_id}/pdf`` through the local stack of `make run` (R5, R13):
the contractor downloads, with its own token, the very PDF its invoice's email carried,
kept in the template's documents bucket and decoded from base64 by the gateway as API
Gateway does for ``application/pdf``."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import names
from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

CONTRACTOR = "e2e-invoice-pdf"
OTHER = "e2e-invoice-pdf-other"
# Friday 7 March 2025, 06:05 in Chicago (before DST): the Chicago schedule has fired.
FRIDAY = "2025-03-07T12:05:00Z"


def get_pdf(local: LocalClient, invoice_id: str, contractor: str):
    return local.request(
        "GET",
        f"/me/invoices/{invoice_id}/pdf",
        token=local.contractor_token(contractor),
        headers={"Accept": "application/pdf"},
    )


def test_the_contractor_downloads_the_pdf_its_invoice_email_carried(local: LocalClient):
    # Given an account without a card, and another account
    for contractor in (CONTRACTOR, OTHER):
        created = local.create_account(
            contractor_id=contractor, billing_email=f"{contractor}@pdf.example"
        )
        assert created.status_code == 201, created.text
    # And a lead delivered on Wednesday
    local.put_lead(contractor_id=CONTRACTOR, price_cents=4_500)
    local.advance(1)
    assert local.admin("GET", f"/admin/accounts/{CONTRACTOR}/invoices").json()["items"] == []
    # When Friday's run invoices it (no card: past due) and emails it with its PDF
    local.set_clock(FRIDAY)
    [summary] = local.admin("GET", f"/admin/accounts/{CONTRACTOR}/invoices").json()["items"]
    invoice_id = summary["invoice_id"]
    assert summary["status"] == "past_due"
    [mail] = [m for m in local.emails() if m["to"] == [f"{CONTRACTOR}@pdf.example"]]
    [attachment] = [a for a in mail["attachments"] if a["content_type"] == "application/pdf"]
    attached = Path(attachment["path"]).read_bytes()
    # Then the contractor's download through the gateway is that attachment, byte for byte
    answer = get_pdf(local, invoice_id, CONTRACTOR)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    assert answer.content == attached
    assert answer.headers["Content-Disposition"] == f'inline; filename="{attachment["filename"]}"'
    # And it is the PDF kept in the template's documents bucket, under invoices/<id>.pdf
    bucket = documents_bucket(local)
    kept = local.stack.client("s3").get_object(Bucket=bucket, Key=f"invoices/{invoice_id}.pdf")
    assert kept["ContentType"] == "application/pdf"
    assert kept["Body"].read() == attached
    # And another contractor gets the 404 of an unknown invoice, and none of the bytes
    theirs = get_pdf(local, invoice_id, OTHER)
    unknown = get_pdf(local, f"{OTHER}~W2025-03-07", OTHER)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"] == unknown.json()["error"] == "invoice_not_found"
    assert b"%PDF" not in theirs.content


def documents_bucket(local: LocalClient) -> str:
    """The template's documents bucket, among the stack's buckets (the page's is another)."""
    [bucket] = [
        name
        for name in local.config["buckets"].values()
        if names.DOCUMENTS_BUCKET_LOGICAL_ID.lower() in name.lower()
    ]
    return str(bucket)


def test_the_pdf_route_needs_a_contractor_token(local: LocalClient):
    answer = local.request("GET", f"/me/invoices/{CONTRACTOR}~W2025-03-07/pdf")
    assert answer.status_code == 401


def test_the_documents_bucket_is_created_from_the_template_versioned(local: LocalClient):
    bucket = documents_bucket(local)
    versioning = local.stack.client("s3").get_bucket_versioning(Bucket=bucket)
    assert versioning["Status"] == "Enabled"
    # Its TLS-only bucket policy has no local counterpart, and is not reported as missing
    assert not [note for note in local.stack.notes if "AWS::S3::" in note]
