"""Issue 7, item 2: fault injection at every external call of every function.

Each scenario is one function doing one piece of billing work on one input, in a fresh
world (``tests/support/faults.FaultWorld``: moto, localstripe behind a wire that keeps
Stripe's idempotency keys, the real handlers, the platform between them). Its fault-free
run gives the end state every faulted run must reach and the calls the function makes:
its DynamoDB calls, its Stripe requests, and the emails SES is asked to send. The matrix
then runs the scenario once per call and fault, in a fresh world:

- at each DynamoDB call: throttling, a 500 and a connect timeout, each once (botocore's
  retries absorb it) and on every attempt (4: it escapes the SDK and fails the
  invocation); at each write also a ``TransactionConflict`` (botocore never retries it) and
  a lost answer (DynamoDB applied the write, the answer timed out) once and on every
  attempt;
- at each Stripe request: a timeout, a 500, a 429 and a lost answer, each on one try (the
  adapter's retries absorb it) and on all four tries under the same key;
- at each SES send: throttling, once (absorbed) and on every attempt (escapes).

After the fault, the platform delivers the same input again as it would (a stream batch
is retried, a work message comes back after its visibility timeout, a schedule run is
retried and the hourly grace check runs, the app repeats a failed request, Stripe re-sends
a webhook it got no 2xx for), and the end state must equal the fault-free one: every
table, every email (once), every fact on the bus, every PaymentIntent (no second charge,
no lost payment), nothing dead-lettered. Instants from the act on are compared to within
two hours (``faults.normalize``): a redelivery is later than the first delivery.

``CALLS`` lists the calls of each scenario's fault-free run; ``test_the_matrix_covers_every_
call`` fails when a function's calls change, so that no new call goes without its faults.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.adapters.accounts import card_item
from functions.adapters.models import AccountModel
from functions.billing.invoices import Card
from functions.usecases.collection import IN_FLIGHT
from tests.simulation.world import (
    WORK_VISIBILITY,
    Environment,
    Schedule,
    browser_saves_card,
)
from tests.simulation.world import (
    StripeFault as ChargeFault,
)
from tests.support.cards import DECLINED_AT_CHARGE, VISA, card_from_browser
from tests.support.faults import (
    STRIPE_ID,
    AwsFault,
    AwsPlan,
    AwsWire,
    FaultWorld,
    Persistence,
    StripeFault,
    StripePlan,
    differences,
    end_state,
    fault_environment,
    faults_for,
)

START = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday 09:00 in Chicago
THURSDAY = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 06:00 in Chicago: the weekly run
GRACE_END = FRIDAY + timedelta(hours=168)
CHICAGO = "America/Chicago"


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Environment, AwsWire]]:
    with fault_environment(tmp_path_factory.mktemp("faults")) as env:
        yield env


# ---------------------------------------------------------------------------- steps


class Run:
    """One run of a scenario in a fresh world: its contractor, its clock, its steps."""

    def __init__(self, world: FaultWorld, prefix: str) -> None:
        self.world = world
        self.prefix = prefix
        self.cid = f"{prefix}-c"
        self._leads = 0

    def at(self, when: datetime) -> None:
        self.world.env.clock.current = when

    def open_account(self, budget: int = 100_000, threshold: int = 20_000) -> None:
        status, body = self.world.api(
            "POST",
            "/admin/accounts",
            {
                "contractor_id": self.cid,
                "business_name": "Acme Roofing",
                "billing_email": "billing@acme.example",
                "locale": "en",
                "timezone": CHICAGO,
                "monthly_budget_cents": budget,
                "threshold_cents": threshold,
                "signed_up_at": "2026-11-02T10:00:00-06:00",
            },
        )
        assert status == 201, body
        self.world.timezones.add(CHICAGO)
        self.world.pump()

    def save_card(self, number: str = VISA, *, retries: int = 0) -> None:
        """The app's card form: a SetupIntent, Stripe.js's part, then the confirm; a
        confirm answered 5xx is sent again (up to ``retries`` times), as the app does."""
        world = self.world
        status, body = world.card_api("/me/card/setup-intent", contractor=self.cid)
        assert status == 201, body
        browser_saves_card(world.env, body["setup_intent_id"], body["client_secret"], number)
        for _ in range(1 + retries):
            status, answer = world.card_api(
                "/me/card/confirm",
                {"setup_intent_id": body["setup_intent_id"]},
                contractor=self.cid,
            )
            if status < 500:
                break
        assert status == 200, answer
        world.pump()

    def leads(self, *prices: int) -> None:
        for price in prices:
            self._leads += 1
            self.world.put_lead(
                {
                    "lead_id": f"{self.prefix}-l{self._leads}",
                    "contractor_id": self.cid,
                    "price_cents": price,
                    "delivered_at": self.world.now.isoformat(),
                    "category": "roofing",
                }
            )
        self.world.pump()

    def friday(self) -> None:
        self.at(FRIDAY)
        self.fire("weekly_invoice", {"run": "weekly", "timezone": CHICAGO})

    def fire(self, function: str, event: dict[str, Any]) -> None:
        """A schedule fires now (a failed run is retried twice, as Lambda does)."""
        self.world.run_schedules([Schedule(self.world.now, function, event)])
        self.world.pump()

    def card_replaced_in_place(self) -> None:
        """The card on file becomes one that pays, with nothing collected at once (as if
        the contractor had fixed it with the bank): the next retry pays."""
        account = AccountModel.get(self.cid, consistent_read=True)
        customer = account.stripe_customer_id
        method = card_from_browser(self.world.env.browser, VISA)
        self.world.env.browser.v1.payment_methods.attach(method, params={"customer": customer})
        card = Card(method, "visa", "4242", 12, 2030)
        AccountModel(self.cid).update(
            actions=[
                AccountModel.card.set(card_item(card)),
                AccountModel.card_expires.set(card.expiry_month),
            ]
        )

    def failed_friday(self) -> None:
        """A card that declines every charge, a lead, and the Friday invoice past due."""
        self.open_account()
        self.save_card(DECLINED_AT_CHARGE)
        self.at(THURSDAY)
        self.leads(4_500)
        self.friday()


# ---------------------------------------------------------------------------- scenarios


def is_function(name: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda function, event: function == name


def is_route(name: str, path: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda function, event: function == name and event.get("path") == path


def is_source(name: str, source: str) -> Callable[[str, dict[str, Any]], bool]:
    def matches(function: str, event: dict[str, Any]) -> bool:
        records = event.get("Records") or [{}]
        return function == name and records[0].get("eventSource") == source

    return matches


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    act_at: datetime
    setup: Callable[[Run], None]
    act: Callable[[Run], None]
    target: Callable[[str, dict[str, Any]], bool]
    charges: bool = False  # the act charges a card (item 4: the process dies after it)

    def __str__(self) -> str:
        return self.name


def on_lead_setup(run: Run) -> None:
    run.open_account()
    run.save_card()


def on_lead_act(run: Run) -> None:
    run.leads(9_000, 6_000, 5_000)  # the third reaches the $200 threshold


def weekly_setup(run: Run) -> None:
    run.open_account()
    run.save_card()
    run.at(THURSDAY)
    run.leads(4_500, 3_000)


def threshold_setup(run: Run) -> None:
    run.open_account()
    run.save_card()
    run.at(THURSDAY - timedelta(days=1))
    run.leads(15_000)


def grace_retry_setup(run: Run) -> None:
    run.failed_friday()
    run.card_replaced_in_place()


def grace_end_setup(run: Run) -> None:
    run.failed_friday()
    run.at(GRACE_END - timedelta(hours=24))  # the day-6 retry, declined too, and a reminder
    run.fire("grace_check", {"run": "grace_check"})


def budget_setup(run: Run) -> None:
    run.open_account(budget=10_000)
    run.at(THURSDAY)
    run.leads(6_000, 4_000)  # the budget exactly: paused for budget


def webhook_setup(run: Run) -> None:
    """The Friday charge is made, but its answer and every retry's are lost: the invoice
    stays open with an attempt whose outcome is unknown; Stripe's webhook is on its way."""
    run.open_account()
    run.save_card()
    run.at(THURSDAY)
    run.leads(4_500)
    run.world.hold_webhooks = True
    run.world.env.wire.arm_next_charge(ChargeFault.LOST_ANSWER, *[ChargeFault.SERVER_ERROR] * 3)
    run.friday()
    run.world.hold_webhooks = False


