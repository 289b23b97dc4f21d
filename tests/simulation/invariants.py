"""What must hold after every step of the simulation, read from the tables, the emails
SES accepted, the events the bus received and the PaymentIntents Stripe made.

Each check names the rule it stands for. The balances are derived from the ledger and the
invoices, never from the account item they are compared with:

- unbilled = the charges still in the ``unbilled`` index (not claimed by an invoice, not
  credited while unbilled);
- past due = the amount due (total less the credit applied) of the invoices past due;
- account credit = the credits of invoiced charges less the credit the invoices applied;
- paid = the payments in the ledger = the amount due of the paid invoices = the succeeded
  PaymentIntents (none for an invoice the credit covered);
- spend of a budget period = its charges (by delivery instant) less the credits that gave
  their amount back to it.

``check`` raises ``AssertionError`` naming every broken invariant.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from functions.adapters.accounts import parse_instant
from functions.adapters.invoice_email import invoice_message_id
from functions.adapters.models import (
    AccountModel,
    InvoiceModel,
    LedgerEntryModel,
    NoticeModel,
)
from functions.billing.grace import GRACE
from tests.simulation.world import World, table_items
from tests.support.aws import TABLES

# An attempt recorded less than this long ago may still be under way (collection.IN_FLIGHT);
# after it, a redelivered work message or a retry resolves it.
IN_FLIGHT = timedelta(minutes=10)


@dataclass
class AccountFacts:
    """What the simulation knows of an account besides the tables."""

    contractor_id: str
    timezone: str
    budgets: list[tuple[datetime, int]] = field(default_factory=list)  # (from, cents)
    grace_end: str | None = None  # the grace end of the running grace period, first seen
    grace_ends: list[str] = field(default_factory=list)  # every grace period's end
    owing: set[str] = field(default_factory=set)  # the invoices past due at the last check
    saved_cards: list[str] = field(default_factory=list)  # payment methods, in saving order
    charges_seen: tuple[str, int] = ("", 0)  # (period start, its charges) at the last check

    def budget_at(self, at: datetime) -> int:
        current = self.budgets[0][1]
        for since, cents in self.budgets:
            if since <= at:
                current = cents
        return current

    def max_budget(self) -> int:
        return max(cents for _, cents in self.budgets)


@dataclass
class Snapshot:
    accounts: dict[str, AccountModel]
    ledger: dict[str, list[LedgerEntryModel]]
    invoices: dict[str, InvoiceModel]
    notices: list[NoticeModel]

    @classmethod
    def read(cls) -> Snapshot:
        """Every item of the tables, read from moto's backend (a consistent read)."""
        ledger: dict[str, list[LedgerEntryModel]] = defaultdict(list)
        for raw in table_items(TABLES["ledger"]):
            entry = LedgerEntryModel.from_raw_data(raw)
            ledger[entry.contractor_id].append(entry)
        accounts = [AccountModel.from_raw_data(raw) for raw in table_items(TABLES["accounts"])]
        invoices = [InvoiceModel.from_raw_data(raw) for raw in table_items(TABLES["invoices"])]
        return cls(
            accounts={a.contractor_id: a for a in accounts},
            ledger=ledger,
            invoices={i.invoice_id: i for i in invoices},
            notices=[NoticeModel.from_raw_data(raw) for raw in table_items(TABLES["notices"])],
        )

    def entries(self, contractor_id: str, kind: str) -> list[LedgerEntryModel]:
        return [e for e in self.ledger.get(contractor_id, []) if e.kind == kind]


def amount_due(invoice: InvoiceModel) -> int:
    return int(invoice.total_cents or 0) - int(invoice.credit_applied_cents or 0)


class Problems:
    def __init__(self) -> None:
        self.found: list[str] = []

    def expect(self, ok: bool, rule: str, message: str) -> None:
        if not ok:
            self.found.append(f"[{rule}] {message}")

    def raise_if_any(self, world: World) -> None:
        if self.found:
            raise AssertionError(
                f"{len(self.found)} invariant(s) broken at {world.now.isoformat()}:\n  "
                + "\n  ".join(self.found[:40])
            )


