"""card_updated (R6, R11): the contractor's card flow and Stripe's webhooks, configured as
its settings read and granted what saving a card and settling an attempt need, no more."""

from __future__ import annotations

from typing import Any

import pytest

from functions.adapters.settings import CardUpdatedSettings
from infra import names
from tests.infra.support import Synthesized, actions_of, as_set, get_att, granted, index

ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
LEDGER = get_att(names.TABLE_LOGICAL_IDS["ledger"])
INVOICES = get_att(names.TABLE_LOGICAL_IDS["invoices"])
SECRET = {"Ref": names.STRIPE_SECRET_LOGICAL_ID}


@pytest.fixture(scope="module")
def function(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.function(names.CARD_UPDATED)


@pytest.fixture(scope="module")
def variables(function: dict[str, Any]) -> dict[str, Any]:
    return dict(function["Environment"]["Variables"])


def test_the_function_is_card_updated_with_30_seconds_and_512_mb(
    synthesized: Synthesized, function: dict[str, Any]
) -> None:
    assert names.FUNCTION_LOGICAL_IDS[names.CARD_UPDATED] == "CardUpdatedFunction"
    assert synthesized.resources["CardUpdatedFunction"]["Type"] == "AWS::Lambda::Function"
    assert function["Handler"] == "functions.card_updated.handler.handler"
    assert function["Timeout"] == 30
    assert function["MemorySize"] == 512


def test_its_environment_is_exactly_what_card_updated_settings_read(
    variables: dict[str, Any],
) -> None:
    declared = {field.alias for field in CardUpdatedSettings.model_fields.values()}

    assert set(variables) - set(names.POWERTOOLS_ENVIRONMENT) == declared
    assert declared == {
        "ACCOUNTS_TABLE",
        "LEDGER_TABLE",
        "INVOICES_TABLE",
        "STRIPE_SECRET_NAME",
        "EVENT_BUS_NAME",
        "UNPUBLISHED_EVENTS_QUEUE_URL",
        "EMAIL_SENDER",
        "EMAIL_CONFIGURATION_SET",
        "DOCUMENTS_BUCKET",
    }


def test_its_environment_names_the_stacks_resources(variables: dict[str, Any]) -> None:
    assert variables["ACCOUNTS_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["accounts"]}
    assert variables["LEDGER_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["ledger"]}
    assert variables["INVOICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["invoices"]}
    # The secret's Ref is its ARN, which Powertools' get_secret takes as a name.
    assert variables["STRIPE_SECRET_NAME"] == SECRET
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}
    assert variables["EMAIL_SENDER"] == {"Ref": names.EMAIL_SENDER_PARAMETER}
    assert variables["EMAIL_CONFIGURATION_SET"] == {"Ref": names.INVOICE_EMAILS_LOGICAL_ID}


def test_it_queries_the_customer_and_past_due_indexes_and_items_by_their_key(
    synthesized: Synthesized,
) -> None:
    dynamodb = {
        action: as_set(resources)
        for action, resources in granted(synthesized, names.CARD_UPDATED, "dynamodb:").items()
    }

    assert dynamodb == {
        # R11: the account of a webhook's customer, the account's past-due invoices
        "dynamodb:Query": as_set(
            [index(ACCOUNTS, "by_customer"), index(INVOICES, "by_contractor")]
        ),
        "dynamodb:GetItem": as_set([ACCOUNTS, INVOICES]),
        "dynamodb:UpdateItem": as_set([ACCOUNTS, INVOICES]),
        "dynamodb:PutItem": as_set([LEDGER]),
    }


def test_it_publishes_to_the_billing_bus_only(synthesized: Synthesized) -> None:
    assert granted(synthesized, names.CARD_UPDATED, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }


def test_it_may_read_stripes_secret_only(synthesized: Synthesized) -> None:
    assert granted(synthesized, names.CARD_UPDATED, "secretsmanager:") == {
        "secretsmanager:GetSecretValue": [SECRET]
    }


def test_it_sends_email_as_weekly_invoice_does(synthesized: Synthesized) -> None:
    ses = granted(synthesized, names.CARD_UPDATED, "ses:")

    assert set(ses) == {"ses:SendEmail", "ses:SendRawEmail"}
    assert ses == granted(synthesized, names.WEEKLY_INVOICE, "ses:")


def test_it_uses_only_the_services_it_needs(synthesized: Synthesized) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.CARD_UPDATED)
        for action in actions_of(statement)
    }

    # sqs: what the bus refuses goes to the unpublished events queue (infra/republish.py).
    assert services == {"dynamodb", "events", "logs", "s3", "secretsmanager", "ses", "sqs", "xray"}


def test_nothing_reads_a_stream_or_a_queue_into_it(synthesized: Synthesized) -> None:
    """It answers the API only: requests of contractors and Stripe's deliveries."""
    function = {"Ref": names.FUNCTION_LOGICAL_IDS[names.CARD_UPDATED]}

    assert [
        logical_id
        for logical_id, mapping in synthesized.of_type("AWS::Lambda::EventSourceMapping").items()
        if mapping["Properties"]["FunctionName"] == function
    ] == []


def test_the_customer_index_is_sparse_keys_only_and_keyed_by_the_stripe_customer(
    synthesized: Synthesized,
) -> None:
    """R11: a webhook names a Stripe customer; the index finds its account without a scan."""
    table = synthesized.properties(names.TABLE_LOGICAL_IDS["accounts"])
    (by_customer,) = [
        found for found in table["GlobalSecondaryIndexes"] if found["IndexName"] == "by_customer"
    ]

    assert by_customer["KeySchema"] == [{"AttributeName": "stripe_customer_id", "KeyType": "HASH"}]
    assert by_customer["Projection"] == {"ProjectionType": "KEYS_ONLY"}
