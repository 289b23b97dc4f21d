"""grace_check (R9, R10): an hourly schedule, the sparse grace index it reads instead of
scanning, and a role granted that and nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import names
from tests.infra.support import Synthesized, actions_of, as_set, get_att, granted, index

ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
LEDGER = get_att(names.TABLE_LOGICAL_IDS["ledger"])
INVOICES = get_att(names.TABLE_LOGICAL_IDS["invoices"])
NOTICES = get_att(names.TABLE_LOGICAL_IDS["notices"])
SECRET = {"Ref": names.STRIPE_SECRET_LOGICAL_ID}


@pytest.fixture(scope="module")
def schedule(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(names.GRACE_CHECK_SCHEDULE_LOGICAL_ID)


def test_the_environment_names_the_stacks_resources(synthesized: Synthesized) -> None:
    """Where its variables point. That they are exactly those its settings read, and where
    its tables' variables point, ``test_functions.py`` checks for every function."""
    variables = synthesized.function(names.GRACE_CHECK)["Environment"]["Variables"]

    assert variables["INVOICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["invoices"]}
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}
    assert variables["STRIPE_SECRET_NAME"] == SECRET
    # R14: the reminders before the grace end.
    assert variables["NOTICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["notices"]}
    assert variables["EMAIL_SENDER"] == {"Ref": names.EMAIL_SENDER_PARAMETER}
    assert variables["EMAIL_CONFIGURATION_SET"] == {"Ref": names.INVOICE_EMAILS_LOGICAL_ID}


def test_the_schedule_runs_the_check_every_hour(schedule: dict[str, Any]) -> None:
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert json.loads(schedule["Target"]["Input"]) == {"run": "grace_check"}


def test_the_function_queries_two_indexes_and_writes_items_only(
    synthesized: Synthesized,
) -> None:
    dynamodb = granted(synthesized, names.GRACE_CHECK, "dynamodb:")

    assert {action: as_set(resources) for action, resources in dynamodb.items()} == {
        "dynamodb:Query": as_set([index(ACCOUNTS, "grace"), index(INVOICES, "by_contractor")]),
        "dynamodb:GetItem": as_set([ACCOUNTS, INVOICES, NOTICES]),
        "dynamodb:UpdateItem": as_set([ACCOUNTS, INVOICES, NOTICES]),
        "dynamodb:PutItem": as_set([LEDGER]),
    }


def test_the_function_uses_dynamodb_the_bus_the_stripe_secret_ses_and_its_dead_letters_only(
    synthesized: Synthesized,
) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.GRACE_CHECK)
        for action in actions_of(statement)
    }

    assert services == {"dynamodb", "events", "logs", "secretsmanager", "ses", "sqs", "xray"}
    assert granted(synthesized, names.GRACE_CHECK, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }
    secrets = granted(synthesized, names.GRACE_CHECK, "secretsmanager:")
    assert {resource for resources in secrets.values() for resource in as_set(resources)} == (
        as_set([SECRET])
    )


def test_the_grace_index_is_sparse_and_keyed_by_the_grace_end(synthesized: Synthesized) -> None:
    table = synthesized.properties(names.TABLE_LOGICAL_IDS["accounts"])
    (grace,) = [index for index in table["GlobalSecondaryIndexes"] if index["IndexName"] == "grace"]

    assert grace["KeySchema"] == [
        {"AttributeName": "grace_shard", "KeyType": "HASH"},
        {"AttributeName": "grace_ends_at", "KeyType": "RANGE"},
    ]
    assert grace["Projection"] == {"ProjectionType": "KEYS_ONLY"}
