"""Events the bus refused are announced by the retry of their input (at-least-once).

Every input of the billing is delivered at least once: a stream record or a work message
again, a schedule fired again, an API request or a webhook sent again. When the effect of
an input is stored but the bus refuses its events, the input fails (a failed record, a
failed run, a 503) and its retry must announce those events, under the same event ids,
with the same details, and change nothing else: no second charge, no second email, the
tables as one fault-free delivery leaves them.

Each test runs its scenario twice in one world, for two contractors: once without a fault,
and once with the bus refusing (``PutEvents`` answering ``FailedEntryCount`` with an error
per entry, throttled, or failing with a 500, injected at the boto3 ``events`` client of the
function), followed by the retry with the bus working. What the bus received, the tables
of the contractor, the emails and the PaymentIntents are then compared, with the
contractor's id and Stripe's random ids masked.

The bus adapter keeps the entries the bus refuses on the unpublished events queue, which
the republish function puts on the bus again. The tests of an input's retry make that
queue refuse too (``RefusingBus(..., queue=...)``), so that the input fails as it does
when the events are kept nowhere. Paths whose retry cannot find what to announce (the
state was saved before the publish) rely on that queue instead: the bus alone refuses, the
input succeeds, and the platform's retry includes republishing the queue's messages
(``republished``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
import stripe
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.awsrequest import AWSResponse

from functions.adapters.accounts import instant
from functions.adapters.event_bus import EventBus
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import (
    AccountModel,
    InvoiceModel,
    LedgerEntryModel,
    NoticeModel,
    QuarantineModel,
)
from functions.billing.invoices import AttemptOutcome, InvoiceKind, PaymentAttempt
from functions.weekly_invoice.billing_run import WeeklyWork
from local.queues import sqs_record
from tests.integration.conftest import Clock
from tests.integration.steps import (
    account,
    deliver,
    events,
    lead,
    open_contractor,
    records_for,
    save_card,
)
from tests.integration.test_card_update_collects import renewal, webhook_event
from tests.integration.test_card_updated import (
    CONFIRM,
    claims_of,
    confirmed_in_browser,
    deliver_webhook,
    intent_event,
    sign,
)
from tests.integration.test_card_updated import call as card_call
from tests.integration.test_grace_check import FIRST_FAILURE, FRIDAY, GRACE_END, check, failed_first
from tests.support.aws import LambdaContext, Resources, rest_event, sent_mail, synthetic_record
from tests.support.cards import API_KEY, DECLINED_AT_CHARGE, VISA, intents_of

DAY = timedelta(days=1)
REFUSALS = ("failed_entries", "throttled", "server_error")


# ---------------------------------------------------------------------- the refusing bus


class RefusingBus:
    """Makes ``PutEvents`` on one boto3 ``events`` client fail, before anything is sent:

    - ``failed_entries``: HTTP 200 with ``FailedEntryCount`` equal to the number of entries
      and an ``ErrorCode`` per entry, as EventBridge answers when it accepts none of them;
    - ``throttled``: HTTP 400 ``ThrottlingException``;
    - ``server_error``: HTTP 500 ``InternalException``.

    With ``queue`` (the boto3 ``sqs`` client the bus adapter keeps refused entries with),
    ``SendMessageBatch`` on it fails too (HTTP 500): the events are kept nowhere.
    """

    def __init__(self, client: Any, refusal: str, queue: Any | None = None) -> None:
        assert refusal in REFUSALS
        self._client = client
        self._queue = queue
        self.refusal = refusal
        self.refused: list[str] = []  # the detail types of the entries refused

    @contextmanager
    def installed(self) -> Iterator[RefusingBus]:
        name = "before-call.eventbridge.PutEvents"
        queue_name = "before-call.sqs.SendMessageBatch"
        self._client.meta.events.register(name, self._refuse, unique_id="refusing-bus")
        if self._queue is not None:
            self._queue.meta.events.register(
                queue_name, _refuse_messages, unique_id="refusing-queue"
            )
        try:
            yield self
        finally:
            self._client.meta.events.unregister(name, unique_id="refusing-bus")
            if self._queue is not None:
                self._queue.meta.events.unregister(queue_name, unique_id="refusing-queue")

    def _refuse(self, params: dict[str, Any], **_: Any) -> Any:
        body = params["body"]
        entries = json.loads(body.decode() if isinstance(body, bytes) else body)["Entries"]
        self.refused += [entry["DetailType"] for entry in entries]
        if self.refusal == "failed_entries":
            parsed = {
                "FailedEntryCount": len(entries),
                "Entries": [
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "refused by the test"}
                    for _ in entries
                ],
                "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}},
            }
            return AWSResponse("https://events", 200, {}, None), parsed
        status, code = (400, "ThrottlingException")
        if self.refusal == "server_error":
            status, code = (500, "InternalException")
        parsed = {
            "Error": {"Code": code, "Message": "refused by the test"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        }
        return AWSResponse("https://events", status, {}, None), parsed


def _refuse_messages(**_: Any) -> Any:
    parsed = {
        "Error": {"Code": "InternalError", "Message": "refused by the test"},
        "ResponseMetadata": {"HTTPStatusCode": 500, "HTTPHeaders": {}},
    }
    return AWSResponse("https://sqs", 500, {}, None), parsed


def _bus(module: ModuleType) -> EventBus:
    """The function's ``EventBus``."""
    name = module.__name__
    if name == "functions.api.handler":
        from functions.api.services import current

        return current().bus
    if name == "functions.on_lead.handler":
        return module.intake._bus
    if name == "functions.card_updated.handler":
        return module.collection._bus
    if name == "functions.weekly_invoice.handler":
        return module.run._collection._bus
    if name == "functions.budget_reset.handler":
        return module.run._bus
    if name in (
        "functions.grace_check.handler",
        "functions.reconcile.handler",
        "functions.notify.handler",
    ):
        return module.bus
    raise AssertionError(f"no bus known for {name}")


