"""Unit tests run with the network blocked and with Hypothesis settings fit for CI.

Sockets are blocked per test, from this directory only: integration and end-to-end tests
talk to emulators and must keep their sockets. Unix sockets stay allowed because
pytest-xdist workers may use them.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from pytest_socket import disable_socket

settings.register_profile(
    "unit",
    deadline=None,  # timezone lookups make the first example slower than the rest
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("unit")


@pytest.hookimpl(trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # trylast: pytest-socket's own setup hook runs first and must not undo this.
    # Its teardown hook restores the socket module after every test.
    disable_socket(allow_unix_socket=True)
