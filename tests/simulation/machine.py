"""Issue 7, item 1: a Hypothesis state machine over the real handlers.

Each example is one fresh world (``tests.simulation.world.World``): moto's AWS with every
table, the handlers loaded against it, localstripe behind the idempotent, fault-injecting
wire. Its rules are what happens to a lead marketplace's billing: accounts opened in every
billing timezone on any signup day, leads delivered (valid, invalid, duplicated, several
at once, concurrently), the clock moved (to Fridays, budget resets, grace ends, a second
before them, arbitrary jumps) with every schedule firing on the way, cards saved (one that
works, one whose every charge is declined) through the app and Stripe's webhooks, past-due
balances paid, budgets changed, leads credited, Stripe in trouble, webhooks held back and
released out of order, and any earlier stream record, schedule event, work message or
webhook delivered again. After every step, ``tests.simulation.invariants.check``.

The rules draw their choices from what the machine itself recorded (indices into its own
lists), never from what the system answered, so that a failing sequence replays exactly.
"""

from __future__ import annotations

import functools
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import stripe
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from functions.adapters.accounts import parse_instant
from functions.adapters.models import AccountModel, LedgerEntryModel
from functions.billing.invoices import BILLING_TIMEZONES
from tests.conftest import KNOWN_SECRETS
from tests.simulation.invariants import AccountFacts, check
from tests.simulation.world import (
    Counters,
    Environment,
    StripeFault,
    World,
    account_item,
    browser_saves_card,
    friday_six_am,
    ledger_item,
    table_items,
)
from tests.support.aws import REGION, TABLES, TransactionConflicts
from tests.support.cards import API_KEY, DECLINED_AT_CHARGE, VISA
from tests.support.leaks import email_leaks, table_leaks

START = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday 09:00 in Chicago
MAX_ACCOUNTS = 4
TICK = timedelta(seconds=1)
PRICES = (100, 1_500, 4_500, 9_000, 12_500, 20_000, 30_000)
BUDGETS = (10_000, 30_000, 60_000, 250_000)
THRESHOLDS = (20_000, 8_000)
CATEGORIES = ("roofing", "plumbing", "hvac")
LEAD_KINDS = (
    "valid",
    "valid",
    "valid",
    "valid",
    "late",
    "zero_price",
    "fractional_price",
    "future",
    "ancient",
    "unknown_contractor",
    "repeat",
    "reinsert",
)
CLOCK_MOVES = (
    "friday",
    "reset",
    "grace_end",
    "before_grace_end",
    "reminder_72h",
    "reminder_24h",
    "minutes",
    "hours",
    "days",
)
STRIPE_TROUBLE = {
    # Stripe charged, the answer was lost, every retry of the same key failed: unknown.
    "charged_answer_lost": [StripeFault.LOST_ANSWER] + [StripeFault.SERVER_ERROR] * 3,
    # The request never reached Stripe, nor did the retries: unknown, nothing charged.
    "unreachable": [StripeFault.UNREACHABLE] * 4,
    # The answer was lost once; the retry with the same key gets Stripe's first answer.
    "answer_lost_once": [StripeFault.LOST_ANSWER],
    # A 500 once, then the retry goes through.
    "server_error_once": [StripeFault.SERVER_ERROR],
}

# EventBridge refuses this many PutEvents calls in a row: a function's, then republish's.
BUS_REFUSALS = 2

# What every machine of this process did, for the summary line (see conftest.py).
TOTALS = Counters()
RULES: Counter[str] = Counter()  # how often each rule ran
# Card numbers or secrets found in a world's tables or emails, and charges Stripe holds that
# the wire did not see (the invariants read the wire's log of PaymentIntents).
LEAKS: list[str] = []


@dataclass
class PutLead:
    lead_id: str
    contractor_id: str
    price: Any
    delivered_at: datetime
    kind: str