def check(world: World, facts: dict[str, AccountFacts]) -> Snapshot:
    """Every invariant, on the state the last pump left; ``facts`` are updated with what
    this step showed (grace ends first seen, charges counted)."""
    snapshot = Snapshot.read()
    problems = Problems()
    for contractor_id, item in snapshot.accounts.items():
        account_facts = facts.get(contractor_id)
        # The charges of the current period: more than at the last check, a charge of
        # this step went to it.
        seen = (
            item.period_start,
            sum(
                1
                for c in snapshot.entries(contractor_id, "charge")
                if item.period_start <= (c.delivered_at or "") < item.period_end
            ),
        )
        before = account_facts.charges_seen if account_facts is not None else seen
        charged_now = seen[1] > (before[1] if before[0] == seen[0] else 0)
        if account_facts is not None:
            account_facts.charges_seen = seen
        account_balances(problems, snapshot, item)
        invoices_of_account(problems, snapshot, item)
        spend(problems, snapshot, item, account_facts, charged_now)
        card_on_file(problems, world, item, account_facts)
        grace(problems, world, item, facts.get(contractor_id), snapshot)
        pauses(problems, snapshot, item)
    problems.expect(
        not world.dead_letters,
        "delivery",
        f"inputs the platform gave up on (every retry failed): {world.dead_letters[:5]}",
    )
    leads_once(problems, snapshot)
    stripe(problems, world, snapshot)
    emails(problems, world, snapshot)
    events(problems, world, snapshot)
    at_rest(problems, world, snapshot)
    problems.raise_if_any(world)
    return snapshot


# ---------------------------------------------------------------------------- balances


def account_balances(problems: Problems, snapshot: Snapshot, item: AccountModel) -> None:
    cid = item.contractor_id
    charges = snapshot.entries(cid, "charge")
    credits = {e.lead_id: e for e in snapshot.entries(cid, "lead_credited")}
    unbilled = 0
    for charge in charges:
        on_invoice = charge.invoice_id is not None
        listed = charge.unbilled_key is not None
        credited_unbilled = (
            charge.lead_id in credits and credits[charge.lead_id].detail == "unbilled"
        )
        # R2: a charge is unbilled, on one invoice, or credited before any invoice took it.
        problems.expect(
            [on_invoice, listed, credited_unbilled].count(True) == 1,
            "R2",
            f"{cid}: charge of lead {charge.lead_id} is on invoice={charge.invoice_id}, "
            f"unbilled={listed}, credited unbilled={credited_unbilled}",
        )
        if listed:
            unbilled += int(charge.amount_cents)
    problems.expect(
        int(item.unbilled_cents) == unbilled,
        "R3",
        f"{cid}: unbilled_cents {int(item.unbilled_cents)}, the unbilled charges {unbilled}",
    )
    threshold = int(item.threshold_cents)
    problems.expect(
        int(item.invoice_headroom_cents) == threshold - int(item.unbilled_cents),
        "R4",
        f"{cid}: headroom {int(item.invoice_headroom_cents)} != threshold {threshold} - unbilled",
    )
    problems.expect(
        (item.billable_timezone is not None) == (int(item.unbilled_cents) > 0)
        and item.billable_timezone in (None, item.timezone),
        "R3",
        f"{cid}: billable_timezone {item.billable_timezone!r}, {int(item.unbilled_cents)} unbilled",
    )
    past_due = sum(
        amount_due(invoice)
        for invoice in snapshot.invoices.values()
        if invoice.contractor_id == cid and invoice.status == "past_due"
    )
    problems.expect(
        int(item.past_due_cents) == past_due,
        "R6",
        f"{cid}: past_due_cents {int(item.past_due_cents)} but past-due invoices owe {past_due}",
    )
    credited = sum(int(e.amount_cents) for e in credits.values() if e.detail == "account_credit")
    applied = sum(int(e.amount_cents) for e in snapshot.entries(cid, "credit_applied"))
    credit = int(item.credit_cents or 0)
    problems.expect(
        credit == credited - applied and credit >= 0,
        "credits",
        f"{cid}: credit_cents {credit} but credits {credited} - applied {applied}",
    )
    payments = sum(int(e.amount_cents) for e in snapshot.entries(cid, "payment"))
    paid = sum(
        amount_due(invoice)
        for invoice in snapshot.invoices.values()
        if invoice.contractor_id == cid and invoice.status == "paid"
    )
    problems.expect(
        payments == paid,
        "R6",
        f"{cid}: the ledger's payments sum to {payments}, the paid invoices owed {paid}",
    )


