"""The AWS resources a section runs the real handlers against: moto in this process, or
moto's server, built by the integration tests' helpers from the same table models."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import ModuleType

from tests.support.aws import ENVIRONMENT, TABLES, Resources, create_resources

# A Friday afternoon in Chicago, as the integration tests' clock; accounts signed up the
# Sunday before, so every lead below falls in their first budget period.
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SIGNUP = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)
TIMEZONE = "America/Chicago"


def set_clock(now: Callable[[], datetime]) -> None:
    """The functions' clock (``functions.adapters.clock.now``), as the tests set it."""
    import functions.adapters.clock

    functions.adapters.clock.now = now


@contextmanager
def moto_in_process() -> Iterator[Resources]:
    """moto in this process (``mock_aws``), with DynamoDB requests applied atomically and
    the tables, bus and queues of ``tests.support.aws``."""
    from moto import mock_aws

    from local.moto_atomic import make_dynamodb_atomic

    os.environ.update(ENVIRONMENT)
    make_dynamodb_atomic()
    with mock_aws():
        resources = create_resources()
        os.environ["QUARANTINE_QUEUE_URL"] = resources.quarantine_queue_url
        set_clock(lambda: NOW)
        yield resources


def handler(name: str) -> ModuleType:
    """The real handler module of a function, initialised against the environment now set."""
    module = importlib.import_module(f"functions.{name}.handler")
    return importlib.reload(module)


__all__ = ["NOW", "SIGNUP", "TABLES", "TIMEZONE", "Resources", "handler", "moto_in_process"]
