"""One simulated world of the billing: moto's AWS, localstripe, the real handlers, a clock,
and the platform between them.

A ``World`` is a fresh moto account (every table, queue, bus and bucket the integration
tests create, ``tests/support/aws.create_resources``) with each Lambda function's handler
module loaded against it, as the integration fixtures load them. What the platform does
between the functions, the world does in ``pump``:

- the Leads table's stream (INSERT records, batches of 100) to ``on_lead``
  (``infra/stack.py``);
- the Accounts table's stream to ``notify`` (MODIFY records, batches of 50,
  ``infra/notify.py``) and to ``weekly_invoice``'s threshold trigger (INSERT or MODIFY
  records whose new image has ``invoice_due`` true, batches of 10,
  ``infra/weekly_invoice.py``);
- the invoice work queue to ``weekly_invoice`` (batches of 10; a failed message comes back
  after the visibility timeout, 720 s, and goes to the dead-letter queue after 5 receives);
- Stripe's webhooks to ``card_updated``'s ``POST /webhooks/stripe``, signed as Stripe signs
  them: ``payment_intent.succeeded`` / ``payment_intent.payment_failed`` for every
  PaymentIntent the functions created, ``setup_intent.succeeded`` for every card setup.

A failed stream record is retried (five times, then dropped to the mapping's on-failure
destination), a failed webhook is retried later, as Stripe does. ``advance_to`` moves the
clock and fires every schedule occurrence it crosses at its own instant: ``weekly_invoice``
at 06:00 on Fridays and ``budget_reset`` at 00:05 every day in each billing timezone that
has accounts, ``grace_check`` every hour, ``reconcile`` at 01:00 UTC every day
(``infra/schedules.py``, ``infra/weekly_invoice.py``, ``infra/budget_reset.py``,
``infra/grace_check.py``, ``infra/reconcile.py``).

Every input delivered is kept (``history``), so that a test can deliver any of them again,
alone or in shuffled batches: at-least-once delivery. A ``DeliveryPolicy`` decides how each
delivery goes: once and in order, or every input five times in shuffled order.

localstripe is shared by the worlds of a test module (``Environment``). It has no
idempotency keys, so ``StripeWire`` sits between the functions' Stripe client and it and
keeps Stripe's promise: a repeated key replays the first answer. The wire also injects
faults (an answer lost after Stripe acted, a request that never reached Stripe) and logs
every PaymentIntent Stripe made, which the invariants reconcile against the tables.
localstripe stamps what it makes with the real time; the wire shows the functions each
PaymentIntent and charge of this world stamped with the simulated instant it was made at,
and lists charges by that instant, so the daily reconciliation compares simulated days.
"""

from __future__ import annotations

import copy
import email.parser
import functools
import hashlib
import hmac
import importlib
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import boto3
import jsonpath_ng.ext as jsonpath_ext
import requests
import stripe
from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
from boto3.dynamodb.types import TypeSerializer
from botocore.client import BaseClient
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.ses.models import ses_backends
from moto.sqs.models import sqs_backends

from functions.adapters.accounts import parse_instant
from infra import names
from local.moto_atomic import make_dynamodb_atomic
from local.processes import free_port, start_stripe
from local.queues import sqs_record
from tests.support.aws import (
    BUS,
    DOCUMENTS_BUCKET,
    ENVIRONMENT,
    REGION,
    TABLES,
    UNPUBLISHED_EVENTS_QUEUE_URL,
    LambdaContext,
    create_resources,
)
from tests.support.aws_calls import ApiCall, CallLog, Naming, wrapped_api_calls
from tests.support.cards import API_KEY, browser_confirms, card_from_browser

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = "sim-stripe"
# One of tests/conftest.py's KNOWN_SECRETS, so that the leak search looks for it.
WEBHOOK_SECRET = "whsec_card_updated"
SENDER = "billing@craftjack.com"
INVOICE_QUEUE = "sim-invoice-work"
INVOICE_QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{DEFAULT_ACCOUNT_ID}/{INVOICE_QUEUE}"
QUARANTINE_QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{DEFAULT_ACCOUNT_ID}/test-quarantine"

LEADS_BATCH = 100  # infra/stack.py
NOTIFY_BATCH = 50  # infra/notify.py
THRESHOLD_BATCH = 10  # infra/weekly_invoice.py
WORK_BATCH = 10  # infra/weekly_invoice.py WORK_BATCH_SIZE
WORK_VISIBILITY = timedelta(seconds=720)  # infra/weekly_invoice.py: 6 x the timeout
WORK_MAX_RECEIVES = 5
STREAM_RETRIES = 5  # infra/stack.py, infra/weekly_invoice.py, infra/notify.py
ASYNC_RETRIES = 2  # infra/schedules.py: Lambda retries a failed scheduled run twice
GRACE_CHECK_SAMPLE = 6  # hours: see World._next_grace_check

HANDLERS = {
    "on_lead": "functions.on_lead.handler",
    "weekly_invoice": "functions.weekly_invoice.handler",
    "budget_reset": "functions.budget_reset.handler",
    "grace_check": "functions.grace_check.handler",
    "notify": "functions.notify.handler",
    "reconcile": "functions.reconcile.handler",
    "republish": "functions.republish.handler",
    "card_updated": "functions.card_updated.handler",
    "api": "functions.api.handler",
}
FUNCTION_ENVIRONMENT = {
    **ENVIRONMENT,
    "QUARANTINE_QUEUE_URL": QUARANTINE_QUEUE_URL,
    "INVOICES_TABLE": TABLES["invoices"],
    "STRIPE_SECRET_NAME": SECRET_NAME,
    "EMAIL_SENDER": SENDER,
    "EMAIL_CONFIGURATION_SET": "sim-emails",
    "INVOICE_QUEUE_URL": INVOICE_QUEUE_URL,
}