def invoices_of_account(problems: Problems, snapshot: Snapshot, item: AccountModel) -> None:
    cid = item.contractor_id
    charges = {e.lead_id: e for e in snapshot.entries(cid, "charge")}
    issued = {e.detail: e for e in snapshot.entries(cid, "invoice_issued")}
    applied = {e.detail: e for e in snapshot.entries(cid, "credit_applied")}
    payments = {e.detail: e for e in snapshot.entries(cid, "payment")}
    for invoice in snapshot.invoices.values():
        if invoice.contractor_id != cid:
            continue
        iid = invoice.invoice_id
        problems.expect(
            invoice.status != "draft", "R2", f"{iid}: still a draft once the system settled"
        )
        if invoice.status in ("draft", "void"):
            continue
        lines = [line.lead_id for line in invoice.lines]
        total = sum(int(line.amount_cents) for line in invoice.lines)
        problems.expect(
            total == int(invoice.total_cents) and total > 0,
            "R5",
            f"{iid}: total {invoice.total_cents} but its lines sum to {total}",
        )
        claimed = sorted(lead for lead, c in charges.items() if c.invoice_id == iid)
        problems.expect(
            sorted(lines) == claimed,
            "R2",
            f"{iid}: lines {sorted(lines)} but the charges it claimed are {claimed}",
        )
        for line in invoice.lines:
            charge = charges.get(line.lead_id)
            problems.expect(
                charge is not None and int(charge.amount_cents) == int(line.amount_cents),
                "R1",
                f"{iid}: line {line.lead_id} {int(line.amount_cents)} is no charge of that amount",
            )
        entry = issued.get(iid)
        problems.expect(
            entry is not None and int(entry.amount_cents) == total,
            "R5",
            f"{iid}: issue not in the ledger with its total",
        )
        credit = int(invoice.credit_applied_cents or 0)
        problems.expect(
            0 <= credit <= total,
            "credits",
            f"{iid}: credit applied {credit} outside 0..{total}",
        )
        problems.expect(
            credit == (int(applied[iid].amount_cents) if iid in applied else 0),
            "credits",
            f"{iid}: credit applied {credit} differs from the ledger's",
        )
        succeeded = [a for a in invoice.attempts if a.outcome == "succeeded"]
        if invoice.status == "paid":
            problems.expect(
                len(succeeded) == 1,
                "R6",
                f"{iid}: paid with {len(succeeded)} succeeded attempts",
            )
            payment = payments.get(iid)
            problems.expect(
                payment is not None and int(payment.amount_cents) == amount_due(invoice),
                "R6",
                f"{iid}: paid, but the ledger's payment is "
                f"{None if payment is None else int(payment.amount_cents)}, "
                f"{amount_due(invoice)} due",
            )
        else:
            problems.expect(
                not succeeded and iid not in payments,
                "R6",
                f"{iid}: {invoice.status} with a succeeded attempt or a payment",
            )
        if invoice.status == "past_due":
            problems.expect(
                any(a.outcome in ("declined", "no_card") for a in invoice.attempts),
                "R6",
                f"{iid}: past due with no failed attempt",
            )
        numbers = [int(a.number) for a in invoice.attempts]
        problems.expect(
            numbers == list(range(1, len(numbers) + 1)),
            "R6",
            f"{iid}: attempts numbered {numbers}",
        )


def spend(
    problems: Problems,
    snapshot: Snapshot,
    item: AccountModel,
    facts: AccountFacts | None,
    charged_now: bool,
) -> None:
    """R7, R8: the spend of each budget period, from its charges and credits."""
    cid = item.contractor_id
    charges = snapshot.entries(cid, "charge")
    returned = [e for e in snapshot.entries(cid, "lead_credited") if e.period_start]
    periods = [(item.period_start, item.period_end, "current")]
    if item.prev_period_start and item.prev_period_end:
        periods.append((item.prev_period_start, item.prev_period_end, "previous"))
    budget = int(item.monthly_budget_cents)
    spent = int(item.spent_cents)
    for start, end, name in periods:
        charged = sum(int(c.amount_cents) for c in charges if start <= (c.delivered_at or "") < end)
        given_back = sum(int(e.amount_cents) for e in returned if e.period_start == start)
        net = charged - given_back
        if name == "current":
            problems.expect(
                spent == net,
                "R7",
                f"{cid}: spent_cents {spent} but the period's charges less credits are {net}",
            )
        if facts is not None:
            problems.expect(
                net <= facts.max_budget(),
                "R8",
                f"{cid}: the {name} period spent {net}, more than any budget it had "
                f"({facts.max_budget()})",
            )
    problems.expect(
        int(item.remaining_cents) == max(budget - spent, 0),
        "R8",
        f"{cid}: remaining {int(item.remaining_cents)} != max(budget {budget} - spent {spent}, 0)",
    )
    if charged_now:
        problems.expect(
            spent <= budget,
            "R8",
            f"{cid}: a charge took the spend to {spent}, over the budget {budget}",
        )
    if spent >= budget:
        problems.expect(
            "budget" in item.pauses.as_dict(),
            "R8",
            f"{cid}: spent {spent} of {budget} and not paused for budget",
        )