class BillingMachine(RuleBasedStateMachine):
    """The billing, driven by Hypothesis; see the module's doc."""

    env: Environment  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        self.world = World(self.env, START)
        self.prefix = f"s{uuid.uuid4().hex[:6]}"
        self.accounts: list[str] = []
        self.facts: dict[str, AccountFacts] = {}
        self.leads: list[PutLead] = []  # leads written with a contractor that exists
        self.future_leads: set[str] = set()
        self.charged: list[tuple[str, str]] = []  # (contractor, lead) of every charge seen
        self._charged_known: set[str] = set()
        self._serial = 0
        self._checks = 0
        self._business = 0
        self.world.counters.examples = 1

    def teardown(self) -> None:
        """The world's tables and emails are searched for card numbers and secrets, as the
        integration tests' are (README, "What every test run also checks"); what leaked
        fails the test once Hypothesis is done (``LEAKS``)."""
        try:
            TOTALS.add(self.world.counters)
            LEAKS.extend(stored_leaks())
            LEAKS.extend(unlogged_charges(self.world))
        finally:
            self.world.close()

    # ------------------------------------------------------------------ helpers

    def _begin(self) -> None:
        """Every step starts a second after the one before: real time passes between
        requests, and facts recorded by their instant (a pause, its lift) stay distinct."""
        RULES[sys._getframe(1).f_code.co_name] += 1
        self.world.advance_to(self.world.now + TICK)

    def _next_id(self, what: str) -> str:
        self._serial += 1
        return f"{self.prefix}-{what}{self._serial:04d}"

    def _account(self, pick: int) -> str:
        return self.accounts[pick % len(self.accounts)]

    def _item(self, contractor_id: str) -> AccountModel:
        raw = account_item(contractor_id)
        assert raw is not None, f"account {contractor_id} vanished"
        return AccountModel.from_raw_data(raw)

    # ------------------------------------------------------------------ accounts

    @initialize(
        accounts=st.lists(
            st.tuples(
                st.sampled_from(BILLING_TIMEZONES),
                st.integers(1, 31),
                st.sampled_from(BUDGETS),
                st.sampled_from(THRESHOLDS),
                st.sampled_from(("en", "es")),
                st.booleans(),
            ),
            min_size=1,
            max_size=3,
        )
    )
    def first_accounts(self, accounts: list[tuple[str, int, int, int, str, bool]]) -> None:
        """Every world starts with one to three accounts, some with a card that works."""
        for timezone, signup_day, budget, threshold, locale, card in accounts:
            self.open_account(timezone, signup_day, budget, threshold, locale)
            if card:
                self.save_card(len(self.accounts) - 1, True, "app_then_webhook")

    @precondition(lambda self: len(self.accounts) < MAX_ACCOUNTS)
    @rule(
        timezone=st.sampled_from(BILLING_TIMEZONES),
        signup_day=st.integers(1, 31),
        budget=st.sampled_from(BUDGETS),
        threshold=st.sampled_from(THRESHOLDS),
        locale=st.sampled_from(("en", "es")),
    )
    def open_account(
        self, timezone: str, signup_day: int, budget: int, threshold: int, locale: str
    ) -> None:
        """POST /admin/accounts, signed up on ``signup_day`` of this month or the last."""
        self._begin()
        contractor_id = self._next_id("c")
        signed_up = signup_before(self.world.now, signup_day, timezone)
        status, body = self.world.api(
            "POST",
            "/admin/accounts",
            {
                "contractor_id": contractor_id,
                "business_name": "Acme Roofing",
                "billing_email": f"{contractor_id}@acme.example",
                "locale": locale,
                "timezone": timezone,
                "monthly_budget_cents": budget,
                "threshold_cents": threshold,
                "signed_up_at": signed_up.isoformat(),
            },
        )
        assert status == 201, body
        self.accounts.append(contractor_id)
        self.facts[contractor_id] = AccountFacts(
            contractor_id, timezone, budgets=[(self.world.now, budget)]
        )
        self.world.timezones.add(timezone)
        self.world.pump()

    # ------------------------------------------------------------------ leads

    @precondition(lambda self: self.accounts)
    @rule(
        leads=st.lists(
            st.tuples(
                st.integers(0, MAX_ACCOUNTS - 1),
                st.sampled_from((*PRICES, "remaining")),
                st.sampled_from(LEAD_KINDS),
                st.integers(0, 10_000),
            ),
            min_size=1,
            max_size=5,
        ),
        how=st.sampled_from(("stream", "stream", "stream", "concurrent", "conflicts")),
    )
    def deliver_leads(self, leads: list[tuple[int, Any, str, int]], how: str) -> None:
        """The lead distribution system writes leads into the Leads table; the stream
        delivers them: in one batch; or each in concurrent invocations, three copies at
        once (when they are for different accounts); or with DynamoDB cancelling the first
        three transactions for contention."""
        self._begin()
        world = self.world
        now = world.now
        before = {cid: self._item(cid) for cid in self.accounts}
        put: list[PutLead] = []
        for pick, price, kind, n in leads:
            contractor_id = self._account(pick)
            if price == "remaining":
                price = max(int(before[contractor_id].remaining_cents), 1)
                price = min(price, 100_000)
            if kind in ("repeat", "reinsert"):
                if not self.leads:
                    continue
                earlier = self.leads[n % len(self.leads)]
                if kind == "reinsert":
                    world.delete_lead(earlier.lead_id)
                    # The same lead again, at another price: charged once, at the first.
                    again = PutLead(
                        earlier.lead_id,
                        earlier.contractor_id,
                        price,
                        earlier.delivered_at,
                        "reinsert",
                    )
                else:
                    again = PutLead(
                        earlier.lead_id,
                        earlier.contractor_id,
                        earlier.price,
                        earlier.delivered_at,
                        "repeat",
                    )
                world.put_lead(lead_item(again, CATEGORIES[n % 3]))
                put.append(again)
                continue
            lead = PutLead(self._next_id("L"), contractor_id, price, now, kind)
            if kind == "late":
                lead.delivered_at = now - timedelta(minutes=1 + n % 4_000)
            elif kind == "zero_price":
                lead.price = 0
            elif kind == "fractional_price":
                lead.price = Decimal("12.5")
            elif kind == "future":
                lead.delivered_at = now + timedelta(hours=1)
                self.future_leads.add(lead.lead_id)
            elif kind == "ancient":
                lead.delivered_at = now - timedelta(days=70)
            elif kind == "unknown_contractor":
                lead.contractor_id = f"{self.prefix}-nobody"
            world.put_lead(lead_item(lead, CATEGORIES[n % 3]))
            put.append(lead)
            if kind in ("valid", "late"):
                self.leads.append(lead)
        world.counters.leads += len(put)
        expected = expected_outcomes(before, put)
        conflicts = None
        if how == "concurrent" and len({lead.lead_id for lead in put}) == len(put):
            # Three copies of each record at once. Leads of one account at once would
            # settle in an order nobody decides, and the run could not be replayed: the
            # concurrent leads of one account are tests/integration/test_on_lead.py's.
            if len({lead.contractor_id for lead in put}) == len(put):
                world.concurrent_copies = 3
        elif how == "conflicts":
            conflicts = TransactionConflicts(3)
            conflicts.install()
            world.counters.faults += 3
        try:
            world.pump()
        finally:
            if conflicts is not None:
                conflicts.uninstall()
        world.pump()
        self._check_outcomes(put, expected)

    @precondition(lambda self: self.accounts)
    @rule(
        leads=st.lists(
            st.tuples(
                st.integers(0, MAX_ACCOUNTS - 1),
                st.sampled_from(PRICES),
                st.just("valid"),
                st.integers(0, 10_000),
            ),
            min_size=1,
            max_size=3,
        ),
        minutes=st.integers(1, 600),
    )
    def busy_hours(self, leads: list[tuple[int, Any, str, int]], minutes: int) -> None:
        """Valid leads, then the clock moves on by up to ten hours."""
        self.deliver_leads(leads, "stream")
        self.world.advance_to(self.world.now + timedelta(minutes=minutes))

    @precondition(lambda self: self.accounts)
    @rule()
    def business_as_usual(self) -> None:
        """A lead for each account (prices in turn), then 47 minutes pass. Hypothesis
        tries the rules with the fewest arguments first and most often: this one keeps
        the business going between the others."""
        self._business += 1
        leads = [
            (pick, PRICES[(self._business + pick) % len(PRICES)], "valid", 0)
            for pick in range(len(self.accounts))
        ]
        self.deliver_leads(leads, "stream")
        self.world.advance_to(self.world.now + timedelta(minutes=47))

    def _check_outcomes(self, put: list[PutLead], expected: dict[str, str]) -> None:
        """R8, R10, R12: a lead is charged when no pause holds and it fits the budget, and
        rejected otherwise; an invalid one is never charged."""
        for lead in put:
            entry = ledger_entry(lead.contractor_id, f"lead#{lead.lead_id}")
            if lead.kind in ("zero_price", "fractional_price", "future", "ancient"):
                assert entry is None or entry.kind != "charge", f"invalid lead {lead} charged"
                continue
            if lead.kind == "unknown_contractor":
                continue
            if lead.kind == "reinsert":
                first = next(
                    (p for p in self.leads if p.lead_id == lead.lead_id and p.kind != "reinsert"),
                    None,
                )
                if entry is not None and entry.kind == "charge" and first is not None:
                    assert int(entry.amount_cents) == first.price, (
                        f"lead {lead.lead_id} written again at {lead.price}: charged "
                        f"{int(entry.amount_cents)}, not its first price {first.price}"
                    )
                continue
            wanted = expected.get(lead.lead_id)
            if wanted is None:
                continue
            got = None
            if entry is not None:
                got = "charged" if entry.kind == "charge" else f"rejected:{entry.reason}"
            assert got == wanted, (
                f"lead {lead.lead_id} ({lead.price} cents for {lead.contractor_id} at "
                f"{lead.delivered_at.isoformat()}): {got}, expected {wanted}"
            )

    # ------------------------------------------------------------------ the clock

    @precondition(lambda self: self.accounts)
    @rule(move=st.sampled_from(CLOCK_MOVES), pick=st.integers(0, 10_000))
    def move_clock(self, move: str, pick: int) -> None:
        """Move the clock forward to an instant that matters, firing the schedules due."""
        self._begin()
        now = self.world.now
        contractor_id = self._account(pick)
        item = self._item(contractor_id)
        target: datetime | None = None
        if move == "friday":
            target = friday_six_am(now, self.facts[contractor_id].timezone)
        elif move == "reset":
            # 00:05 local on the day the account's budget period ends: its daily reset.
            target = parse_instant(item.period_end) + timedelta(minutes=5)
        elif item.grace_ends_at and move in (
            "grace_end",
            "before_grace_end",
            "reminder_72h",
            "reminder_24h",
        ):
            end = parse_instant(item.grace_ends_at)
            target = {
                "grace_end": end,
                "before_grace_end": end - timedelta(seconds=1),
                "reminder_72h": end - timedelta(hours=72),
                "reminder_24h": end - timedelta(hours=24),
            }[move]
        elif move == "minutes":
            target = now + timedelta(minutes=1 + pick % 240)
        elif move == "hours":
            target = now + timedelta(hours=1 + pick % 47)
        elif move == "days":
            target = now + timedelta(days=1 + pick % 3, minutes=pick % 60)
        if target is None or target <= now:
            target = now + timedelta(minutes=1 + pick % 30)
        self.world.advance_to(min(target, now + timedelta(days=8)))

    # ------------------------------------------------------------------ cards

    @precondition(lambda self: self.accounts)
    @rule(
        pick=st.integers(0, MAX_ACCOUNTS - 1),
        good=st.booleans(),
        route=st.sampled_from(("app_then_webhook", "webhook_then_app", "webhook_only")),
    )
    def save_card(self, pick: int, good: bool, route: str) -> None:
        """The contractor saves a card in the app (4242... or 4000 0000 0000 0341, which
        attaches and then declines every charge): the app's setup, Stripe.js's part, then
        ``POST /me/card/confirm`` and Stripe's ``setup_intent.succeeded``, in either order;
        or the webhook alone (the app died before confirming)."""
        self._begin()
        world = self.world
        contractor_id = self._account(pick)
        status, body = world.card_api("/me/card/setup-intent", contractor=contractor_id)
        assert status == 201, body
        setup_intent_id = body["setup_intent_id"]
        browser_saves_card(
            self.env, setup_intent_id, body["client_secret"], VISA if good else DECLINED_AT_CHARGE
        )
        hook = world.setup_succeeded(setup_intent_id)
        saved = world.env.wire.get(f"/v1/setup_intents/{setup_intent_id}")["payment_method"]
        self.facts[contractor_id].saved_cards.append(saved)
        if route == "webhook_then_app" or route == "webhook_only":
            world.send_webhook(hook)
            world.pump()
        if route != "webhook_only":
            status, body = world.card_api(
                "/me/card/confirm", {"setup_intent_id": setup_intent_id}, contractor=contractor_id
            )
            assert status == 200, body
        if route == "app_then_webhook":
            world.send_webhook(hook)
        world.pump()

    @precondition(lambda self: self.accounts)
    @rule(pick=st.integers(0, MAX_ACCOUNTS - 1))
    def pay_past_due(self, pick: int) -> None:
        """``POST /me/pay``: the past-due balance charged to the card on file."""
        self._begin()
        status, body = self.world.card_api("/me/pay", contractor=self._account(pick))
        assert status in (200, 409), body
        self.world.pump()

    @precondition(lambda self: self.accounts)
    @rule(pick=st.integers(0, MAX_ACCOUNTS - 1))
    def look_at_billing(self, pick: int) -> None:
        """What the Pro App, the Lead Manager and an operator read, in any state: every
        read route answers 200 (an invoice's PDF once its email went out)."""
        self._begin()
        contractor_id = self._account(pick)
        me = functools.partial(self.world.api, "GET", contractor=contractor_id)
        for path in ("/me/billing", "/me/ledger", "/me/invoices"):
            status, body = me(path)
            assert status == 200, (path, body)
        invoices = body["items"]
        for invoice in invoices[:2]:
            status, detail = me(f"/me/invoices/{invoice['invoice_id']}")
            assert status == 200, detail
            status, pdf = me(f"/me/invoices/{invoice['invoice_id']}/pdf")
            emailed = invoice["status"] in ("paid", "past_due")
            assert status == 200 if emailed else status in (200, 404), (invoice, pdf)
            status, seen = self.world.api("GET", f"/admin/invoices/{invoice['invoice_id']}")
            assert status == 200, seen
        admin = f"/admin/accounts/{contractor_id}"
        for path in (admin, f"{admin}/ledger", f"{admin}/invoices"):
            status, body = self.world.api("GET", path)
            assert status == 200, (path, body)

    # ------------------------------------------------------------------ budgets and credits

    @precondition(lambda self: self.accounts)
    @rule(
        pick=st.integers(0, MAX_ACCOUNTS - 1),
        change=st.sampled_from(("to_spend", "below_spend", "above_spend", "double", "halve")),
    )
    def change_budget(self, pick: int, change: str) -> None:
        """``PUT /me/budget``: at, below or just above the spend, doubled or halved."""
        self._begin()
        contractor_id = self._account(pick)
        item = self._item(contractor_id)
        spent, budget = int(item.spent_cents), int(item.monthly_budget_cents)
        cents = {
            "to_spend": spent,
            "below_spend": spent - 100,
            "above_spend": spent + 100,
            "double": budget * 2,
            "halve": budget // 2,
        }[change]
        cents = min(max(cents, 1), 100_000_000)
        status, body = self.world.api(
            "PUT", "/me/budget", {"monthly_cents": cents}, contractor=contractor_id
        )
        assert status == 200, body
        self.facts[contractor_id].budgets.append((self.world.now, cents))
        self.world.pump()

    @precondition(lambda self: self.charged)
    @rule(pick=st.integers(0, 10_000), again=st.booleans())
    def credit_lead(self, pick: int, again: bool) -> None:
        """``POST /admin/leads/{lead_id}/credit``, maybe twice (the second is 409)."""
        self._begin()
        contractor_id, lead_id = self.charged[pick % len(self.charged)]
        body = {"contractor_id": contractor_id, "reason": "wrong phone number"}
        for _ in range(2 if again else 1):
            status, answer = self.world.api("POST", f"/admin/leads/{lead_id}/credit", body)
            assert status == 201 or (status == 409 and answer["error"] == "already_credited"), (
                status,
                answer,
            )
            self.world.pump()

    # ------------------------------------------------------------------ trouble

    @rule(
        trouble=st.sampled_from(
            (
                *sorted(STRIPE_TROUBLE),
                "bus_refuses",
                "hold_webhooks",
                "release_webhooks",
                "settle",
            )
        ),
        order=st.randoms(use_true_random=False),
    )
    def trouble(self, trouble: str, order: Any) -> None:
        """Stripe in trouble on the next charge (``STRIPE_TROUBLE``); the bus refusing
        the next ``BUS_REFUSALS`` PutEvents calls (the functions' and republish's);
        Stripe's webhooks held back from now on, or released in any order; or ``settle``:
        everything held back arrives and the in-flight windows pass (15 minutes), so that
        what the invariants require of a system at rest applies."""
        self._begin()
        world = self.world
        if trouble in STRIPE_TROUBLE:
            world.env.wire.arm_next_charge(*STRIPE_TROUBLE[trouble])
            world.counters.faults += 1
        elif trouble == "bus_refuses":
            world.env.bus.refuse_next(BUS_REFUSALS)
            world.counters.faults += 1
        elif trouble == "hold_webhooks":
            world.hold_webhooks = True
        elif trouble == "release_webhooks":
            world.hold_webhooks = False
            order_of = list(range(len(world.webhooks_held)))
            order.shuffle(order_of)
            world.counters.redeliveries += len(order_of)
            world.release_webhooks(order_of)
            world.pump()
        else:
            world.env.wire.disarm()
            world.env.bus.disarm()
            world.hold_webhooks = False
            world.release_webhooks()
            world.advance_to(world.now + timedelta(minutes=15))

    # ------------------------------------------------------------------ redelivery

    @rule(
        what=st.sampled_from(("leads", "accounts", "schedule", "webhooks", "work")),
        picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=5),
    )
    def redeliver(self, what: str, picks: list[int]) -> None:
        """Earlier inputs delivered again, in one go, in the order drawn: Leads stream
        records (to on_lead), Accounts stream records (to notify and the threshold
        trigger, through their filters), a schedule event (now: Scheduler and Lambda
        retry runs), Stripe webhooks (signed anew, as Stripe does), invoice work
        messages (SQS delivers at least once)."""
        self._begin()
        world = self.world
        history: list[Any] = {
            "leads": world.history_leads,
            "accounts": world.history_accounts,
            "schedule": world.history_schedules,
            "webhooks": world.history_webhooks,
            "work": world.history_work,
        }[what]
        if not history:
            return
        chosen = [history[p % len(history)] for p in picks]
        if what == "leads":
            world.deliver_lead_records(chosen)
        elif what == "accounts":
            world.deliver_account_records(chosen)
        elif what == "schedule":
            chosen = chosen[:1]
            world.run_schedules(chosen, arrange=False)
        elif what == "webhooks":
            world.webhooks_pending.extend(chosen)
        else:
            world.deliver_work(chosen, redelivery=True)
        world.counters.redeliveries += len(chosen)
        world.pump()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def billing_invariants(self) -> None:
        """Hypothesis checks the invariants once before the first step and after each."""
        self._checks += 1
        self.world.counters.steps = self._checks - 1
        snapshot = check(self.world, self.facts)
        # In an order that does not depend on how on_lead's threads interleaved.
        fresh = sorted(
            (contractor_id, entry.recorded_key, entry.lead_id)
            for contractor_id, entries in snapshot.ledger.items()
            for entry in entries
            if entry.kind == "charge" and entry.lead_id not in self._charged_known
        )
        for contractor_id, _, lead_id in fresh:
            self._charged_known.add(lead_id)
            self.charged.append((contractor_id, lead_id))
        # README: a lead dated in the future is quarantined, and its fate is final (a
        # delivery of its record once that instant has passed never charges it).
        future_charged = sorted(self.future_leads & self._charged_known)
        assert not future_charged, f"leads dated in the future were charged: {future_charged}"
        self.world.counters.invoices = sum(
            1 for i in snapshot.invoices.values() if i.status not in ("draft", "void")
        )


