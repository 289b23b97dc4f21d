"""The Lead Manager's billing page (issue 6; R9..R13) in headless Chromium against the
local stack: a contractor signs in (the local stand-in for Cognito's hosted login, the same
code grant with PKCE), sees the status and why, the grace period counting down, the card on
file, the budget and the invoices with their leads and PDF, and updates the card through
Stripe.js (localstripe's): a working card collects what is past due and reactivates, a
declined card or a failed authentication changes nothing. The Spanish account reads it all
in Spanish. Each state is kept as a screenshot in ``test-artifacts/browser/``.

The accounts are prepared once through the API and the clock (as ``make walk`` does): a
declining card (4000 0000 0000 0341), leads, the Friday run that fails to collect, and the
grace end; the clock then stands where the Chicago accounts are paused for non-payment and
the Honolulu account's grace period still runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stripe
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import screenshot
from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

WORKING_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"  # declined when it is attached (the SetupIntent)
DECLINING_CARD = "4000000000000341"  # attaches, then every charge to it is declined
AUTHENTICATION_CARD = "4000002500003155"  # asks for 3-D Secure

PAUSED_EN = "browser-paused-en"
DECLINE_EN = "browser-decline-en"
GRACE_EN = "browser-grace-en"
PAUSED_ES = "browser-paused-es"
ACTIVE_EN = "browser-active-en"
# Markup in a business name is shown as text, never interpreted.
MARKUP_NAME = 'Roof & Co <img src="x" id="injected">'

# The Friday run in Chicago fails to collect on Fri 2025-03-07 06:00 CST (12:00 UTC), so
# the grace period ends 168 h later, 2025-03-14 12:00 UTC; in Honolulu the run is at 16:00
# UTC. An hour past the Chicago end (grace_check runs hourly), Honolulu's still runs.
AFTER_CHICAGO_GRACE_END = "2025-03-14T13:00:00Z"


@dataclass(frozen=True)
class Scenario:
    local: LocalClient

    @property
    def app(self) -> str:
        return f"{self.local.api}/app/"

    def account(self, contractor_id: str) -> dict[str, Any]:
        response = self.local.get_account(contractor_id)
        response.raise_for_status()
        return dict(response.json())

    def billing(self, contractor_id: str) -> dict[str, Any]:
        token = self.local.contractor_token(contractor_id)
        response = self.local.request("GET", "/me/billing", token=token)
        response.raise_for_status()
        return dict(response.json())


def _save_card_through_api(
    local: LocalClient, contractor_id: str, number: str, exp_month: int = 12, exp_year: int = 2030
) -> None:
    """A card saved as the apps save it, Stripe.js's part done with the Stripe SDK."""
    token = local.contractor_token(contractor_id)
    setup = local.request("POST", "/me/card/setup-intent", token=token)
    assert setup.status_code == 201, setup.text
    client = stripe.StripeClient(
        "sk_test_local", base_addresses={"api": local.stack.stripe_endpoint}, max_network_retries=0
    )
    card = {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": "123"}
    method = client.v1.payment_methods.create(params={"type": "card", "card": card})
    setup_intent_id = setup.json()["setup_intent_id"]
    client.v1.setup_intents.confirm(setup_intent_id, params={"payment_method": method.id})
    confirmed = local.request(
        "POST", "/me/card/confirm", token=token, json={"setup_intent_id": setup_intent_id}
    )
    assert confirmed.status_code == 200, confirmed.text


@pytest.fixture(scope="module")
def scenario(local: LocalClient) -> Scenario:
    accounts: dict[str, dict[str, Any]] = {
        PAUSED_EN: {"business_name": "Prairie Roofing LLC"},
        DECLINE_EN: {"business_name": "Lakeside Siding Co"},
        GRACE_EN: {"business_name": "Aloha Remodeling", "timezone": "Pacific/Honolulu"},
        PAUSED_ES: {"business_name": "Techos Díaz e Hijos", "locale": "es"},
        ACTIVE_EN: {"business_name": MARKUP_NAME},
    }
    for contractor_id, fields in accounts.items():
        created = local.create_account(
            contractor_id=contractor_id, billing_email=f"{contractor_id}@example.com", **fields
        )
        assert created.status_code == 201, created.text
    for contractor_id in (PAUSED_EN, DECLINE_EN, GRACE_EN, PAUSED_ES):
        _save_card_through_api(local, contractor_id, DECLINING_CARD)
        local.put_lead(contractor_id=contractor_id, price_cents=4500, category="roofing")
    local.put_lead(contractor_id=PAUSED_EN, price_cents=3000, category="gutters")
    # A card whose month has ended by the simulated clock's March 2025.
    _save_card_through_api(local, ACTIVE_EN, WORKING_CARD, exp_month=1, exp_year=2025)

    local.set_clock(AFTER_CHICAGO_GRACE_END)

    ready = Scenario(local)
    for contractor_id in (PAUSED_EN, DECLINE_EN, PAUSED_ES):
        account = ready.account(contractor_id)
        assert [p["reason"] for p in account["pauses"]] == ["non_payment"], account
    grace = ready.account(GRACE_EN)
    assert (grace["status"], grace["grace_ends_at"] is not None) == ("active", True), grace
    return ready


# ------------------------------------------------------------------------------ helpers


def sign_in(
    page: Page, scenario: Scenario, contractor_id: str, before: Callable[[], None] = lambda: None
) -> None:
    """Open the page, sign in on the local login form as ``contractor_id``, and wait for
    the billing; ``before`` runs on the login form."""
    page.goto(scenario.app)
    expect(page.locator("#signed-out")).to_be_visible()
    page.locator("#sign-in").click()
    expect(page.locator("#contractor_id")).to_be_visible()
    page.locator("#contractor_id").fill(contractor_id)
    before()
    page.locator("form button[type=submit]").click()
    # The page is ready once the billing and the first page of invoices are shown.
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#billing")).to_be_visible()


def open_card_form(page: Page) -> None:
    page.locator("#card-update").click()
    expect(page.locator("#card-element input").first).to_be_visible()


def fill_card(page: Page, number: str, expiry: tuple[str, str] = ("12", "30")) -> None:
    """Type into localstripe's card Element (its inputs are named by their placeholders)."""
    element = page.locator("#card-element")
    element.locator("input[placeholder=number]").fill(number)
    element.locator("input[placeholder=exp_month]").fill(expiry[0])
    element.locator("input[placeholder=exp_year]").fill(expiry[1])
    element.locator("input[placeholder=cvc]").fill("123")
    element.locator("input[placeholder=postal_code]").fill("60601")


class Requests:
    """Every request the page sent, with its body."""

    def __init__(self, page: Page) -> None:
        self.seen: list[Request] = []
        page.on("request", lambda request: self.seen.append(request))

    def to(self, origin: str) -> list[Request]:
        return [r for r in self.seen if r.url.startswith(origin)]

    def carrying(self, text: str) -> list[str]:
        return [r.url for r in self.seen if text in (r.post_data or "") or text in r.url]


# ------------------------------------------------------------------------------ tests


def test_r10_r11_a_paused_account_sees_why_and_is_active_again_after_the_card_update(
    open_page, scenario: Scenario, artifacts: Path
):
    page = open_page()
    requests = Requests(page)
    page.goto(scenario.app)
    expect(page.locator("#signed-out")).to_contain_text("Sign in to see your billing information")
    screenshot(page, artifacts, "01-en-signed-out")

    sign_in(
        page, scenario, PAUSED_EN, before=lambda: screenshot(page, artifacts, "02-local-sign-in")
    )

    # Why it is paused, and what to do (R12, R13).
    expect(page.locator("#status-badge")).to_have_text("Paused")
    reasons = page.locator("#status-reasons")
    expect(reasons).to_contain_text("for non-payment: $75.00 is past due")
    expect(reasons).to_contain_text("Paused since Fri, Mar 14, 2025, 7:00 AM CDT")
    expect(page.locator("#status-todo")).to_contain_text("Update your card below")
    expect(page.locator("#grace-label")).to_have_text(
        "The grace period ended on Fri, Mar 14, 2025, 7:00 AM CDT."
    )
    expect(page.locator("#card-name")).to_have_text("Visa ending in 0341")
    expect(page.locator("#card-expiry")).to_have_text("Expires 12/2030")
    expect(page.locator("#card-expired")).to_be_hidden()
    expect(page.locator("#past-due")).to_have_text("$75.00")
    expect(page.locator("#budget-used")).to_have_text("$75.00 used of $1,000.00")
    expect(page.locator("#budget-remaining")).to_have_text("$925.00 remaining in this period")
    expect(page.locator("#next-invoice")).to_contain_text(
        "Next invoice: Fri, Mar 21, 2025, 6:00 AM CDT"
    )
    screenshot(page, artifacts, "03-en-paused-for-non-payment")

    # The invoice with its leads, and its PDF as the email carried it (R5, R13).
    [invoice_id] = [
        item["invoice_id"]
        for item in scenario.local.admin("GET", f"/admin/accounts/{PAUSED_EN}/invoices").json()[
            "items"
        ]
    ]
    row = page.locator(f'#invoices-body tr[data-invoice="{invoice_id}"]')
    expect(row).to_contain_text("Past due")
    expect(row).to_contain_text("$75.00")
    row.get_by_role("button", name="Leads").click()
    leads = page.locator("table.leads tbody tr")
    expect(leads).to_have_count(2)
    expect(page.locator("table.leads")).to_contain_text("gutters")
    expect(page.locator("table.leads")).to_contain_text("$30.00")
    with page.expect_download() as download:
        row.get_by_role("button", name="PDF").click()
    pdf = download.value
    assert pdf.suggested_filename.endswith(".pdf")
    assert Path(pdf.path()).read_bytes().startswith(b"%PDF")
    screenshot(page, artifacts, "04-en-invoice-leads")

    # The card update: the number goes to Stripe (localstripe) only (R11).
    open_card_form(page)
    fill_card(page, WORKING_CARD)
    screenshot(page, artifacts, "05-en-card-form")
    page.locator("#card-save").click()

    result = page.locator("#card-result")
    expect(result).to_be_visible()
    expect(result).to_contain_text("Card saved: Visa ending in 4242.")
    expect(result).to_contain_text("We charged the past-due balance of $75.00 to it.")
    expect(result).to_contain_text("Your account is active again")
    expect(page.locator("#status-badge")).to_have_text("Active")
    expect(page.locator("#past-due")).to_have_text("$0.00")
    expect(page.locator("#card-name")).to_have_text("Visa ending in 4242")
    expect(page.locator("#grace")).to_be_hidden()
    expect(row).to_contain_text("Paid")
    screenshot(page, artifacts, "06-en-card-updated-active-again")

    account = scenario.account(PAUSED_EN)
    assert (account["status"], account["pauses"], account["past_due_cents"]) == ("active", [], 0)
    stripe_origin = scenario.local.stack.stripe_endpoint
    assert requests.carrying(WORKING_CARD)
    assert all(url.startswith(stripe_origin) for url in requests.carrying(WORKING_CARD))
    assert [r.method for r in requests.to(f"{scenario.local.api}/me/card/confirm")] == ["POST"]


def test_r11_a_declined_card_and_a_failed_authentication_are_shown_and_change_nothing(
    open_page, scenario: Scenario, artifacts: Path
):
    page = open_page()
    requests = Requests(page)
    sign_in(page, scenario, DECLINE_EN)
    before = scenario.billing(DECLINE_EN)

    open_card_form(page)
    fill_card(page, DECLINED_CARD)
    page.locator("#card-save").click()
    error = page.locator("#card-error")
    expect(error).to_have_text(
        "Your card was declined. Nothing was charged and your card on file did not change. "
        "Please try another card or call your bank."
    )
    expect(page.locator("#card-result")).to_be_hidden()
    expect(page.locator("#status-badge")).to_have_text("Paused")
    expect(page.locator("#card-name")).to_have_text("Visa ending in 0341")
    screenshot(page, artifacts, "07-en-card-declined")

    # A card that asks for 3-D Secure, whose authentication the contractor fails.
    fill_card(page, AUTHENTICATION_CARD)
    page.locator("#card-save").click()
    page.get_by_role("button", name="Fail authentication").click()
    expect(error).to_contain_text("The card could not be saved:")
    expect(error).to_contain_text("authentication failed")
    screenshot(page, artifacts, "08-en-authentication-failed")

    assert scenario.billing(DECLINE_EN) == before
    assert requests.to(f"{scenario.local.api}/me/card/confirm") == []


def test_r9_the_grace_end_counts_down_while_the_grace_period_runs(
    open_page, scenario: Scenario, artifacts: Path
):
    page = open_page()
    sign_in(page, scenario, GRACE_EN)

    expect(page.locator("#status-badge")).to_have_text("Active")
    expect(page.locator("#status-reasons")).to_contain_text(
        "A payment failed: $45.00 is past due. You keep receiving leads until the grace "
        "period ends on Fri, Mar 14, 2025, 6:00 AM HST."
    )
    expect(page.locator("#status-todo")).to_contain_text("Update your card before then")
    expect(page.locator("#grace-label")).to_have_text("Grace period ends in")
    countdown = page.locator("#grace-countdown")
    # Three hours of simulated time left, less the seconds this test has taken.
    expect(countdown).to_have_text(re.compile(r"^2 hr, \d{1,2} min, \d{1,2} sec$"))
    first = countdown.text_content()
    expect(countdown).not_to_have_text(first or "", timeout=3_000)
    screenshot(page, artifacts, "09-en-grace-countdown")


def test_r13_a_spanish_account_reads_its_billing_and_updates_its_card_in_spanish(
    open_page, scenario: Scenario, artifacts: Path
):
    page = open_page("es-US")
    page.goto(scenario.app)
    expect(page.locator("#signed-out")).to_contain_text("Inicie sesión para ver su información")
    sign_in(page, scenario, PAUSED_ES)

    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("h1")).to_have_text("Información de facturación")
    expect(page.locator("#status-badge")).to_have_text("En pausa")
    expect(page.locator("#status-reasons")).to_contain_text(
        "por falta de pago: tiene un saldo vencido de $45.00"
    )
    expect(page.locator("#status-todo")).to_contain_text("Actualice su tarjeta más abajo")
    expect(page.locator("#card-name")).to_have_text("Visa terminada en 0341")
    expect(page.locator("#invoices-body")).to_contain_text("Vencida")
    expect(page.locator("#invoices-body")).to_contain_text("Semanal")
    screenshot(page, artifacts, "10-es-paused-for-non-payment")

    open_card_form(page)
    fill_card(page, WORKING_CARD)
    page.locator("#card-save").click()
    result = page.locator("#card-result")
    expect(result).to_contain_text("Tarjeta guardada: Visa terminada en 4242.")
    expect(result).to_contain_text("Le cobramos el saldo vencido de $45.00.")
    expect(result).to_contain_text("Su cuenta está activa de nuevo")
    expect(page.locator("#status-badge")).to_have_text("Activa")
    screenshot(page, artifacts, "11-es-card-updated-active-again")
    assert scenario.account(PAUSED_ES)["status"] == "active"


