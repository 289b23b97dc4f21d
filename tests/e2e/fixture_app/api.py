"""Fixture API: a few routes over the accounts table, enough to drive the gateway."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from tests.e2e.fixture_app import clock

_dynamodb = boto3.client("dynamodb")
_ACCOUNTS = os.environ["ACCOUNTS_TABLE"]
_COLD_START_AT = clock.now().isoformat()


def _response(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    route = (event["httpMethod"], event["resource"])
    if route == ("POST", "/admin/accounts"):
        body = json.loads(event["body"] or "{}")
        item = {
            "contractor_id": {"S": body["contractor_id"]},
            "business_name": {"S": body.get("business_name", "")},
            "spent_cents": {"N": "0"},
            "created_at": {"S": clock.now().isoformat()},
        }
        _dynamodb.put_item(TableName=_ACCOUNTS, Item=item)
        return _response(201, {"contractor_id": body["contractor_id"]})
    if route == ("GET", "/admin/accounts/{contractor_id}"):
        key = {"contractor_id": {"S": event["pathParameters"]["contractor_id"]}}
        item = _dynamodb.get_item(TableName=_ACCOUNTS, Key=key).get("Item")
        if item is None:
            return _response(404, {"message": "no such account"})
        return _response(
            200,
            {
                "contractor_id": item["contractor_id"]["S"],
                "spent_cents": int(item["spent_cents"]["N"]),
                "created_at": item["created_at"]["S"],
            },
        )
    if route == ("GET", "/me"):
        claims = event["requestContext"]["authorizer"]["claims"]
        return _response(200, {"contractor_id": claims["username"], "claims": claims})
    if route == ("GET", "/debug/env"):
        return _response(
            200,
            {
                "environment": sorted(os.environ),
                "values": {
                    k: v
                    for k, v in os.environ.items()
                    if k.startswith(("AWS_", "POWER")) and "SECRET" not in k
                },
                "function_name": context.function_name,
                "memory": context.memory_limit_in_mb,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "now": clock.now().isoformat(),
                "cold_start_at": _COLD_START_AT,
                "query": event["queryStringParameters"],
                "request_context": event["requestContext"],
            },
        )
    return _response(500, {"message": f"unexpected route {route}"})
