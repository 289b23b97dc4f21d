"""weekly_invoice against moto and localstripe: Friday and threshold invoices, collected
off-session, emailed once with their PDF (R3, R4, R5, R6)."""

from __future__ import annotations

import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import stripe
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from pypdf import PdfReader

from functions.adapters import payments as payments_adapter
from functions.adapters.models import AccountModel, InvoiceModel
from tests.integration.conftest import Clock
from tests.integration.steps import (
    deliver,
    events,
    lead,
    ledger,
    open_contractor,
    records_for,
    save_card,
)
from tests.support.aws import LambdaContext, Resources, sent_mail
from tests.support.cards import API_KEY, DECLINED_AT_CHARGE, intents_of
from tests.support.payments import Fault, FaultyHttpClient

# Friday 20 November 2026, 06:00 in Chicago, when the Chicago schedule fires
FRIDAY_MORNING = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def invoke(module, event: dict[str, Any]) -> Any:
    return module.handler(event, LambdaContext(function_name="weekly_invoice"))


def work_messages(module) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    records = []
    while True:
        got = sqs.receive_message(
            QueueUrl=module.settings.invoice_queue_url, MaxNumberOfMessages=10
        )
        messages = got.get("Messages", [])
        if not messages:
            return records
        for message in messages:
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test-invoice-work",
                    "awsRegion": "us-east-1",
                }
            )
            sqs.delete_message(
                QueueUrl=module.settings.invoice_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


@pytest.fixture
def cid() -> str:
    """A contractor id of this test alone: localstripe outlives each test's moto state."""
    return f"c-{uuid.uuid4().hex[:8]}"


def friday_run(module, clock: Clock) -> list[dict[str, Any]]:
    clock.current = FRIDAY_MORNING
    invoke(module, {"run": "weekly", "timezone": "America/Chicago"})
    return work_messages(module)


def test_r3_r6_the_friday_run_invoices_charges_and_emails_each_billable_account(
    on_lead, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    # Given two accounts with unbilled leads and one with none
    open_contractor(cid)
    open_contractor("c-2")
    open_contractor("c-idle")
    save_card(localstripe, cid)
    save_card(localstripe, "c-2")
    deliver(on_lead, records_for(aws, [lead("A1", 4_500, cid), lead("A2", 3_000, cid)]))
    deliver(on_lead, records_for(aws, [lead("B1", 2_000, "c-2")]))
    events(aws)  # the leads' own events
    # When the Chicago schedule fires on Friday and its work is processed
    messages = friday_run(weekly_invoice, clock)
    assert sorted(json.loads(m["body"])["contractor_id"] for m in messages) == sorted([cid, "c-2"])
    assert invoke(weekly_invoice, {"Records": messages}) == {"batchItemFailures": []}
    # Then each is paid by one PaymentIntent for its total
    first = InvoiceModel.get(f"{cid}~W2026-11-20")
    assert (first.status, int(first.total_cents), first.kind) == ("paid", 7_500, "weekly")
    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    [intent] = intents_of(api, f"{cid}~W2026-11-20")
    assert (intent.status, intent.amount) == ("succeeded", 7_500)
    assert [entry.amount_cents for entry in ledger(cid, kind="payment")] == [7_500]
    assert AccountModel.get("c-idle").invoice_sequence == 0
    # And one email each, with the PDF
    mails = sent_mail()
    assert sorted(mail["To"] for mail in mails) == ["billing@acme.example"] * 2
    kinds = {e["detail-type"] for e in events(aws)}
    assert {"InvoiceIssued", "InvoicePaid"} <= kinds


def test_r3_the_same_friday_delivered_twice_issues_and_charges_nothing_more(
    on_lead, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    open_contractor(cid)
    save_card(localstripe, cid)
    deliver(on_lead, records_for(aws, [lead("A1", 4_500, cid)]))
    messages = friday_run(weekly_invoice, clock)
    invoke(weekly_invoice, {"Records": messages})
    # The schedule fires again, and the work message is redelivered too
    again = friday_run(weekly_invoice, clock)
    assert again == []  # nothing billable left in Chicago
    invoke(weekly_invoice, {"Records": messages})
    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    assert len(intents_of(api, f"{cid}~W2026-11-20")) == 1
    assert len(list(InvoiceModel.scan())) == 1
    assert len(sent_mail()) == 1


def test_r6_a_declined_card_makes_the_invoice_past_due_with_its_decline_code(
    on_lead, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    open_contractor(cid)
    save_card(localstripe, cid, DECLINED_AT_CHARGE)
    deliver(on_lead, records_for(aws, [lead("A1", 4_500, cid)]))
    invoke(weekly_invoice, {"Records": friday_run(weekly_invoice, clock)})
    invoice = InvoiceModel.get(f"{cid}~W2026-11-20")
    assert invoice.status == "past_due"
    [attempt] = invoice.attempts
    assert attempt.outcome == "declined"
    assert attempt.decline_code
    item = AccountModel.get(cid)
    assert int(item.past_due_cents) == 4_500
    assert item.first_failure_at == "2026-11-20T12:00:00.000000Z"
    failed = [e for e in events(aws) if e["detail-type"] == "PaymentFailed"]
    assert [e["detail"]["invoice_id"] for e in failed] == [f"{cid}~W2026-11-20"]
    [mail] = sent_mail()
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Pro App" in text and "Lead Manager" in text
    # R9, R14: the grace end the failure stored, 168 h later, in the account's local time
    assert item.grace_ends_at == "2026-11-27T12:00:00.000000Z"
    assert "November 27, 2026" in text and "6:00\u202fAM" in text and "CST" in text


def test_r6_an_account_without_a_card_is_past_due_with_reason_no_card(
    on_lead, weekly_invoice, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid)
    deliver(on_lead, records_for(aws, [lead("A1", 4_500, cid)]))
    invoke(weekly_invoice, {"Records": friday_run(weekly_invoice, clock)})
    invoice = InvoiceModel.get(f"{cid}~W2026-11-20")
    assert (invoice.status, invoice.attempts[0].outcome) == ("past_due", "no_card")


@pytest.mark.parametrize(
    ("locale", "subject_word", "paid_with", "line_date"),
    [
        ("en", "paid", "Visa ending in 4242", "Nov 20, 2026"),
        ("es", "pagada", "Visa terminada en 4242", "20 nov 2026"),
    ],
)
def test_r5_the_email_carries_every_lead_the_total_and_a_pdf_with_the_same_total(
    on_lead,
    weekly_invoice,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
    locale,
    subject_word,
    paid_with,
    line_date,
):
    open_contractor(cid, locale=locale)
    save_card(localstripe, cid)
    deliver(on_lead, records_for(aws, [lead("A1", 4_500, cid), lead("A2", 3_050, cid)]))
    invoke(weekly_invoice, {"Records": friday_run(weekly_invoice, clock)})
    [mail] = sent_mail()
    assert mail["To"] == "billing@acme.example"
    assert subject_word in mail["Subject"] and "$75.50" in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert "$75.50" in body and "$45.00" in body and "$30.50" in body
        assert "A1" in body and "A2" in body and "roofing" in body
        assert line_date in body
        assert paid_with in body
        assert "(866) 332-7134" in body and "support@craftjack.com" in body
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    pdf = PdfReader(io.BytesIO(attachment.get_content()))
    assert "$75.50" in "".join(page.extract_text() for page in pdf.pages)


@pytest.mark.parametrize("unbilled", [19_999, 20_000, 20_001])
def test_r4_reaching_the_threshold_invoices_at_once(
    on_lead, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str, unbilled: int
):
    open_contractor(cid)
    save_card(localstripe, cid)
    deliver(on_lead, records_for(aws, [lead("A1", unbilled, cid)]))
    item = AccountModel.get(cid)
    # The threshold trigger's filter: the accounts stream record with invoice_due true
    if unbilled < 20_000:
        assert item.invoice_due is False
        return
    assert item.invoice_due is True
    record = {
        "eventID": "1",
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"contractor_id": {"S": cid}},
            "NewImage": item.serialize() | {"contractor_id": {"S": cid}},
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    assert invoke(weekly_invoice, {"Records": [record]}) == {"batchItemFailures": []}
    invoice = InvoiceModel.get(f"{cid}~T000001")
    assert (invoice.kind, invoice.status, int(invoice.total_cents)) == (
        "threshold",
        "paid",
        unbilled,
    )
    # A repeat of the record (or a second crossing record) gives no second invoice
    invoke(weekly_invoice, {"Records": [record]})
    assert len(list(InvoiceModel.scan())) == 1
    assert AccountModel.get(cid).invoice_due is False


@pytest.mark.parametrize(
    ("friday", "new_york_six_am", "los_angeles_six_am"),
    [
        # A week in daylight saving time, and the first week after it ended (1 Nov 2026)
        ("2026-10-30", "2026-10-30T10:00:00Z", "2026-10-30T13:00:00Z"),
        ("2026-11-06", "2026-11-06T11:00:00Z", "2026-11-06T14:00:00Z"),
    ],
)
def test_r3_each_timezone_is_invoiced_on_its_own_friday(
    on_lead,
    weekly_invoice,
    aws: Resources,
    clock: Clock,
    friday,
    new_york_six_am,
    los_angeles_six_am,
):
    open_contractor("ny", timezone="America/New_York", signup=datetime(2026, 10, 1, tzinfo=UTC))
    open_contractor("la", timezone="America/Los_Angeles", signup=datetime(2026, 10, 1, tzinfo=UTC))
    delivered = f"{friday}T01:00:00Z"  # Thursday evening in both zones
    clock.current = datetime.fromisoformat(delivered)
    deliver(on_lead, records_for(aws, [lead("N1", 1_000, "ny", delivered)]))
    deliver(on_lead, records_for(aws, [lead("L1", 2_000, "la", delivered)]))

    # The New York schedule fires at 06:00 in New York: New York's Friday, not Los Angeles's
    clock.current = datetime.fromisoformat(new_york_six_am)
    invoke(weekly_invoice, {"run": "weekly", "timezone": "America/New_York"})
    ny_work = work_messages(weekly_invoice)
    assert [json.loads(m["body"]) for m in ny_work] == [{"contractor_id": "ny", "friday": friday}]
    invoke(weekly_invoice, {"Records": ny_work})

    clock.current = datetime.fromisoformat(los_angeles_six_am)
    invoke(weekly_invoice, {"run": "weekly", "timezone": "America/Los_Angeles"})
    la_work = work_messages(weekly_invoice)
    assert [json.loads(m["body"]) for m in la_work] == [{"contractor_id": "la", "friday": friday}]
    invoke(weekly_invoice, {"Records": la_work})

    issued = sorted(item.invoice_id for item in InvoiceModel.scan())
    assert issued == [f"la~W{friday}", f"ny~W{friday}"]


def test_r3_a_schedule_firing_outside_friday_queues_nothing(
    on_lead, weekly_invoice, aws: Resources, clock: Clock
):
    open_contractor("c-1")
    deliver(on_lead, records_for(aws, [lead("A1", 1_000, "c-1")]))
    # Thursday 23:30 in Chicago is already Friday in UTC
    clock.current = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
    assert invoke(weekly_invoice, {"run": "weekly", "timezone": "America/Chicago"}) == {"queued": 0}
    assert work_messages(weekly_invoice) == []


def threshold_record(contractor_id: str, sequence: str = "1") -> dict[str, Any]:
    item = AccountModel.get(contractor_id, consistent_read=True)
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"contractor_id": {"S": contractor_id}},
            "NewImage": item.serialize() | {"contractor_id": {"S": contractor_id}},
            "SequenceNumber": sequence,
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def test_r4_a_threshold_invoice_on_thursday_then_friday_bills_only_later_leads(
    on_lead, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    open_contractor(cid)
    save_card(localstripe, cid)
    thursday = "2026-11-19T10:00:00-06:00"
    clock.set(thursday)
    deliver(on_lead, records_for(aws, [lead("T1", 15_000, cid, thursday)]))
    deliver(on_lead, records_for(aws, [lead("T2", 6_000, cid, thursday)]))
    invoke(weekly_invoice, {"Records": [threshold_record(cid)]})
    clock.set("2026-11-19T18:00:00-06:00")
    deliver(on_lead, records_for(aws, [lead("F1", 1_200, cid, "2026-11-19T18:00:00-06:00")]))

    invoke(weekly_invoice, {"Records": friday_run(weekly_invoice, clock)})

    threshold = InvoiceModel.get(f"{cid}~T000001")
    weekly = InvoiceModel.get(f"{cid}~W2026-11-20")
    assert [line.lead_id for line in threshold.lines] == ["T1", "T2"]
    assert [line.lead_id for line in weekly.lines] == ["F1"]
    assert (threshold.status, weekly.status) == ("paid", "paid")


def test_r4_two_crossings_at_once_give_one_invoice(
    on_lead, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    open_contractor(cid)
    save_card(localstripe, cid)
    deliver(on_lead, records_for(aws, [lead("X1", 20_000, cid), lead("X2", 500, cid)]))
    first, second = threshold_record(cid, "1"), threshold_record(cid, "2")
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda record: weekly_invoice.run.threshold(
                    cid, int(record["dynamodb"]["NewImage"]["invoice_sequence"]["N"]), clock.now()
                ),
                [first, second],
            )
        )
    [invoice] = list(InvoiceModel.scan())
    assert (invoice.invoice_id, invoice.status) == (f"{cid}~T000001", "paid")
    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    assert len(intents_of(api, f"{cid}~T000001")) == 1
    assert AccountModel.get(cid).unbilled_cents == 0


def test_r6_a_charge_whose_answer_never_came_is_retried_and_charges_once(
    on_lead,
    weekly_invoice,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
    monkeypatch: pytest.MonkeyPatch,
):
    open_contractor(cid)
    save_card(localstripe, cid)
    deliver(on_lead, records_for(aws, [lead("A1", 4_500, cid)]))
    # Given Stripe makes the charge but its answer is lost, and then answers every retry
    # of the same key with a 500 (localstripe ignores idempotency keys, so the retries
    # must not reach it)
    http = FaultyHttpClient()
    http.fail_next(Fault.LOST_ANSWER, *[Fault.SERVER_ERROR] * 3)
    original = payments_adapter.stripe_client
    monkeypatch.setattr(
        payments_adapter,
        "stripe_client",
        lambda key, base=None: original(key, base, http_client=http),
    )
    monkeypatch.setattr(payments_adapter.time, "sleep", lambda seconds: None)
    payments_adapter.stripe_payments.cache_clear()
    messages = friday_run(weekly_invoice, clock)
    # When the work message is processed, the outcome stays unknown: the message fails
    # (its whole batch, here), so the queue delivers it again
    with pytest.raises(BatchProcessingError, match="All records failed"):
        invoke(weekly_invoice, {"Records": messages})
    invoice_id = f"{cid}~W2026-11-20"
    assert InvoiceModel.get(invoice_id).attempts[0].outcome == "unknown"
    assert sent_mail() == []
    # A redelivery while the attempt may still be under way elsewhere leaves it alone
    with pytest.raises(BatchProcessingError, match="All records failed"):
        invoke(weekly_invoice, {"Records": messages})
    # Then the redelivery after the visibility timeout finds the payment in Stripe's
    # records instead of charging again
    clock.current += timedelta(seconds=720)
    assert invoke(weekly_invoice, {"Records": messages}) == {"batchItemFailures": []}
    invoice = InvoiceModel.get(invoice_id)
    assert invoice.status == "paid"
    assert len(invoice.attempts) == 1
    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    assert [intent.status for intent in intents_of(api, invoice_id)] == ["succeeded"]
    assert len(sent_mail()) == 1