def webhook_act(run: Run) -> None:
    run.world.release_webhooks()
    run.world.pump()


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "on_lead",
            "on_lead charges a batch of three leads, the third reaching the threshold",
            datetime(2026, 11, 18, 14, 0, tzinfo=UTC),
            on_lead_setup,
            on_lead_act,
            is_function("on_lead"),
        ),
        Scenario(
            "weekly",
            "weekly_invoice's Friday run: fan-out, then the work message issues, charges "
            "and emails the invoice",
            FRIDAY,
            weekly_setup,
            lambda run: run.friday(),
            is_function("weekly_invoice"),
            charges=True,
        ),
        Scenario(
            "threshold",
            "the threshold trigger invoices, charges and emails at once",
            datetime(2026, 11, 18, 14, 0, tzinfo=UTC),
            threshold_setup,
            lambda run: run.leads(6_000),
            is_source("weekly_invoice", "aws:dynamodb"),
            charges=True,
        ),
        Scenario(
            "grace_retry",
            "grace_check's day-1 retry pays the past-due invoice and ends the grace period",
            FRIDAY + timedelta(days=1),
            grace_retry_setup,
            lambda run: run.fire("grace_check", {"run": "grace_check"}),
            is_function("grace_check"),
            charges=True,
        ),
        Scenario(
            "grace_end",
            "grace_check at the grace end pauses the account for non-payment",
            GRACE_END,
            grace_end_setup,
            lambda run: run.fire("grace_check", {"run": "grace_check"}),
            is_function("grace_check"),
        ),
        Scenario(
            "budget_reset",
            "budget_reset starts the next budget period and lifts the budget pause",
            datetime(2026, 12, 2, 6, 5, tzinfo=UTC),  # 00:05 on the 2nd in Chicago
            budget_setup,
            lambda run: run.fire("budget_reset", {"run": "budget_reset", "timezone": CHICAGO}),
            is_function("budget_reset"),
        ),
        Scenario(
            "card_confirm",
            "card_updated's card confirm saves the new card and collects what is past due",
            FRIDAY + timedelta(days=1, hours=3),
            lambda run: run.failed_friday(),
            lambda run: run.save_card(VISA, retries=4),
            is_route("card_updated", "/me/card/confirm"),
            charges=True,
        ),
        Scenario(
            "webhook",
            "Stripe's payment_intent.succeeded webhook settles a charge whose answer was lost",
            FRIDAY + timedelta(minutes=1),
            webhook_setup,
            webhook_act,
            is_route("card_updated", "/webhooks/stripe"),
        ),
    )
}


