"""Which AWS permissions the functions use, as seen on the wire, against what their roles
grant in the synthesized template (issue 7, item 5: every role limited to what it uses).

``CallLog`` wraps botocore's ``BaseClient._make_api_call``, which every client goes
through (boto3's and PynamoDB's alike; ``wrapped_api_calls`` installs it beside other
wrappers), and turns each request into the IAM actions it
needs on the resources it names: a ``TransactWriteItems`` needs ``PutItem``,
``UpdateItem`` or ``ConditionCheckItem`` on each of its items' tables, a ``Query`` on an
index needs ``Query`` on that index's ARN, SES v2's ``SendEmail`` needs ``ses:SendEmail``
on the sender's identity and the configuration set. Each is recorded under the function
whose invocation made it (``invoking``).

Resources are named as the template names them (``AccountsTable``,
``AccountsTable/index/by_customer``, ``EventBus``, ``DocumentsBucket/invoices/*``, ...),
through ``Naming``, which maps a test world's physical names to the stack's logical ids.
``granted`` reads the same pairs out of a function's role in the template.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient

Permission = tuple[str, str]  # (IAM action, resource as the template names it)

SES_IDENTITY = "ses:identity/<sender's domain>"
SES_CONFIGURATION_SET = "ses:configuration-set/InvoiceEmails"


@dataclass(frozen=True)
class Naming:
    """A world's physical names, each with the logical id the template gives it."""

    tables: Mapping[str, str]  # table name: logical id
    queues: Mapping[str, str]  # queue name (the URL's last part): logical id
    buses: Mapping[str, str]
    buckets: Mapping[str, str]
    secrets: Mapping[str, str]

    def table(self, name: str) -> str:
        return self.tables.get(name, f"?table:{name}")

    def queue(self, url_or_name: str) -> str:
        name = url_or_name.rstrip("/").rsplit("/", 1)[-1]
        return self.queues.get(name, f"?queue:{name}")


def permissions(
    naming: Naming, service: str, operation: str, params: Mapping[str, Any]
) -> set[Permission]:
    """The IAM actions, with their resources, that one request of ``service`` needs."""
    if service == "dynamodb":
        return _dynamodb(naming, operation, params)
    if service == "sesv2" and operation == "SendEmail":
        # SES authorizes SES v2's SendEmail of a raw message as ses:SendRawEmail, of a
        # simple one as ses:SendEmail; the roles are granted both, on both resources.
        return {
            (action, resource)
            for action in ("ses:SendEmail", "ses:SendRawEmail")
            for resource in (SES_IDENTITY, SES_CONFIGURATION_SET)
        }
    if service == "events" and operation == "PutEvents":
        return {
            ("events:PutEvents", naming.buses.get(entry.get("EventBusName", "default"), "?bus"))
            for entry in params.get("Entries", [])
        }
    if service == "sqs":
        action = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}.get(
            operation, operation
        )
        return {(f"sqs:{action}", naming.queue(str(params.get("QueueUrl", "?"))))}
    if service == "s3":
        bucket = naming.buckets.get(str(params.get("Bucket")), f"?bucket:{params.get('Bucket')}")
        key = str(params.get("Key", ""))
        prefix = key.split("/", 1)[0] + "/*" if "/" in key else key
        action = {"HeadObject": "GetObject"}.get(operation, operation)
        return {(f"s3:{action}", f"{bucket}/{prefix}" if key else bucket)}
    if service == "secretsmanager":
        secret = str(params.get("SecretId"))
        return {(f"secretsmanager:{operation}", naming.secrets.get(secret, f"?secret:{secret}"))}
    return {(f"{service}:{operation}", "?")}


_TRANSACT_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _returns_item(request: Mapping[str, Any]) -> bool:
    """A write that asks for the item back (``ReturnValues``, or the item that failed its
    condition) reads it: IAM wants ``GetItem`` on the table as well."""
    return request.get("ReturnValues", "NONE") != "NONE" or (
        request.get("ReturnValuesOnConditionCheckFailure", "NONE") != "NONE"
    )


