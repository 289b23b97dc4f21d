"""Each function has its own role, granted what it does and nothing more."""

from __future__ import annotations

import json

import pytest

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

FUNCTIONS = [
    names.ON_LEAD,
    names.API,
    names.WEEKLY_INVOICE,
    names.CARD_UPDATED,
    names.BUDGET_RESET,
    names.GRACE_CHECK,
    names.NOTIFY,
    names.RECONCILE,
    names.REPUBLISH,
]
ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
LEDGER = get_att(names.TABLE_LOGICAL_IDS["ledger"])
INVOICES = get_att(names.TABLE_LOGICAL_IDS["invoices"])
SECRET = {"Ref": names.STRIPE_SECRET_LOGICAL_ID}


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
    allowed = granted(synthesized, function, "dynamodb:")

    assert "dynamodb:Scan" not in allowed
    assert "dynamodb:DeleteItem" not in allowed
    assert "dynamodb:BatchWriteItem" not in allowed
    assert "dynamodb:*" not in allowed


def test_on_lead_charges_through_items_of_accounts_and_ledger(synthesized: Synthesized) -> None:
    allowed = granted(synthesized, names.ON_LEAD, "dynamodb:")

    # The account updated or checked, the lead's entries put; failed items come back.
    assert {action for action, resources in allowed.items() if ACCOUNTS in resources} == {
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    }
    assert {action for action, resources in allowed.items() if LEDGER in resources} == {
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
    }


def test_on_lead_may_only_add_to_and_check_the_quarantine_table(synthesized: Synthesized) -> None:
    # R2: a charge checks that no quarantine item holds its lead, and gets back the one
    # that does; nothing else reads the table.
    quarantine = get_att(names.TABLE_LOGICAL_IDS["quarantine"])
    allowed = granted(synthesized, names.ON_LEAD, "dynamodb:")

    assert sorted(action for action, resources in allowed.items() if quarantine in resources) == [
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
    ]


def test_on_lead_dynamodb_grants_name_its_tables_and_the_leads_stream_only(
    synthesized: Synthesized,
) -> None:
    stream = get_att(names.TABLE_LOGICAL_IDS["leads"], "StreamArn")
    quarantine = get_att(names.TABLE_LOGICAL_IDS["quarantine"])
    allowed = granted(synthesized, names.ON_LEAD, "dynamodb:")

    resources = {
        str(resource)
        for action, action_resources in allowed.items()
        if action != "dynamodb:ListStreams"
        for resource in action_resources
    }

    assert resources == {str(ACCOUNTS), str(LEDGER), str(quarantine), str(stream)}
    # ListStreams has no resource-level permissions.
    assert allowed["dynamodb:ListStreams"] == ["*"]


def test_on_lead_publishes_to_the_billing_bus_only(synthesized: Synthesized) -> None:
    assert granted(synthesized, names.ON_LEAD, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }


def test_on_lead_sends_to_the_quarantine_failure_and_unpublished_events_queues_only(
    synthesized: Synthesized,
) -> None:
    allowed = granted(synthesized, names.ON_LEAD, "sqs:")

    assert sorted(map(str, allowed["sqs:SendMessage"])) == sorted(
        map(
            str,
            [
                get_att(names.QUARANTINE_QUEUE_LOGICAL_ID),
                get_att(names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID),
                get_att(names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID),
            ],
        )
    )
    assert all(
        resource == get_att(names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID)
        for action, resources in allowed.items()
        if action != "sqs:SendMessage"
        for resource in resources
    )


def test_api_reads_and_writes_accounts_and_ledger_items_and_queries_their_indexes(
    synthesized: Synthesized,
) -> None:
    dynamodb = granted(synthesized, names.API, "dynamodb:")
    assert {action: as_set(resources) for action, resources in dynamodb.items()} == {
        "dynamodb:GetItem": as_set([ACCOUNTS, LEDGER, INVOICES]),
        "dynamodb:PutItem": as_set([ACCOUNTS, LEDGER]),
        "dynamodb:UpdateItem": as_set([ACCOUNTS, LEDGER]),
        # an account's ledger by key and in the order recorded; an account's invoices
        "dynamodb:Query": as_set(
            [LEDGER, index(LEDGER, "chronological"), index(INVOICES, "by_contractor")]
        ),
    }


def test_api_reads_an_invoice_by_its_id_and_an_accounts_invoices_by_the_contractor_index(
    synthesized: Synthesized,
) -> None:
    dynamodb = granted(synthesized, names.API, "dynamodb:")
    on_invoices = {
        action: [
            resource
            for resource in resources
            if names.TABLE_LOGICAL_IDS["invoices"] in json.dumps(resource)
        ]
        for action, resources in dynamodb.items()
    }

    assert {action: resources for action, resources in on_invoices.items() if resources} == {
        "dynamodb:GetItem": [INVOICES],
        "dynamodb:Query": [index(INVOICES, "by_contractor")],
    }


def test_api_uses_dynamodb_stripes_secret_the_bus_logs_and_tracing_only(
    synthesized: Synthesized,
) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.API)
        for action in actions_of(statement)
    }

    # s3: the invoice PDFs the emails carried (tests/infra/test_documents.py); sqs: what
    # the bus refuses goes to the unpublished events queue (tests/infra/test_republish.py).
    assert services == {"dynamodb", "events", "logs", "s3", "secretsmanager", "sqs", "xray"}
    assert granted(synthesized, names.API, "secretsmanager:") == {
        "secretsmanager:GetSecretValue": [SECRET]
    }
    # R8, R12: a contractor's budget change announces its pause or reactivation.
    assert granted(synthesized, names.API, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_statement_names_every_resource_but_the_ones_that_cannot_name_one(
    synthesized: Synthesized, function: str
) -> None:
    """X-Ray's trace writes and dynamodb:ListStreams support no resource-level permissions."""
    unscoped = {
        action
        for statement in synthesized.role_statements(function)
        if "*" in resources_of(statement)
        for action in actions_of(statement)
    }

    assert unscoped <= {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "dynamodb:ListStreams",
    }
