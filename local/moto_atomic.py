"""Make moto's DynamoDB apply each request atomically, as DynamoDB does.

moto evaluates a request's conditions and then writes, with nothing between them to stop
another thread; a cancelled transaction even restores a copy of the whole table taken
before it, undoing concurrent writes. DynamoDB serializes writes to an item. Holding one
lock around every backend call restores that guarantee in the emulator, so concurrency
tests exercise the billing's conditions rather than the emulator's races.

That copy of every table a transaction touches, taken before each transaction, also makes
a transaction cost as much as the tables are large (their items and their stream's
records): the emulator slows down as the run goes on, until a charge takes tens of
milliseconds after a few thousand leads. With every call serialized, a cancelled
transaction only has to put back the items it names and drop the stream records it
added; that undo replaces the copies, so a transaction costs what DynamoDB's does, a
little more than its writes (``bench/throughput.py``).
"""

from __future__ import annotations

import copy
import functools
import threading
import types
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_PATCHED = "_billing_atomic"
_UNDOING = threading.local()


def make_dynamodb_atomic() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, _PATCHED, False):
        return
    DynamoDBBackend.transact_write_items = _undone_on_failure(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items
    )
    # moto's transaction copies each table it touches through this module's ``copy``.
    models.copy = _TablesUncopied()  # type: ignore[assignment]
    for name, member in list(vars(DynamoDBBackend).items()):
        if name.startswith("_") or not callable(member):
            continue
        setattr(DynamoDBBackend, name, _serialized(member))
    setattr(DynamoDBBackend, _PATCHED, True)


class _TablesUncopied(types.SimpleNamespace):
    """``copy`` as moto's DynamoDB backend sees it: inside a transaction that undoes its
    own writes on failure, a table is not copied (moto's restore then puts the table back
    in its own place); everything else is copied as usual."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_UNDOING, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _undone_on_failure(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def transact(backend: Any, transact_items: list[dict[str, Any]], *args: Any, **kw: Any) -> Any:
        undo = _Undo(backend, transact_items)
        _UNDOING.active = True
        try:
            return method(backend, transact_items, *args, **kw)
        except BaseException:
            undo.apply()
            raise
        finally:
            _UNDOING.active = False

    return transact


class _Undo:
    """The items a transaction names, as they were before it, and the length of each
    touched table's stream: what to put back if it is cancelled."""

    def __init__(self, backend: Any, transact_items: list[dict[str, Any]]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        self._items: list[tuple[Any, Any, Any, Any]] = []
        self._streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            for kind, operation in entry.items():
                table = backend.tables.get(operation.get("TableName"))
                if table is None:
                    continue
                attributes = operation.get("Item") if kind == "Put" else operation.get("Key")
                try:
                    hash_value = DynamoType(attributes[table.hash_key_attr])
                    range_value = (
                        DynamoType(attributes[table.range_key_attr])
                        if table.range_key_attr
                        else None
                    )
                except (KeyError, TypeError):
                    continue  # moto refuses it before writing anything for it
                before = table.get_item(hash_value, range_value)
                self._items.append((table, hash_value, range_value, copy.deepcopy(before)))
                shard = table.stream_shard
                if shard is not None and id(shard) not in self._streams:
                    self._streams[id(shard)] = (shard, len(shard.items))

    def apply(self) -> None:
        for table, hash_value, range_value, before in reversed(self._items):
            if range_value is not None:
                if before is None:
                    table.items.get(hash_value, {}).pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = before
            elif before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
        for shard, length in self._streams.values():
            del shard.items[length:]


def _serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return call