def _dynamodb(naming: Naming, operation: str, params: Mapping[str, Any]) -> set[Permission]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        needed: set[Permission] = set()
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                table = naming.table(request["TableName"])
                needed.add((_TRANSACT_ITEMS[kind], table))
                if _returns_item(request):
                    needed.add(("dynamodb:GetItem", table))
        return needed
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return {
            (f"dynamodb:{operation}", naming.table(table))
            for table in params.get("RequestItems", {})
        }
    table = naming.table(str(params.get("TableName")))
    if operation in ("Query", "Scan") and params.get("IndexName"):
        return {(f"dynamodb:{operation}", f"{table}/index/{params['IndexName']}")}
    if operation in ("PutItem", "UpdateItem", "DeleteItem") and _returns_item(params):
        return {(f"dynamodb:{operation}", table), ("dynamodb:GetItem", table)}
    return {(f"dynamodb:{operation}", table)}


@dataclass
class CallLog:
    """The permissions each function used, by function name."""

    naming: Naming
    used: dict[str, set[Permission]] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _active: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def invoking(self, function: str) -> Iterator[None]:
        """Requests made until the block ends are ``function``'s, also those of the threads
        it starts (on_lead's pool), as long as no other function runs at the same time."""
        self._local.function = function
        with self._lock:
            self._active.append(function)
        try:
            yield
        finally:
            self._local.function = None
            with self._lock:
                self._active.remove(function)

    def _current(self) -> str | None:
        function = getattr(self._local, "function", None)
        if function is not None:
            return function
        with self._lock:
            running = set(self._active)
        return running.pop() if len(running) == 1 else None

    def record(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        function = self._current()
        if function is None:
            return  # the test's own requests
        needed = permissions(self.naming, service, operation, params)
        with self._lock:
            self.used.setdefault(function, set()).update(needed)

    def wrap(self, call: ApiCall) -> ApiCall:
        """``call``, recording each request first (``wrapped_api_calls``)."""

        def recording(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            self.record(client.meta.service_model.service_name, operation_name, api_params)
            return call(client, operation_name, api_params)

        return recording


ApiCall = Callable[[BaseClient, str, dict[str, Any]], Any]


@contextmanager
def wrapped_api_calls(*wrappers: Callable[[ApiCall], ApiCall]) -> Iterator[None]:
    """Every botocore request, of every client, goes through ``wrappers`` while the block
    runs, the first outermost: each takes the call it wraps and returns its own."""
    original: ApiCall = BaseClient._make_api_call
    call = original
    for wrapper in reversed(wrappers):
        call = wrapper(call)
    BaseClient._make_api_call = call  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def granted(resources: Mapping[str, Any], role_logical_id: str) -> set[Permission]:
    """The (action, resource) pairs the role's inline policies allow, resources named as
    ``permissions`` names them."""
    found: set[Permission] = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_logical_id} not in resource["Properties"]["Roles"]:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            targets = statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                for target in [targets] if isinstance(targets, (str, dict)) else targets:
                    found.add((action, _template_name(target)))
    return found


def _template_name(target: Any) -> str:
    if isinstance(target, str):
        return target
    if "Fn::GetAtt" in target:
        logical_id, attribute = target["Fn::GetAtt"]
        return logical_id if attribute == "Arn" else f"{logical_id}.{attribute}"
    if "Ref" in target:
        return str(target["Ref"])
    if "Fn::Join" in target:
        text = "".join(
            part if isinstance(part, str) else _template_name(part)
            for part in target["Fn::Join"][1]
        )
        if ":ses:" in text or "ses:" in text:
            if ":identity/" in text:
                return SES_IDENTITY
            if ":configuration-set/" in text:
                return "ses:configuration-set/" + text.rsplit("/", 1)[-1]
        return text
    return json.dumps(target, sort_keys=True)
