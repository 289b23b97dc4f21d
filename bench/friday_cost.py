"""3. Friday cost: the real weekly_invoice handler's Friday run, in moto and localstripe.

Accounts are opened in one timezone; some have unbilled charges (written by the real
charge transaction, ``LeadCharges``) and a card on file. The Chicago schedule's event runs
the fan-out, then every work message goes through the handler ten at a time, as the work
queue's mapping hands them over (the queue's own requests, made here for the poller, are
not counted). What the handler asks of DynamoDB, Stripe and SES is counted as it leaves
the process (``bench.counting``).

The reference for DynamoDB is what must be read to invoice a billable account: the
account's entry in the billable index (to know it is billable), the account (its card,
address, language, unbilled total) and each unbilled charge (the invoice's lines).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.aws import SIGNUP, TIMEZONE, handler, moto_in_process, set_clock
from bench.counting import LOG, Snapshot
from bench.report import REPO_ROOT, Figure, Section, Table
from functions.adapters.accounts import card_item, item_from_account, period_entry
from functions.adapters.lead_charges import LeadCharges
from functions.adapters.models import AccountModel, InvoiceModel, LedgerEntryModel
from functions.billing.account import open_account
from functions.billing.leads import Lead
from functions.billing.money import Money
from infra.weekly_invoice import WORK_BATCH_SIZE
from tests.support.aws import LambdaContext

# Friday 20 November 2026, 06:00:30 in Chicago: the schedule has just fired.
FRIDAY = datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC)
DELIVERED = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)  # Thursday, 09:00 in Chicago
LOG_DIR = REPO_ROOT / "build" / "bench"


def _open_accounts(count: int) -> list[str]:
    """Accounts written in batches, as the operator API would have opened them."""
    ids = [f"acct-{number:06d}" for number in range(count)]
    with AccountModel.batch_write() as accounts, LedgerEntryModel.batch_write() as ledger:
        for contractor_id in ids:
            account = open_account(
                contractor_id=contractor_id,
                business_name=f"Bench Roofing {contractor_id}",
                billing_email=f"{contractor_id}@bench.example",
                locale="en",
                timezone=TIMEZONE,
                signed_up_at=SIGNUP,
                monthly_budget=Money(10_000_000),
                threshold=Money(9_000_000),
            )
            accounts.save(item_from_account(account, SIGNUP))
            ledger.save(period_entry(contractor_id, account.period, SIGNUP))
    return ids


def _charge(ids: list[str], charges: int) -> None:
    settle = LeadCharges().settle
    for contractor_id in ids:
        for number in range(charges):
            lead = Lead(
                lead_id=f"{contractor_id}-lead-{number}",
                contractor_id=contractor_id,
                price=Money(2_500 + 500 * number),
                delivered_at=DELIVERED + timedelta(minutes=number),
                category="roofing",
            )
            assert settle(lead, DELIVERED + timedelta(minutes=number)).charged


def _save_cards(localstripe: str, ids: list[str]) -> None:
    """One card, saved through a SetupIntent as the Pro App does, on file for every account
    (a customer per account would only lengthen the setup; the charges are the same)."""
    import stripe

    from functions.adapters.payments import StripePayments, stripe_client
    from tests.support.cards import API_KEY, saved_card

    payments = StripePayments(stripe_client(API_KEY, localstripe))
    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    customer, card = saved_card(payments, api, localstripe)
    for contractor_id in ids:
        AccountModel(contractor_id).update(
            actions=[
                AccountModel.stripe_customer_id.set(customer),
                AccountModel.card.set(card_item(card)),
                AccountModel.card_expires.set(card.expiry_month),
            ]
        )


def _configure(localstripe: str) -> None:
    """The weekly_invoice environment the stack gives it: secret, sender, work queue."""
    import boto3

    from tests.support.cards import API_KEY

    secret = boto3.client("secretsmanager").create_secret(
        Name="bench-stripe",
        SecretString=json.dumps(
            {"api_key": API_KEY, "webhook_secret": "whsec_bench", "api_base": localstripe}
        ),
    )
    boto3.client("sesv2").create_email_identity(EmailIdentity="craftjack.com")
    queue = boto3.client("sqs").create_queue(QueueName="bench-invoice-work")["QueueUrl"]
    os.environ.update(
        {
            "INVOICES_TABLE": os.environ.get("INVOICES_TABLE", "test-invoices"),
            "STRIPE_SECRET_NAME": secret["ARN"],
            "EMAIL_SENDER": "billing@craftjack.com",
            "EMAIL_CONFIGURATION_SET": "bench-invoice-emails",
            "INVOICE_QUEUE_URL": queue,
        }
    )


def _work_batches(queue_url: str) -> list[list[dict[str, Any]]]:
    """Every work message, in the batches the queue's mapping would hand over."""
    import boto3

    sqs = boto3.client("sqs")
    batches: list[list[dict[str, Any]]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=WORK_BATCH_SIZE)
        messages = got.get("Messages", [])
        if not messages:
            return batches
        batches.append(
            [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-invoice-work",
                    "awsRegion": "us-east-1",
                }
                for message in messages
            ]
        )
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )


def _add(total: Snapshot, part: Snapshot) -> None:
    total.requests.update(part.requests)
    total.items.update(part.items)
    total.stripe.update(part.stripe)


def measure(options: dict[str, Any]) -> Section:
    from local.processes import free_port, start_stripe

    accounts = int(options.get("accounts", 10_000))
    billable = int(options.get("billable", 1_000))
    charges = int(options.get("charges", 3))
    section = Section(
        "friday",
        "3. Friday cost",
        parameters={
            "accounts": f"{accounts:,}",
            "with unbilled charges": f"{billable:,}",
            "unbilled charges each": charges,
            "timezone": TIMEZONE,
            "emulators": "moto, localstripe",
        },
    )
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stripe_server = start_stripe(free_port(), LOG_DIR / "friday-localstripe.log", REPO_ROOT)
    try:
        stripe_server.wait_ready("/js.stripe.com/v3/")
        with moto_in_process():
            _configure(stripe_server.url)
            ids = _open_accounts(accounts)
            set_clock(lambda: DELIVERED + timedelta(hours=1))
            _charge(ids[:billable], charges)
            _save_cards(stripe_server.url, ids[:billable])
            set_clock(lambda: FRIDAY)
            weekly_invoice = handler("weekly_invoice")
            rendering = _time_rendering()
            context = LambdaContext(function_name="weekly_invoice")
            started = time.monotonic()
            total = Snapshot(Counter(), Counter(), Counter())
            with LOG.window() as fan_out:
                queued = weekly_invoice.handler({"run": "weekly", "timezone": TIMEZONE}, context)
            _add(total, fan_out)
            failures = 0
            for batch in _work_batches(os.environ["INVOICE_QUEUE_URL"]):
                with LOG.window() as work:
                    answer = weekly_invoice.handler({"Records": batch}, context)
                _add(total, work)
                failures += len(answer["batchItemFailures"])
            elapsed = time.monotonic() - started
            invoices = [item for item in InvoiceModel.scan() if item.status == "paid"]
    finally:
        stripe_server.stop()

    issued = len(invoices)
    if queued["queued"] != billable or issued != billable or failures:
        raise RuntimeError(
            f"the Friday run queued {queued}, paid {issued} of {billable}, failed {failures}"
        )
    must_read = billable * (2 + charges)
    per_invoice = {name: count / issued for name, count in total.by_operation().items()}
    section.figures = [
        Figure(
            "DynamoDB items read / items that must be read",
            total.items_read() / must_read,
            "x",
            "<= 1.1",
            f"{total.items_read():,} items read; {must_read:,} must be: per billable account its "
            f"billable index entry, the account, its {charges} unbilled charges",
        ),
        Figure(
            "Stripe requests per invoice",
            total.stripe_requests() / issued,
            "",
            "<= 1",
            f"{total.stripe_requests():,} requests for {issued:,} invoices paid",
        ),
        Figure(
            "SES requests per invoice",
            total.operation("sesv2.SendEmail") / issued,
            "",
            "<= 1",
            f"{issued:,} invoices emailed",
        ),
        Figure(
            "DynamoDB requests per invoice",
            total.service("dynamodb") / issued,
            "",
            None,
            f"reads {total.dynamodb_reads() / issued:.1f}, the rest writes",
        ),
        Figure(
            "accounts with nothing unbilled read by the fan-out",
            fan_out.items_read() - billable,
            "",
            None,
            f"of {accounts - billable:,}: the billable index holds only accounts to invoice",
        ),
    ]
    section.tables.append(
        Table(
            "Requests of the whole run, per invoice, by operation",
            ["operation", "per invoice", "DynamoDB items read per invoice"],
            [
                [
                    name,
                    f"{value:.2f}",
                    f"{total.items.get(name.split('.', 1)[1], 0) / issued:.2f}"
                    if name.startswith("dynamodb.")
                    else "",
                ]
                for name, value in per_invoice.items()
            ]
            + [
                [f"Stripe {name}", f"{count / issued:.2f}", ""]
                for name, count in total.stripe.items()
            ],
        )
    )
    section.notes = [
        "The fan-out reads the sparse billable index of its timezone: accounts with nothing "
        "unbilled are not in it, so they cost nothing. Each invoice then reads its unbilled "
        "charges (the ledger's local index, strongly consistent) and its account, once each: "
        "the claim of each charge answers with the whole entry (it succeeds exactly when the "
        "charge is this invoice's), the issued invoice and the settled payment attempt are "
        "built from what their transactions wrote (a transaction whose conditions no longer "
        "hold is cancelled, and only then is anything read again), and the account the issue "
        "read goes on to the payment and the email. A declined card reads the account once "
        "more, for the grace end its failure stored. The one other read is the invoice's own "
        "`GetItem`, which finds nothing on a first delivery (it is how a redelivery finds the "
        "invoice issued). One Stripe request per invoice (the PaymentIntent, created and "
        "confirmed at once) and one SES request (the raw message with its PDF).",
    ]
    section.parameters["run"] = f"{elapsed:.0f} s for {issued:,} invoices in this process"
    section.parameters["rendering"] = f"{rendering * 1000:.0f} ms CPU per invoice email and PDF"
    # What the 100,000-contractor simulation takes from this run.
    section.parameters["measured"] = json.dumps(
        {
            "dynamodb_requests_per_invoice": round(total.service("dynamodb") / issued, 2),
            "other_aws_requests_per_invoice": round(
                (sum(total.requests.values()) - total.service("dynamodb")) / issued, 2
            ),
            "render_seconds": round(rendering, 4),
        }
    )
    return section