def grace(
    problems: Problems,
    world: World,
    item: AccountModel,
    facts: AccountFacts | None,
    snapshot: Snapshot,
) -> None:
    """R9, R10: one grace period per failure, exactly 168 h, never moved."""
    cid = item.contractor_id
    past_due = int(item.past_due_cents)
    fields_set = [item.first_failure_at is not None, item.grace_ends_at is not None]
    problems.expect(
        fields_set in ([True, True], [False, False])
        and (item.grace_shard is not None) == fields_set[0],
        "R9",
        f"{cid}: grace fields first_failure_at={item.first_failure_at} "
        f"grace_ends_at={item.grace_ends_at} grace_shard={item.grace_shard}",
    )
    problems.expect(
        (item.grace_ends_at is not None) == (past_due > 0),
        "R9",
        f"{cid}: grace ends {item.grace_ends_at} with {past_due} past due",
    )
    if item.grace_ends_at and item.first_failure_at:
        end, first = parse_instant(item.grace_ends_at), parse_instant(item.first_failure_at)
        problems.expect(
            end - first == GRACE,
            "R9",
            f"{cid}: grace period {end - first} long, not 168 h",
        )
        # When each invoice past due now first failed: the ledger records the failure when
        # it is known (an attempt's own instant is when it started, maybe long before).
        owing = {
            i.invoice_id
            for i in snapshot.invoices.values()
            if i.contractor_id == cid and i.status == "past_due"
        }
        failures = [
            parse_instant(e.recorded_at)
            for e in snapshot.entries(cid, "payment_failed")
            if e.detail in owing
        ]
        problems.expect(
            not failures or first <= min(failures),
            "R9",
            f"{cid}: grace runs from {item.first_failure_at}, after a failure at {min(failures)}",
        )
    if facts is not None:
        owing_now = {
            i.invoice_id
            for i in snapshot.invoices.values()
            if i.contractor_id == cid and i.status == "past_due"
        }
        if item.grace_ends_at is None:
            facts.grace_end = None
        elif facts.grace_end is None or item.grace_ends_at != facts.grace_end:
            # A grace period may end (everything past due paid) and another start within
            # one step; never while an invoice past due before is still unpaid.
            still_owing = sorted(facts.owing & owing_now)
            problems.expect(
                facts.grace_end is None or not still_owing,
                "R9",
                f"{cid}: the grace end moved from {facts.grace_end} to {item.grace_ends_at} "
                f"while {still_owing} stayed past due",
            )
            facts.grace_end = item.grace_ends_at
            facts.grace_ends.append(item.grace_ends_at)
        facts.owing = owing_now
    paused = item.pauses.as_dict()
    if "non_payment" in paused:
        problems.expect(
            past_due > 0 and paused["non_payment"] == item.grace_ends_at,
            "R10",
            f"{cid}: paused for non-payment since {paused['non_payment']} with {past_due} "
            f"past due and grace end {item.grace_ends_at}",
        )
    elif item.grace_ends_at is not None and world.last_grace_check is not None:
        problems.expect(
            world.last_grace_check < parse_instant(item.grace_ends_at),
            "R10",
            f"{cid}: grace ended {item.grace_ends_at} unpaid, grace_check ran at "
            f"{world.last_grace_check.isoformat()}, and no non-payment pause",
        )


def card_on_file(
    problems: Problems, world: World, item: AccountModel, facts: AccountFacts | None
) -> None:
    """R11: once every card update was delivered, the card on file is the one the
    contractor saved last."""
    if facts is None or not facts.saved_cards or not world.at_rest():
        return
    on_file = item.card.payment_method_id if item.card is not None else None
    latest = facts.saved_cards[-1]
    problems.expect(
        on_file == latest,
        "R11",
        f"{item.contractor_id}: card on file {on_file}, the card saved last {latest}",
    )


