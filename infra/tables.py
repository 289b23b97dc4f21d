"""The DynamoDB tables, built from the PynamoDB models in ``functions/adapters/models.py``.

Key schema, attribute definitions, secondary indexes and stream view type are read from
the models (``Model._get_schema()`` and ``Model.Meta.stream_view_type``), which are also
what the functions and the integration tests use, so the deployed tables cannot drift from
the code that reads them.

Every table is retained and deletion protected: accounts and ledger hold the money,
quarantine holds leads that were not billed yet, notices records which notices were sent
(R14: without it a redeployed stack would send them again), and the leads table belongs
to the lead distribution system, whose data must outlive this stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from pynamodb.models import Model

from functions.adapters.models import TABLE_MODELS
from infra import names

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_STREAM_VIEW_TYPES = {
    "NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE,
    "OLD_IMAGE": dynamodb.StreamViewType.OLD_IMAGE,
    "NEW_AND_OLD_IMAGES": dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    "KEYS_ONLY": dynamodb.StreamViewType.KEYS_ONLY,
}
_PROJECTION_TYPES = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


def _keys(
    key_schema: Sequence[Mapping[str, str]], types: Mapping[str, str]
) -> tuple[dynamodb.Attribute, dynamodb.Attribute | None]:
    by_role = {key["KeyType"]: key["AttributeName"] for key in key_schema}
    partition = dynamodb.Attribute(
        name=by_role["HASH"], type=_ATTRIBUTE_TYPES[types[by_role["HASH"]]]
    )
    sort = None
    if "RANGE" in by_role:
        sort = dynamodb.Attribute(
            name=by_role["RANGE"], type=_ATTRIBUTE_TYPES[types[by_role["RANGE"]]]
        )
    return partition, sort


def _projection(index: Mapping[str, Any]) -> dict[str, Any]:
    projection = index["projection"]
    return {
        "projection_type": _PROJECTION_TYPES[projection["ProjectionType"]],
        "non_key_attributes": projection.get("NonKeyAttributes"),
    }


def model_table(scope: Construct, construct_id: str, model: type[Model]) -> dynamodb.Table:
    """A table whose keys, indexes and stream are those the PynamoDB model declares."""
    if getattr(model.Meta, "billing_mode", None) != "PAY_PER_REQUEST":
        raise ValueError(f"{model.__name__}: the stack builds on-demand tables only")
    schema = cast(dict[str, Any], model._get_schema())
    indexes = [*schema["local_secondary_indexes"], *schema["global_secondary_indexes"]]
    types = {
        definition["AttributeName"]: definition["AttributeType"]
        for definition in [
            *schema["attribute_definitions"],
            *(d for index in indexes for d in index["attribute_definitions"]),
        ]
    }
    partition_key, sort_key = _keys(schema["key_schema"], types)
    stream_view_type = getattr(model.Meta, "stream_view_type", None)
    table = dynamodb.Table(
        scope,
        construct_id,
        partition_key=partition_key,
        sort_key=sort_key,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=True,
        removal_policy=RemovalPolicy.RETAIN,
        stream=_STREAM_VIEW_TYPES[stream_view_type] if stream_view_type else None,
    )
    for index in schema["local_secondary_indexes"]:
        _, index_sort_key = _keys(index["key_schema"], types)
        if index_sort_key is None:
            raise ValueError(f"{model.__name__}: index {index['index_name']} has no range key")
        table.add_local_secondary_index(
            index_name=index["index_name"], sort_key=index_sort_key, **_projection(index)
        )
    for index in schema["global_secondary_indexes"]:
        index_partition_key, index_sort_key = _keys(index["key_schema"], types)
        table.add_global_secondary_index(
            index_name=index["index_name"],
            partition_key=index_partition_key,
            sort_key=index_sort_key,
            **_projection(index),
        )
    return table


def index_names(model: type[Model]) -> list[str]:
    schema = cast(dict[str, Any], model._get_schema())
    return [
        index["index_name"]
        for index in [*schema["local_secondary_indexes"], *schema["global_secondary_indexes"]]
    ]


class BillingTables(Construct):
    """One table per entry of ``TABLE_MODELS``, with the logical id ``names`` gives it."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {}
        for key, model in TABLE_MODELS.items():
            table = model_table(self, names.TABLE_LOGICAL_IDS[key], model)
            cast(dynamodb.CfnTable, table.node.default_child).override_logical_id(
                names.TABLE_LOGICAL_IDS[key]
            )
            self.tables[key] = table

    @property
    def accounts(self) -> dynamodb.Table:
        return self.tables["accounts"]

    @property
    def ledger(self) -> dynamodb.Table:
        return self.tables["ledger"]

    @property
    def leads(self) -> dynamodb.Table:
        return self.tables["leads"]

    @property
    def quarantine(self) -> dynamodb.Table:
        return self.tables["quarantine"]

    @property
    def invoices(self) -> dynamodb.Table:
        return self.tables["invoices"]

    @property
    def notices(self) -> dynamodb.Table:
        return self.tables["notices"]

    def arns_with_indexes(self, key: str) -> list[str]:
        """The table's ARN and the ARN of each of its indexes, named one by one."""
        table = self.tables[key]
        return [
            table.table_arn,
            *(f"{table.table_arn}/index/{name}" for name in index_names(TABLE_MODELS[key])),
        ]

    def index_arn(self, key: str, index: str) -> str:
        """The ARN of one index of the table, which must be an index its model declares."""
        if index not in index_names(TABLE_MODELS[key]):
            raise ValueError(f"the {key} table has no index {index!r}")
        return f"{self.tables[key].table_arn}/index/{index}"