def events_client(module: ModuleType) -> Any:
    """The boto3 ``events`` client the function's ``EventBus`` publishes with."""
    return _bus(module)._client


def unpublished_client(module: ModuleType) -> Any:
    """The boto3 ``sqs`` client the function's ``EventBus`` keeps refused entries with."""
    unpublished = _bus(module)._unpublished
    assert unpublished is not None, f"{module.__name__} keeps no refused entries"
    return unpublished._client


def republished(republish: ModuleType, aws: Resources) -> list[str]:
    """The platform's part of the unpublished events queue: its messages delivered to the
    republish function in batches of ten, as Lambda's SQS mapping does, those it did not
    fail deleted. A failed message is visible again at once, as after its visibility
    timeout. The event ids of the messages it failed."""
    sqs = boto3.client("sqs")
    url = aws.unpublished_events_queue_url
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    kept: list[dict[str, Any]] = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", []):
        records = [sqs_record(message, arn, datetime.now(UTC)) for message in messages]
        try:
            response = republish.handler(
                {"Records": records}, LambdaContext(function_name="republish")
            )
            failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        except BatchProcessingError:  # every record failed: the invocation failed
            failed = {record["messageId"] for record in records}
        for message in messages:
            if message["MessageId"] in failed:
                kept.append(message)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    for message in kept:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [message["MessageAttributes"]["event_id"]["StringValue"] for message in kept]


# ---------------------------------------------------------------------- what is compared

_STRIPE_IDS = re.compile(r"\b(pi|pm|cus|seti|ch|evt|card|src)_[A-Za-z0-9]+")


def masked(value: Any, cid: str) -> Any:
    """``value`` with the contractor's id, Stripe's random ids and the random tokens of
    claims masked."""
    text = json.dumps(value, sort_keys=True, default=str).replace(cid, "<contractor>")
    return _without_tokens(json.loads(_STRIPE_IDS.sub(lambda match: f"<{match.group(1)}>", text)))


def _without_tokens(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: "<token>" if key.endswith("_token") else _without_tokens(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_tokens(item) for item in value]
    return value


def announced(aws: Resources, cid: str) -> list[tuple[str, str, dict[str, Any]]]:
    """What the bus received since the last call, masked, in a stable order."""
    got = [
        (event["detail"]["event_id"], event["detail-type"], event["detail"])
        for event in events(aws)
    ]
    return sorted((masked(item, cid) for item in got), key=lambda item: json.dumps(item))


def tables(cid: str) -> dict[str, Any]:
    """Everything the billing stored about the contractor."""
    invoices = [item.serialize() for item in InvoiceModel.scan() if item.contractor_id == cid]
    quarantined = [
        {**item.serialize(), "payload": _without_record_id(item.payload)}
        for item in QuarantineModel.scan()
        if item.contractor_id == cid
    ]
    found = AccountModel.get(cid) if AccountModel.count(cid) else None
    return masked(
        {
            "account": found.serialize() if found else None,
            "ledger": [item.serialize() for item in LedgerEntryModel.query(cid)],
            "invoices": sorted(invoices, key=lambda item: json.dumps(item, sort_keys=True)),
            "notices": [
                {key: value for key, value in item.serialize().items() if key != "message_id"}
                for item in NoticeModel.query(cid)
            ],
            "quarantine": quarantined,
        },
        cid,
    )


def _without_record_id(payload: str) -> dict[str, Any]:
    """A quarantined record's payload without the stream record's id (each record has its
    own; the two runs deliver two records)."""
    found = json.loads(payload)
    found.pop("event_id", None)
    return dict(found)


@dataclass
class Outcome:
    events: list[tuple[str, str, dict[str, Any]]]
    tables: dict[str, Any]
    emails: int
    intents: int


def stripe_api(localstripe: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe}, max_network_retries=0)