def pauses(problems: Problems, snapshot: Snapshot, item: AccountModel) -> None:
    """R12: every pause that holds is in the ledger with its reason and start."""
    cid = item.contractor_id
    recorded = {e.entry_id for e in snapshot.entries(cid, "account_paused")}
    for reason, since in item.pauses.as_dict().items():
        problems.expect(
            f"pause#{reason}#{since}" in recorded,
            "R12",
            f"{cid}: pause {reason} since {since} is not in the ledger",
        )


def leads_once(problems: Problems, snapshot: Snapshot) -> None:
    """R2: each lead charged at most once, on at most one invoice."""
    charged = Counter(
        e.lead_id for entries in snapshot.ledger.values() for e in entries if e.kind == "charge"
    )
    twice = [lead for lead, n in charged.items() if n > 1]
    problems.expect(not twice, "R2", f"leads charged more than once: {twice}")
    listed = Counter(
        line.lead_id
        for invoice in snapshot.invoices.values()
        if invoice.status not in ("draft", "void")
        for line in invoice.lines
    )
    twice = [lead for lead, n in listed.items() if n > 1]
    problems.expect(not twice, "R2", f"leads on more than one invoice: {twice}")


# ---------------------------------------------------------------------------- Stripe


def stripe(problems: Problems, world: World, snapshot: Snapshot) -> None:
    """R6: every paid invoice has exactly one succeeded PaymentIntent for its amount due
    (none when the credit covered it), and no succeeded PaymentIntent is unrecorded."""
    mine = {i.invoice_id for i in snapshot.invoices.values()}
    succeeded: dict[str, list[Any]] = defaultdict(list)
    for intent in world.env.wire.intents.values():
        if intent.invoice_id in mine and intent.status == "succeeded":
            succeeded[intent.invoice_id].append(intent)
    problems.expect(
        not world.env.wire.key_conflicts,
        "R6",
        f"idempotency keys reused with other parameters: {world.env.wire.key_conflicts}",
    )
    for iid, invoice in snapshot.invoices.items():
        found = succeeded.get(iid, [])
        due = amount_due(invoice)
        if invoice.status == "paid":
            wanted = 1 if due > 0 else 0
            problems.expect(
                len(found) == wanted and all(i.amount == due for i in found),
                "R6",
                f"{iid}: paid, {due} due, succeeded PaymentIntents "
                f"{[(i.intent_id, i.amount) for i in found]}",
            )
            attempt = next((a for a in invoice.attempts if a.outcome == "succeeded"), None)
            if due > 0 and found and attempt is not None:
                problems.expect(
                    attempt.payment_intent_id == found[0].intent_id,
                    "R6",
                    f"{iid}: paid by {attempt.payment_intent_id}, "
                    f"Stripe charged {found[0].intent_id}",
                )
            continue
        for intent in found:
            number = int(intent.attempt or 0)
            attempt = invoice.attempts[number - 1] if 0 < number <= len(invoice.attempts) else None
            problems.expect(
                attempt is not None and attempt.outcome == "unknown",
                "R6",
                f"{iid} ({invoice.status}): Stripe charged {intent.amount} as attempt "
                f"{intent.attempt} ({intent.intent_id}) and the invoice does not know it",
            )


# ---------------------------------------------------------------------------- outputs


def emails(problems: Problems, world: World, snapshot: Snapshot) -> None:
    """R5, R14: each email once per business fact: per invoice, per notice id."""
    ids = Counter(message_id for message_id, _, _ in world.emails)
    twice = [mid for mid, n in ids.items() if n > 1]
    problems.expect(not twice, "R5/R14", f"emails sent more than once: {twice}")
    ses_ids = {ses_id for _, _, ses_id in world.emails}
    for invoice in snapshot.invoices.values():
        wanted = invoice_message_id(invoice.invoice_id, "craftjack.com")
        if invoice.email_sent_at:
            problems.expect(
                ids.get(wanted) == 1,
                "R5",
                f"{invoice.invoice_id}: marked emailed, {ids.get(wanted, 0)} emails sent",
            )
        else:
            problems.expect(
                wanted not in ids,
                "R5",
                f"{invoice.invoice_id}: emailed, but not marked so",
            )
    for notice in snapshot.notices:
        if notice.sent_at:
            problems.expect(
                notice.message_id in ses_ids,
                "R14",
                f"notice {notice.contractor_id}/{notice.notice_id} marked sent, not in SES",
            )