def settle(run: Run, act_at: datetime) -> None:
    """What the platform does after the act, the same in every run: everything pumped;
    12 minutes on (13), the work queue gives back a failed message and Stripe re-sends the
    webhooks it got no 2xx for (an attempt left unknown is stale by then: IN_FLIGHT); an
    hour on, the hourly grace check runs, and again everything is re-sent; then the daily
    reconciliation (``functions/reconcile``) runs for the act's day, as an operator's run
    of that day (``{"run": "reconcile", "day": ...}``), and resolves the attempts no
    redelivery ran again (a threshold trigger's record is not delivered again once it
    succeeded). Its schedule fires at 01:00 UTC, after the act's day; it runs here, an hour
    on, so that what it records falls in the act's instants (``faults.BUCKET``) as in the
    fault-free run."""
    world = run.world
    world.pump()
    assert timedelta(minutes=13) > max(WORK_VISIBILITY, IN_FLIGHT)
    for minutes, grace_check in ((13, False), (61, True)):
        run.at(act_at + timedelta(minutes=minutes))
        world.release_webhooks()
        world.pump()
        if grace_check:
            run.fire("grace_check", {"run": "grace_check"})
        world.release_webhooks()
        world.pump()
    run.at(act_at + timedelta(minutes=62))
    run.fire("reconcile", {"run": "reconcile", "day": act_at.astimezone(UTC).date().isoformat()})
    world.release_webhooks()
    world.pump()