def intents(localstripe: str | None, cid: str) -> int:
    """The PaymentIntents made for the contractor's invoices."""
    if localstripe is None:
        return 0
    api = stripe_api(localstripe)
    return sum(
        len(intents_of(api, str(item.invoice_id)))
        for item in InvoiceModel.scan()
        if item.contractor_id == cid
    )


def outcome(
    aws: Resources, cid: str, act: Callable[[], None], localstripe: str | None = None
) -> Outcome:
    events(aws)
    emails = len(sent_mail())
    act()
    return Outcome(
        announced(aws, cid), tables(cid), len(sent_mail()) - emails, intents(localstripe, cid)
    )


def assert_retry_announces_it_all(fault_free: Outcome, after_retry: Outcome) -> None:
    """The retry announced exactly what one fault-free delivery announced (same ids and
    details), and the world is as that delivery left it."""
    assert fault_free.events, "the scenario announces something"
    assert after_retry.events == fault_free.events
    assert after_retry.tables == fault_free.tables, _differences(
        fault_free.tables, after_retry.tables
    )
    assert after_retry.emails == fault_free.emails
    assert after_retry.intents == fault_free.intents


def _differences(expected: Any, got: Any, path: str = "") -> list[str]:
    """Where two stored states differ, leaf by leaf."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return [
            found
            for key in sorted(set(expected) | set(got))
            for found in _differences(expected.get(key), got.get(key), f"{path}.{key}")
        ]
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [
            found
            for index, (one, other) in enumerate(zip(expected, got, strict=True))
            for found in _differences(one, other, f"{path}[{index}]")
        ]
    return [] if expected == got else [f"{path}: {expected!r} != {got!r}"]


def contractor() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------- on_lead


def _lead_scenarios(
    on_lead: ModuleType, aws: Resources, clock: Clock, kind: str, cid: str
) -> list[dict[str, Any]]:
    """Given an account; the stream records of the lead that the test delivers."""
    clock.set("2026-11-20T15:00:00+00:00")
    if kind == "charged":
        open_contractor(cid, budget=100_000)
        return records_for(aws, [lead(f"{cid}-L1", 2_500, cid)])
    if kind == "charged_and_paused":
        open_contractor(cid, budget=2_500)
        return records_for(aws, [lead(f"{cid}-L1", 2_500, cid)])
    if kind == "rolled_over_and_charged":
        # Paused for budget in November; the first lead of the December period lifts it.
        open_contractor(cid, budget=2_500)
        deliver(on_lead, records_for(aws, [lead(f"{cid}-L0", 2_500, cid)]))
        assert AccountModel.get(cid).pauses.as_dict()
        clock.set("2026-12-15T10:00:00-06:00")
        return records_for(aws, [lead(f"{cid}-L1", 1_000, cid, at="2026-12-15T09:00:00-06:00")])
    if kind == "rejected_for_budget":
        open_contractor(cid, budget=2_000)
        return records_for(aws, [lead(f"{cid}-L1", 2_500, cid)])
    if kind == "quarantined":
        # A lead dated in the future: never charged, kept, announced as rejected.
        item = lead(f"{cid}-L1", 2_500, cid, at="2026-11-29T09:00:00-06:00")
        open_contractor(cid, budget=100_000)
        return [synthetic_record(item)]
    raise AssertionError(kind)


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize(
    "kind",
    [
        "charged",
        "charged_and_paused",
        "rolled_over_and_charged",
        "rejected_for_budget",
        "quarantined",
    ],
)
def test_on_lead_a_record_redelivered_after_a_refusal_announces_what_its_lead_did(
    on_lead, aws: Resources, clock: Clock, kind: str, refusal: str
):
    fault_free, faulty = contractor(), contractor()
    records = _lead_scenarios(on_lead, aws, clock, kind, fault_free)
    expected = outcome(aws, fault_free, lambda: _delivered(on_lead, records))

    records = _lead_scenarios(on_lead, aws, clock, kind, faulty)

    def refused_then_redelivered() -> None:
        with RefusingBus(
            events_client(on_lead), refusal, queue=unpublished_client(on_lead)
        ).installed() as bus:
            failures = deliver(on_lead, records)["batchItemFailures"]
        assert bus.refused, "the bus was asked"
        # The record failed: the stream delivers it again, with the bus working.
        assert [failure["itemIdentifier"] for failure in failures] == [
            record["dynamodb"]["SequenceNumber"] for record in records
        ]
        clock.current += timedelta(minutes=1)
        _delivered(on_lead, records)

    assert_retry_announces_it_all(expected, outcome(aws, faulty, refused_then_redelivered))


def _delivered(on_lead: ModuleType, records: list[dict[str, Any]]) -> None:
    assert deliver(on_lead, records) == {"batchItemFailures": []}


# ---------------------------------------------------------------------- PUT /me/budget


def _put_budget(api: ModuleType, cid: str, cents: int) -> tuple[int, dict[str, Any]]:
    event = rest_event("PUT", "/me/budget", {"monthly_cents": cents})
    event["requestContext"]["authorizer"] = {
        "claims": {"username": cid, "scope": "billing/contractor"}
    }
    response = api.handler(event, LambdaContext(function_name="api"))
    return response["statusCode"], json.loads(response["body"])


def _budget_scenario(on_lead: ModuleType, aws: Resources, clock: Clock, kind: str, cid: str) -> int:
    """Given an account; the budget the contractor then asks for."""
    clock.set("2026-11-20T15:00:00+00:00")
    if kind == "lowered_to_the_spend_pauses":
        open_contractor(cid, budget=10_000)
        deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 4_000, cid)]))
        return 4_000
    if kind == "raised_above_the_spend_reactivates":
        open_contractor(cid, budget=4_000)
        deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 4_000, cid)]))
        assert AccountModel.get(cid).pauses.as_dict()
        clock.set("2026-11-21T10:00:00-06:00")
        return 6_000
    if kind in ("rolled_over_then_changed", "rolled_over_budget_kept"):
        # Paused for budget in November; the request in December rolls the period over
        # first, which lifts that pause, then sets the budget (or finds it set already).
        open_contractor(cid, budget=4_000)
        deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 4_000, cid)]))
        clock.set("2026-12-16T10:00:00-06:00")
        return 6_000 if kind == "rolled_over_then_changed" else 4_000
    raise AssertionError(kind)


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize(
    "kind",
    [
        "lowered_to_the_spend_pauses",
        "raised_above_the_spend_reactivates",
        "rolled_over_then_changed",
        "rolled_over_budget_kept",
    ],
)
def test_put_budget_repeated_after_a_503_announces_the_pause_or_reactivation_it_made(
    api, on_lead, aws: Resources, clock: Clock, kind: str, refusal: str
):
    """R8, R12: the change is saved, the bus refuses, the API answers 503; the client sends
    the same body again, which changes nothing more and announces what the change did."""
    fault_free, faulty = contractor(), contractor()
    cents = _budget_scenario(on_lead, aws, clock, kind, fault_free)
    expected = outcome(aws, fault_free, lambda: _budget_set(api, fault_free, cents))
    cents = _budget_scenario(on_lead, aws, clock, kind, faulty)

    def refused_then_repeated() -> None:
        with RefusingBus(events_client(api), refusal, queue=unpublished_client(api)).installed():
            status, body = _put_budget(api, faulty, cents)
        assert (status, body["error"]) == (503, "unavailable")
        assert int(account(faulty).monthly_budget_cents) == cents  # saved
        clock.current += timedelta(minutes=1)
        _budget_set(api, faulty, cents)

    assert_retry_announces_it_all(expected, outcome(aws, faulty, refused_then_repeated))


def _budget_set(api: ModuleType, cid: str, cents: int) -> None:
    status, body = _put_budget(api, cid, cents)
    assert status == 200, body


def test_put_budget_repeated_announces_no_pause_the_change_did_not_make(
    api, on_lead, aws: Resources, clock: Clock
):
    """A budget set again announces only what its change made: a change that paused
    nothing announces nothing, even while a pause made by a lead holds."""
    cid = contractor()
    clock.set("2026-11-20T15:00:00+00:00")
    open_contractor(cid, budget=10_000)
    _budget_set(api, cid, 8_000)  # no pause: 8,000 is above the spend
    clock.current += timedelta(minutes=1)
    deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 8_000, cid)]))  # pauses
    assert AccountModel.get(cid).pauses.as_dict()
    events(aws)
    _budget_set(api, cid, 8_000)
    assert events(aws) == []


# ---------------------------------------------------------------------- lead credits


def _credit(api: ModuleType, cid: str, lead_id: str) -> tuple[int, dict[str, Any]]:
    body = {"contractor_id": cid, "reason": "wrong phone number"}
    event = rest_event("POST", f"/admin/leads/{lead_id}/credit", body)
    response = api.handler(event, LambdaContext(function_name="api"))
    return response["statusCode"], json.loads(response["body"])


def _credit_scenario(on_lead: ModuleType, aws: Resources, clock: Clock, kind: str, cid: str) -> str:
    """Given an account paused for budget by a lead; the lead to credit."""
    clock.set("2026-11-20T15:00:00+00:00")
    open_contractor(cid, budget=4_000)
    deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 4_000, cid)]))
    assert AccountModel.get(cid).pauses.as_dict()
    if kind == "in_the_period_reactivates":
        clock.set("2026-11-21T10:00:00-06:00")
    elif kind == "after_the_period_rolls_it_over":
        # The period ended: the credit rolls it over first, which lifts the pause.
        clock.set("2026-12-16T10:00:00-06:00")
    else:
        raise AssertionError(kind)
    return f"{cid}-L1"


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("kind", ["in_the_period_reactivates", "after_the_period_rolls_it_over"])
def test_a_credit_repeated_after_a_503_announces_the_credit_and_what_it_lifted(
    api, on_lead, aws: Resources, clock: Clock, kind: str, refusal: str
):
    """The retried request answers 409 ``already_credited`` and announces the first
    request's events again: ``LeadCredited``, and the reactivation of the budget pause
    (lifted by the credit, or by the roll-over the credit made first)."""
    fault_free, faulty = contractor(), contractor()
    lead_id = _credit_scenario(on_lead, aws, clock, kind, fault_free)
    expected = outcome(aws, fault_free, lambda: _credited(api, fault_free, lead_id, 201))
    lead_id = _credit_scenario(on_lead, aws, clock, kind, faulty)

    def refused_then_repeated() -> None:
        with RefusingBus(events_client(api), refusal, queue=unpublished_client(api)).installed():
            status, _ = _credit(api, faulty, lead_id)
        assert status == 503
        clock.current += timedelta(minutes=1)
        _credited(api, faulty, lead_id, 409)

    assert_retry_announces_it_all(expected, outcome(aws, faulty, refused_then_repeated))


def _credited(api: ModuleType, cid: str, lead_id: str, expected: int) -> None:
    status, body = _credit(api, cid, lead_id)
    assert status == expected, body


# ---------------------------------------------------------------------- card updates


def _paused_for_non_payment(billing: dict[str, ModuleType], aws, clock, cid, localstripe) -> str:
    """Given an account whose first invoice failed and that the grace end paused; its
    invoice id."""
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    check(billing["grace_check"], clock, GRACE_END)
    assert account(cid).pauses.as_dict() == {"non_payment": instant(GRACE_END)}
    clock.current = GRACE_END + DAY
    return invoice_id


def _card_update(
    billing: dict[str, ModuleType], localstripe: str, cid: str, via: str, number: str
) -> Callable[[int], None]:
    """The card update the contractor (or Stripe) makes, as a request that can be sent
    again; called with the status it must answer."""
    card_updated = billing["card_updated"]
    if via == "card_renewed_webhook":
        save_card(localstripe, cid, number)
        item = account(cid)
        assert item.card is not None
        payload = renewal(item.card.payment_method_id, item.stripe_customer_id)

        def renewed(expected: int) -> None:
            status, body = deliver_webhook(card_updated, payload, sign(payload))
            assert status == expected, body

        return renewed
    setup_intent_id = confirmed_in_browser(
        card_updated, stripe_api(localstripe), localstripe, cid, number
    )
    if via == "confirm":

        def confirmed(expected: int) -> None:
            status, body = card_call(
                card_updated, CONFIRM, {"setup_intent_id": setup_intent_id}, claims=claims_of(cid)
            )
            assert status == expected, body

        return confirmed
    assert via == "setup_succeeded_webhook"
    customer = account(cid).stripe_customer_id
    payload = webhook_event(
        "setup_intent.succeeded",
        {"id": setup_intent_id, "object": "setup_intent", "customer": customer},
    )

    def succeeded(expected: int) -> None:
        status, body = deliver_webhook(card_updated, payload, sign(payload))
        assert status == expected, body

    return succeeded


@pytest.mark.parametrize(
    ("via", "number"),
    [
        ("confirm", VISA),
        ("confirm", DECLINED_AT_CHARGE),
        ("setup_succeeded_webhook", VISA),
        ("card_renewed_webhook", VISA),
    ],
)
def test_a_card_update_sent_again_after_a_refusal_announces_what_its_attempts_did(
    billing, aws: Resources, clock: Clock, localstripe: str, via: str, number: str
):
    """R10, R11: the card update pays what is past due (``InvoicePaid``) and lifts the
    non-payment pause (``AccountReactivated``), or fails again (``PaymentFailed``); the bus
    refuses, the app's request or Stripe's webhook answers 503 and is sent again, which
    charges nothing more and announces what the update's attempt did."""
    fault_free, faulty = contractor(), contractor()
    _paused_for_non_payment(billing, aws, clock, fault_free, localstripe)
    update = _card_update(billing, localstripe, fault_free, via, number)
    expected = outcome(aws, fault_free, lambda: update(200), localstripe)

    _paused_for_non_payment(billing, aws, clock, faulty, localstripe)
    update = _card_update(billing, localstripe, faulty, via, number)

    def refused_then_sent_again() -> None:
        card_updated = billing["card_updated"]
        with RefusingBus(
            events_client(card_updated), "failed_entries", queue=unpublished_client(card_updated)
        ).installed():
            update(503)
        clock.current += timedelta(minutes=1)
        update(200)

    assert_retry_announces_it_all(
        expected, outcome(aws, faulty, refused_then_sent_again, localstripe)
    )


