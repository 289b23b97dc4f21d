"""Issue 7, item 3: duplicates and order. A fixed scenario runs twice, each time in a fresh
world: once with every input delivered once and in order, then with every stream record,
schedule event, work message and webhook delivered five times in shuffled order
(``world.ShuffledRepeats``). Both end in the same state: tables, emails, events, and what
Stripe charged.

The scenario's inputs that the platform does not deliver (API requests, leads written
into the Leads table, the clock) are the same in both runs. Leads of one account that
could compete for its budget are written one step apart, since the stream keeps the order
of one account's records only within a batch it delivers (shuffling them is not a
redelivery but another history). Random ids (Stripe's, SES's, moto's stream event ids)
and each run's contractor-id prefix are normalized before comparing.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.simulation.invariants import AccountFacts, check
from tests.simulation.world import (
    Counters,
    DeliveryPolicy,
    Environment,
    ShuffledRepeats,
    StripeFault,
    World,
    browser_saves_card,
    table_items,
)
from tests.support.aws import TABLES
from tests.support.cards import DECLINED_AT_CHARGE, VISA

START = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday 09:00 in Chicago
ACCOUNTS = {
    # role: (timezone, signup, monthly budget, threshold, card)
    "A": ("America/Chicago", "2026-11-02T10:00:00-06:00", 60_000, 20_000, VISA),
    "B": ("America/New_York", "2026-10-18T10:00:00-04:00", 10_000, 20_000, DECLINED_AT_CHARGE),
    "C": ("America/Los_Angeles", "2026-11-10T10:00:00-08:00", 60_000, 8_000, VISA),
    "D": ("America/Denver", "2026-11-01T10:00:00-06:00", 30_000, 20_000, None),
}
STRIPE_ID = re.compile(r"\b(pi|cus|pm|seti|ch|evt|card|src|req|pmc)_[A-Za-z0-9]+")
HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
MESSAGE_HASH = re.compile(r"\.[0-9a-f]{16}@")


def scenario(world: World, prefix: str) -> dict[str, AccountFacts]:
    """The same inputs, whatever the delivery policy; the invariants after each step."""
    facts: dict[str, AccountFacts] = {}

    def cid(role: str) -> str:
        return f"{prefix}-{role}"

    def step() -> None:
        world.advance_to(world.now + timedelta(seconds=1))
        check(world, facts)
        world.counters.steps += 1

    def lead(lead_id: str, role: str, price: int, **item: Any) -> None:
        world.counters.leads += 1
        world.put_lead(
            {
                "lead_id": f"{prefix}-{lead_id}",
                "contractor_id": cid(role),
                "price_cents": price,
                "delivered_at": world.now.isoformat(),
                "category": "roofing",
            }
            | item
        )

    # Four accounts, in four timezones, each signed up on another day
    for role, (timezone, signup, budget, threshold, _) in ACCOUNTS.items():
        status, body = world.api(
            "POST",
            "/admin/accounts",
            {
                "contractor_id": cid(role),
                "business_name": f"Contractor {role}",
                "billing_email": f"{role.lower()}@contractor.example",
                "locale": "es" if role == "C" else "en",
                "timezone": timezone,
                "monthly_budget_cents": budget,
                "threshold_cents": threshold,
                "signed_up_at": signup,
            },
        )
        assert status == 201, body
        facts[cid(role)] = AccountFacts(cid(role), timezone, budgets=[(world.now, budget)])
        world.timezones.add(timezone)
    step()

    # Cards: A through the app and Stripe's webhook, B (declines every charge) through the
    # webhook alone, C through the app; D has none
    for role, route in (("A", "both"), ("B", "webhook"), ("C", "app")):
        number = ACCOUNTS[role][4]
        assert number is not None
        save_card(world, cid(role), number, route, facts)
        step()

    # Leads: A well within budget; B up to exactly its budget, one step at a time (paused),
    # then one more (rejected); C across its threshold (invoiced at once); D one lead; and
    # a lead with no price and one for nobody
    lead("a1", "A", 4_500)
    lead("a2", "A", 3_000)
    lead("a3", "A", 2_000)
    lead("c1", "C", 5_000)
    lead("d1", "D", 1_500)
    lead("x1", "A", 0)
    lead("x2", "nobody", 700)
    step()
    lead("b1", "B", 6_000)
    lead("c2", "C", 4_000)
    step()
    lead("b2", "B", 4_000)
    step()
    lead("b3", "B", 500)
    step()
    # A lead written twice by the lead distribution system: the second write is a MODIFY
    lead("a1", "A", 4_500)
    step()

    # The operator credits A's second lead before it is invoiced
    status, body = world.api(
        "POST",
        f"/admin/leads/{prefix}-a2/credit",
        {"contractor_id": cid("A"), "reason": "duplicate"},
    )
    assert status == 201, body
    step()

    # Friday: New York (B declined: grace), Chicago (A: Stripe charges, its answer is
    # lost, every retry of the key fails; the webhook and the work message's redelivery
    # settle it), Denver (D: no card)
    world.env.wire.arm_next_charge(StripeFault.LOST_ANSWER, *[StripeFault.SERVER_ERROR] * 3)
    world.advance_to(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    step()

    # C raises, A halves its budget; a week of grace for B and D: retries, reminders, pauses
    status, body = world.api("PUT", "/me/budget", {"monthly_cents": 90_000}, contractor=cid("C"))
    assert status == 200, body
    facts[cid("C")].budgets.append((world.now, 90_000))
    status, body = world.api("PUT", "/me/budget", {"monthly_cents": 30_000}, contractor=cid("A"))
    assert status == 200, body
    facts[cid("A")].budgets.append((world.now, 30_000))
    step()
    lead("a4", "A", 2_500)
    world.advance_to(datetime(2026, 11, 28, 0, 0, tzinfo=UTC))
    step()

    # B saves a card that works (app and webhook): its past due is collected, the
    # non-payment pause lifts; D pays nothing and stays paused
    save_card(world, cid("B"), VISA, "both", facts)
    step()
    lead("b4", "B", 1_000)
    lead("d2", "D", 800)
    step()
    world.advance_to(datetime(2026, 12, 5, 0, 0, tzinfo=UTC))
    step()
    return facts


def save_card(
    world: World, contractor_id: str, number: str, route: str, facts: dict[str, AccountFacts]
) -> None:
    status, body = world.card_api("/me/card/setup-intent", contractor=contractor_id)
    assert status == 201, body
    setup_intent_id = body["setup_intent_id"]
    browser_saves_card(world.env, setup_intent_id, body["client_secret"], number)
    saved = world.env.wire.get(f"/v1/setup_intents/{setup_intent_id}")["payment_method"]
    facts[contractor_id].saved_cards.append(saved)
    if route in ("both", "webhook"):
        world.send_webhook(world.setup_succeeded(setup_intent_id))
        world.pump()
    if route in ("both", "app"):
        status, body = world.card_api(
            "/me/card/confirm", {"setup_intent_id": setup_intent_id}, contractor=contractor_id
        )
        assert status == 200, body
    world.pump()


def final_state(world: World, prefix: str) -> dict[str, Any]:
    """Everything the run left, with random ids and the run's prefix normalized."""
    tables = {
        name: sorted(
            (json.dumps(item, sort_keys=True) for item in table_items(TABLES[name])),
        )
        for name in ("accounts", "ledger", "invoices", "notices", "quarantine")
    }
    for i, raw in enumerate(tables["notices"]):
        notice = json.loads(raw)
        notice.pop("message_id", None)  # SES's id
        tables["notices"][i] = json.dumps(notice, sort_keys=True)
    mine = {item["invoice_id"]["S"] for item in table_items(TABLES["invoices"])}
    charged = sorted(
        (intent.invoice_id or "", intent.attempt or "", intent.status, intent.amount)
        for intent in world.env.wire.intents.values()
        if intent.invoice_id in mine
    )
    state = {
        "tables": tables,
        "emails": sorted((message_id, subject) for message_id, subject, _ in world.emails),
        "events": sorted({json.dumps(e["detail"], sort_keys=True) for e in world.events}),
        "payment_intents": charged,
        "dead_letters": world.dead_letters,
    }
    text = json.dumps(state, sort_keys=True).replace(f"{prefix}-", "run-")
    text = STRIPE_ID.sub(lambda m: f"{m.group(1)}_*", text)
    text = HEX_ID.sub("<hex>", text)
    text = MESSAGE_HASH.sub("@", text)
    normalized = json.loads(text)
    for items in normalized["tables"].values():
        items.sort()  # in the order of what is compared (claims carry random tokens)
    return normalized


