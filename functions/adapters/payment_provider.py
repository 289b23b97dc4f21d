"""The Stripe payments adapter, loaded when a function first asks Stripe for something.

``functions.adapters.payments`` imports the Stripe SDK, which takes about as long to import
as boto3. The functions that call Stripe on some paths only import this module instead:
``grace_check``'s hourly run charges only when a retry is due (R9), and ``weekly_invoice``'s
Friday fan-out charges nothing (R3). The SDK, the adapter and the tracing of its HTTP
requests load on the first call of the provider, which then answers as
``payments.payments_from_secret`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from functions.billing.payments import Payments
    from functions.billing.reconciliation import ProcessorRecords


def payments_from_secret(secret_name: str, request_interval: float = 0.0) -> Callable[[], Payments]:
    """A provider of the payments adapter with the keys the secret holds when it is called
    (read through Powertools' cache), paced at one request per ``request_interval``
    seconds (``payments.RequestPacer``); Stripe is imported on its first call."""

    def provide() -> Payments:
        return _loaded()(secret_name, request_interval)()

    return provide


def processor_records_from_secret(secret_name: str) -> Callable[[], ProcessorRecords]:
    """The same adapter as ``payments_from_secret``, unpaced, as the daily reconciliation
    reads the processor's payments with it; Stripe is imported on its first call."""

    def provide() -> ProcessorRecords:
        _loaded()  # the SDK, and the tracing of its requests
        from functions.adapters.payments import payments_from_secret as stripe_provider

        return stripe_provider(secret_name)()

    return provide


@functools.cache
def _loaded() -> Callable[[str, float], Callable[[], Payments]]:
    from aws_lambda_powertools import Tracer

    from functions.adapters import payments

    # The SDK speaks HTTP through requests: its calls become subsegments of the trace.
    Tracer().patch(["requests"])
    return payments.payments_from_secret
