"""Fault injection at every external call of the functions (issue 7, item 2).

Two wires sit between the functions and what they call:

- ``AwsWire`` between botocore and moto: it wraps moto's ``before-send`` handler (the
  ``BotocoreStubber`` every client of the process sends through, PynamoDB's included, since
  every model shares the process's one DynamoDB client), so that it sees each *attempt* of
  each API call, after botocore's retry logic and before moto acts. An attempt carries
  botocore's ``amz-sdk-invocation-id`` (one per API call, the same for all its retries) and
  ``amz-sdk-request: attempt=N``: the wire numbers the API calls of a service and can fail
  call ``k`` on its first attempt only (a transient fault the SDK's retries absorb) or on
  every attempt (a persistent one that escapes the SDK, which gives up after the client's
  ``total_max_attempts``: 4 for DynamoDB, ``functions/adapters/models.py``).
- ``FaultyStripeWire`` between the Stripe SDK and localstripe: the simulation's
  ``StripeWire`` (which keeps Stripe's idempotency keys, which localstripe ignores) with a
  fault at the ``k``-th Stripe request, once or on every try of that request (the adapter
  retries 3 times under the same key, ``functions/adapters/payments.py``).

The faults:

- DynamoDB: ``THROTTLED`` (400 ``ProvisionedThroughputExceededException``), ``CONFLICT``
  (writes only: ``TransactionCanceledException`` with a ``TransactionConflict`` reason for
  each item of a transaction, ``TransactionConflictException`` for a single-item write;
  botocore never retries either), ``SERVER_ERROR`` (500 ``InternalServerError``),
  ``TIMEOUT`` (``ConnectTimeoutError``: the request never reached DynamoDB) and
  ``LOST_ANSWER`` (writes only: DynamoDB applied the write, then ``ReadTimeoutError``; a
  retried ``TransactWriteItems`` is answered as DynamoDB does for the same
  ``ClientRequestToken``, which moto ignores: with the first answer, applied once).
- SES: ``THROTTLED`` (429 ``TooManyRequestsException``, SES v2's throttling answer).
- Stripe (``StripeFault``): a timeout before the request reached Stripe, a 500, a 429, and
  a lost answer (Stripe acted; the answer timed out).
- ``ProcessDied``: a ``BaseException``, raised at the first DynamoDB write after Stripe
  charged, that no ``except Exception`` of the functions catches: the process is gone.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from tests.simulation import world as world_module
from tests.simulation.world import Environment, StripeWire, World, environment, table_items
from tests.support.aws import TABLES

DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
)


class ProcessDied(BaseException):
    """The function's process ended (killed, timed out, out of memory) at this point."""


class InvocationEnded(RuntimeError):
    """What the platform sees of an invocation whose process died: no answer."""


class AwsFault(Enum):
    THROTTLED = "throttled"
    CONFLICT = "conflict"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    LOST_ANSWER = "lost_answer"


# The faults that make sense at a DynamoDB call of each kind: a read neither conflicts
# with a transaction nor has an effect whose answer can be lost.
READ_FAULTS = (AwsFault.THROTTLED, AwsFault.SERVER_ERROR, AwsFault.TIMEOUT)
WRITE_FAULTS = (*READ_FAULTS, AwsFault.CONFLICT, AwsFault.LOST_ANSWER)


def faults_for(operation: str) -> tuple[AwsFault, ...]:
    return WRITE_FAULTS if operation in DYNAMODB_WRITES else READ_FAULTS


class Persistence(Enum):
    ONCE = "once"  # the first attempt (try) only: the SDK's (adapter's) retry absorbs it
    PERSISTENT = "persistent"  # every attempt: it escapes, the invocation fails


@dataclass(frozen=True)
class Call:
    service: str
    operation: str


@dataclass
class AwsPlan:
    service: str  # botocore's service id: "dynamodb", "sesv2"
    call: int  # 1-based, among the calls of that service the wire watched
    fault: AwsFault
    persistence: Persistence


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name)
    if isinstance(value, bytes):
        return value.decode()
    return str(value or "")


def _attempt(request: Any) -> int:
    for part in _header(request, "amz-sdk-request").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "attempt":
            return int(value)
    return 1


def _json_error(status: int, code: str, message: str, **extra: Any) -> AWSResponse:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}
    ).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse("https://dynamodb.injected", status, headers, MockRawResponse(body))