# ---------------------------------------------------------------------------- helpers


def signup_before(now: datetime, day: int, timezone: str) -> datetime:
    """10:00 local on the latest ``day`` of a month (its last day if shorter) at or before
    ``now``'s local date."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    year, month = local.year, local.month
    for _ in range(3):
        last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        candidate = datetime(year, month, min(day, last), 10, 0, tzinfo=zone)
        if candidate <= now:
            return candidate
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    raise AssertionError("no signup day found")


def stored_leaks() -> list[str]:
    """Card numbers and secrets in the tables and the emails of the current world."""
    _, found = table_leaks(boto3.client("dynamodb"), KNOWN_SECRETS)
    found += email_leaks(
        message.raw_data for message in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    )
    return [str(leak) for leak in found]


def unlogged_charges(world: World) -> list[str]:
    """The world's customers' charges, listed with the Stripe SDK as the billing's
    ``find_attempt`` lists them, whose PaymentIntent (and its status) the wire's log, which
    the invariants reconcile, does not hold."""
    api = stripe.StripeClient(
        API_KEY, base_addresses={"api": world.env.stripe_url}, max_network_retries=0
    )
    customers = {
        item["stripe_customer_id"]["S"]
        for item in table_items(TABLES["accounts"])
        if "stripe_customer_id" in item
    }
    missing = []
    for customer in sorted(customers):
        charges = api.v1.charges.list(
            params={"customer": customer, "limit": 100, "expand": ["data.payment_intent"]}
        )
        for charge in charges.auto_paging_iter():
            intent = charge.payment_intent
            if not isinstance(intent, stripe.PaymentIntent):
                continue
            logged = world.env.wire.intents.get(intent.id)
            if logged is None or logged.status != intent.status or logged.amount != intent.amount:
                missing.append(f"Stripe holds {intent.id} ({intent.status}, {intent.amount})")
    return missing


def record_lead_id(record: dict[str, Any]) -> str | None:
    return record["dynamodb"].get("Keys", {}).get("lead_id", {}).get("S")


def lead_item(lead: PutLead, category: str) -> dict[str, Any]:
    return {
        "lead_id": lead.lead_id,
        "contractor_id": lead.contractor_id,
        "price_cents": lead.price,
        "delivered_at": lead.delivered_at.isoformat(),
        "category": category,
    }


def ledger_entry(contractor_id: str, entry_id: str) -> LedgerEntryModel | None:
    raw = ledger_item(contractor_id, entry_id)
    return None if raw is None else LedgerEntryModel.from_raw_data(raw)


@dataclass
class Forecast:
    """What ``expected_outcomes`` knows of an account while it goes through a batch."""

    pauses: set[str]
    remaining: int
    budget: int
    start: datetime
    end: datetime
    grace_end: datetime | None
    past_due: int
    known: bool = True


def expected_outcomes(before: dict[str, AccountModel], leads: list[PutLead]) -> dict[str, str]:
    """R7, R8, R10, R12, from the accounts as they were: what each new lead delivered in
    its account's current budget period (or after it: the period rolls over) becomes,
    the leads of one account taken in order. A late lead (of an earlier period) stops the
    forecast for its account."""
    state = {
        cid: Forecast(
            pauses=set(item.pauses.as_dict()),
            remaining=int(item.remaining_cents),
            budget=int(item.monthly_budget_cents),
            start=parse_instant(item.period_start),
            end=parse_instant(item.period_end),
            grace_end=parse_instant(item.grace_ends_at) if item.grace_ends_at else None,
            past_due=int(item.past_due_cents),
        )
        for cid, item in before.items()
    }
    expected: dict[str, str] = {}
    for lead in leads:
        account = state.get(lead.contractor_id)
        if account is None or lead.kind not in ("valid", "late") or not account.known:
            continue
        at = lead.delivered_at
        if at < account.start:
            account.known = False
            continue
        if at >= account.end:
            account.remaining = account.budget
            account.pauses.discard("budget")
            account.start, account.end = account.end, datetime.max.replace(tzinfo=UTC)
        if account.grace_end is not None and at >= account.grace_end and account.past_due > 0:
            account.pauses.add("non_payment")
        price = int(lead.price)
        if account.pauses:
            expected[lead.lead_id] = "rejected:paused"
        elif price < account.remaining:
            expected[lead.lead_id] = "charged"
            account.remaining -= price
        elif price == account.remaining:
            expected[lead.lead_id] = "charged"
            account.remaining = 0
            account.pauses.add("budget")
        else:
            expected[lead.lead_id] = "rejected:budget"
            account.pauses.add("budget")
    return expected
