"""What is published on the event buses: kept for ``GET /_local/events``, and routed to
the template's event-pattern rules.

The emulator cannot deliver an event to a Lambda target (``PutEvents`` answers HTTP 500
when a rule targets a function), so the local stack subscribes one SQS queue to every
event of each bus, drains it, and applies the template's rules itself with the same
pattern matcher as the stream filters.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from local.polling import Poller
from local.runtime import Log, Runtime
from local.specs import EventRuleSpec, EventTarget
from local.template import ACCOUNT_ID, REGION

ASYNC_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice


def _input_path(event: Any, path: str) -> Any:
    if path in ("$", ""):
        return event
    value = event
    for part in path.removeprefix("$.").split("."):
        value = value[part]
    return value


def target_payload(target: EventTarget, event: Any) -> Any:
    if target.input is not None:
        return json.loads(target.input)
    if target.input_path is not None:
        return _input_path(event, target.input_path)
    return event


class EventRouter(Poller):
    def __init__(
        self,
        stack_name: str,
        buses: Sequence[str],
        rules: Sequence[EventRuleSpec],
        runtime: Runtime,
        client: Callable[[str], Any],
        log: Log,
        poll_interval: float = 0.2,
    ) -> None:
        super().__init__("events", log, poll_interval)
        self.stack_name = stack_name
        self.buses = list(dict.fromkeys(buses))
        self.rules = list(rules)
        self.runtime = runtime
        self._sqs = client("sqs")
        self._events = client("events")
        self.queues: dict[str, str] = {}  # bus name -> observer queue URL
        self.published: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def setup(self) -> None:
        """Subscribe one queue to every event of each bus."""
        for index, bus in enumerate(self.buses):
            name = f"{self.stack_name}-local-events-{index}"[:80]
            url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
            rule = f"{self.stack_name}-local-observe"[:64]
            self._events.put_rule(
                Name=rule,
                EventBusName=bus,
                EventPattern=json.dumps({"source": [{"prefix": ""}]}),
                State="ENABLED",
            )
            self._events.put_targets(
                Rule=rule, EventBusName=bus, Targets=[{"Id": "local-observer", "Arn": arn}]
            )
            self.queues[bus] = url

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.published)

    def poll_once(self) -> int:
        handled = 0
        for bus, url in self.queues.items():
            while not self._stopping.is_set():
                messages = self._sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    event = json.loads(message["Body"])
                    with self._lock:
                        self.published.append(event)
                    self._route(bus, event)
                    self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    handled += 1
        return handled

    def _route(self, bus: str, event: dict[str, Any]) -> None:
        for rule in self.rules:
            if rule.bus_name != bus or not rule.pattern.matches(event):
                continue
            for target in rule.targets:
                payload = target_payload(target, event)
                if target.kind == "sqs":
                    self._sqs.send_message(
                        QueueUrl=target.destination, MessageBody=json.dumps(payload)
                    )
                    continue
                for _attempt in range(1 + ASYNC_RETRIES):
                    if self.runtime.invoke(target.destination, payload, source="event").ok:
                        break