def _rest_error(status: int, code: str, message: str) -> AWSResponse:
    body = json.dumps({"message": message}).encode()
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": "injected",
    }
    return AWSResponse("https://email.injected", status, headers, MockRawResponse(body))


class AwsWire:
    """Between botocore and moto: numbers the API calls of the watched services while
    ``watching`` says so, and fails the planned one."""

    def __init__(self, services: tuple[str, ...] = ("dynamodb", "sesv2")) -> None:
        self.services = services
        # Whether the calls of a service are numbered (and may fail) at this moment.
        self.watching: Callable[[str], bool] = lambda service: False
        self.plan: AwsPlan | None = None
        self.calls: list[Call] = []
        self.injected = 0
        self.die_at_next_write = False  # ProcessDied at the next watched DynamoDB write
        self.died = 0
        self._lock = threading.Lock()
        self._numbers: dict[tuple[str, str], int] = {}
        self._counts: dict[str, int] = {}
        self._transactions: dict[str, AWSResponse] = {}  # ClientRequestToken -> answer

    def reset(self) -> None:
        with self._lock:
            self.plan = None
            self.calls = []
            self.injected = 0
            self.die_at_next_write = False
            self.died = 0
            self._numbers = {}
            self._counts = {}
            self._transactions = {}

    def calls_of(self, service: str) -> list[str]:
        return [call.operation for call in self.calls if call.service == service]

    @contextmanager
    def installed(self) -> Iterator[AwsWire]:
        original = BotocoreStubber.__call__
        wire = self

        def through_wire(
            stubber: BotocoreStubber, event_name: str, request: Any, **kwargs: Any
        ) -> AWSResponse | None:
            if not stubber.enabled:
                return original(stubber, event_name, request, **kwargs)
            return wire._send(
                lambda: original(stubber, event_name, request, **kwargs), event_name, request
            )

        setattr(BotocoreStubber, "__call__", through_wire)  # noqa: B010
        try:
            yield self
        finally:
            setattr(BotocoreStubber, "__call__", original)  # noqa: B010

    def _send(self, forward: Callable[[], Any], event_name: str, request: Any) -> Any:
        _, service, operation = [*event_name.split("."), "", ""][:3]
        if service not in self.services or not self.watching(service):
            return forward()
        invocation = _header(request, "amz-sdk-invocation-id")
        attempt = _attempt(request)
        with self._lock:
            key = (service, invocation)
            if key not in self._numbers:
                self._counts[service] = self._counts.get(service, 0) + 1
                self._numbers[key] = self._counts[service]
                self.calls.append(Call(service, operation))
            number = self._numbers[key]
            plan = self.plan
            dying = (
                self.die_at_next_write and service == "dynamodb" and operation in DYNAMODB_WRITES
            )
            if dying:
                self.die_at_next_write = False
                self.died += 1
        if dying:
            raise ProcessDied(f"the process died before {operation}")
        if plan is None or plan.service != service or plan.call != number:
            return forward()
        if plan.persistence is Persistence.ONCE and attempt > 1:
            return self._replayed(operation, request) or forward()
        with self._lock:
            self.injected += 1
        return self._fail(plan.fault, service, operation, request, forward)

    def _replayed(self, operation: str, request: Any) -> AWSResponse | None:
        """DynamoDB's answer to a TransactWriteItems repeated with the ClientRequestToken of
        one it applied: the same answer, nothing applied again."""
        if operation != "TransactWriteItems":
            return None
        token = json.loads(request.body or b"{}").get("ClientRequestToken")
        return self._transactions.get(token) if token else None

    def _fail(
        self,
        fault: AwsFault,
        service: str,
        operation: str,
        request: Any,
        forward: Callable[[], Any],
    ) -> Any:
        if service == "sesv2":
            if fault is not AwsFault.THROTTLED:
                raise ValueError(f"no {fault} for SES")
            return _rest_error(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
        if fault is AwsFault.THROTTLED:
            return _json_error(
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            )
        if fault is AwsFault.SERVER_ERROR:
            return _json_error(500, "InternalServerError", "Internal server error")
        if fault is AwsFault.TIMEOUT:
            raise ConnectTimeoutError(endpoint_url=request.url)
        if fault is AwsFault.CONFLICT:
            if operation == "TransactWriteItems":
                items = json.loads(request.body or b"{}").get("TransactItems", [])
                reasons = [
                    {
                        "Code": "TransactionConflict",
                        "Message": "Transaction is ongoing for the item",
                    }
                    for _ in items
                ]
                return _json_error(
                    400,
                    "TransactionCanceledException",
                    "Transaction cancelled, please refer cancellation reasons for specific "
                    f"reasons [{', '.join('TransactionConflict' for _ in items)}]",
                    CancellationReasons=reasons,
                )
            return _json_error(
                400,
                "TransactionConflictException",
                "Transaction is ongoing for the item",
            )
        if fault is AwsFault.LOST_ANSWER:
            replayed = self._replayed(operation, request)
            answer = replayed if replayed is not None else forward()
            if operation == "TransactWriteItems" and answer is not None:
                token = json.loads(request.body or b"{}").get("ClientRequestToken")
                if token and answer.status_code == 200:
                    self._transactions.setdefault(token, answer)
            raise ReadTimeoutError(endpoint_url=request.url)
        raise AssertionError(fault)


# ---------------------------------------------------------------------------- Stripe


class StripeFault(Enum):
    TIMEOUT = "timeout"  # the request never reached Stripe
    SERVER_ERROR = "server_error"  # a 500 before Stripe did anything
    RATE_LIMITED = "rate_limited"  # a 429
    LOST_ANSWER = "lost_answer"  # Stripe acted, the answer never came


@dataclass
class StripePlan:
    request: int  # 1-based, among the Stripe requests the wire watched
    fault: StripeFault
    persistence: Persistence


@dataclass(frozen=True)
class StripeRequest:
    method: str
    path: str


@dataclass
class _Faulted:
    signature: tuple[str, str, str, str]
    left: int


class FaultyStripeWire(StripeWire):
    """The simulation's Stripe wire (idempotency keys kept, every PaymentIntent logged),
    numbering the requests made while ``watching`` says so and failing the planned one.

    A retry (the very same request again: method, URL, body, idempotency key) is not a new
    request: a ``PERSISTENT`` fault meets it too, up to ``TRIES`` tries in all."""

    TRIES = 4  # functions/adapters/payments.py: DEFAULT_RETRIES + 1

    def __init__(self) -> None:
        super().__init__()
        self.watching: Callable[[], bool] = lambda: False
        self.plan: StripePlan | None = None
        self.requests: list[StripeRequest] = []
        self.stripe_faults = 0
        self.charged = threading.Event()  # set when a PaymentIntent creation succeeded
        self.on_charge: Callable[[], None] = lambda: None
        self._faulted: _Faulted | None = None
        self._last: tuple[str, str, str, str] | None = None
        self._fault_lock = threading.Lock()

    def reset_faults(self) -> None:
        with self._fault_lock:
            self.plan = None
            self.requests = []
            self.stripe_faults = 0
            self._faulted = None
            self._last = None
            self.on_charge = lambda: None

    def request(  # type: ignore[override]
        self, method: str, url: str, headers: Any, post_data: Any = None
    ) -> tuple[bytes, int, Any]:
        fault = self._fault_for(method, url, headers, post_data)
        if fault is StripeFault.SERVER_ERROR:
            return _stripe_error(500, "api_error", "injected")
        if fault is StripeFault.RATE_LIMITED:
            return _stripe_error(429, "invalid_request_error", "Too many requests", "rate_limit")
        if fault is StripeFault.TIMEOUT:
            self._time_out()
        answer = super().request(method, url, headers, post_data)
        path = urlsplit(url).path
        if method == "post" and path == "/v1/payment_intents" and answer[1] == 200:
            self.on_charge()
        if fault is StripeFault.LOST_ANSWER:
            self._time_out()
        return answer

    def _fault_for(self, method: str, url: str, headers: Any, post_data: Any) -> StripeFault | None:
        if not self.watching():
            return None
        key = next(
            (str(v) for k, v in dict(headers or {}).items() if k.lower() == "idempotency-key"),
            "",
        )
        signature = (method, url, str(post_data or ""), key)
        with self._fault_lock:
            faulted = self._faulted
            if faulted is not None and faulted.signature == signature and faulted.left > 0:
                faulted.left -= 1
                self.stripe_faults += 1
                assert self.plan is not None
                return self.plan.fault
            if signature == self._last:
                return None  # a retry of a request that met no fault (or no more)
            self._last = signature
            self.requests.append(StripeRequest(method, urlsplit(url).path))
            number = len(self.requests)
            plan = self.plan
            if plan is None or plan.request != number:
                return None
            tries = 1 if plan.persistence is Persistence.ONCE else self.TRIES
            self._faulted = _Faulted(signature, tries - 1)
            self.stripe_faults += 1
            return plan.fault


def _stripe_error(
    status: int, kind: str, message: str, code: str | None = None
) -> tuple[bytes, int, Any]:
    from requests.structures import CaseInsensitiveDict

    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    body = json.dumps({"error": error}).encode()
    return body, status, CaseInsensitiveDict({"Content-Type": "application/json"})


@dataclass
class Tally:
    """How many cases a matrix ran, by scenario and fault."""

    cases: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, scenario: str, fault: str) -> None:
        self.cases[(scenario, fault)] = self.cases.get((scenario, fault), 0) + 1