@dataclass
class Outcome:
    state: dict[str, Any]
    dynamodb: list[str]  # the operations of the DynamoDB calls the target made, in order
    stripe: list[str]  # the Stripe requests the target made, in order
    emails: int  # the emails SES was asked to send during the act
    injected: int  # the faults injected (each attempt or try that met one)
    invocations: int  # the target's invocations during the act


_serial = 0


def run_scenario(
    env: tuple[Environment, AwsWire],
    scenario: Scenario,
    aws_plan: AwsPlan | None = None,
    stripe_plan: StripePlan | None = None,
    during: Callable[[Run], None] | None = None,
) -> Outcome:
    """The scenario in a fresh world, with the planned fault (if any) in its act."""
    global _serial
    _serial += 1
    environment, aws = env
    world = FaultWorld(environment, START, aws)
    prefix = f"f{_serial:05d}x"  # letters and digits: it appears in email Message-IDs too
    try:
        run = Run(world, prefix)
        scenario.setup(run)
        run.at(scenario.act_at)
        world.target = scenario.target
        aws.plan = aws_plan
        world.stripe.plan = stripe_plan
        world.acting = True
        if during is not None:
            during(run)
        else:
            scenario.act(run)
            settle(run, scenario.act_at)
        world.acting = False
        return Outcome(
            end_state(world, prefix, scenario.act_at),
            aws.calls_of("dynamodb"),
            [STRIPE_ID.sub(r"\1_*", f"{r.method.upper()} {r.path}") for r in world.stripe.requests],
            len(aws.calls_of("sesv2")),
            aws.injected + world.stripe.stripe_faults,
            world.target_invocations,
        )
    finally:
        world.close()


_references: dict[str, Outcome] = {}


def reference(env: tuple[Environment, AwsWire], scenario: Scenario) -> Outcome:
    """The scenario's fault-free run (once per worker)."""
    if scenario.name not in _references:
        _references[scenario.name] = run_scenario(env, scenario)
    return _references[scenario.name]


# ---------------------------------------------------------------------------- defects found

# The cases of the matrix that meet a defect not fixed yet (strict xfails), each with a
# minimal regression test below. None at present; the defects this matrix found are fixed
# and their cases, and tests, pass (docs/reliability.md).
KNOWN_DEFECTS: dict[str, str] = {}


# ---------------------------------------------------------------------------- the matrix