def test_pay_repeated_after_a_503_announces_the_payment_it_made(
    billing, republish, aws: Resources, clock: Clock, localstripe: str
):
    """POST /me/pay has no identity of its own: the payment it made is announced from the
    unpublished events queue, not by a repeat of the request."""
    fault_free, faulty = contractor(), contractor()
    for cid in (fault_free, faulty):
        _paused_for_non_payment(billing, aws, clock, cid, localstripe)
        save_card(localstripe, cid, VISA)

    def pay(cid: str, expected: int) -> None:
        status, body = card_call(billing["card_updated"], "/me/pay", claims=claims_of(cid))
        assert status == expected, body

    expected = outcome(aws, fault_free, lambda: pay(fault_free, 200), localstripe)

    def refused_then_repeated() -> None:
        with RefusingBus(events_client(billing["card_updated"]), "failed_entries").installed():
            pay(faulty, 200)
        pay(faulty, 200)
        assert republished(republish, aws) == []

    assert_retry_announces_it_all(
        expected, outcome(aws, faulty, refused_then_repeated, localstripe)
    )


def test_a_payment_webhook_sent_again_after_a_refusal_announces_the_outcome(
    card_updated, on_lead, aws: Resources, clock: Clock
):
    """R6: Stripe's answer to an attempt whose answer never came settles it; the bus
    refuses, the webhook answers 503, Stripe sends it again, which announces the issue and
    the payment."""

    def under_way(cid: str) -> str:
        clock.set("2026-11-20T15:00:00+00:00")
        open_contractor(cid)
        deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 2_500, cid)]))
        store = InvoiceStore()
        invoice = store.issue(cid, f"{cid}~W2026-11-20", InvoiceKind.WEEKLY, clock.current)
        assert invoice is not None
        assert store.start_attempt(
            invoice, PaymentAttempt(1, clock.current, AttemptOutcome.UNKNOWN)
        )
        return invoice.invoice_id

    def webhook(invoice_id: str, expected: int) -> None:
        payload = intent_event("payment_intent.succeeded", invoice_id, intent_id="pi_hook")
        status, body = deliver_webhook(card_updated, payload, sign(payload))
        assert status == expected, body

    fault_free, faulty = contractor(), contractor()
    first = under_way(fault_free)
    expected = outcome(aws, fault_free, lambda: webhook(first, 200))
    second = under_way(faulty)

    def refused_then_sent_again() -> None:
        with RefusingBus(
            events_client(card_updated), "throttled", queue=unpublished_client(card_updated)
        ).installed():
            webhook(second, 503)
        clock.current += timedelta(minutes=1)
        webhook(second, 200)

    assert_retry_announces_it_all(expected, outcome(aws, faulty, refused_then_sent_again))