# ---------------------------------------------------------------------------- the world


class FaultWorld(World):
    """A simulation world whose invocations of the function under test are watched: the
    wires number (and fail) the DynamoDB calls and Stripe requests of those invocations
    only, and SES's calls of every invocation (invoice emails and notices are sent by
    several functions)."""

    def __init__(self, env: Environment, start: datetime, aws: AwsWire) -> None:
        self.aws = aws
        self.target: Callable[[str, dict[str, Any]], bool] = lambda function, event: False
        self.acting = False  # the scenario's act, after its setup
        self._in_target = False
        self.target_invocations = 0
        super().__init__(env, start)
        wire = self.stripe
        aws.reset()
        wire.reset_faults()
        aws.watching = self._watching
        wire.watching = lambda: self.acting and self._in_target

    @property
    def stripe(self) -> FaultyStripeWire:
        wire = self.env.wire
        assert isinstance(wire, FaultyStripeWire)
        return wire

    def _watching(self, service: str) -> bool:
        if not self.acting:
            return False
        return True if service == "sesv2" else self._in_target

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """The invocation, watched if it is the target's; a process that died ends it
        without an answer: API Gateway answers 502, any other caller sees it fail (the
        platform delivers the input again), and the next invocation finds a new process."""
        self._in_target = self.target(function, event)
        if self._in_target and self.acting:
            self.target_invocations += 1
        try:
            return super().invoke(function, event)
        except ProcessDied:
            self.restart()
            if "httpMethod" in event:
                return {"statusCode": 502, "body": json.dumps({"message": "Internal server error"})}
            raise InvocationEnded(f"{function}'s process died") from None
        finally:
            self._in_target = False

    def restart(self) -> None:
        """A new process for every function: its modules loaded again, nothing kept."""
        for name, module in list(self.handlers.items()):
            self.handlers[name] = importlib.reload(module)

    def close(self) -> None:
        self.aws.watching = lambda service: False
        self.stripe.watching = lambda: False
        self.stripe.reset_faults()
        super().close()


