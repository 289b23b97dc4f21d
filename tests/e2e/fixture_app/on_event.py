"""Fixture event handler: records each LeadCharged event it receives in the ledger."""

from __future__ import annotations

import os
from typing import Any

import boto3

from tests.e2e.fixture_app import clock

_dynamodb = boto3.client("dynamodb")


def handler(event: dict[str, Any], context: Any) -> None:
    _dynamodb.put_item(
        TableName=os.environ["LEDGER_TABLE"],
        Item={
            "contractor_id": {"S": event["detail"]["contractor_id"]},
            "entry_id": {"S": f"event#{event['detail']['lead_id']}"},
            "recorded_key": {"S": clock.now().isoformat()},
            "recorded_at": {"S": clock.now().isoformat()},
        },
    )