# ---------------------------------------------------------------------------- Stripe


class StripeFault:
    LOST_ANSWER = "lost_answer"  # Stripe acted, its answer never came back
    UNREACHABLE = "unreachable"  # the request never reached Stripe (a timeout)
    SERVER_ERROR = "server_error"  # a 500 before Stripe did anything


@dataclass
class Intent:
    """A PaymentIntent Stripe made, as the wire saw it."""

    intent_id: str
    amount: int
    status: str
    invoice_id: str | None
    attempt: str | None
    customer: str | None


class StripeWire(stripe.HTTPClient):
    """The functions' HTTP client to localstripe: Stripe's idempotency, faults, a log.

    Stripe replays the first answer to a request sent again with the same
    ``Idempotency-Key`` (and refuses the key with other parameters); localstripe does
    not, so the wire keeps the answers. Faults armed with ``arm_next_charge`` apply to the
    tries of the next PaymentIntent creation. Every PaymentIntent in an answer is logged
    (``intents``), also when the answer is then lost, so the log is what Stripe did, not
    what the functions heard.
    """

    name = "requests"

    def __init__(self) -> None:
        super().__init__()
        self._inner = stripe.RequestsClient(timeout=20)
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[str | None, tuple[bytes, int, Any]]] = {}
        self._charge_faults: list[list[str]] = []
        self.faults_injected = 0
        self.intents: dict[str, Intent] = {}
        self.new_intents: list[str] = []
        self.key_conflicts: list[str] = []
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.made_at: dict[str, int] = {}  # PaymentIntent id: the simulated instant, epoch s
        self.world_intents: set[str] = set()  # the PaymentIntents of the current world

    def new_world(self) -> None:
        """A fresh world begins: Stripe's lists show only what this world makes."""
        with self._lock:
            self.world_intents.clear()
            self.new_intents.clear()

    def arm_next_charge(self, *faults: str) -> None:
        """The next PaymentIntent creation meets ``faults``, one per try of it."""
        with self._lock:
            self._charge_faults.append(list(faults))

    def armed(self) -> bool:
        with self._lock:
            return bool(self._charge_faults)

    def disarm(self) -> None:
        with self._lock:
            self._charge_faults.clear()

    def take_new_intents(self) -> list[str]:
        with self._lock:
            taken, self.new_intents = self.new_intents, []
        return taken

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None
    ) -> tuple[bytes, int, Any]:
        headers = dict(headers or {})
        key = next((v for k, v in headers.items() if k.lower() == "idempotency-key"), None)
        path = urlsplit(url).path
        if method == "get" and path == "/v1/charges":
            return self._charges(url, headers)
        with self._lock:
            fault = None
            if method == "post" and path == "/v1/payment_intents" and self._charge_faults:
                faults = self._charge_faults[0]
                fault = faults.pop(0)
                if not faults:
                    self._charge_faults.pop(0)
            if fault is not None:
                self.faults_injected += 1
            if key is not None and method == "post" and key in self._answers:
                body, answer = self._answers[key]
                replay: tuple[bytes, int, Any] | None = answer
                if body != post_data:
                    self.key_conflicts.append(key)
                    replay = _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
            else:
                replay = None
        if fault in (StripeFault.UNREACHABLE, StripeFault.SERVER_ERROR):
            if fault == StripeFault.SERVER_ERROR:
                return _error(500, "api_error", "injected")
            self._time_out()
        if replay is not None:
            answer = replay
        else:
            answer = self._inner.request(method, url, headers, post_data)
            with self._lock:
                if key is not None and method == "post" and answer[1] < 500:
                    self._answers[key] = (post_data, answer)
                self._log(path, answer)
        if fault == StripeFault.LOST_ANSWER:
            self._time_out()
        if method == "get" and path.startswith("/v1/payment_intents/"):
            answer = self._restamped(answer)
        return answer

    def _charges(self, url: str, headers: Any) -> tuple[bytes, int, Any]:
        """``GET /v1/charges`` as Stripe would answer it in this world: its charges only,
        stamped and filtered by the simulated instant their PaymentIntent was made, on one
        page (the list's ``created[gt]`` is read as a simulated instant)."""
        query = parse_qsl(urlsplit(url).query)
        after = next((int(v) for k, v in query if k == "created[gt]"), None)
        kept = [(k, v) for k, v in query if not k.startswith(("created", "starting_after"))]
        found: list[dict[str, Any]] = []
        starting_after: str | None = None
        while True:
            page_query = [*kept, *([("starting_after", starting_after)] if starting_after else [])]
            base = url.split("?", 1)[0]
            body, status, answer_headers = self._inner.request(
                "get", f"{base}?{urlencode(page_query)}", headers, None
            )
            if status != 200:
                return body, status, answer_headers
            page = json.loads(body)
            for charge in page["data"]:
                intent = charge.get("payment_intent")
                intent_id = intent.get("id") if isinstance(intent, dict) else intent
                with self._lock:
                    made = self.made_at.get(intent_id) if intent_id in self.world_intents else None
                if made is None or (after is not None and made <= after):
                    continue
                charge["created"] = made
                if isinstance(intent, dict):
                    intent["created"] = made
                found.append(charge)
            if not page.get("has_more") or not page["data"]:
                break
            starting_after = page["data"][-1]["id"]
        listed = {"object": "list", "url": "/v1/charges", "has_more": False, "data": found}
        return json.dumps(listed).encode(), 200, answer_headers

    def _restamped(self, answer: tuple[bytes, int, Any]) -> tuple[bytes, int, Any]:
        """A PaymentIntent of this world, stamped with the simulated instant it was made."""
        body, status, answer_headers = answer
        try:
            found = json.loads(body)
        except ValueError:
            return answer
        with self._lock:
            made = self.made_at.get(found.get("id"))
        if status != 200 or made is None:
            return answer
        found["created"] = made
        return json.dumps(found).encode(), status, answer_headers

    def _log(self, path: str, answer: tuple[bytes, int, Any]) -> None:
        if not path.startswith("/v1/payment_intents"):
            return
        try:
            found = json.loads(answer[0])
        except ValueError:
            return
        intent = found if found.get("object") == "payment_intent" else None
        if intent is None:
            error = found.get("error") or {}
            intent = error.get("payment_intent")
            if intent is None and error.get("charge"):
                intent = {"id": None, "charge": error["charge"]}
        if not isinstance(intent, dict):
            return
        intent_id = intent.get("id")
        if intent_id is None:
            # localstripe names only the declined charge: ask it for the PaymentIntent.
            charge = self._inner.request(
                "get", f"{self._base}/v1/charges/{intent['charge']}", self._headers, None
            )
            intent_id = json.loads(charge[0]).get("payment_intent")
            if not intent_id:
                return
        if intent_id not in self.intents:
            self.new_intents.append(intent_id)
            self.intents[intent_id] = Intent(intent_id, 0, "?", None, None, None)
            self.made_at[intent_id] = int(self.clock().timestamp())
            self.world_intents.add(intent_id)

    def refresh(self, intent_id: str) -> dict[str, Any]:
        """The PaymentIntent as Stripe holds it now; the log updated from it."""
        answer = self._inner.request(
            "get", f"{self._base}/v1/payment_intents/{intent_id}", self._headers, None
        )
        found = json.loads(answer[0])
        metadata = found.get("metadata") or {}
        customer = found.get("customer")
        with self._lock:
            self.intents[intent_id] = Intent(
                intent_id,
                int(found.get("amount") or 0),
                str(found.get("status")),
                metadata.get("invoice_id"),
                metadata.get("attempt"),
                customer if isinstance(customer, str) else None,
            )
        return found

    def get(self, path: str) -> dict[str, Any]:
        answer = self._inner.request("get", f"{self._base}{path}", self._headers, None)
        return json.loads(answer[0])

    def bind(self, base: str) -> None:
        self._base = base
        self._headers = {"Authorization": f"Bearer {API_KEY}"}

    def _time_out(self) -> None:
        self._inner._handle_request_error(
            requests.exceptions.ReadTimeout("Read timed out. (read timeout=10)")
        )

    def close(self) -> None:
        self._inner.close()


