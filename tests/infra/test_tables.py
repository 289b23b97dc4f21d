"""The tables are the PynamoDB models' tables, on demand, recoverable and retained."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pynamodb.models import Model

from functions.adapters.models import (
    TABLE_MODELS,
    AccountModel,
    LeadModel,
    LedgerEntryModel,
    NoticeModel,
    QuarantineModel,
)
from infra import names
from tests.infra.support import Synthesized

TABLES = sorted(TABLE_MODELS)


def _table(synthesized: Synthesized, key: str) -> dict[str, Any]:
    return synthesized.resources[names.TABLE_LOGICAL_IDS[key]]


def _keys(key_schema: list[dict[str, str]]) -> dict[str, str]:
    return {key["KeyType"]: key["AttributeName"] for key in key_schema}


def _schema(model: type[Model]) -> dict[str, Any]:
    return cast(dict[str, Any], model._get_schema())


def _model_attribute_types(model: type[Model]) -> dict[str, str]:
    schema = _schema(model)
    definitions = list(schema["attribute_definitions"])
    for index in [*schema["local_secondary_indexes"], *schema["global_secondary_indexes"]]:
        definitions.extend(index["attribute_definitions"])
    return {d["AttributeName"]: d["AttributeType"] for d in definitions}


def test_the_stack_has_one_table_per_model(synthesized: Synthesized) -> None:
    tables = synthesized.of_type("AWS::DynamoDB::Table")

    assert set(tables) == {names.TABLE_LOGICAL_IDS[key] for key in TABLE_MODELS}


@pytest.mark.parametrize("key", TABLES)
def test_table_keys_and_attributes_are_those_of_its_model(
    synthesized: Synthesized, key: str
) -> None:
    model = TABLE_MODELS[key]
    properties = _table(synthesized, key)["Properties"]

    assert _keys(properties["KeySchema"]) == _keys(_schema(model)["key_schema"])
    assert {
        d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]
    } == _model_attribute_types(model)


@pytest.mark.parametrize("key", TABLES)
def test_table_indexes_are_those_of_its_model(synthesized: Synthesized, key: str) -> None:
    schema = _schema(TABLE_MODELS[key])
    properties = _table(synthesized, key)["Properties"]

    for kind, cfn_property in (
        ("local_secondary_indexes", "LocalSecondaryIndexes"),
        ("global_secondary_indexes", "GlobalSecondaryIndexes"),
    ):
        expected = {
            index["index_name"]: (_keys(index["key_schema"]), index["projection"])
            for index in schema[kind]
        }
        actual = {
            index["IndexName"]: (_keys(index["KeySchema"]), index["Projection"])
            for index in properties.get(cfn_property, [])
        }
        assert actual == expected


def test_ledger_is_readable_in_recorded_order_and_unbilled_through_local_indexes(
    synthesized: Synthesized,
) -> None:
    indexes = {
        index["IndexName"]: _keys(index["KeySchema"])
        for index in _table(synthesized, "ledger")["Properties"]["LocalSecondaryIndexes"]
    }
    # Local indexes: the invoice reads the unbilled charges with strong consistency
    assert indexes == {
        "chronological": {"HASH": "contractor_id", "RANGE": "recorded_key"},
        "unbilled": {"HASH": "contractor_id", "RANGE": "unbilled_key"},
    }


def test_a_notice_is_keyed_by_its_contractor_and_its_business_id(
    synthesized: Synthesized,
) -> None:
    """R14: one item per notice sent, so that a notice's id is claimed once."""
    properties = _table(synthesized, "notices")["Properties"]

    assert _keys(properties["KeySchema"]) == {"HASH": "contractor_id", "RANGE": "notice_id"}
    assert _keys(properties["KeySchema"]) == _keys(_schema(NoticeModel)["key_schema"])
    assert "GlobalSecondaryIndexes" not in properties
    assert "LocalSecondaryIndexes" not in properties


def test_the_cards_expiring_in_a_month_are_an_index_of_accounts_by_month(
    synthesized: Synthesized,
) -> None:
    """R14: the daily run reads the cards expiring this month (``YYYY-MM``), not a scan;
    sparse, since ``card_expires`` is set only while the account has a card."""
    properties = _table(synthesized, "accounts")["Properties"]
    (card_expiry,) = [
        index
        for index in properties["GlobalSecondaryIndexes"]
        if index["IndexName"] == "card_expiry"
    ]
    (model_index,) = [
        index
        for index in _schema(AccountModel)["global_secondary_indexes"]
        if index["index_name"] == "card_expiry"
    ]

    assert _keys(card_expiry["KeySchema"]) == {"HASH": "card_expires", "RANGE": "contractor_id"}
    assert card_expiry["Projection"] == model_index["projection"]
    assert AccountModel.card_expires.null is True
    assert {"AttributeName": "card_expires", "AttributeType": "S"} in properties[
        "AttributeDefinitions"
    ]


@pytest.mark.parametrize(
    ("key", "model", "view_type"),
    [
        ("accounts", AccountModel, "NEW_AND_OLD_IMAGES"),
        ("leads", LeadModel, "NEW_IMAGE"),
        ("ledger", LedgerEntryModel, None),
        ("quarantine", QuarantineModel, None),
        ("notices", NoticeModel, None),
    ],
)
def test_streams_are_on_accounts_and_leads_with_the_models_view_types(
    synthesized: Synthesized, key: str, model: type[Model], view_type: str | None
) -> None:
    stream = _table(synthesized, key)["Properties"].get("StreamSpecification")

    assert getattr(model.Meta, "stream_view_type", None) == view_type
    if view_type is None:
        assert stream is None
    else:
        assert stream == {"StreamViewType": view_type}


@pytest.mark.parametrize("key", TABLES)
def test_table_has_point_in_time_recovery(synthesized: Synthesized, key: str) -> None:
    properties = _table(synthesized, key)["Properties"]

    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("key", TABLES)
def test_table_survives_stack_deletion_and_replacement(synthesized: Synthesized, key: str) -> None:
    table = _table(synthesized, key)

    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True


@pytest.mark.parametrize("key", TABLES)
def test_table_is_on_demand_encrypted_and_named_by_cloudformation(
    synthesized: Synthesized, key: str
) -> None:
    properties = _table(synthesized, key)["Properties"]

    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert "TableName" not in properties
