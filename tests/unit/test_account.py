"""Opening an account: what it accepts, its defaults (R3, R4, R5), its first period (R7)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from functions.billing.account import (
    DEFAULT_TIMEZONE,
    MAX_BUDGET,
    AccountError,
    AccountManager,
    Locale,
    PauseReason,
    open_account,
)
from functions.billing.money import Money
from tests.unit.support import CHICAGO, LOS_ANGELES, at_local, at_utc, make_account

SIGNED_UP_AT = at_local(CHICAGO, 2024, 1, 31, 16, 45)


def valid(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "contractor_id": "contractor-42",
        "business_name": "Rivera Roofing",
        "billing_email": "billing@rivera-roofing.example",
        "locale": "es",
        "timezone": CHICAGO,
        "signed_up_at": SIGNED_UP_AT,
        "monthly_budget": Money(50_000),
    }
    fields.update(overrides)
    return fields


def test_given_valid_fields_when_opening_then_an_active_account_with_nothing_owed():
    account = open_account(**valid())

    assert account.contractor_id == "contractor-42"
    assert account.business_name == "Rivera Roofing"
    assert account.billing_email == "billing@rivera-roofing.example"
    assert account.locale is Locale.ES
    assert account.timezone == CHICAGO
    assert account.signed_up_at == SIGNED_UP_AT
    assert account.monthly_budget == Money(50_000)
    assert account.pauses == {}
    assert not account.paused
    assert (account.spent, account.unbilled, account.past_due) == (Money(0),) * 3
    assert account.remaining == Money(50_000)
    assert account.grace_ends_at is None
    assert (account.previous_period, account.previous_remaining) == (None, None)


def test_r4_r5_given_no_threshold_or_manager_when_opening_then_the_help_article_defaults():
    # The help article: invoiced at $200; questions to (866) 332-7134 or support@craftjack.com.
    account = open_account(**valid())

    assert account.threshold == Money(20_000)
    assert account.account_manager.phone == "(866) 332-7134"
    assert account.account_manager.email == "support@craftjack.com"


def test_r3_the_default_timezone_is_chicago():
    assert DEFAULT_TIMEZONE == "America/Chicago"


def test_r4_r5_given_a_threshold_and_a_manager_when_opening_then_they_are_kept():
    manager = AccountManager(name="Ana", phone="(312) 555-0100", email="ana@craftjack.com")

    account = open_account(**valid(threshold=Money(15_000), account_manager=manager))

    assert account.threshold == Money(15_000)
    assert account.account_manager == manager


@pytest.mark.parametrize("locale", ["en", "es"])
def test_r5_given_either_language_when_opening_then_it_is_kept(locale):
    assert open_account(**valid(locale=locale)).locale == locale


@pytest.mark.parametrize(
    ("signed_up_at", "zone", "start", "end"),
    [
        # 31 January: February 2024 has 29 days, so the period ends on 29 February.
        (at_local(CHICAGO, 2024, 1, 31, 16, 45), CHICAGO, (2024, 1, 31), (2024, 2, 29)),
        # 03:00 UTC on 1 March is still 29 February in Los Angeles (19:00 PST).
        (at_utc(2024, 3, 1, 3), LOS_ANGELES, (2024, 2, 29), (2024, 3, 29)),
        # Midnight exactly belongs to the period that starts then.
        (at_local(CHICAGO, 2024, 3, 10), CHICAGO, (2024, 3, 10), (2024, 4, 10)),
    ],
)
def test_r7_given_a_signup_when_opening_then_the_first_period_holds_it_from_local_midnight(
    signed_up_at, zone, start, end
):
    account = open_account(**valid(signed_up_at=signed_up_at, timezone=zone))

    tz = ZoneInfo(zone)
    assert signed_up_at in account.period
    assert account.period.start == datetime(*start, tzinfo=tz)
    assert account.period.end == datetime(*end, tzinfo=tz)
    assert account.period.start.astimezone(tz).time() == time(0)


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"locale": "fr"}, "locale"),
        ({"locale": "EN"}, "locale"),
        ({"locale": ""}, "locale"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "America"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"billing_email": "not-an-email"}, "billing_email"),
        ({"billing_email": "billing@localhost"}, "billing_email"),
        ({"billing_email": "two words@example.com"}, "billing_email"),
        ({"billing_email": "a@b@example.com"}, "billing_email"),
        ({"billing_email": ""}, "billing_email"),
        ({"monthly_budget": Money(0)}, "monthly_budget_cents"),
        ({"monthly_budget": Money(-100)}, "monthly_budget_cents"),
        ({"monthly_budget": MAX_BUDGET + Money(1)}, "monthly_budget_cents"),
        ({"threshold": Money(0)}, "threshold_cents"),
        ({"threshold": Money(-1)}, "threshold_cents"),
        ({"signed_up_at": datetime(2024, 1, 31, 16, 45)}, "signed_up_at"),
        ({"contractor_id": ""}, "contractor_id"),
        ({"contractor_id": "   "}, "contractor_id"),
        ({"business_name": ""}, "business_name"),
        ({"account_manager": AccountManager(email="support")}, "account_manager.email"),
    ],
)
def test_given_an_unacceptable_field_when_opening_then_account_error_names_it(
    overrides, field_name
):
    with pytest.raises(AccountError) as error:
        open_account(**valid(**overrides))

    assert error.value.field == field_name
    assert str(error.value).startswith(f"{field_name}:")


@pytest.mark.parametrize("budget", [Money(1), MAX_BUDGET], ids=["one-cent", "maximum"])
def test_given_a_budget_at_a_bound_when_opening_then_it_is_accepted(budget):
    assert open_account(**valid(monthly_budget=budget)).monthly_budget == budget


def test_r8_given_spend_above_a_lowered_budget_then_remaining_is_zero_not_negative():
    account = make_account(budget=5_000, spent=Money(7_000))

    assert account.remaining == Money(0)


def test_r12_given_an_account_then_its_pauses_cannot_be_changed_in_place():
    account = make_account()

    with pytest.raises(TypeError):
        account.pauses[PauseReason.BUDGET] = SIGNED_UP_AT  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        account.spent = Money(1)  # type: ignore[misc]


def test_r12_given_new_pauses_then_with_pauses_returns_a_new_snapshot():
    account = make_account()
    pauses = {PauseReason.NON_PAYMENT: SIGNED_UP_AT}

    paused = account.with_pauses(pauses)
    pauses.clear()  # the snapshot holds its own copy

    assert paused.pauses == {PauseReason.NON_PAYMENT: SIGNED_UP_AT}
    assert paused.paused
    assert not account.paused