@contextmanager
def fault_environment(log_dir: Path) -> Iterator[tuple[Environment, AwsWire]]:
    """The simulation's environment (localstripe, the functions' settings, clock and
    Stripe client) with the faulty Stripe wire, the AWS wire installed, botocore's retry
    delays skipped (the retries themselves happen), and one boto3 session kept across the
    fresh moto worlds (moto would otherwise make every world load botocore's service
    models again)."""
    import boto3
    import botocore.endpoint
    from botocore.retries.quota import RetryQuota
    from moto.core.config import default_user_config

    core = default_user_config.setdefault("core", {})
    saved_reset = core.get("reset_boto3_session", True)
    saved_stripe_wire = world_module.StripeWire
    saved_time = botocore.endpoint.time
    saved_client = boto3.client
    saved_acquire = RetryQuota.acquire
    clients: dict[str, Any] = {}

    def shared_client(*args: Any, **kwargs: Any) -> Any:
        config = kwargs.get("config")
        options = getattr(config, "_user_provided_options", None)
        key = repr((args, sorted((k, v) for k, v in kwargs.items() if k != "config"), options))
        if key not in clients:
            clients[key] = saved_client(*args, **kwargs)
        return clients[key]

    aws = AwsWire()
    try:
        core["reset_boto3_session"] = False
        # Each world loads every handler again, and each handler builds its clients: the
        # same clients serve every world (moto answers whichever world is current), and
        # their retry quota (botocore's standard mode) never runs out across the cases.
        setattr(boto3, "client", shared_client)  # noqa: B010
        setattr(RetryQuota, "acquire", lambda self, capacity_amount: True)  # noqa: B010
        setattr(botocore.endpoint, "time", _NoSleep())  # noqa: B010
        setattr(world_module, "StripeWire", FaultyStripeWire)  # noqa: B010
        with environment(log_dir) as env, aws.installed():
            setattr(world_module, "StripeWire", saved_stripe_wire)  # noqa: B010
            yield env, aws
    finally:
        setattr(boto3, "client", saved_client)  # noqa: B010
        setattr(RetryQuota, "acquire", saved_acquire)  # noqa: B010
        setattr(world_module, "StripeWire", saved_stripe_wire)  # noqa: B010
        setattr(botocore.endpoint, "time", saved_time)  # noqa: B010
        core["reset_boto3_session"] = saved_reset


