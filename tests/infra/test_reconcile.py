"""reconcile (R5, R6): a daily schedule that names its instant, the two sparse indexes it
reads instead of scanning, and a role granted that and nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.adapters.models import InvoiceModel, LedgerEntryModel
from infra import names
from tests.infra.support import Synthesized, actions_of, as_set, get_att, granted, index

ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
LEDGER = get_att(names.TABLE_LOGICAL_IDS["ledger"])
INVOICES = get_att(names.TABLE_LOGICAL_IDS["invoices"])
SECRET = {"Ref": names.STRIPE_SECRET_LOGICAL_ID}


@pytest.fixture(scope="module")
def schedule(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(names.RECONCILE_SCHEDULE_LOGICAL_ID)


def test_the_environment_names_the_stacks_resources(synthesized: Synthesized) -> None:
    """Where its variables point. That they are exactly those its settings read, and where
    its tables' variables point, ``test_functions.py`` checks for every function."""
    variables = synthesized.function(names.RECONCILE)["Environment"]["Variables"]

    assert variables["INVOICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["invoices"]}
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}
    assert variables["STRIPE_SECRET_NAME"] == SECRET
    # R5: an invoice whose first attempt it resolves is emailed, with its PDF kept.
    assert variables["EMAIL_SENDER"] == {"Ref": names.EMAIL_SENDER_PARAMETER}
    assert variables["EMAIL_CONFIGURATION_SET"] == {"Ref": names.INVOICE_EMAILS_LOGICAL_ID}
    assert variables["DOCUMENTS_BUCKET"] == {"Ref": names.DOCUMENTS_BUCKET_LOGICAL_ID}


def test_the_schedule_runs_the_reconciliation_every_day_after_midnight_utc(
    schedule: dict[str, Any],
) -> None:
    assert schedule["ScheduleExpression"] == "cron(0 1 * * ? *)"
    assert "ScheduleExpressionTimezone" not in schedule  # UTC: the day reconciled is UTC's


def test_the_schedule_names_its_instant_so_that_a_retry_reconciles_the_same_day(
    schedule: dict[str, Any],
) -> None:
    assert json.loads(schedule["Target"]["Input"]) == {
        "run": "reconcile",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }


def test_the_function_queries_the_two_sparse_indexes_and_reads_and_writes_items_only(
    synthesized: Synthesized,
) -> None:
    dynamodb = granted(synthesized, names.RECONCILE, "dynamodb:")

    assert {action: as_set(resources) for action, resources in dynamodb.items()} == {
        "dynamodb:Query": as_set([index(INVOICES, "unsettled"), index(LEDGER, "payments_by_day")]),
        "dynamodb:GetItem": as_set([ACCOUNTS, INVOICES, LEDGER]),
        "dynamodb:UpdateItem": as_set([ACCOUNTS, INVOICES]),
        # The ledger is append-only: payments, failures and reactivations are added.
        "dynamodb:PutItem": as_set([LEDGER]),
    }


def test_the_function_uses_dynamodb_the_bus_the_stripe_secret_ses_s3_and_its_dead_letters(
    synthesized: Synthesized,
) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.RECONCILE)
        for action in actions_of(statement)
    }

    assert services == {
        "dynamodb",
        "events",
        "logs",
        "s3",
        "secretsmanager",
        "ses",
        "sqs",
        "xray",
    }
    assert granted(synthesized, names.RECONCILE, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }
    secrets = granted(synthesized, names.RECONCILE, "secretsmanager:")
    assert {resource for resources in secrets.values() for resource in as_set(resources)} == (
        as_set([SECRET])
    )
    ses = granted(synthesized, names.RECONCILE, "ses:")
    assert ses == granted(synthesized, names.WEEKLY_INVOICE, "ses:")


def test_the_unsettled_index_is_sparse_and_keyed_by_the_attempts_start(
    synthesized: Synthesized,
) -> None:
    table = synthesized.properties(names.TABLE_LOGICAL_IDS["invoices"])
    (unsettled,) = [
        found for found in table["GlobalSecondaryIndexes"] if found["IndexName"] == "unsettled"
    ]

    assert unsettled["KeySchema"] == [
        {"AttributeName": "unsettled_shard", "KeyType": "HASH"},
        {"AttributeName": "unsettled_since", "KeyType": "RANGE"},
    ]
    assert unsettled["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert InvoiceModel.unsettled_shard.null is True


def test_the_payments_by_day_index_is_sparse_and_keyed_by_the_payments_day(
    synthesized: Synthesized,
) -> None:
    table = synthesized.properties(names.TABLE_LOGICAL_IDS["ledger"])
    (by_day,) = [
        found
        for found in table["GlobalSecondaryIndexes"]
        if found["IndexName"] == "payments_by_day"
    ]

    assert by_day["KeySchema"] == [
        {"AttributeName": "payment_day", "KeyType": "HASH"},
        {"AttributeName": "recorded_key", "KeyType": "RANGE"},
    ]
    assert LedgerEntryModel.payment_day.null is True
