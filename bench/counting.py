"""Count what a run asks of AWS and of Stripe, as the requests leave this process.

AWS: a botocore event hook on every client of the process, registered among botocore's
built-in handlers before any session exists, so boto3's clients and PynamoDB's alike carry
it. ``before-send`` fires once per HTTP request (a retried call counts each try), ahead of
moto's own ``before-send`` stub, so requests answered by moto in-process count too;
``after-call`` sees the parsed answer and counts the DynamoDB items it carries.

Stripe: the SDK's HTTP client, counted per request (``RequestsClient.request``), so a
request the adapter retries with the same idempotency key counts each time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# DynamoDB operations that read items, and where their answer holds them.
READ_OPERATIONS = frozenset(
    {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems", "ExecuteStatement"}
)


def items_read(operation: str, parsed: dict[str, Any]) -> int:
    """How many items a DynamoDB answer carries (0 for writes and errors)."""
    if operation == "GetItem":
        return 1 if parsed.get("Item") else 0
    if operation in ("Query", "Scan", "ExecuteStatement"):
        return int(parsed.get("Count", len(parsed.get("Items", []))))
    if operation == "BatchGetItem":
        return sum(len(items) for items in parsed.get("Responses", {}).values())
    if operation == "TransactGetItems":
        return sum(1 for response in parsed.get("Responses", []) if response.get("Item"))
    return 0


class RequestLog:
    """Requests by ``service.Operation``, and DynamoDB items read by operation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.stripe: Counter[str] = Counter()
        self._installed = False

    # ------------------------------------------------------------------ hooks

    def install(self) -> None:
        """Register the hooks; must run before any botocore session is created."""
        if self._installed:
            return
        from botocore.handlers import BUILTIN_HANDLERS

        # First, so that a stub answering ``before-send`` (moto's) cannot hide a request.
        BUILTIN_HANDLERS.insert(0, ("before-send", self._sent))
        BUILTIN_HANDLERS.append(("after-call.dynamodb", self._answered))
        self._install_stripe()
        self._installed = True

    def _install_stripe(self) -> None:
        try:
            import stripe
        except ImportError:  # pragma: no cover - every bench environment has it
            return
        original = stripe.RequestsClient.request
        log = self

        def request(client: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
            log._count_stripe(f"{method.upper()} /{_resource(path)}")
            return original(client, method, url, *args, **kwargs)

        stripe.RequestsClient.request = request  # type: ignore[method-assign,assignment]

    def _sent(self, event_name: str, **_: Any) -> None:
        service, operation = event_name.split(".", 2)[1:]
        with self._lock:
            self.requests[f"{service}.{operation}"] += 1

    def _answered(self, event_name: str, parsed: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        count = items_read(operation, parsed or {})
        if count:
            with self._lock:
                self.items[operation] += count

    def _count_stripe(self, name: str) -> None:
        with self._lock:
            self.stripe[name] += 1

    # ------------------------------------------------------------------ reading

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.items.clear()
            self.stripe.clear()

    @contextmanager
    def window(self) -> Iterator[Snapshot]:
        """The requests made inside the ``with`` block only."""
        before = self.snapshot()
        result = Snapshot(Counter(), Counter(), Counter())
        try:
            yield result
        finally:
            after = self.snapshot()
            result.requests.update(after.requests - before.requests)
            result.items.update(after.items - before.items)
            result.stripe.update(after.stripe - before.stripe)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(Counter(self.requests), Counter(self.items), Counter(self.stripe))


class Snapshot:
    def __init__(self, requests: Counter[str], items: Counter[str], stripe: Counter[str]) -> None:
        self.requests = requests
        self.items = items
        self.stripe = stripe

    def service(self, service: str) -> int:
        return sum(count for name, count in self.requests.items() if name.startswith(f"{service}."))

    def operation(self, name: str) -> int:
        return self.requests.get(name, 0)

    def dynamodb_reads(self) -> int:
        return sum(self.requests.get(f"dynamodb.{name}", 0) for name in READ_OPERATIONS)

    def items_read(self) -> int:
        return sum(self.items.values())

    def stripe_requests(self) -> int:
        return sum(self.stripe.values())

    def by_operation(self) -> dict[str, int]:
        return dict(sorted(self.requests.items()))


def _resource(path: str) -> str:
    """``v1/payment_intents/pi_123/confirm`` -> ``v1/payment_intents/{id}/confirm``."""
    parts = path.split("/")
    return "/".join(
        "{id}" if position > 1 and "_" in part and part.split("_", 1)[0].isalpha() else part
        for position, part in enumerate(parts)
    )


LOG = RequestLog()
