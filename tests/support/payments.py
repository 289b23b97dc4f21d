"""Test helpers for the Stripe adapter: an HTTP client that injects faults, and a webhook
receiver that localstripe can deliver to."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests
import stripe
from requests.structures import CaseInsensitiveDict


class Fault(Enum):
    SERVER_ERROR = "a 500 before Stripe did anything"
    RATE_LIMITED = "a 429"
    TIMEOUT = "a timeout before the request reached Stripe"
    LOST_ANSWER = "Stripe did the work, then the answer timed out"
    ANSWERED_THEN_500 = "Stripe did the work, then a 500 came back instead of its answer"


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: str | None

    @property
    def idempotency_key(self) -> str | None:
        return CaseInsensitiveDict(self.headers).get("Idempotency-Key")


def _error_response(status: int, error: dict[str, Any], **headers: str) -> tuple[bytes, int, Any]:
    response_headers = CaseInsensitiveDict({"Content-Type": "application/json", **headers})
    return json.dumps({"error": error}).encode(), status, response_headers


class FaultyHttpClient(stripe.HTTPClient):
    """The SDK's own requests client, recording every request it is given and failing the
    next ones with the faults queued by ``fail_next``."""

    name = "requests"

    def __init__(self, timeout: float = 10.0) -> None:
        super().__init__()
        self._inner = stripe.RequestsClient(timeout=timeout)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.sent: list[SentRequest] = []
        self.should_retry_header: str | None = None

    def fail_next(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def sent_to(self, method: str, path: str) -> list[SentRequest]:
        return [
            request
            for request in self.sent
            if request.method == method and urlsplit(request.url).path == path
        ]

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        with self._lock:
            self.sent.append(SentRequest(method, url, dict(headers or {}), post_data))
            fault = self._faults.pop(0) if self._faults else None
        advice = (
            {"Stripe-Should-Retry": self.should_retry_header} if self.should_retry_header else {}
        )
        if fault is Fault.SERVER_ERROR:
            return _error_response(500, {"type": "api_error", "message": "injected"}, **advice)
        if fault is Fault.RATE_LIMITED:
            return _error_response(
                429, {"type": "invalid_request_error", "code": "rate_limit", "message": "slow"}
            )
        if fault is Fault.TIMEOUT:
            self._time_out()
        answer = self._inner.request(method, url, headers, post_data)
        if fault is Fault.LOST_ANSWER:
            self._time_out()
        if fault is Fault.ANSWERED_THEN_500:
            return _error_response(500, {"type": "api_error", "message": "injected"}, **advice)
        return answer

    def _time_out(self) -> None:
        # The requests client's own translation of a read timeout (APIConnectionError,
        # should_retry=True), so the adapter sees exactly what a real timeout gives it.
        self._inner._handle_request_error(
            requests.exceptions.ReadTimeout("Read timed out. (read timeout=10)")
        )

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str | None


class WebhookReceiver:
    """A local HTTP endpoint that records the webhooks POSTed to it."""

    def __init__(self) -> None:
        deliveries: queue.Queue[Delivery] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                deliveries.put(Delivery(body, self.headers.get("Stripe-Signature")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.deliveries = deliveries
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/stripe/webhooks"

    def wait_for(self, matches: Callable[[Any], bool], timeout: float = 15.0) -> Delivery:
        """The first delivery whose JSON body satisfies ``matches``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                delivery = self.deliveries.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            if matches(json.loads(delivery.body)):
                return delivery
        raise AssertionError(f"no matching webhook within {timeout:.0f} s")

    @contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()
