"""Fixture queue consumer: records each message it handles and each invocation's wall-clock
span in the ledger table, sleeps as long as a message asks, reports the messages marked
``fail`` as batch item failures and raises on a message marked ``raise``."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3

_dynamodb = boto3.client("dynamodb")


def _put(entry_id: str, **attributes: str) -> None:
    _dynamodb.put_item(
        TableName=os.environ["LEDGER_TABLE"],
        Item={
            "contractor_id": {"S": "work"},
            "entry_id": {"S": entry_id},
            "recorded_key": {"S": entry_id},
            **{key: {"S": value} for key, value in attributes.items()},
        },
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.time()
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        if body.get("raise"):
            raise RuntimeError(f"asked to fail on {body['id']}")
        time.sleep(float(body.get("sleep", 0)))
        receives = record["attributes"]["ApproximateReceiveCount"]
        _put(f"message#{body['id']}#{receives}", message_id=record["messageId"])
        if body.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    _put(
        f"invocation#{context.aws_request_id}",
        started=repr(started),
        ended=repr(time.time()),
        size=str(len(event["Records"])),
    )
    return {"batchItemFailures": failures}
