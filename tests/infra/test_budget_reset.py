"""budget_reset (R7, R8): a daily schedule per billing timezone at 00:05 local time, the
resets index it reads instead of scanning, and a role granted that and nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.billing.invoices import BILLING_TIMEZONES
from infra import names
from tests.infra.support import Synthesized, actions_of, as_set, get_att, granted, index

ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
LEDGER = get_att(names.TABLE_LOGICAL_IDS["ledger"])
NOTICES = get_att(names.TABLE_LOGICAL_IDS["notices"])


@pytest.fixture(scope="module")
def schedules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in synthesized.of_type("AWS::Scheduler::Schedule").items()
        if logical_id.startswith("BudgetResetSchedule")
    }


def test_the_environment_names_the_stacks_resources(synthesized: Synthesized) -> None:
    """Where its variables point. That they are exactly those its settings read, and where
    its tables' variables point, ``test_functions.py`` checks for every function."""
    variables = synthesized.function(names.BUDGET_RESET)["Environment"]["Variables"]

    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}
    # R14: the notice of a card that expires this month.
    assert variables["NOTICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["notices"]}
    assert variables["EMAIL_SENDER"] == {"Ref": names.EMAIL_SENDER_PARAMETER}
    assert variables["EMAIL_CONFIGURATION_SET"] == {"Ref": names.INVOICE_EMAILS_LOGICAL_ID}


def test_there_is_one_daily_schedule_per_billing_timezone(
    schedules: dict[str, dict[str, Any]],
) -> None:
    assert set(schedules) == {
        names.budget_reset_schedule_logical_id(zone) for zone in BILLING_TIMEZONES
    }


@pytest.mark.parametrize("timezone", BILLING_TIMEZONES)
def test_each_schedule_runs_the_reset_of_its_timezone_at_00_05_every_day_there(
    schedules: dict[str, dict[str, Any]], timezone: str
) -> None:
    schedule = schedules[names.budget_reset_schedule_logical_id(timezone)]

    assert schedule["ScheduleExpression"] == "cron(5 0 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == timezone
    assert json.loads(schedule["Target"]["Input"]) == {"run": "budget_reset", "timezone": timezone}


def test_the_function_queries_two_account_indexes_and_writes_items_only(
    synthesized: Synthesized,
) -> None:
    dynamodb = granted(synthesized, names.BUDGET_RESET, "dynamodb:")

    assert {action: as_set(resources) for action, resources in dynamodb.items()} == {
        # R7: the accounts whose period ended; R14: the cards expiring this month.
        "dynamodb:Query": as_set([index(ACCOUNTS, "resets"), index(ACCOUNTS, "card_expiry")]),
        "dynamodb:GetItem": as_set([ACCOUNTS, NOTICES]),
        "dynamodb:UpdateItem": as_set([ACCOUNTS, NOTICES]),
        "dynamodb:PutItem": as_set([LEDGER]),
    }


def test_the_function_uses_dynamodb_the_bus_ses_its_dead_letters_logs_and_tracing_only(
    synthesized: Synthesized,
) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.BUDGET_RESET)
        for action in actions_of(statement)
    }

    assert services == {"dynamodb", "events", "logs", "ses", "sqs", "xray"}
    assert granted(synthesized, names.BUDGET_RESET, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }


def test_the_resets_index_reads_accounts_by_timezone_and_period_end(
    synthesized: Synthesized,
) -> None:
    table = synthesized.properties(names.TABLE_LOGICAL_IDS["accounts"])
    (resets,) = [
        index for index in table["GlobalSecondaryIndexes"] if index["IndexName"] == "resets"
    ]

    assert resets["KeySchema"] == [
        {"AttributeName": "timezone", "KeyType": "HASH"},
        {"AttributeName": "period_end", "KeyType": "RANGE"},
    ]
    # Keys only: a charge changes neither key, so it costs no write of the index.
    assert resets["Projection"] == {"ProjectionType": "KEYS_ONLY"}