def _error(status: int, kind: str, message: str) -> tuple[bytes, int, Any]:
    from requests.structures import CaseInsensitiveDict

    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    return body, status, CaseInsensitiveDict({"Content-Type": "application/json"})


def browser_saves_card(
    env: Environment, setup_intent_id: str, client_secret: str, number: str
) -> None:
    """Stripe.js's part of the card form, against localstripe (``tests/support/cards``):
    the PaymentMethod made from the number, the SetupIntent confirmed with the publishable
    key and its client secret. The number never reaches the billing."""
    method = card_from_browser(env.browser, number)
    browser_confirms(env.stripe_url, setup_intent_id, client_secret, method)


def signed(payload: str) -> str:
    """A ``Stripe-Signature`` as Stripe computes it, now (Stripe signs each delivery)."""
    timestamp = int(time.time())
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


# ---------------------------------------------------------------------------- the bus


class BusTrouble:
    """EventBridge in trouble: each of the next ``refuse_next`` PutEvents calls has every
    entry refused (``FailedEntryCount``), as the bus does when it throttles or fails
    internally. The functions then keep the events on the unpublished-events queue, and
    ``republish`` puts them on the bus once it takes them again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refusals = 0
        self.refused = 0  # PutEvents calls refused so far

    def refuse_next(self, calls: int) -> None:
        with self._lock:
            self._refusals = calls

    def disarm(self) -> None:
        self.refuse_next(0)

    def armed(self) -> bool:
        with self._lock:
            return self._refusals > 0

    def _refuses(self) -> bool:
        with self._lock:
            if self._refusals <= 0:
                return False
            self._refusals -= 1
            self.refused += 1
            return True

    def wrap(self, call: ApiCall) -> ApiCall:
        """``call``, with PutEvents refused while armed (``wrapped_api_calls``)."""

        def calling(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if operation == "PutEvents" and self._refuses():
                refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
                entries = params.get("Entries", [])
                return {"FailedEntryCount": len(entries), "Entries": [refused] * len(entries)}
            return call(client, operation, params)

        return calling


# ---------------------------------------------------------------------------- environment


def naming() -> Naming:
    """This world's names, each with the logical id the stack's template gives it."""
    return Naming(
        tables={TABLES[key]: logical_id for key, logical_id in names.TABLE_LOGICAL_IDS.items()},
        queues={
            QUARANTINE_QUEUE_URL.rsplit("/", 1)[-1]: names.QUARANTINE_QUEUE_LOGICAL_ID,
            INVOICE_QUEUE: names.INVOICE_WORK_QUEUE_LOGICAL_ID,
            UNPUBLISHED_EVENTS_QUEUE_URL.rsplit("/", 1)[-1]: (
                names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID
            ),
        },
        buses={BUS: names.EVENT_BUS_LOGICAL_ID},
        buckets={DOCUMENTS_BUCKET: names.DOCUMENTS_BUCKET_LOGICAL_ID},
        secrets={SECRET_NAME: names.STRIPE_SECRET_LOGICAL_ID},
    )


class Clock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


@dataclass
class Environment:
    """What the worlds of one test module share: localstripe, the wire, the clock, the
    functions' environment variables."""

    stripe_url: str
    wire: StripeWire
    clock: Clock
    browser: stripe.StripeClient  # Stripe.js, as far as localstripe can tell
    calls: CallLog  # the AWS permissions each function used (tests/support/aws_calls.py)
    bus: BusTrouble  # EventBridge refusing the functions' events


