"""Each function has its own role, granted what it does and nothing more."""

from __future__ import annotations

import pytest

from infra import names
from tests.infra.support import Synthesized, actions_of, get_att, resources_of

FUNCTIONS = [names.ON_LEAD, names.API, names.WEEKLY_INVOICE]
ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
LEDGER = get_att(names.TABLE_LOGICAL_IDS["ledger"])


def _granted(synthesized: Synthesized, function: str, prefix: str) -> dict[str, list[object]]:
    """action -> resources, for the actions of one service."""
    granted: dict[str, list[object]] = {}
    for statement in synthesized.role_statements(function):
        assert statement["Effect"] == "Allow"
        for action in actions_of(statement):
            if action.startswith(prefix):
                granted.setdefault(action, []).extend(resources_of(statement))
    return granted


def test_functions_do_not_share_a_role(synthesized: Synthesized) -> None:
    roles = [synthesized.role_id(function) for function in FUNCTIONS]

    assert len(set(roles)) == len(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_role_has_no_managed_policy(synthesized: Synthesized, function: str) -> None:
    role = synthesized.properties(synthesized.role_id(function))

    assert "ManagedPolicyArns" not in role


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_action_is_a_wildcard(synthesized: Synthesized, function: str) -> None:
    actions = [
        action
        for statement in synthesized.role_statements(function)
        for action in actions_of(statement)
    ]

    assert actions
    assert [action for action in actions if "*" in action] == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_may_scan_or_delete_items(synthesized: Synthesized, function: str) -> None:
    granted = _granted(synthesized, function, "dynamodb:")

    assert "dynamodb:Scan" not in granted
    assert "dynamodb:DeleteItem" not in granted
    assert "dynamodb:BatchWriteItem" not in granted
    assert "dynamodb:*" not in granted


def test_on_lead_charges_through_items_of_accounts_and_ledger(synthesized: Synthesized) -> None:
    granted = _granted(synthesized, names.ON_LEAD, "dynamodb:")
    charge = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")

    for action in charge:
        assert ACCOUNTS in granted[action]
        assert LEDGER in granted[action]
    assert granted["dynamodb:ConditionCheckItem"] == [ACCOUNTS, LEDGER]


def test_on_lead_may_only_add_to_the_quarantine_table(synthesized: Synthesized) -> None:
    quarantine = get_att(names.TABLE_LOGICAL_IDS["quarantine"])
    granted = _granted(synthesized, names.ON_LEAD, "dynamodb:")

    assert [action for action, resources in granted.items() if quarantine in resources] == [
        "dynamodb:PutItem"
    ]


def test_on_lead_dynamodb_grants_name_its_tables_and_the_leads_stream_only(
    synthesized: Synthesized,
) -> None:
    stream = get_att(names.TABLE_LOGICAL_IDS["leads"], "StreamArn")
    quarantine = get_att(names.TABLE_LOGICAL_IDS["quarantine"])
    granted = _granted(synthesized, names.ON_LEAD, "dynamodb:")

    resources = {
        str(resource)
        for action, action_resources in granted.items()
        if action != "dynamodb:ListStreams"
        for resource in action_resources
    }

    assert resources == {str(ACCOUNTS), str(LEDGER), str(quarantine), str(stream)}
    # ListStreams has no resource-level permissions.
    assert granted["dynamodb:ListStreams"] == ["*"]


def test_on_lead_publishes_to_the_billing_bus_only(synthesized: Synthesized) -> None:
    assert _granted(synthesized, names.ON_LEAD, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }


def test_on_lead_sends_to_the_quarantine_and_failure_queues_only(
    synthesized: Synthesized,
) -> None:
    granted = _granted(synthesized, names.ON_LEAD, "sqs:")

    assert sorted(map(str, granted["sqs:SendMessage"])) == sorted(
        map(
            str,
            [
                get_att(names.QUARANTINE_QUEUE_LOGICAL_ID),
                get_att(names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID),
            ],
        )
    )
    assert all(
        resource == get_att(names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID)
        for action, resources in granted.items()
        if action != "sqs:SendMessage"
        for resource in resources
    )


def test_api_reads_and_writes_accounts_and_ledger_items_and_queries_the_ledger_index(
    synthesized: Synthesized,
) -> None:
    index = {"Fn::Join": ["", [LEDGER, "/index/chronological"]]}
    granted = _granted(synthesized, names.API, "dynamodb:")

    assert set(granted) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    }
    for resources in granted.values():
        assert ACCOUNTS in resources
        assert LEDGER in resources
        assert index in resources


def test_api_uses_no_other_service_than_dynamodb_logs_and_tracing(
    synthesized: Synthesized,
) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.API)
        for action in actions_of(statement)
    }

    assert services == {"dynamodb", "logs", "xray"}
