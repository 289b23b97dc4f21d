"""Make moto's DynamoDB apply each request atomically, as DynamoDB does.

moto evaluates a request's conditions and then writes, with nothing between them to stop
another thread; a cancelled transaction even restores a copy of the whole table taken
before it, undoing concurrent writes. DynamoDB serializes writes to an item. Holding one
lock around every backend call restores that guarantee in the emulator, so concurrency
tests exercise the billing's conditions rather than the emulator's races.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_PATCHED = "_billing_atomic"


def make_dynamodb_atomic() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, _PATCHED, False):
        return
    for name, member in list(vars(DynamoDBBackend).items()):
        if name.startswith("_") or not callable(member):
            continue
        setattr(DynamoDBBackend, name, _serialized(member))
    setattr(DynamoDBBackend, _PATCHED, True)


def _serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return call