@contextmanager
def environment(log_dir: Path) -> Iterator[Environment]:
    """localstripe on a free port, the functions' environment, their clock and their Stripe
    client patched; all undone on exit."""
    from functions.adapters import clock as clock_module
    from functions.adapters import payments as payments_adapter

    emulator = start_stripe(free_port(), log_dir / "localstripe.log", ROOT)
    saved_environ = dict(os.environ)
    clock = Clock()
    wire = StripeWire()
    saved_now = clock_module.now
    saved_payments = payments_adapter.stripe_payments
    saved_jsonpath = jsonpath_ext.parse
    try:
        emulator.wait_ready("/js.stripe.com/v3/")
        wire.bind(emulator.url)
        wire.clock = clock.now
        os.environ.update(FUNCTION_ENVIRONMENT)
        make_dynamodb_atomic()
        clock_module.now = clock.now  # type: ignore[assignment]
        adapter = payments_adapter.StripePayments(
            payments_adapter.stripe_client(API_KEY, emulator.url, http_client=wire),
            sleep=lambda seconds: None,
        )
        payments_adapter.stripe_payments = lambda secrets, request_interval=0.0: adapter  # type: ignore[assignment]
        # moto's EventBridge compiles the same JSONPath expressions for every event it
        # delivers to a target: once is enough (a sixth of a step's time otherwise).
        jsonpath_ext.parse = functools.lru_cache(maxsize=64)(saved_jsonpath)
        browser = stripe.StripeClient(
            API_KEY, base_addresses={"api": emulator.url}, max_network_retries=0
        )
        calls, bus = CallLog(naming()), BusTrouble()
        with wrapped_api_calls(calls.wrap, bus.wrap):
            yield Environment(emulator.url, wire, clock, browser, calls, bus)
    finally:
        payments_adapter.stripe_payments = saved_payments  # type: ignore[assignment]
        jsonpath_ext.parse = saved_jsonpath
        clock_module.now = saved_now  # type: ignore[assignment]
        os.environ.clear()
        os.environ.update(saved_environ)
        wire.close()
        emulator.stop()


# ---------------------------------------------------------------------------- delivery


class DeliveryPolicy:
    """How the platform hands over a group of inputs due together: once, in order."""

    copies = 1

    def arrange(self, items: list[Any]) -> list[Any]:
        return list(items)


class ShuffledRepeats(DeliveryPolicy):
    """Every input ``copies`` times, in an order shuffled with ``seed``."""

    def __init__(self, copies: int = 5, seed: int = 0) -> None:
        self.copies = copies
        self.extra = 0  # deliveries beyond the first of each input
        self._random = random.Random(seed)

    def arrange(self, items: list[Any]) -> list[Any]:
        repeated = [copy.copy(item) for item in items for _ in range(self.copies)]
        self.extra += len(repeated) - len(items)
        self._random.shuffle(repeated)
        return repeated


@dataclass
class Schedule:
    """One schedule occurrence: the event a function receives, and when."""

    at: datetime
    function: str
    event: dict[str, Any]

    def describe(self) -> str:
        return f"{self.function} {json.dumps(self.event)} at {self.at.isoformat()}"


@dataclass
class Webhook:
    kind: str
    payload: str  # the event's JSON, as Stripe sends it


@dataclass
class WorkMessage:
    message_id: str
    body: str
    receives: int = 0
    visible_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))


@dataclass
class Counters:
    steps: int = 0
    examples: int = 0
    leads: int = 0
    invoices: int = 0
    payment_intents: int = 0
    emails: int = 0
    events: int = 0
    schedule_runs: int = 0
    webhooks: int = 0
    redeliveries: int = 0
    faults: int = 0
    dropped: int = 0
    reconciliations: int = 0  # daily reconciliation runs (each compares a day's payments)
    payments_reconciled: int = 0  # payments those runs compared with Stripe's
    republished: int = 0  # events the bus refused, put on it again by republish
    attempts_resolved: int = 0  # attempts left unsettled that those runs settled

    def add(self, other: Counters) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def line(self) -> str:
        return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in vars(self).items())


class StreamReader:
    """The records of a table's stream not read yet, as Lambda hands them over.

    Read from moto's backend, not through the DynamoDB Streams API: the same records,
    without the cost of serializing each request (the simulation reads the streams after
    every step)."""

    def __init__(self, table: str) -> None:
        self._table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table)
        self.arn = f"{self._table.table_arn}/stream/{self._table.latest_stream_label}"
        self._read = 0

    def new_records(self) -> list[dict[str, Any]]:
        """In the stream's order for each item; items in the order of their keys. Lambda
        keeps the order of an item's records only, and functions that write several items
        at once (on_lead settles different accounts side by side) interleave their records
        as the threads go: sorted, a run replays exactly, as Hypothesis needs."""
        shard = self._table.stream_shard
        fresh = shard.items[self._read :]
        self._read = len(shard.items)
        fresh = sorted(fresh, key=lambda item: json.dumps(item.to_json()["dynamodb"]["Keys"]))
        found = []
        for item in fresh:
            record = item.to_json()
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            record = json.loads(json.dumps(record, default=str))
            if isinstance(created, datetime):  # Lambda hands it over as epoch seconds
                record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
            record["eventSourceARN"] = self.arn
            found.append(record)
        return found


def table_items(table: str) -> Iterator[dict[str, Any]]:
    """Every item of a table, as DynamoDB JSON, read from moto's backend."""
    found = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table)
    for value in list(found.items.values()):
        items = list(value.values()) if found.has_range_key else [value]
        for item in items:
            yield item.to_json()["Attributes"]