# ---------------------------------------------------------------------- weekly invoice


@pytest.mark.parametrize("number", [VISA, DECLINED_AT_CHARGE])
def test_a_work_message_redelivered_after_a_refusal_announces_the_invoice(
    weekly_invoice, on_lead, aws: Resources, clock: Clock, localstripe: str, number: str
):
    """R3, R6: the weekly invoice is issued and collected, the bus refuses, the message
    fails and comes again: ``InvoiceIssued`` and ``InvoicePaid`` (or ``PaymentFailed``) are
    announced, nothing is charged or emailed again."""

    def billable(cid: str) -> dict[str, Any]:
        clock.set("2026-11-20T16:00:00+00:00")
        open_contractor(cid)
        save_card(localstripe, cid, number)
        deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 4_500, cid)]))
        return _sqs_event(WeeklyWork(cid, FRIDAY).body())

    def processed(message: dict[str, Any]) -> None:
        assert weekly_invoice.handler(message, LambdaContext()) == {"batchItemFailures": []}

    fault_free, faulty = contractor(), contractor()
    message = billable(fault_free)
    expected = outcome(aws, fault_free, lambda: processed(message), localstripe)
    message = billable(faulty)

    def refused_then_redelivered() -> None:
        # The batch's only record failed: the invocation fails, and SQS delivers it again.
        with (
            RefusingBus(
                events_client(weekly_invoice),
                "server_error",
                queue=unpublished_client(weekly_invoice),
            ).installed(),
            pytest.raises(BatchProcessingError, match="All records failed"),
        ):
            weekly_invoice.handler(message, LambdaContext())
        clock.current += timedelta(minutes=1)
        processed(message)

    assert_retry_announces_it_all(
        expected, outcome(aws, faulty, refused_then_redelivered, localstripe)
    )