# The calls of each scenario's fault-free run (checked by test_the_matrix_covers_every_call).
CALLS: dict[str, dict[str, Any]] = {
    "on_lead": {
        "dynamodb": [
            "TransactWriteItems",
            "TransactWriteItems",
            "TransactWriteItems",
            "TransactWriteItems",
        ],
        "stripe": [],
        "ses": 1,
    },
    "weekly": {
        "dynamodb": [
            "Query",
            "GetItem",
            "Query",
            "PutItem",
            "UpdateItem",
            "UpdateItem",
            "GetItem",
            "TransactWriteItems",
            "UpdateItem",
            "TransactWriteItems",
            "UpdateItem",
            "UpdateItem",
        ],
        "stripe": ["POST /v1/payment_intents"],
        "ses": 1,
    },
    "threshold": {
        "dynamodb": [
            "GetItem",
            "GetItem",
            "Query",
            "PutItem",
            "UpdateItem",
            "UpdateItem",
            "GetItem",
            "TransactWriteItems",
            "UpdateItem",
            "TransactWriteItems",
            "UpdateItem",
            "UpdateItem",
        ],
        "stripe": ["POST /v1/payment_intents"],
        "ses": 1,
    },
    "grace_retry": {
        "dynamodb": [
            "Query",
            "GetItem",
            "Query",
            "UpdateItem",
            "GetItem",
            "TransactWriteItems",
            "GetItem",
            "Query",
        ],
        "stripe": ["POST /v1/payment_intents"],
        "ses": 0,
    },
    "grace_end": {
        "dynamodb": [
            "Query",
            "GetItem",
            "GetItem",
            "TransactWriteItems",
            "GetItem",
            "Query",
            "GetItem",
            "GetItem",
        ],
        "stripe": [],
        "ses": 1,
    },
    "budget_reset": {
        "dynamodb": ["Query", "GetItem", "TransactWriteItems", "Query"],
        "stripe": [],
        "ses": 1,
    },
    "card_confirm": {
        "dynamodb": [
            "GetItem",
            "GetItem",
            "TransactWriteItems",
            "GetItem",
            "Query",
            "UpdateItem",
            "GetItem",
            "TransactWriteItems",
            "UpdateItem",
            "GetItem",
        ],
        "stripe": [
            "GET /v1/setup_intents/seti_*",
            "POST /v1/payment_methods/pm_*/attach",
            "POST /v1/customers/cus_*",
            "POST /v1/payment_intents",
        ],
        "ses": 0,
    },
    "webhook": {
        "dynamodb": ["GetItem", "TransactWriteItems", "GetItem", "UpdateItem", "UpdateItem"],
        "stripe": [],
        "ses": 1,
    },
}

# botocore never retries a cancelled transaction or a conflict: one occurrence is the fault.
SINGLE = {AwsFault.CONFLICT}
# botocore's standard retry mode treats a throttle, a 500 and a connect timeout alike (each
# is retried with the same request): throttling stands for the three once, and each of
# them escapes on every attempt.
PERSISTENT_ONLY = {AwsFault.SERVER_ERROR, AwsFault.TIMEOUT}


def persistences(fault: AwsFault | StripeFault) -> tuple[Persistence, ...]:
    if fault in SINGLE:
        return (Persistence.ONCE,)
    if fault in PERSISTENT_ONLY:
        return (Persistence.PERSISTENT,)
    return (Persistence.ONCE, Persistence.PERSISTENT)


def dynamodb_cases() -> list[Any]:
    return [
        pytest.param(
            name,
            number,
            fault,
            persistence,
            id=f"{name}-{number:02d}-{operation}-{fault.value}-{persistence.value}",
            marks=known_defect(
                f"dynamodb-{name}-{number:02d}-{operation}-{fault.value}-{persistence.value}"
            ),
        )
        for name, calls in CALLS.items()
        for number, operation in enumerate(calls["dynamodb"], 1)
        for fault in faults_for(operation)
        for persistence in persistences(fault)
    ]


def stripe_cases() -> list[Any]:
    return [
        pytest.param(
            name,
            number,
            fault,
            persistence,
            id=f"{name}-{number}-{request.split()[0]}-{fault.value}-{persistence.value}",
            marks=known_defect(
                f"stripe-{name}-{number}-{request.split()[0]}-{fault.value}-{persistence.value}"
            ),
        )
        for name, calls in CALLS.items()
        for number, request in enumerate(calls["stripe"], 1)
        for fault in StripeFault
        for persistence in persistences(fault)
    ]