def account_item(contractor_id: str) -> dict[str, Any] | None:
    """An account as DynamoDB JSON, read from moto's backend (a consistent read)."""
    found = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(TABLES["accounts"])
    item = found.items.get(_hash_key(contractor_id))
    return None if item is None else item.to_json()["Attributes"]


def ledger_item(contractor_id: str, entry_id: str) -> dict[str, Any] | None:
    """A ledger entry as DynamoDB JSON, read from moto's backend."""
    found = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(TABLES["ledger"])
    entries = found.items.get(_hash_key(contractor_id)) or {}
    item = entries.get(_hash_key(entry_id))
    return None if item is None else item.to_json()["Attributes"]


def _hash_key(value: str) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType({"S": value})


def take_messages(queue: str) -> list[str]:
    """The bodies of every message in a queue, removed from it, from moto's backend."""
    found = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue(queue)
    with found._messages_lock:
        bodies = [message.body for message in found._messages]
        found._messages.clear()
    return bodies


def threshold_wanted(record: dict[str, Any]) -> bool:
    """weekly_invoice's filter on the accounts stream (``infra/weekly_invoice.py``)."""
    image = record["dynamodb"].get("NewImage") or {}
    return record["eventName"] in ("INSERT", "MODIFY") and image.get("invoice_due") == {
        "BOOL": True
    }


def notify_wanted(record: dict[str, Any]) -> bool:
    """notify's filter on the accounts stream (``infra/notify.py``)."""
    return record["eventName"] == "MODIFY"


def leads_wanted(record: dict[str, Any]) -> bool:
    """on_lead's filter on the Leads stream (``infra/stack.py``)."""
    return record["eventName"] == "INSERT"


def local_occurrences(
    start: datetime, end: datetime, timezone: str, at: tuple[int, int], weekday: int | None
) -> Iterator[datetime]:
    """The instants in (start, end] at local time ``at`` (on ``weekday`` only, if given)."""
    zone = ZoneInfo(timezone)
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        if weekday is None or day.weekday() == weekday:
            local = datetime(day.year, day.month, day.day, at[0], at[1], tzinfo=zone)
            instant = local.astimezone(UTC)
            if start < instant <= end:
                yield instant
        day += timedelta(days=1)


# ---------------------------------------------------------------------------- the world


