"""budget_reset (R7, R8): a daily schedule per billing timezone at 00:05 local time, the
resets index it reads instead of scanning, and a role granted that and nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.adapters.settings import BudgetResetSettings
from functions.billing.invoices import BILLING_TIMEZONES
from infra import names
from tests.infra.support import (
    Synthesized,
    actions_of,
    as_set,
    get_att,
    granted,
    index,
    resources_of,
)

FUNCTION = {"Ref": names.FUNCTION_LOGICAL_IDS[names.BUDGET_RESET]}
FUNCTION_ARN = get_att(names.FUNCTION_LOGICAL_IDS[names.BUDGET_RESET])
DLQ = get_att(names.BUDGET_RESET_DEAD_LETTER_QUEUE_LOGICAL_ID)
UNPUBLISHED = get_att(names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID)  # what the bus refuses
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


def test_the_environment_is_exactly_what_the_settings_read(synthesized: Synthesized) -> None:
    variables = synthesized.function(names.BUDGET_RESET)["Environment"]["Variables"]
    declared = {field.alias for field in BudgetResetSettings.model_fields.values()}

    assert {name for name in variables if not name.startswith(("POWERTOOLS_", "LOG_"))} == (
        declared
    )
    assert variables["ACCOUNTS_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["accounts"]}
    assert variables["LEDGER_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["ledger"]}
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
def test_each_schedule_runs_at_00_05_every_day_in_its_timezone(
    schedules: dict[str, dict[str, Any]], timezone: str
) -> None:
    schedule = schedules[names.budget_reset_schedule_logical_id(timezone)]

    assert schedule["ScheduleExpression"] == "cron(5 0 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == timezone
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"


@pytest.mark.parametrize("timezone", BILLING_TIMEZONES)
def test_each_schedule_tells_the_function_its_run_retries_and_dead_letters(
    schedules: dict[str, dict[str, Any]], timezone: str
) -> None:
    target = schedules[names.budget_reset_schedule_logical_id(timezone)]["Target"]

    assert target["Arn"] == FUNCTION_ARN
    assert json.loads(target["Input"]) == {"run": "budget_reset", "timezone": timezone}
    assert target["RoleArn"] == get_att(names.BUDGET_RESET_SCHEDULER_ROLE_LOGICAL_ID)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": DLQ}


def test_the_schedules_role_may_invoke_budget_reset_and_dead_letter_only(
    synthesized: Synthesized,
) -> None:
    role_id = names.BUDGET_RESET_SCHEDULER_ROLE_LOGICAL_ID
    role = synthesized.properties(role_id)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    statements = [
        statement
        for policy in synthesized.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]

    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "ManagedPolicyArns" not in role
    assert sorted(
        (action, json.dumps(resource, sort_keys=True))
        for statement in statements
        for action in actions_of(statement)
        for resource in resources_of(statement)
    ) == sorted(
        [
            ("lambda:InvokeFunction", json.dumps(FUNCTION_ARN, sort_keys=True)),
            ("sqs:SendMessage", json.dumps(DLQ, sort_keys=True)),
        ]
    )


def test_a_run_that_fails_in_the_function_is_retried_then_dead_lettered(
    synthesized: Synthesized,
) -> None:
    (config,) = [
        config
        for config in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == FUNCTION
    ]

    assert config["Properties"]["MaximumRetryAttempts"] == 2
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 3600
    assert config["Properties"]["DestinationConfig"] == {"OnFailure": {"Destination": DLQ}}


def test_the_dead_letter_queue_is_alarmed(synthesized: Synthesized) -> None:
    dimensions = [
        alarm["Properties"]["Dimensions"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]

    assert [
        {
            "Name": "QueueName",
            "Value": get_att(names.BUDGET_RESET_DEAD_LETTER_QUEUE_LOGICAL_ID, "QueueName"),
        }
    ] in dimensions


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
    # Lambda sends a run that failed its retries to the dead-letter queue as the function.
    sqs = granted(synthesized, names.BUDGET_RESET, "sqs:")
    assert {resource for resources in sqs.values() for resource in as_set(resources)} == (
        as_set([DLQ, UNPUBLISHED])
    )


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
