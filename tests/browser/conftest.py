"""Browser fixtures: headless Chromium (Debian's ``chromium`` package, never a downloaded
build) driven by Playwright against the local stack of ``make run``, shared per module the
way ``tests/e2e`` shares it.

Each test gets a fresh browser context (its own cookies and sessionStorage). A page that
throws, or whose content security policy refuses something, fails its test. Screenshots
go to ``test-artifacts/browser/`` (git-ignored), one per state a test reaches.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from local.stack import REPO_ROOT

# The e2e stack fixtures, shared: one local stack per test module.
from tests.e2e.conftest import local, local_stack  # noqa: F401

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Headless on a closed network: no GPU, no QUIC, and none of Chromium's own background
# connections (updates, sync, field trials), which the network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
VIEWPORT = {"width": 1280, "height": 900}
# Messages of the console that say the page's policy refused something.
_CSP_REFUSAL = re.compile(r"Content Security Policy|Refused to", re.IGNORECASE)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` (or `make browser`) installs Debian's "
            "chromium package; set CHROMIUM to use another build of Chromium",
            pytrace=False,
        )
    # launch() gives every browser a fresh, temporary user-data directory.
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@dataclass
class PageProblems:
    """What went wrong in a page: uncaught errors and policy refusals."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}")
                if _CSP_REFUSAL.search(message.text)
                else None
            ),
        )


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``open_page(locale="en-US")``: a page in a fresh browser context (its own cookies
    and sessionStorage) whose browser speaks ``locale``. The test fails if a page threw
    or its policy refused something."""
    contexts: list[BrowserContext] = []
    problems = PageProblems()

    def open_page(locale: str = "en-US") -> Page:
        context = browser.new_context(viewport=VIEWPORT, locale=locale, accept_downloads=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        problems.watch(page)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert problems.errors == [], "the page reported errors"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def screenshot(page: Page, artifacts: Path, name: str) -> Path:
    """The whole page as it is now, kept as ``test-artifacts/browser/<name>.png``."""
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
