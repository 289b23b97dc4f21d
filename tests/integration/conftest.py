from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType

import pytest
from moto import mock_aws

from local.moto_atomic import make_dynamodb_atomic
from tests.support.aws import ENVIRONMENT, Resources, create_resources


class Clock:
    """The functions' clock (``functions.adapters.clock.now``), set by the test."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, iso: str) -> None:
        self.current = datetime.fromisoformat(iso).astimezone(UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    monkeypatch.setattr("functions.adapters.clock.now", clock.now)
    return clock


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Resources]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    make_dynamodb_atomic()
    with mock_aws():
        resources = create_resources()
        monkeypatch.setenv("QUARANTINE_QUEUE_URL", resources.quarantine_queue_url)
        yield resources


@pytest.fixture
def on_lead(aws: Resources, clock: Clock) -> ModuleType:
    """The real on_lead handler module, initialised against this test's resources."""
    import functions.on_lead.handler as module

    return importlib.reload(module)


@pytest.fixture
def api(aws: Resources, clock: Clock) -> ModuleType:
    """The real operator API handler module, initialised against this test's resources."""
    import functions.api.handler as module

    return importlib.reload(module)