def ses_cases() -> list[Any]:
    return [
        pytest.param(
            name,
            number,
            persistence,
            id=f"{name}-{number}-{persistence.value}",
            marks=known_defect(f"ses-{name}-{number}-{persistence.value}"),
        )
        for name, calls in CALLS.items()
        for number in range(1, calls["ses"] + 1)
        for persistence in persistences(AwsFault.THROTTLED)
    ]


def known_defect(case: str) -> list[Any]:
    """The xfail mark of a case that meets a defect found here (``KNOWN_DEFECTS``)."""
    reason = KNOWN_DEFECTS.get(case)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


CHARGING = [name for name, scenario in SCENARIOS.items() if scenario.charges]
DYNAMODB_ATTEMPTS = 4  # functions/adapters/models.py: 1 + PynamoDB's max_retry_attempts (3)
SES_ATTEMPTS = 3  # botocore's default (standard) retry mode, the SES client's: 1 + 2 retries


def assert_same_end(expected: Outcome, got: Outcome) -> None:
    found = differences(expected.state, got.state)
    assert not found, "the faulted run ended elsewhere:\n" + "\n".join(found)


def assert_one_payment_per_invoice(state: dict[str, Any]) -> None:
    succeeded: dict[str, int] = {}
    for invoice_id, _, status, _ in state["payment_intents"]:
        if status == "succeeded":
            succeeded[invoice_id] = succeeded.get(invoice_id, 0) + 1
    assert all(count == 1 for count in succeeded.values()), succeeded
    paid = {
        json.loads(item)["invoice_id"]["S"]
        for item in state["tables"]["invoices"]
        if json.loads(item)["status"]["S"] == "paid"
    }
    assert set(succeeded) == paid, (succeeded, paid)


@pytest.mark.parametrize(("scenario", "call", "fault", "persistence"), dynamodb_cases())
def test_a_dynamodb_fault_at_any_call_ends_in_the_fault_free_state(
    faults: tuple[Environment, AwsWire],
    scenario: str,
    call: int,
    fault: AwsFault,
    persistence: Persistence,
) -> None:
    # Given the scenario's fault-free end
    expected = reference(faults, SCENARIOS[scenario])
    # When its function's DynamoDB call meets the fault, and the platform delivers the
    # input again as it would
    got = run_scenario(
        faults, SCENARIOS[scenario], aws_plan=AwsPlan("dynamodb", call, fault, persistence)
    )
    # Then the fault happened (once, or on every attempt botocore made)
    attempts = 1 if persistence is Persistence.ONCE or fault in SINGLE else DYNAMODB_ATTEMPTS
    assert got.injected == attempts
    # And a fault the SDK retries away cost no invocation (a lost answer may: the retry
    # of an applied conditional write fails its condition)
    if persistence is Persistence.ONCE and fault is AwsFault.THROTTLED:
        assert got.invocations == expected.invocations
    # And everything ends as without the fault: no charge doubled or lost, no lead lost,
    # each email once
    assert_same_end(expected, got)
    assert_one_payment_per_invoice(got.state)


@pytest.mark.parametrize(("scenario", "request_number", "fault", "persistence"), stripe_cases())
def test_a_stripe_fault_at_any_request_ends_in_the_fault_free_state(
    faults: tuple[Environment, AwsWire],
    scenario: str,
    request_number: int,
    fault: StripeFault,
    persistence: Persistence,
) -> None:
    expected = reference(faults, SCENARIOS[scenario])
    got = run_scenario(
        faults, SCENARIOS[scenario], stripe_plan=StripePlan(request_number, fault, persistence)
    )
    tries = 1 if persistence is Persistence.ONCE else 4
    assert got.injected == tries
    assert_same_end(expected, got)
    assert_one_payment_per_invoice(got.state)


