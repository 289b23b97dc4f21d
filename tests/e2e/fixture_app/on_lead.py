"""Fixture stream handler: charges a lead's price to its account, reports the leads
marked ``fail`` as batch item failures, and raises on leads marked ``crash``."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from tests.e2e.fixture_app import clock

_dynamodb = boto3.client("dynamodb")
_events = boto3.client("events")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        image = record["dynamodb"]["NewImage"]
        if "crash" in image:
            raise RuntimeError(f"crash on {image['lead_id']['S']}")
        if "fail" in image:
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
            continue
        contractor = image["contractor_id"]["S"]
        _dynamodb.update_item(
            TableName=os.environ["ACCOUNTS_TABLE"],
            Key={"contractor_id": {"S": contractor}},
            UpdateExpression="ADD spent_cents :p",
            ExpressionAttributeValues={":p": {"N": image["price_cents"]["N"]}},
        )
        _dynamodb.put_item(
            TableName=os.environ["LEDGER_TABLE"],
            Item={
                "contractor_id": {"S": contractor},
                "entry_id": {"S": f"lead#{image['lead_id']['S']}"},
                "recorded_key": {"S": clock.now().isoformat()},
                "recorded_at": {"S": clock.now().isoformat()},
            },
        )
        _events.put_events(
            Entries=[
                {
                    "EventBusName": os.environ["EVENT_BUS_NAME"],
                    "Source": "leadbilling.billing",
                    "DetailType": "LeadCharged",
                    "Detail": json.dumps(
                        {"lead_id": image["lead_id"]["S"], "contractor_id": contractor}
                    ),
                }
            ]
        )
    return {"batchItemFailures": failures}
