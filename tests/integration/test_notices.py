"""R14 against moto and localstripe: the notices the contractor receives, each once.

Pauses, reactivations and budget warnings come from the accounts stream through the real
notify handler, whatever function changed the account; the grace reminders from the
hourly grace_check; the expiring card from the daily budget_reset run. Every stream
record is delivered again and every run repeated: nothing is sent twice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time

from functions.adapters.invoice_email import format_money
from functions.adapters.models import AccountModel, NoticeModel
from functions.billing.grace import GRACE
from functions.billing.money import Money
from tests.integration.conftest import Clock
from tests.integration.steps import (
    account,
    deliver,
    lead,
    open_contractor,
    records_for,
    save_card,
)
from tests.integration.test_contractor_billing import call
from tests.integration.test_grace_check import FIRST_FAILURE, check, failed_first
from tests.support.aws import LambdaContext, Resources, sent_mail, stream_event, stream_records
from tests.support.cards import VISA

CHICAGO = "America/Chicago"


@pytest.fixture
def cid() -> str:
    """A contractor id of this test alone: localstripe outlives each test's moto state."""
    return f"c-{uuid.uuid4().hex[:8]}"


def stream_to_notify(notify: ModuleType, aws: Resources) -> dict[str, Any]:
    """Every record of the accounts stream so far, delivered (again) to notify."""
    records = [r for r in stream_records(aws.accounts_stream_arn()) if r["eventName"] == "MODIFY"]
    return notify.handler(stream_event(records), LambdaContext(function_name="notify"))


def notices(contractor_id: str) -> list[tuple[str, str]]:
    """(kind, notice id) of every notice sent to the contractor, by notice id."""
    return [
        (item.kind, item.notice_id)
        for item in NoticeModel.query(contractor_id)
        if item.sent_at is not None
    ]


def kinds(contractor_id: str) -> list[str]:
    return sorted(kind for kind, _ in notices(contractor_id))