@pytest.mark.parametrize(("scenario", "send", "persistence"), ses_cases())
def test_ses_throttling_at_any_email_sends_it_exactly_once(
    faults: tuple[Environment, AwsWire], scenario: str, send: int, persistence: Persistence
) -> None:
    expected = reference(faults, SCENARIOS[scenario])
    got = run_scenario(
        faults,
        SCENARIOS[scenario],
        aws_plan=AwsPlan("sesv2", send, AwsFault.THROTTLED, persistence),
    )
    assert got.injected == (1 if persistence is Persistence.ONCE else SES_ATTEMPTS)
    assert_same_end(expected, got)  # the emails are a list: a second copy would show


@pytest.mark.parametrize("scenario", CHARGING)
def test_a_process_that_dies_after_stripe_charged_charges_once_when_it_runs_again(
    faults: tuple[Environment, AwsWire], scenario: str
) -> None:
    """The function's process dies at its first DynamoDB write after Stripe charged (the
    attempt is recorded as under way, its success is not): the platform delivers the input
    again; once IN_FLIGHT has passed, the run finds the payment Stripe made. Stripe's
    webhook for it is held back until the end, so that the re-run alone must settle it."""
    expected = reference(faults, SCENARIOS[scenario])
    _, aws = faults
    settled_before_webhooks: list[bool] = []

    def dies_after_the_charge(run: Run) -> None:
        world = run.world

        def charged() -> None:
            if world._in_target:
                aws.die_at_next_write = True

        world.stripe.on_charge = charged
        world.hold_webhooks = True
        SCENARIOS[scenario].act(run)
        settle(run, SCENARIOS[scenario].act_at)
        assert aws.died == 1, "the process did not die after the charge"
        settled_before_webhooks.append(open_invoices(run) == [])
        world.hold_webhooks = False
        world.release_webhooks()
        world.pump()

    got = run_scenario(faults, SCENARIOS[scenario], during=dies_after_the_charge)
    assert_same_end(expected, got)
    assert_one_payment_per_invoice(got.state)
    assert settled_before_webhooks == [True], "the run again did not settle the charge"


def open_invoices(run: Run) -> list[str]:
    from functions.adapters.models import InvoiceModel

    return [
        invoice.invoice_id
        for invoice in InvoiceModel.scan(consistent_read=True)
        if invoice.status == "open"
    ]


def test_the_matrix_covers_every_call(
    faults: tuple[Environment, AwsWire], record_property: Callable[[str, object], None]
) -> None:
    """Each scenario's fault-free run makes exactly the calls the matrix is generated
    from: a call added to a function fails this test until ``CALLS`` names it (and the
    matrix then covers it)."""
    for name, scenario in SCENARIOS.items():
        seen = reference(faults, scenario)
        assert {
            "dynamodb": seen.dynamodb,
            "stripe": seen.stripe,
            "ses": seen.emails,
        } == CALLS[name], name
        assert seen.state["dead_letters"] == []
    dynamodb, stripe, ses = dynamodb_cases(), stripe_cases(), ses_cases()
    sites = sum(len(calls["dynamodb"]) for calls in CALLS.values())
    writes = sum(
        1
        for calls in CALLS.values()
        for operation in calls["dynamodb"]
        if len(faults_for(operation)) > 3
    )
    requests = sum(len(calls["stripe"]) for calls in CALLS.values())
    sends = sum(calls["ses"] for calls in CALLS.values())
    total = len(dynamodb) + len(stripe) + len(ses) + len(CHARGING)
    record_property(
        "faults",
        f"{len(SCENARIOS)} scenarios; DynamoDB: {sites} calls ({writes} writes) x "
        f"(throttling once and persistent, 500 and timeout persistent; at writes also a "
        f"conflict, and a lost answer once and persistent) = {len(dynamodb)} cases; "
        f"Stripe: {requests} requests x 4 faults x "
        f"once/persistent = {len(stripe)} cases; SES throttling: {sends} sends x "
        f"once/persistent = {len(ses)} cases; process died after the charge: "
        f"{len(CHARGING)} cases; {total} cases, {total - len(KNOWN_DEFECTS)} ending in the "
        f"fault-free state, {len(KNOWN_DEFECTS)} meeting a defect found (xfail)",
    )