def _sqs_event(body: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": uuid.uuid4().hex,
                "receiptHandle": "handle",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:invoice-work",
                "awsRegion": "us-east-1",
            }
        ]
    }


# ---------------------------------------------------------------------- reconciliation


def test_a_reconciliation_run_again_after_a_refusal_announces_its_differences(
    reconcile, aws: Resources, clock: Clock
):
    """R6: a difference is announced under an id made of its facts; the run fails when the
    bus refuses, and its retry announces the same ids with the same details."""
    cid = contractor()
    clock.current = datetime.now(UTC).replace(microsecond=0)
    day = clock.current.date()
    invoice_id = f"{cid}~W{day.isoformat()}"
    recorded = instant(clock.current)
    LedgerEntryModel(
        cid,
        f"payment#{invoice_id}",
        kind="payment",
        recorded_at=recorded,
        recorded_key=f"{recorded}#payment#{invoice_id}",
        amount_cents=2_000,
        reason=f"pi_ghost{uuid.uuid4().hex[:12]}",
        detail=invoice_id,
        payment_day=day.isoformat(),
    ).save()

    def run() -> Any:
        return reconcile.handler(
            {"run": "reconcile", "day": day.isoformat()}, LambdaContext(function_name="reconcile")
        )

    expected = outcome(aws, cid, run)
    assert any(kind == "ReconciliationDifference" for _, kind, _ in expected.events)

    def refused_then_run_again() -> None:
        with (
            RefusingBus(
                events_client(reconcile), "failed_entries", queue=unpublished_client(reconcile)
            ).installed(),
            pytest.raises(Exception, match="not resolved or not announced"),
        ):
            run()
        run()

    assert_retry_announces_it_all(expected, outcome(aws, cid, refused_then_run_again))


