"""1. Round trips per lead: the real on_lead handler on one stream batch of leads, in moto.

Every request the invocation sends is counted by operation (``bench.counting``). The
happy path is the figure with a target: one DynamoDB request per charged lead and no
read, the events published in batches of ten per invocation. The other paths are shown
beside it: the same batch delivered again (a duplicate charges nothing and announces
again), and leads to accounts paused for their budget (rejected).
"""

from __future__ import annotations

import math
from typing import Any

from bench.aws import SIGNUP, TIMEZONE, handler, moto_in_process
from bench.counting import LOG, Snapshot
from bench.report import Figure, Section, Table
from functions.adapters.accounts import AccountStore
from functions.billing.account import open_account
from functions.billing.money import Money
from tests.support.aws import LambdaContext, Resources, put_leads, stream_records

PUT_EVENTS_LIMIT = 10  # entries per PutEvents call


def _open(contractor_id: str, budget: int) -> None:
    account = open_account(
        contractor_id=contractor_id,
        business_name="Bench Roofing",
        billing_email="billing@bench.example",
        locale="en",
        timezone=TIMEZONE,
        signed_up_at=SIGNUP,
        monthly_budget=Money(budget),
        threshold=Money(90_000_000),  # no threshold crossing: the happy path is measured
    )
    AccountStore().create(account, SIGNUP)


def _leads(prefix: str, count: int, accounts: list[str], price: int) -> list[dict[str, Any]]:
    return [
        {
            "lead_id": f"{prefix}-{number:05d}",
            "contractor_id": accounts[number % len(accounts)],
            "price_cents": price,
            "delivered_at": "2026-11-20T09:00:00-06:00",
            "category": "roofing",
        }
        for number in range(count)
    ]


def _records(resources: Resources, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    put_leads(items)
    wanted = {item["lead_id"] for item in items}
    records = [
        record
        for record in stream_records(resources.leads_stream_arn())
        if record["dynamodb"]["Keys"]["lead_id"]["S"] in wanted
    ]
    assert len(records) == len(items), "the stream lost leads"
    return records


def _invoke(on_lead: Any, records: list[dict[str, Any]]) -> tuple[Snapshot, dict[str, Any]]:
    with LOG.window() as counted:
        answer = on_lead.handler({"Records": records}, LambdaContext())
    return counted, answer


def measure(options: dict[str, Any]) -> Section:
    leads = int(options.get("leads", 100))
    accounts = [f"bench-{number:03d}" for number in range(int(options.get("accounts", 10)))]
    paused = [f"paused-{number:03d}" for number in range(len(accounts))]
    section = Section(
        "trips",
        "1. Round trips per lead",
        parameters={"leads per batch": leads, "accounts": len(accounts), "emulator": "moto"},
    )
    with moto_in_process() as resources:
        on_lead = handler("on_lead")
        for contractor_id in accounts:
            _open(contractor_id, 90_000_000)
        for contractor_id in paused:
            _open(contractor_id, 5_000)
        # Each paused account spends its whole budget on one lead first, which pauses it.
        _invoke(on_lead, _records(resources, _leads("exhaust", len(paused), paused, 5_000)))

        batch = _records(resources, _leads("lead", leads, accounts, 4_500))
        charged, answer = _invoke(on_lead, batch)
        if answer["batchItemFailures"]:
            raise RuntimeError(f"the happy batch failed records: {answer}")
        again, _ = _invoke(on_lead, batch)
        rejected, _ = _invoke(on_lead, _records(resources, _leads("late", leads, paused, 4_500)))

    per_lead = charged.service("dynamodb") / leads
    publish_floor = math.ceil(leads / PUT_EVENTS_LIMIT)
    section.figures = [
        Figure(
            "DynamoDB requests per charged lead",
            per_lead,
            "",
            "<= 1",
            f"{leads} leads charged by one invocation (happy path)",
        ),
        Figure(
            "DynamoDB reads on the happy path",
            charged.dynamodb_reads(),
            "",
            "== 0",
            "GetItem, Query, Scan, BatchGetItem, TransactGetItems in the same invocation",
        ),
        Figure(
            "PutEvents requests for the batch",
            charged.operation("eventbridge.PutEvents"),
            "",
            f"<= {publish_floor}",
            f"{leads} events at most {PUT_EVENTS_LIMIT} per PutEvents, once per invocation",
        ),
        Figure(
            "DynamoDB requests per rejected lead",
            rejected.service("dynamodb") / leads,
            "",
            None,
            f"{leads} leads to accounts paused for their budget",
        ),
        Figure(
            "DynamoDB requests per redelivered lead",
            again.service("dynamodb") / leads,
            "",
            None,
            "the same batch delivered again: duplicates, nothing charged",
        ),
    ]
    section.tables = [
        Table(
            "Requests of one invocation, by operation",
            ["path", "requests by operation", "DynamoDB items read"],
            [
                [name, _operations(snapshot), str(snapshot.items_read())]
                for name, snapshot in (
                    (f"{leads} charged", charged),
                    (f"{leads} redelivered", again),
                    (f"{leads} rejected (paused)", rejected),
                )
            ],
        )
    ]
    section.notes = [
        "A charge is one `TransactWriteItems` with no read before it: the ledger entry "
        "(condition: absent) and the account update (conditions: in period, no pause, "
        "budget left). A rejected lead is two: the charge that DynamoDB cancels, whose "
        "cancellation reason carries the account (`ALL_OLD`), then the rejection conditioned "
        "on what the decision used. The rejection must be written (the ledger keeps every "
        "lead's outcome, so that a redelivery is a duplicate), and it cannot be decided "
        "without knowing the account, so two is its floor without a read first.",
    ]
    return section


def _operations(snapshot: Snapshot) -> str:
    return ", ".join(f"{name} {count}" for name, count in snapshot.by_operation().items())