def test_a_notice_whose_send_failed_can_be_claimed_again(aws: Any, clock: Any) -> None:
    """R14 (found here: ``ses-grace_end-1-persistent``, ``ses-budget_reset-1-persistent``):
    a notice whose SES send failed, its claim given back, is sent by the next delivery."""
    from functions.adapters.notices import NoticeStore
    from functions.billing.account import PauseReason
    from functions.billing.notices import paused_notice

    store = NoticeStore()
    notice = paused_notice("c-1", PauseReason.NON_PAYMENT, GRACE_END)
    # Given a sender claimed the notice, SES refused the email, and it gave the claim back
    token = store.claim(notice, GRACE_END)
    assert token is not None
    store.release(notice, token)
    # When the input is delivered again, a minute later
    # Then the notice can be claimed, and so sent
    assert store.claim(notice, GRACE_END + timedelta(minutes=1)) is not None


def one_case(
    env: tuple[Environment, AwsWire],
    scenario: str,
    aws_plan: AwsPlan | None = None,
    stripe_plan: StripePlan | None = None,
) -> None:
    expected = reference(env, SCENARIOS[scenario])
    got = run_scenario(env, SCENARIOS[scenario], aws_plan=aws_plan, stripe_plan=stripe_plan)
    assert got.injected
    assert_same_end(expected, got)


def test_an_invoice_email_whose_sent_mark_failed_is_not_sent_twice(
    faults: tuple[Environment, AwsWire],
) -> None:
    """R5: SES took the invoice email, then marking it sent failed past botocore's
    retries: the run keeps its claim and writes the mark again (``send_claims.
    keep_trying``), so the redelivery sends nothing more (the end state's emails are a
    list: a second copy would show)."""
    mark = CALLS["weekly"]["dynamodb"].index("UpdateItem", 10) + 2  # after the claim
    one_case(faults, "weekly", AwsPlan("dynamodb", mark, AwsFault.THROTTLED, PERSISTENT))


def test_an_invoice_email_whose_claim_answer_was_lost_is_still_sent(
    faults: tuple[Environment, AwsWire],
) -> None:
    """R5: the email's claim was applied, its answer lost; botocore's retry fails its
    condition on the run's own claim (its token), which is the run's: the email goes."""
    claim = CALLS["weekly"]["dynamodb"].index("UpdateItem", 10) + 1
    one_case(faults, "weekly", AwsPlan("dynamodb", claim, AwsFault.LOST_ANSWER, ONCE))


@pytest.mark.parametrize("scenario", ["budget_reset", "grace_end"])
def test_a_pause_or_reactivation_whose_transactions_answer_was_lost_is_announced(
    faults: tuple[Environment, AwsWire], scenario: str
) -> None:
    """R12: the transaction that lifts a budget pause at the reset (or pauses for
    non-payment at the grace end) commits, and its answer is lost on every attempt: the run
    fails, and its redelivery finds nothing left to change. notify announces it from the
    accounts stream, as the run would have."""
    transaction = CALLS[scenario]["dynamodb"].index("TransactWriteItems") + 1
    one_case(faults, scenario, AwsPlan("dynamodb", transaction, AwsFault.LOST_ANSWER, PERSISTENT))


def test_an_attempt_resolved_from_stripe_keeps_the_instant_it_started(
    faults: tuple[Environment, AwsWire],
) -> None:
    """An attempt's instant is the instant it started, whoever settles it: the run that
    resolves it from Stripe's records as Stripe's webhook (the attempt started before the
    act: its instant is compared exactly, ``faults.normalize``)."""
    # The webhook fails (its first read throttled past the retries): the work message's
    # redelivery resolves the attempt instead of the webhook.
    one_case(faults, "webhook", AwsPlan("dynamodb", 1, AwsFault.THROTTLED, PERSISTENT))


ONCE, PERSISTENT = Persistence.ONCE, Persistence.PERSISTENT