def test_a_reconciliation_run_again_announces_the_attempts_an_earlier_run_resolved(
    reconcile, on_lead, republish, aws: Resources, clock: Clock, localstripe: str
):
    cid = contractor()
    clock.current = datetime.now(UTC).replace(microsecond=0)
    open_contractor(cid, signup=clock.current - 2 * DAY)
    save_card(localstripe, cid, VISA)
    started = clock.current - timedelta(hours=1)
    deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 2_500, cid, at=started.isoformat())]))
    store = InvoiceStore()
    invoice = store.issue(cid, f"{cid}~T000001", InvoiceKind.THRESHOLD, started)
    assert invoice is not None
    card = AccountModel.get(cid).card
    assert card is not None
    assert store.start_attempt(invoice, PaymentAttempt(1, started, AttemptOutcome.UNKNOWN))
    events(aws)

    def run() -> Any:
        day = (clock.current - DAY).date().isoformat()
        return reconcile.handler(
            {"run": "reconcile", "day": day}, LambdaContext(function_name="reconcile")
        )

    with RefusingBus(events_client(reconcile), "failed_entries").installed():
        run()
    assert InvoiceModel.get(invoice.invoice_id).status == "paid"
    run()
    assert republished(republish, aws) == []
    kinds = {kind for _, kind, detail in announced(aws, cid) if "T000001" in json.dumps(detail)}
    assert kinds == {"InvoiceIssued", "InvoicePaid"}