class World:
    """A fresh moto world with every handler loaded against it; see the module's doc."""

    def __init__(
        self,
        env: Environment,
        start: datetime,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.env = env
        self.policy = policy or DeliveryPolicy()
        self.counters = Counters()
        self._mock = mock_aws()
        self._mock.start()
        try:
            self._build(start)
        except BaseException:
            self._mock.stop()
            raise

    def _build(self, start: datetime) -> None:
        self.env.clock.current = start
        self.resources = create_resources()
        boto3.client("secretsmanager").create_secret(
            Name=SECRET_NAME,
            SecretString=json.dumps(
                {
                    "api_key": API_KEY,
                    "webhook_secret": WEBHOOK_SECRET,
                    "api_base": self.env.stripe_url,
                }
            ),
        )
        boto3.client("sesv2").create_email_identity(EmailIdentity="craftjack.com")
        self._sqs = boto3.client("sqs")
        self._sqs.create_queue(QueueName=INVOICE_QUEUE)
        self._dynamodb = boto3.client("dynamodb")
        self.handlers: dict[str, ModuleType] = {}
        for name, module_name in HANDLERS.items():
            module = importlib.import_module(module_name)
            self.handlers[name] = importlib.reload(module)
        self.leads_stream = StreamReader(TABLES["leads"])
        self.accounts_stream = StreamReader(TABLES["accounts"])
        self.env.wire.disarm()
        self.env.wire.new_world()
        self.env.bus.disarm()
        # Everything delivered so far, for redelivery.
        self.history_leads: list[dict[str, Any]] = []
        self.history_accounts: list[dict[str, Any]] = []
        self.history_schedules: list[Schedule] = []
        self.history_webhooks: list[Webhook] = []
        self.history_work: list[WorkMessage] = []
        # What is waiting to be delivered.
        self._retry_leads: list[tuple[dict[str, Any], int]] = []
        self._retry_threshold: list[tuple[dict[str, Any], int]] = []
        self._retry_notify: list[tuple[dict[str, Any], int]] = []
        self._work: list[WorkMessage] = []
        self.dead_letters: list[str] = []
        self.webhooks_pending: list[Webhook] = []
        self.webhooks_held: list[Webhook] = []
        self.hold_webhooks = False
        self.concurrent_copies = 0  # > 0: the next new leads arrive in concurrent invocations
        self.timezones: set[str] = set()
        self._emails_read = 0
        # (Message-ID, Subject, SES's message id) of every email, in the order sent
        self.emails: list[tuple[str, str, str]] = []
        self.last_grace_check: datetime | None = None
        # The instants of the reconciliation runs that began with nothing held back.
        self.reconciled_at_rest: list[datetime] = []
        self.events: list[dict[str, Any]] = []  # every event the bus received, in order

    def close(self) -> None:
        self.env.wire.disarm()
        self._mock.stop()

    # ------------------------------------------------------------------ clock

    @property
    def now(self) -> datetime:
        return self.env.clock.current

    def next_schedules(self, until: datetime) -> list[Schedule]:
        """The schedule occurrences due at the earliest instant in (now, until]."""
        start = self.now
        due: list[Schedule] = []
        for timezone in sorted(self.timezones):
            for at in local_occurrences(start, until, timezone, (6, 0), 4):
                due.append(Schedule(at, "weekly_invoice", {"run": "weekly", "timezone": timezone}))
                break
            for at in local_occurrences(start, until, timezone, (0, 5), None):
                due.append(
                    Schedule(at, "budget_reset", {"run": "budget_reset", "timezone": timezone})
                )
                break
        for at in local_occurrences(start, until, "UTC", (1, 0), None):
            scheduled = at.strftime("%Y-%m-%dT%H:%M:%SZ")  # <aws.scheduler.scheduled-time>
            due.append(Schedule(at, "reconcile", {"run": "reconcile", "scheduled_time": scheduled}))
            break
        hourly = self._next_grace_check(start, until)
        if hourly is not None:
            due.append(Schedule(hourly, "grace_check", {"run": "grace_check"}))
        if not due:
            return []
        first = min(schedule.at for schedule in due)
        return [schedule for schedule in due if schedule.at == first]

    def _next_grace_check(self, start: datetime, until: datetime) -> datetime | None:
        """The next hourly grace_check run in (start, until] the world fires.

        Every hourly run on which grace_check can act is fired: the first at or after each
        retry day (1, 3, 6), reminder mark (72 h, 24 h before the end) and grace end of
        every grace period running. The runs between them are sampled, one hour in
        ``GRACE_CHECK_SAMPLE``, to save time: by R9 they find nothing due. A redelivered
        grace_check event (the machine's ``redeliver_schedule``) runs at any instant.
        """
        hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        candidates: list[datetime] = []
        sampled = hour + timedelta(hours=(-hour.hour) % GRACE_CHECK_SAMPLE)
        if sampled <= until:
            candidates.append(sampled)
        for item in table_items(TABLES["accounts"]):
            first = item.get("first_failure_at", {}).get("S")
            end = item.get("grace_ends_at", {}).get("S")
            if not first or not end:
                continue
            first_at, end_at = parse_instant(first), parse_instant(end)
            marks = [first_at + timedelta(days=day) for day in (1, 3, 6)]
            marks += [end_at - timedelta(hours=72), end_at - timedelta(hours=24), end_at]
            for mark in marks:
                run = mark.replace(minute=0, second=0, microsecond=0)
                if run < mark:
                    run += timedelta(hours=1)
                if start < run <= until:
                    candidates.append(run)
        return min(candidates) if candidates else None

    def advance_to(self, until: datetime) -> None:
        """Move the clock to ``until``, firing each schedule occurrence on the way at its
        own instant, the system settling after each."""
        if until < self.now:
            raise ValueError("the clock never goes back")
        while True:
            together = self.next_schedules(until)
            if not together:
                break
            self.env.clock.current = together[0].at
            self.run_schedules(together)
            self.pump()
        self.env.clock.current = until
        self.pump()

    def run_schedules(self, schedules: list[Schedule], *, arrange: bool = True) -> None:
        """Invoke each schedule's function with its event, now, as Scheduler does (a run
        that fails is retried twice, then dead-lettered)."""
        ordered = self.policy.arrange(schedules) if arrange else schedules
        for schedule in ordered:
            if schedule not in self.history_schedules:
                self.history_schedules.append(schedule)
            if schedule.function == "grace_check":
                self.last_grace_check = self.now
            if schedule.function == "reconcile":
                self.counters.reconciliations += 1
                if self.at_rest():
                    self.reconciled_at_rest.append(self.now)
            self.counters.schedule_runs += 1
            failure: Exception | None = None
            for _ in range(1 + ASYNC_RETRIES):
                try:
                    answer = self.invoke(schedule.function, schedule.event)
                    failure = None
                    if schedule.function == "reconcile":
                        self.counters.payments_reconciled += answer["payments_compared"]
                        self.counters.attempts_resolved += answer["resolved"]
                    break
                except Exception as error:
                    failure = error
            if failure is not None:
                self.counters.dropped += 1
                self.dead_letters.append(f"{schedule.describe()}: {failure!r}")

    def reconciled_since(self, instant: datetime) -> bool:
        """Whether a daily reconciliation ran at or after ``instant`` with nothing held
        back (Stripe reachable): it resolved every attempt left unsettled before then."""
        return any(at >= instant for at in self.reconciled_at_rest)

    def at_rest(self) -> bool:
        """Nothing held back: no webhook held or failing, no work message waiting for its
        visibility timeout, no stream record waiting for a retry, no fault armed."""
        return not (
            self.webhooks_held
            or self.webhooks_pending
            or self._work
            or self._retry_leads
            or self._retry_threshold
            or self._retry_notify
            or self.env.wire.armed()
            or self.env.bus.armed()
        )

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        # Each function is its own process when deployed: none finds the Stripe secret in
        # a cache another function filled (CallLog sees each function read it). The
        # providers themselves are kept: a new one builds a boto3 session, loading its
        # service models again (a third of a step's time).
        for provider in DEFAULT_PROVIDERS.values():
            provider.clear_cache()
        with self.env.calls.invoking(function):
            return self.handlers[function].handler(event, LambdaContext(function_name=function))

    # ------------------------------------------------------------------ inputs

    def put_lead(self, item: dict[str, Any]) -> None:
        """Write a lead as the lead distribution system does: a raw item."""
        serializer = TypeSerializer()
        self._dynamodb.put_item(
            TableName=TABLES["leads"],
            Item={key: serializer.serialize(value) for key, value in item.items()},
        )

    def delete_lead(self, lead_id: str) -> None:
        self._dynamodb.delete_item(TableName=TABLES["leads"], Key={"lead_id": {"S": lead_id}})

    def api(
        self, method: str, path: str, body: Any = None, *, contractor: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """A request to the API function (``/admin`` as an operator, ``/me`` as
        ``contractor``)."""
        return self._request("api", method, path, body, contractor)

    def card_api(
        self, path: str, body: Any = None, *, contractor: str
    ) -> tuple[int, dict[str, Any]]:
        """A request to card_updated's contractor routes."""
        return self._request("card_updated", "POST", path, body, contractor)

    def _request(
        self, function: str, method: str, path: str, body: Any, contractor: str | None
    ) -> tuple[int, dict[str, Any]]:
        from tests.support.aws import rest_event

        event = rest_event(method, path, body)
        if contractor is not None:
            event["requestContext"]["authorizer"] = {
                "claims": {"username": contractor, "scope": "billing/contractor"}
            }
        response = self.invoke(function, event)
        if response.get("isBase64Encoded"):  # a document (an invoice's PDF)
            return response["statusCode"], {"base64": response["body"]}
        return response["statusCode"], json.loads(response["body"] or "null")

    def webhook(self, hook: Webhook) -> int:
        from tests.support.aws import rest_event

        event = rest_event("POST", "/webhooks/stripe")
        event["body"] = hook.payload
        signature = signed(hook.payload)
        event["headers"]["Stripe-Signature"] = signature
        event["multiValueHeaders"]["Stripe-Signature"] = [signature]
        response = self.invoke("card_updated", event)
        self.counters.webhooks += 1
        return int(response["statusCode"])

    def setup_succeeded(self, setup_intent_id: str) -> Webhook:
        """The ``setup_intent.succeeded`` event Stripe sends for a confirmed card setup."""
        found = self.env.wire.get(f"/v1/setup_intents/{setup_intent_id}")
        return self._event("setup_intent.succeeded", found)

    def _event(self, kind: str, found: dict[str, Any]) -> Webhook:
        payload = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex[:16]}",
                "object": "event",
                "type": kind,
                "created": int(self.now.timestamp()),
                "livemode": False,
                "data": {"object": found},
            }
        )
        return Webhook(kind, payload)

    def send_webhook(self, hook: Webhook) -> None:
        """Stripe sends ``hook`` (delivered by the next pump, or held)."""
        self.history_webhooks.append(hook)
        if self.hold_webhooks:
            self.webhooks_held.append(hook)
        else:
            self.webhooks_pending.append(hook)

    def release_webhooks(self, order: list[int] | None = None) -> None:
        held, self.webhooks_held = self.webhooks_held, []
        if order is not None:
            held = [held[i] for i in order]
        self.webhooks_pending.extend(held)

    # ------------------------------------------------------------------ the platform

    def pump(self, max_rounds: int = 60) -> None:
        """Deliver everything the platform would, until nothing more is produced."""
        for _ in range(max_rounds):
            progressed = self._stripe_events()
            progressed |= self._leads()
            progressed |= self._accounts()
            progressed |= self._work_queue()
            progressed |= self._webhooks()
            progressed |= self._unpublished()
            if not progressed:
                self._read_outputs()
                return
        raise AssertionError(f"the system did not settle in {max_rounds} rounds")

    def _stripe_events(self) -> bool:
        new = self.env.wire.take_new_intents()
        for intent_id in new:
            found = self.env.wire.refresh(intent_id)
            self.counters.payment_intents += 1
            if found.get("status") == "succeeded":
                self.send_webhook(self._event("payment_intent.succeeded", found))
            elif found.get("status") in ("requires_payment_method", "canceled"):
                self.send_webhook(self._event("payment_intent.payment_failed", found))
        return bool(new)

    def _leads(self) -> bool:
        fresh = self.leads_stream.new_records()
        self.history_leads.extend(fresh)
        wanted = [(record, 0) for record in fresh if leads_wanted(record)]
        if wanted and self.concurrent_copies:
            copies, self.concurrent_copies = self.concurrent_copies, 0
            self.deliver_concurrently([record for record, _ in wanted], copies)
            wanted = []
        batch = self._retry_leads + [(r, n) for r, n in self._arranged(wanted)]
        self._retry_leads = []
        if not batch:
            return bool(fresh)
        self._retry_leads = self._deliver_stream("on_lead", batch, LEADS_BATCH)
        return True

    def deliver_concurrently(self, records: list[dict[str, Any]], copies: int) -> None:
        """Each record in invocations of its own, ``copies`` of each, all at once, as
        Lambda runs concurrent invocations (beneath the per-process decorators, as
        ``tests/integration/steps.deliver_in_parallel`` does). A failed record is
        retried by the stream."""
        intake = self.handlers["on_lead"].intake
        work = [record for record in records for _ in range(copies)]
        with ThreadPoolExecutor(min(len(work), 8)) as pool:
            responses = list(pool.map(lambda r: intake.process([r], LambdaContext()), work))
        for record, response in zip(work, responses, strict=True):
            if response.get("batchItemFailures"):
                self._retry_leads.append((record, 1))

    def deliver_lead_records(self, records: list[dict[str, Any]]) -> None:
        """Deliver earlier Leads stream records again (the filter applies), as one batch."""
        wanted = [(record, 0) for record in records if leads_wanted(record)]
        self._retry_leads += self._deliver_stream("on_lead", wanted, LEADS_BATCH)

    def _accounts(self) -> bool:
        fresh = self.accounts_stream.new_records()
        self.history_accounts.extend(fresh)
        threshold = [(r, 0) for r in fresh if threshold_wanted(r)]
        notify = [(r, 0) for r in fresh if notify_wanted(r)]
        threshold = self._retry_threshold + self._arranged(threshold)
        notify = self._retry_notify + self._arranged(notify)
        self._retry_threshold = self._retry_notify = []
        if threshold:
            self._retry_threshold = self._deliver_stream(
                "weekly_invoice", threshold, THRESHOLD_BATCH
            )
        if notify:
            self._retry_notify = self._deliver_stream("notify", notify, NOTIFY_BATCH)
        return bool(fresh or threshold or notify)

    def deliver_account_records(self, records: list[dict[str, Any]]) -> None:
        """Deliver earlier Accounts stream records again to both of the stream's readers,
        each through its filter."""
        threshold = [(r, 0) for r in records if threshold_wanted(r)]
        notify = [(r, 0) for r in records if notify_wanted(r)]
        if threshold:
            self._retry_threshold += self._deliver_stream(
                "weekly_invoice", threshold, THRESHOLD_BATCH
            )
        if notify:
            self._retry_notify += self._deliver_stream("notify", notify, NOTIFY_BATCH)

    def _arranged(
        self, items: list[tuple[dict[str, Any], int]]
    ) -> list[tuple[dict[str, Any], int]]:
        return self.policy.arrange(items)

    def _deliver_stream(
        self, function: str, batch: list[tuple[dict[str, Any], int]], size: int
    ) -> list[tuple[dict[str, Any], int]]:
        """Invoke ``function`` with ``batch`` in batches of ``size``; the records to retry
        (a partial batch failure retries from the first failed record on)."""
        retry: list[tuple[dict[str, Any], int]] = []
        for offset in range(0, len(batch), size):
            chunk = batch[offset : offset + size]
            records = [record for record, _ in chunk]
            try:
                response = self.invoke(function, {"Records": records})
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            except Exception:
                failed = {record["dynamodb"]["SequenceNumber"] for record in records}
            if not failed:
                continue
            first = next(
                i for i, (r, _) in enumerate(chunk) if r["dynamodb"]["SequenceNumber"] in failed
            )
            for record, tries in chunk[first:]:
                if tries + 1 > STREAM_RETRIES:
                    self.counters.dropped += 1
                    self.dead_letters.append(
                        f"{function}: stream record {record['dynamodb']['SequenceNumber']} dropped"
                    )
                else:
                    retry.append((record, tries + 1))
        return retry

    def _work_queue(self) -> bool:
        fresh = [WorkMessage(uuid.uuid4().hex, body) for body in take_messages(INVOICE_QUEUE)]
        self.history_work.extend(fresh)
        self._work.extend(self.policy.arrange(fresh))
        visible = [m for m in self._work if m.visible_at <= self.now]
        if not visible:
            return bool(fresh)
        self._work = [m for m in self._work if m.visible_at > self.now]
        self.deliver_work(visible)
        return True

    def _unpublished(self) -> bool:
        """The unpublished-events queue to ``republish`` (batches of 10, as its mapping
        delivers them); a message it fails comes back (here at once)."""
        queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue(
            UNPUBLISHED_EVENTS_QUEUE_URL.rsplit("/", 1)[-1]
        )
        if not queue._messages:  # nothing kept (most rounds): no request
            return False
        received = self._sqs.receive_message(
            QueueUrl=UNPUBLISHED_EVENTS_QUEUE_URL,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return False
        arn = (
            f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT_ID}:"
            + UNPUBLISHED_EVENTS_QUEUE_URL.rsplit("/", 1)[-1]
        )
        records = [sqs_record(message, arn, self.now) for message in received]
        try:
            response = self.invoke("republish", {"Records": records})
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:  # every record failed: Powertools fails the batch, Lambda retries it
            failed = {record["messageId"] for record in records}
        for message in received:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=UNPUBLISHED_EVENTS_QUEUE_URL,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            else:
                self._sqs.delete_message(
                    QueueUrl=UNPUBLISHED_EVENTS_QUEUE_URL, ReceiptHandle=message["ReceiptHandle"]
                )
                self.counters.republished += 1
        return True

    def deliver_work(self, messages: list[WorkMessage], *, redelivery: bool = False) -> None:
        for offset in range(0, len(messages), WORK_BATCH):
            chunk = messages[offset : offset + WORK_BATCH]
            arn = f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT_ID}:{INVOICE_QUEUE}"
            records = [
                sqs_record(
                    {
                        "MessageId": f"{m.message_id}-{m.receives}",
                        "ReceiptHandle": uuid.uuid4().hex,
                        "Body": m.body,
                        "Attributes": {"ApproximateReceiveCount": str(m.receives + 1)},
                    },
                    arn,
                    self.now,
                )
                for m in chunk
            ]
            try:
                response = self.invoke("weekly_invoice", {"Records": records})
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            except Exception:
                failed = {record["messageId"] for record in records}
            for message, record in zip(chunk, records, strict=True):
                if redelivery:
                    continue
                message.receives += 1
                if record["messageId"] not in failed:
                    continue
                if message.receives >= WORK_MAX_RECEIVES:
                    self.counters.dropped += 1
                    self.dead_letters.append(f"work message {message.body} dead-lettered")
                else:
                    message.visible_at = self.now + WORK_VISIBILITY
                    self._work.append(message)

    def _webhooks(self) -> bool:
        if not self.webhooks_pending:
            return False
        pending, self.webhooks_pending = self.webhooks_pending, []
        failed = []
        for hook in self.policy.arrange(pending):
            if self.webhook(hook) >= 300:
                failed.append(hook)
        # Stripe retries a failed delivery later (for days): held until released.
        self.webhooks_held.extend(failed)
        return True

    # ------------------------------------------------------------------ outputs

    def _read_outputs(self) -> None:
        """The emails SES accepted and the events the bus received since the last read."""
        sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        parser = email.parser.HeaderParser()
        for message in sent[self._emails_read :]:
            headers = parser.parsestr(message.raw_data, headersonly=True)
            self.emails.append(
                (str(headers["Message-ID"]), str(headers["Subject"]), str(message.id))
            )
        self.counters.emails += len(sent) - self._emails_read
        self._emails_read = len(sent)
        self.events.extend(json.loads(body) for body in take_messages("test-events"))
        self.counters.events = len(self.events)


def friday_six_am(after: datetime, timezone: str) -> datetime:
    """The first Friday 06:00 in ``timezone`` strictly after ``after``."""
    return next(local_occurrences(after, after + timedelta(days=8), timezone, (6, 0), 4))
