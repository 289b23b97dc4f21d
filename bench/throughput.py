"""4. Lead throughput: the real on_lead handler against moto's server, beside raw
``put_item`` of as many items on the same server in the same run.

One ``put_item`` per lead is the cost floor of billing a lead (it must be written once);
the ratio says how close the handler, with its conditions, its transaction and its events,
comes to it. Both run sequentially in this process against one moto server (its own
process, DynamoDB requests applied atomically as in ``make run``); the reference is
measured before and after the handler and averaged, so that a change in the machine's
load during the run shows in both.

The stream batches are the size of the template's Leads stream mapping and carry leads as
the stream delivers them (``NewImage``); the accounts have budget enough for every lead.
The event bus has no rule, as in the template (the lead distribution system's rules are
its own): the integration tests' rule that copies every event to a queue would make moto
spend 5 ms a lead on that queue.

A second reference shows the floor of a charge itself: the same two writes in one
``TransactWriteItems`` (the ledger entry, conditioned on its absence, and the account's
conditional update), raw, on the same server.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from bench.aws import SIGNUP, TIMEZONE, handler, set_clock
from bench.report import REPO_ROOT, Figure, Section
from functions.adapters.accounts import AccountStore
from functions.billing.account import open_account
from functions.billing.money import Money
from infra import names
from tests.support.aws import BUS, ENVIRONMENT, LambdaContext, create_resources, synthetic_record

TEMPLATE = REPO_ROOT / "cdk.out" / f"{names.STACK_NAME}.template.json"
LOG_DIR = REPO_ROOT / "build" / "bench"
ACCOUNTS = 20


def _batch_size() -> int:
    """The Leads stream mapping's batch size, from the synthesized template."""
    resources = json.loads(TEMPLATE.read_text())["Resources"]
    mapping = resources[names.LEADS_STREAM_MAPPING_LOGICAL_ID]["Properties"]
    return int(mapping["BatchSize"])


def _records(count: int) -> list[dict[str, Any]]:
    return [
        synthetic_record(
            {
                "lead_id": f"tp-{number:07d}",
                "contractor_id": f"tp-{number % ACCOUNTS:03d}",
                "price_cents": 1_000 + number % 5_000,
                "delivered_at": "2026-11-20T09:00:00-06:00",
                "category": "roofing",
            }
        )
        for number in range(count)
    ]


def _raw_puts(client: Any, table: str, count: int, offset: int) -> float:
    """Seconds to put ``count`` items the size of a charge's ledger entry, one by one."""
    started = time.perf_counter()
    for number in range(offset, offset + count):
        client.put_item(
            TableName=table,
            Item={
                "contractor_id": {"S": f"tp-{number % ACCOUNTS:03d}"},
                "entry_id": {"S": f"raw#{number:07d}"},
                "recorded_key": {"S": f"2026-11-20T15:00:00.000000Z#raw#{number:07d}"},
                "kind": {"S": "charge"},
                "recorded_at": {"S": "2026-11-20T15:00:00.000000Z"},
                "amount_cents": {"N": str(1_000 + number % 5_000)},
                "lead_id": {"S": f"raw-{number:07d}"},
                "category": {"S": "roofing"},
                "delivered_at": {"S": "2026-11-20T15:00:00.000000Z"},
            },
        )
    return time.perf_counter() - started


def _raw_charges(client: Any, tables: tuple[str, str], count: int, offset: int) -> float:
    """Seconds for ``count`` charges' own writes, raw: one transaction each."""
    ledger, accounts = tables
    started = time.perf_counter()
    for number in range(offset, offset + count):
        contractor = {"S": f"tp-{number % ACCOUNTS:03d}"}
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": ledger,
                        "Item": {
                            "contractor_id": contractor,
                            "entry_id": {"S": f"tx#{number:07d}"},
                            "recorded_key": {"S": f"2026-11-20T15:00:00.000000Z#tx#{number:07d}"},
                            "kind": {"S": "charge"},
                            "amount_cents": {"N": "1000"},
                        },
                        "ConditionExpression": "attribute_not_exists(entry_id)",
                    }
                },
                {
                    "Update": {
                        "TableName": accounts,
                        "Key": {"contractor_id": contractor},
                        "UpdateExpression": "SET remaining_cents = remaining_cents - :p "
                        "ADD spent_cents :p, unbilled_cents :p",
                        "ConditionExpression": "remaining_cents > :p",
                        "ExpressionAttributeValues": {":p": {"N": "1"}},
                    }
                },
            ]
        )
    return time.perf_counter() - started