def run_world(
    env: Environment, prefix: str, policy: DeliveryPolicy
) -> tuple[dict[str, Any], Counters]:
    world = World(env, START, policy)
    try:
        scenario(world, prefix)
        world.counters.examples = 1
        world.counters.redeliveries = getattr(policy, "extra", 0)
        return final_state(world, prefix), world.counters
    finally:
        world.close()


def test_every_input_five_times_in_shuffled_order_ends_as_one_ordered_delivery(
    simulation: Environment, record_property: Any
) -> None:
    # Given the scenario's end state when each input is delivered once, in order
    once, once_counters = run_world(simulation, "once", DeliveryPolicy())
    # When each stream record, schedule event, work message and webhook is delivered five
    # times, in shuffled order (two different shuffles)
    redelivered = 0
    for seed in (1, 2):
        repeated, counters = run_world(simulation, f"rep{seed}", ShuffledRepeats(5, seed))
        redelivered += counters.redeliveries
        # Then the end state is the same: tables, emails (each sent once), events (each
        # fact under one id, the same), Stripe's charges (no more PaymentIntents)
        for part in once:
            assert repeated[part] == once[part], f"{part} differ with shuffle seed {seed}"
        assert counters.webhooks >= 5 * once_counters.webhooks
    record_property(
        "simulation",
        f"redelivery: ordered run: {once_counters.line()}; the same inputs five times in "
        f"shuffled order ({redelivered} extra deliveries in two runs) end in the same state",
    )
    # And the scenario did what it is for
    tables = once["tables"]
    assert sum('"paid"' in item for item in tables["invoices"]) >= 2
    assert sum('"past_due"' in item for item in tables["invoices"]) >= 1
    assert once["emails"] and once["events"] and once["payment_intents"]