def test_r13_an_expired_card_is_flagged_the_budget_form_changes_the_budget_and_data_stays_text(
    open_page, scenario: Scenario, artifacts: Path
):
    page = open_page()
    sign_in(page, scenario, ACTIVE_EN)

    # The business name is shown as it is: its markup is text, not an element.
    expect(page.locator("#who")).to_have_text(f"{MARKUP_NAME} · {ACTIVE_EN}")
    expect(page.locator("#injected")).to_have_count(0)
    expect(page.locator("#card-name")).to_have_text("Visa ending in 4242")
    expect(page.locator("#card-expiry")).to_have_text("Expires 01/2025")
    expect(page.locator("#card-expired")).to_be_visible()
    expect(page.locator("#card-expired")).to_have_text("Expired")

    page.locator("#budget-input").fill("twelve")
    page.locator("#budget-submit").click()
    expect(page.locator("#budget-message")).to_have_text(
        "Enter an amount in dollars, such as 1500 or 1500.00."
    )
    page.locator("#budget-input").fill("1,500.50")
    page.locator("#budget-submit").click()
    expect(page.locator("#budget-message")).to_have_text("Your monthly budget is now $1,500.50.")
    expect(page.locator("#budget-used")).to_have_text("$0.00 used of $1,500.50")
    screenshot(page, artifacts, "12-en-expired-card-and-budget")
    assert scenario.billing(ACTIVE_EN)["budget"]["monthly_cents"] == 150050