def measure(options: dict[str, Any]) -> Section:
    import boto3

    from local.processes import free_port, start_moto

    leads = int(options.get("leads", 2_000))
    batch = _batch_size()
    section = Section(
        "throughput",
        "4. Lead throughput",
        parameters={"leads": f"{leads:,}", "batch": batch, "emulator": "moto server"},
    )
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    server = start_moto("127.0.0.1", free_port(), LOG_DIR / "throughput-moto.log", REPO_ROOT)
    try:
        server.wait_ready("/moto-api/")
        os.environ.update(ENVIRONMENT)
        os.environ["AWS_ENDPOINT_URL"] = server.url
        resources = create_resources()
        os.environ["QUARANTINE_QUEUE_URL"] = resources.quarantine_queue_url
        events = boto3.client("events")
        events.remove_targets(Rule="everything", EventBusName=BUS, Ids=["queue"])
        events.delete_rule(Name="everything", EventBusName=BUS)
        set_clock(lambda: SIGNUP.replace(day=20, hour=15))
        for number in range(ACCOUNTS):
            AccountStore().create(
                open_account(
                    contractor_id=f"tp-{number:03d}",
                    business_name="Bench Roofing",
                    billing_email="billing@bench.example",
                    locale="en",
                    timezone=TIMEZONE,
                    signed_up_at=SIGNUP,
                    monthly_budget=Money(90_000_000),
                    threshold=Money(90_000_000),
                ),
                SIGNUP,
            )
        on_lead = handler("on_lead")
        raw = boto3.client("dynamodb", endpoint_url=server.url)
        table = os.environ["LEDGER_TABLE"]
        records = _records(leads)
        _raw_puts(raw, table, 50, 10_000_000)  # warm both paths up: connections, caches
        on_lead.handler({"Records": _records(50)[:0]}, LambdaContext())

        before = _raw_puts(raw, table, leads, 0)
        started = time.perf_counter()
        failures = 0
        for offset in range(0, leads, batch):
            answer = on_lead.handler({"Records": records[offset : offset + batch]}, LambdaContext())
            failures += len(answer["batchItemFailures"])
        handled = time.perf_counter() - started
        after = _raw_puts(raw, table, leads, leads)
        tables = (table, os.environ["ACCOUNTS_TABLE"])
        charges = _raw_charges(raw, tables, leads, 0)
    finally:
        server.stop()
    if failures:
        raise RuntimeError(f"{failures} leads failed")
    reference = (before + after) / 2
    section.figures = [
        Figure(
            "on_lead leads/s / raw put_item items/s",
            (leads / handled) / (leads / reference),
            "x",
            ">= 0.5",
            f"on_lead {leads / handled:,.0f} leads/s; put_item {leads / reference:,.0f} items/s "
            f"(before {leads / before:,.0f}, after {leads / after:,.0f}), same server, same run",
        ),
        Figure(
            "on_lead leads/s / raw charge transactions/s",
            (leads / handled) / (leads / charges),
            "x",
            None,
            f"a charge's two writes in one TransactWriteItems, raw: {leads / charges:,.0f}/s; "
            f"the floor of a lead that must be charged atomically",
        ),
    ]
    section.notes = [
        "A lead must be charged atomically: its ledger entry and its account's budget in one "
        "TransactWriteItems, conditioned on the entry's absence and the budget left. On "
        "moto's server that transaction is the floor, and it costs more than a put: the "
        "second reference is that transaction alone, raw. on_lead settles the leads of "
        "different accounts side by side (8 at once, each account's leads in stream order), "
        "so that its process and the server work at the same time, and publishes the "
        "batch's events ten to a PutEvents call.",
        "Why 0.5 of put_item is not met here, and the true floor. With both processes on "
        "this machine, the server's work per lead (the transaction, a tenth of PutEvents) "
        "bounds the handler, however many leads it settles at once; the handler reaches "
        "the fraction of the raw transaction rate shown above, the rest being its own "
        "conditions, the events and the answers' parsing. Against DynamoDB, whose "
        "transactions of two items cost about twice a put in latency but which serves "
        "concurrent requests in parallel, the same concurrency raises a shard's throughput "
        "with the number of accounts in a batch, until the function's CPU (its share of a "
        "vCPU at 512 MB) is the limit.",
        "The emulator: moto copied every table a transaction touches, items and stream "
        "records, before each transaction, so that a charge cost as much as the tables were "
        "large (24 ms after a few hundred leads, 80 ms after a thousand). "
        "`local/moto_atomic.py` now puts back only the items a cancelled transaction named "
        "(tests/integration/test_moto_atomic.py), which `make run` and the tests benefit "
        "from too.",
    ]
    return section