class _NoSleep:
    """``time`` as botocore's endpoint uses it (to wait before a retry), without the wait."""

    def sleep(self, seconds: float) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


# ---------------------------------------------------------------------------- end state

INSTANT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?![\d:])"
)
# Stripe's ids (localstripe's have 14 characters after the prefix), not field names such
# as ``card_brand``.
STRIPE_ID = re.compile(r"\b(pi|cus|pm|seti|ch|evt|card|src|req|pmc)_[A-Za-z0-9]{12,}")
HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
MESSAGE_HASH = re.compile(r"\.[0-9a-f]{16}@")
# Instants from the act on are compared to within this: a redelivery comes later than the
# first delivery (a work message after its 12-minute visibility timeout, a stale attempt
# after IN_FLIGHT, the next hourly run), and what it records carries its own instant.
BUCKET = timedelta(hours=2)


def normalize(text: str, prefix: str, act_at: datetime) -> str:
    """``text`` with the run's contractor-id prefix, Stripe's, SES's and moto's random ids
    replaced, and every instant at or after ``act_at`` replaced by its 2-hour bucket
    counted from ``act_at`` (instants before it are the setup's: kept exactly)."""

    def instant(match: re.Match[str]) -> str:
        raw = match.group(0)
        try:
            at = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T"))
        except ValueError:
            return raw
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        if at < act_at:
            return at.astimezone(UTC).isoformat()
        return f"<act+{(at - act_at) // BUCKET * 2}h>"

    text = text.replace(f"{prefix}-", "run-")
    text = STRIPE_ID.sub(lambda m: f"{m.group(1)}_*", text)
    text = HEX_ID.sub("<hex>", text)
    text = MESSAGE_HASH.sub("@", text)
    return INSTANT.sub(instant, text)


def end_state(world: World, prefix: str, act_at: datetime) -> dict[str, Any]:
    """What a run left, normalized (``normalize``): every table, the emails SES accepted
    (each one: a list, so that a second copy shows), the facts announced on the bus (by
    event id, a fact announced again under its id is the same fact), Stripe's
    PaymentIntents for the run's invoices, and the inputs the platform gave up on."""
    tables: dict[str, list[str]] = {}
    for name in ("accounts", "ledger", "invoices", "notices", "quarantine", "leads"):
        items = []
        for item in table_items(TABLES[name]):
            item = dict(item)
            item.pop("message_id", None)  # SES's id of a notice's email
            items.append(json.dumps(item, sort_keys=True))
        tables[name] = sorted(items)
    intents = sorted(
        (intent.invoice_id or "", intent.attempt or "", intent.status, intent.amount)
        for intent in world.env.wire.intents.values()
        if (intent.invoice_id or "").startswith(f"{prefix}-")
    )
    state = {
        "tables": tables,
        "emails": sorted((message_id, subject) for message_id, subject, _ in world.emails),
        "events": sorted({json.dumps(event["detail"], sort_keys=True) for event in world.events}),
        "payment_intents": intents,
        "dead_letters": world.dead_letters,
    }
    normalized = json.loads(normalize(json.dumps(state, sort_keys=True), prefix, act_at))
    # Sorted again once normalized: random ids (a claim's token) no longer order the items.
    for name, items in normalized["tables"].items():
        normalized["tables"][name] = sorted(items)
    normalized["emails"] = sorted(normalized["emails"])
    return normalized


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """The parts of two end states that differ, each with what only one of them has."""
    found = []
    for part in expected:
        if part == "tables":
            for table, items in expected[part].items():
                mine = got[part][table]
                if mine != items:
                    only_expected = [i for i in items if i not in mine]
                    only_got = [i for i in mine if i not in items]
                    found.append(
                        f"table {table}: fault-free only {only_expected}; faulted only {only_got}"
                    )
        elif got[part] != expected[part]:
            found.append(f"{part}: fault-free {expected[part]}; faulted {got[part]}")
    return found