# ---------------------------------------------------------------------- schedules


def test_a_budget_reset_run_again_after_a_refusal_announces_the_reactivation(
    budget_reset, on_lead, republish, aws: Resources, clock: Clock
):
    cid = contractor()
    clock.set("2026-11-20T15:00:00+00:00")
    open_contractor(cid, budget=4_000)
    deliver(on_lead, records_for(aws, [lead(f"{cid}-L1", 4_000, cid)]))
    events(aws)
    clock.set("2026-12-15T00:05:00-06:00")

    def run() -> Any:
        return budget_reset.handler(
            {"run": "budget_reset", "timezone": "America/Chicago"},
            LambdaContext(function_name="budget_reset"),
        )

    with RefusingBus(events_client(budget_reset), "failed_entries").installed():
        run()
    assert AccountModel.get(cid).pauses.as_dict() == {}
    clock.current += timedelta(minutes=2)
    run()
    assert republished(republish, aws) == []
    assert [kind for _, kind, _ in announced(aws, cid)] == ["AccountReactivated"]


def test_a_grace_check_run_again_after_a_refusal_announces_the_non_payment_pause(
    weekly_invoice,
    on_lead,
    grace_check,
    republish,
    aws: Resources,
    clock: Clock,
    localstripe: str,
):
    cid = contractor()
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    with RefusingBus(events_client(grace_check), "failed_entries").installed():
        check(grace_check, clock, GRACE_END)
    assert account(cid).pauses.as_dict() == {"non_payment": instant(GRACE_END)}
    check(grace_check, clock, GRACE_END + timedelta(minutes=2))
    assert republished(republish, aws) == []
    assert [kind for _, kind, _ in announced(aws, cid)] == ["AccountPaused"]


@pytest.mark.parametrize("number", [DECLINED_AT_CHARGE, VISA])
def test_a_grace_check_run_again_after_a_refusal_announces_the_retrys_outcome(
    weekly_invoice,
    on_lead,
    grace_check,
    republish,
    aws: Resources,
    clock: Clock,
    localstripe: str,
    number: str,
):
    cid = contractor()
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    save_card(localstripe, cid, number)
    with RefusingBus(events_client(grace_check), "failed_entries").installed():
        check(grace_check, clock, FIRST_FAILURE + DAY)
    check(grace_check, clock, FIRST_FAILURE + DAY + timedelta(minutes=2))
    assert republished(republish, aws) == []
    kinds = [kind for _, kind, _ in announced(aws, cid)]
    assert kinds == (["PaymentFailed"] if number == DECLINED_AT_CHARGE else ["InvoicePaid"])


def test_the_refusing_bus_refuses_what_it_is_asked(on_lead, aws: Resources, clock: Clock):
    """The fault this module injects is seen by the bus adapter as EventBridge's refusals:
    every position refused, whatever the kind of refusal."""
    from functions.adapters.event_bus import EventBus
    from functions.billing.events import LeadRejected, RejectReason

    client = events_client(on_lead)
    bus = EventBus(client, "lead-billing")
    sent = [LeadRejected("c", f"L{n}", RejectReason.INVALID, "x") for n in range(12)]
    for refusal in REFUSALS:
        with RefusingBus(client, refusal).installed() as refusing:
            assert bus.publish(sent) == list(range(12))
        assert len(refusing.refused) == 12
    assert bus.publish(sent) == []
    assert len(events(aws)) == 12