def events(problems: Problems, world: World, snapshot: Snapshot) -> None:
    """Each fact announced under one event id, every copy of it the same, and every fact
    of the ledger announced."""
    by_id: dict[str, set[str]] = defaultdict(set)
    for event in world.events:
        detail = event["detail"]
        by_id[detail["event_id"]].add(json.dumps(detail, sort_keys=True))
    differing = {eid: sorted(copies) for eid, copies in by_id.items() if len(copies) > 1}
    problems.expect(
        not differing,
        "events",
        f"one event id, different facts: {json.dumps(differing)[:1500]}",
    )
    ids = set(by_id)

    def announced(wanted: Iterable[str], rule: str, what: str) -> None:
        missing = sorted(set(wanted) - ids)
        problems.expect(not missing, rule, f"{what} never announced: {missing[:10]}")

    def only(prefix: str, wanted: Iterable[str], rule: str) -> None:
        extra = sorted(eid for eid in ids if eid.startswith(prefix) and eid not in set(wanted))
        problems.expect(not extra, rule, f"announced with no such fact: {extra[:10]}")

    charges = [
        f"LeadCharged:{e.lead_id}"
        for es in snapshot.ledger.values()
        for e in es
        if e.kind == "charge"
    ]
    announced(charges, "R1", "charges")
    only("LeadCharged:", charges, "R1")
    paid = [f"InvoicePaid:{i}" for i, inv in snapshot.invoices.items() if inv.status == "paid"]
    announced(paid, "R6", "paid invoices")
    only("InvoicePaid:", paid, "R6")
    failed = [
        f"PaymentFailed:{i}:{int(a.number)}"
        for i, inv in snapshot.invoices.items()
        for a in inv.attempts
        if a.outcome in ("declined", "no_card")
    ]
    only("PaymentFailed:", failed, "R6")
    if world.at_rest():
        # An invoice is announced issued with its collection's outcome; when the outcome
        # came later (a webhook settled it), by the delivery that finds it settled.
        settled = [
            f"InvoiceIssued:{i}"
            for i, inv in snapshot.invoices.items()
            if inv.status in ("paid", "past_due")
        ]
        announced(settled, "R5", "issued invoices with a collection outcome, at rest,")
    only(
        "InvoiceIssued:",
        [f"InvoiceIssued:{i}" for i, inv in snapshot.invoices.items() if inv.status != "draft"],
        "R5",
    )
    paused = [
        f"AccountPaused:{cid}:{e.reason}:{parse_instant(e.entry_id.split('#', 2)[2]).isoformat()}"
        for cid, es in snapshot.ledger.items()
        for e in es
        if e.kind == "account_paused"
    ]
    announced(paused, "R12", "pauses")
    only("AccountPaused:", paused, "R12")
    lifted = [
        f"AccountReactivated:{cid}:{e.reason}:"
        f"{parse_instant(e.entry_id.split('#', 2)[2]).isoformat()}"
        for cid, es in snapshot.ledger.items()
        for e in es
        if e.kind == "account_reactivated"
    ]
    announced(lifted, "R12", "reactivations")
    only("AccountReactivated:", lifted, "R12")
    # The ledger and Stripe agree: the daily reconciliation reports no difference.
    differences = sorted(eid for eid in ids if eid.startswith("ReconciliationDifference:"))
    problems.expect(
        not differences,
        "reconciliation",
        f"the daily reconciliation found differences: {differences[:5]}",
    )


def at_rest(problems: Problems, world: World, snapshot: Snapshot) -> None:
    """Once nothing is held back and every attempt under way is older than the in-flight
    window, every invoice has a collection outcome, and every invoice with an outcome was
    emailed (R5, R6)."""
    if not world.at_rest():
        return
    for invoice in snapshot.invoices.values():
        if invoice.status == "open":
            last = invoice.attempts[-1] if invoice.attempts else None
            recent = last is not None and world.now - parse_instant(last.at) < IN_FLIGHT
            if (
                last is not None
                and last.outcome == "unknown"
                and not world.reconciled_since(parse_instant(last.at) + IN_FLIGHT)
            ):
                # An attempt whose answer never came and that no input will deliver again
                # (a threshold trigger's stream record succeeded): the daily reconciliation
                # resolves it, once it runs with Stripe reachable.
                continue
            problems.expect(
                recent,
                "R6",
                f"{invoice.invoice_id}: open since {invoice.issued_at}, its attempts "
                f"{[(int(a.number), a.outcome, a.at) for a in invoice.attempts]}, and "
                "nothing left that would collect it",
            )
        if invoice.status in ("paid", "past_due"):
            problems.expect(
                invoice.email_sent_at is not None,
                "R5",
                f"{invoice.invoice_id}: {invoice.status} and never emailed",
            )