def _time_rendering() -> float:
    """CPU seconds one invoice's email and PDF take to render here (median of a few)."""
    import statistics

    from functions.billing.invoices import (
        AttemptOutcome,
        Card,
        Invoice,
        InvoiceKind,
        InvoiceLine,
        InvoiceStatus,
        PaymentAttempt,
    )
    from functions.usecases import collection

    account = open_account(
        contractor_id="render",
        business_name="Bench Roofing",
        billing_email="render@bench.example",
        locale="en",
        timezone=TIMEZONE,
        signed_up_at=SIGNUP,
        monthly_budget=Money(100_000),
    )
    invoice = Invoice(
        invoice_id="render~W2026-11-20",
        contractor_id="render",
        kind=InvoiceKind.WEEKLY,
        issued_at=FRIDAY,
        lines=tuple(InvoiceLine(f"lead-{n}", DELIVERED, "roofing", Money(2_500)) for n in range(3)),
        status=InvoiceStatus.PAID,
        attempts=(
            PaymentAttempt(
                1,
                FRIDAY,
                AttemptOutcome.SUCCEEDED,
                payment_intent_id="pi_bench",
                card=Card("pm_bench", "visa", "4242", 12, 2030),
            ),
        ),
    )
    collection.render_invoice_email(invoice, account, sender="billing@craftjack.com")  # warm
    samples = []
    for _ in range(7):
        started = time.process_time()
        collection.render_invoice_email(invoice, account, sender="billing@craftjack.com")
        samples.append(time.process_time() - started)
    return statistics.median(samples)
