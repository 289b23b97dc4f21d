"""Checks that hold for every test of the run.

No card number and no secret in anything a test's code printed or logged: the functions'
log lines (Powertools writes them to standard output) and whatever else reached the
captured output. Tables and emails are searched by the fixtures that own the emulators
(``tests/integration/conftest.py``, ``tests/e2e/conftest.py``). A test whose output leaks
fails at its teardown, naming what leaked, masked, and where.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.support.leaks import leaks

pytest_plugins = ["pytester"]  # tests/unit/test_leaks.py runs a leaking test in a pytester

# The secrets the tests configure (tests/integration/conftest.py, tests/support/cards.py,
# local/payments.py), whatever their shape.
KNOWN_SECRETS = (
    "sk_test_payments",
    "sk_test_local",
    "whsec_api",
    "whsec_test",
    "whsec_card_updated",
    "whsec_grace",
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "teardown":
        return
    # At teardown, a report carries the captured output of every phase of the test.
    found = [
        leak
        for section, content in report.sections
        for leak in leaks(f"{section} of {item.nodeid}", content, KNOWN_SECRETS)
    ]
    if found:
        report.outcome = "failed"
        report.longrepr = "card numbers or secrets leaked:\n" + "\n".join(
            f"  {leak}" for leak in found
        )
        report.sections = []  # the report would show the captured output, leak and all


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What each run of the billing simulation and of the fault matrix did
    (``tests/simulation``, ``tests/integration/test_faults.py``, recorded with
    ``record_property("simulation" or "faults", ...)``), also from an xdist worker."""
    lines = [
        f"{report.nodeid}: {value}"
        for status in ("passed", "failed")
        for report in terminalreporter.stats.get(status, [])
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", [])
        if name in ("simulation", "faults")
    ]
    if lines:
        terminalreporter.write_sep("-", "simulation and faults")
        for line in lines:
            terminalreporter.write_line(line)