def body(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def mail_of(contractor_id: str, kind: str) -> EmailMessage:
    """The one email SES accepted for the contractor's notice of ``kind``."""
    [message_id] = [
        item.message_id
        for item in NoticeModel.query(contractor_id)
        if item.kind == kind and item.sent_at is not None
    ]
    [mail] = sent_mail(message_id)
    return mail


# -- budget: 75 %, 100 % (the pause), the reset (the reactivation) --------------------------


@pytest.mark.parametrize("locale", ["en", "es"])
def test_r14_budget_warning_pause_and_reactivation_each_once_in_the_accounts_language(
    on_lead, notify, budget_reset, aws: Resources, clock: Clock, cid: str, locale: str
):
    babel_locale = {"en": "en_US", "es": "es_US"}[locale]
    open_contractor(cid, budget=10_000, locale=locale)
    # 75 %: one warning with the spend and the budget
    deliver(on_lead, records_for(aws, [lead("L1", 7_500, cid)]))
    stream_to_notify(notify, aws)
    assert kinds(cid) == ["budget_75"]
    warning = mail_of(cid, "budget_75")
    assert warning["To"] == "billing@acme.example"
    assert warning["Content-Language"] == locale
    assert format_money(Money(7_500), babel_locale) in body(warning)
    assert format_money(Money(10_000), babel_locale) in body(warning)
    assert "(866) 332-7134" in body(warning)  # the account manager's phone

    # 100 %: the budget pause's email, not a second warning
    deliver(on_lead, records_for(aws, [lead("L2", 2_500, cid)]))
    stream_to_notify(notify, aws)
    assert kinds(cid) == ["budget_75", "paused"]
    assert account(cid).pauses.as_dict().keys() == {"budget"}
    # The next period starts on December 15 in Chicago: the date is in the email.
    next_reset = format_date(
        datetime(2026, 12, 15, tzinfo=ZoneInfo(CHICAGO)), "long", locale=babel_locale
    )
    assert next_reset in body(mail_of(cid, "paused"))

    # The daily reset lifts the pause: one reactivation email
    clock.current = datetime(2026, 12, 15, 6, 5, tzinfo=UTC)
    budget_reset.handler(
        {"run": "budget_reset", "timezone": CHICAGO}, LambdaContext(function_name="budget_reset")
    )
    stream_to_notify(notify, aws)
    assert kinds(cid) == ["budget_75", "paused", "reactivated"]

    # Every record delivered again, and the reset run again: nothing more is sent.
    sent = len(sent_mail())
    stream_to_notify(notify, aws)
    budget_reset.handler(
        {"run": "budget_reset", "timezone": CHICAGO}, LambdaContext(function_name="budget_reset")
    )
    stream_to_notify(notify, aws)
    assert len(sent_mail()) == sent == 3


def test_r14_a_budget_raise_that_lifts_the_pause_is_told_once(
    on_lead, notify, api, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid, budget=5_000)
    deliver(on_lead, records_for(aws, [lead("L1", 5_000, cid)]))
    status, _ = call(api, "PUT", "/me/budget", {"monthly_cents": 20_000}, contractor=cid)
    assert status == 200
    stream_to_notify(notify, aws)
    stream_to_notify(notify, aws)
    assert kinds(cid) == ["paused", "reactivated"]
    assert len(sent_mail()) == 2


# -- grace: reminders 72 h and 24 h before the end, then the pause ----------------------------


def local_end(locale: str) -> tuple[str, str]:
    """The grace end as the Chicago contractor reads it: long date, short time."""
    end = (FIRST_FAILURE + GRACE).astimezone(ZoneInfo(CHICAGO))
    return format_date(end, "long", locale=locale), format_time(end, "short", locale=locale)


def test_r14_grace_reminders_72_and_24_hours_before_the_end_then_the_pause_each_once(
    weekly_invoice, on_lead, grace_check, notify, aws: Resources, clock: Clock, cid, localstripe
):
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    end = FIRST_FAILURE + GRACE
    invoice_mails = len(sent_mail())  # the failed invoice's own email

    check(grace_check, clock, end - timedelta(hours=72, seconds=1))
    assert kinds(cid) == []
    check(grace_check, clock, end - timedelta(hours=72))
    check(grace_check, clock, end - timedelta(hours=71))
    assert kinds(cid) == ["grace_reminder"]
    reminder = mail_of(cid, "grace_reminder")
    day, time = local_end("en_US")
    assert day in body(reminder) and time in body(reminder)
    assert format_money(Money(4_500), "en_US") in body(reminder)

    # Day 6: the retry fails again, then the 24-hour reminder
    check(grace_check, clock, end - timedelta(hours=24))
    check(grace_check, clock, end - timedelta(hours=1))
    assert sorted(notice_id.split("~")[0] for _, notice_id in notices(cid)) == [
        "grace-reminder-24h",
        "grace-reminder-72h",
    ]

    # The end: paused for non-payment, told through the accounts stream
    check(grace_check, clock, end)
    stream_to_notify(notify, aws)
    stream_to_notify(notify, aws)
    assert sorted(notice_id.split("~")[0] for _, notice_id in notices(cid)) == [
        "grace-reminder-24h",
        "grace-reminder-72h",
        "paused",
    ]
    assert len(sent_mail()) == invoice_mails + 3


def test_r14_no_reminder_once_a_retry_paid_everything(
    weekly_invoice, on_lead, grace_check, notify, aws: Resources, clock: Clock, cid, localstripe
):
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    end = FIRST_FAILURE + GRACE
    check(grace_check, clock, end - timedelta(hours=72))
    save_card(localstripe, cid, VISA)  # a working card before the day-6 retry
    check(grace_check, clock, end - timedelta(hours=24))
    assert int(account(cid).past_due_cents) == 0
    check(grace_check, clock, end - timedelta(hours=1))
    check(grace_check, clock, end)
    stream_to_notify(notify, aws)
    assert kinds(cid) == ["grace_reminder"]  # the 72-hour one only, and no pause


# -- the card on file expires this month --------------------------------------------------


def with_card_expiring(contractor_id: str, month: int, year: int) -> None:
    AccountModel(contractor_id).update(
        actions=[
            AccountModel.card.set(
                {
                    "payment_method_id": f"pm_{contractor_id}",
                    "brand": "visa",
                    "last4": "4242",
                    "exp_month": month,
                    "exp_year": year,
                }
            ),
            AccountModel.card_expires.set(f"{year:04d}-{month:02d}"),
        ]
    )


def test_r14_the_daily_run_tells_of_a_card_expiring_this_month_once(
    budget_reset, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid, locale="es")
    with_card_expiring(cid, 11, 2026)
    open_contractor("c-later")
    with_card_expiring("c-later", 12, 2026)
    open_contractor("c-east", timezone="America/New_York")
    with_card_expiring("c-east", 11, 2026)
    clock.current = datetime(2026, 11, 20, 6, 5, tzinfo=UTC)

    for _ in range(2):
        outcome = budget_reset.handler(
            {"run": "budget_reset", "timezone": CHICAGO},
            LambdaContext(function_name="budget_reset"),
        )
    assert outcome["cards_expiring"] == 0  # the second run: sent already
    assert kinds(cid) == ["card_expiring"]
    assert kinds("c-later") == [] and kinds("c-east") == []
    [mail] = sent_mail()
    assert mail["Content-Language"] == "es" and "4242" in body(mail)
    assert "11/2026" in body(mail)
