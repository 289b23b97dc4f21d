"""Fixture function that misbehaves on request, to exercise the worker's Lambda semantics."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from typing import Any

_STARTED_PID = os.getpid()


def handler(event: dict[str, Any], context: Any) -> Any:
    action = event.get("action")
    if action == "sleep":
        time.sleep(float(event["seconds"]))
        return {"pid": os.getpid()}
    if action == "exit":
        os._exit(3)
    if action == "raise":
        raise ValueError("asked to fail")
    if action == "decimal":
        return {"whole": Decimal("12"), "part": Decimal("1.5")}
    if action == "unserializable":
        return {"a set": {1, 2}}
    if action == "print":
        print("to stdout, which must not reach the protocol")
        return {"printed": True}
    return {"pid": os.getpid(), "started_pid": _STARTED_PID, "request_id": context.aws_request_id}
