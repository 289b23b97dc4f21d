"""The walk of ``python -m local.walk`` (README, "Walk: a declined Friday to reactivation")
on the local stack: a Friday whose charge is declined, the grace period with its retries
and reminders, the pause at its end, and the card update that collects and reactivates
(R9, R10, R11, R14). The walk runs once; each test reads what it saw."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from boto3.dynamodb.conditions import Key

from functions.billing.account import PauseReason
from functions.billing.notices import NoticeKind, paused_notice, reactivated_notice
from local.walk import LEAD_PRICE_CENTS, WalkRecord, instant, run_walk
from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

CONTRACTOR = "demo-contractor"
CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture(scope="module")
def walk(local: LocalClient) -> WalkRecord:
    output = io.StringIO()
    try:
        return run_walk(local.api, CONTRACTOR, out=output)
    finally:
        print(output.getvalue())  # shown beside a failing test


def test_r6_r9_the_friday_charge_is_declined_and_leaves_the_invoice_past_due(walk: WalkRecord):
    assert walk.friday is not None
    friday = walk.friday.astimezone(CHICAGO)
    assert (friday.strftime("%A"), friday.hour, friday.minute) == ("Friday", 6, 0)
    invoice = walk.invoice_after_friday
    assert invoice is not None
    assert (invoice["kind"], invoice["status"], invoice["total_cents"]) == (
        "weekly",
        "past_due",
        LEAD_PRICE_CENTS,
    )
    [attempt] = invoice["attempts"]
    assert (attempt["outcome"], attempt["decline_code"]) == ("declined", "card_declined")
    assert instant(attempt["at"]) == walk.friday
    state = walk.states["friday"]
    assert (state["status"], state["past_due_cents"]) == ("active", LEAD_PRICE_CENTS)


def test_r9_the_grace_end_is_168_hours_after_the_failure_and_retries_do_not_move_it(
    walk: WalkRecord,
):
    assert walk.failed_at is not None and walk.grace_ends_at is not None
    # The week crosses the start of daylight saving time: 168 hours, not "next Friday 06:00".
    assert walk.grace_ends_at - walk.failed_at == timedelta(hours=168)
    during = ["friday", "reminder_72h", "reminder_24h", "before_grace_end", "grace_end"]
    assert {instant(walk.states[step]["grace_ends_at"]) for step in during} == {walk.grace_ends_at}
    assert walk.invoice_at_end is not None
    retries = walk.invoice_at_end["attempts"][1:-1]
    assert retries, "grace_check retried the invoice during the grace period"
    assert {attempt["outcome"] for attempt in retries} == {"declined"}
    assert all(instant(attempt["at"]) < walk.grace_ends_at for attempt in retries)


def test_r10_paused_for_non_payment_at_the_grace_end_and_not_before(walk: WalkRecord):
    for step in ("reminder_72h", "reminder_24h", "before_grace_end"):
        assert (walk.states[step]["status"], walk.states[step]["pauses"]) == ("active", []), step

    paused = walk.states["grace_end"]
    assert paused["status"] == "paused"
    [pause] = paused["pauses"]
    assert pause["reason"] == "non_payment"
    assert instant(pause["since"]) == walk.grace_ends_at


def test_r11_the_card_update_collects_the_past_due_total_and_reactivates(walk: WalkRecord):
    assert walk.confirm is not None and walk.invoice_at_end is not None
    assert walk.past_due_before_card_cents == LEAD_PRICE_CENTS
    assert walk.confirm["collected_cents"] == walk.past_due_before_card_cents
    assert walk.confirm["card"]["last4"] == "4242"
    for billing in (walk.confirm["billing"], walk.states["card_update"]):
        assert billing["status"] == "active"
        assert billing["pauses"] == []
        assert billing["past_due_cents"] == 0
        assert billing["grace_ends_at"] is None
    assert walk.invoice_at_end["status"] == "paid"
    assert walk.invoice_at_end["attempts"][-1]["outcome"] == "succeeded"


def test_r5_r14_the_failed_invoice_email_is_in_the_folder_with_its_pdf(walk: WalkRecord):
    [mail] = walk.emails["friday"]
    assert walk.invoice_id is not None
    assert mail["subject"].startswith("Payment failed")
    assert walk.invoice_id in mail["subject"]
    assert mail["to"] == [walk.billing_email]
    folder = _folder(mail)
    assert folder.parent == walk.emails_directory
    names = sorted(path.name for path in folder.iterdir())
    assert {"message.html", "message.txt"} <= set(names)
    [pdf] = [folder / name for name in names if name.endswith(".pdf")]
    assert pdf.read_bytes().startswith(b"%PDF")
    # Nothing else was emailed before the Friday run.
    assert walk.emails["account"] == walk.emails["declining_card"] == walk.emails["lead"] == []


def test_r14_the_failed_invoice_email_names_the_grace_end(walk: WalkRecord):
    assert walk.grace_ends_at is not None
    [mail] = walk.emails["friday"]
    end = walk.grace_ends_at.astimezone(CHICAGO)
    text = (_folder(mail) / "message.txt").read_text(encoding="utf-8")

    assert f"{end:%B} {end.day}, {end.year}" in text


def test_r14_reminders_pause_and_reactivation_are_each_emailed_once_when_they_happen(
    walk: WalkRecord, local: LocalClient
):
    assert walk.grace_ends_at is not None
    notices = _notices(local, walk.contractor_id)
    # Each step brings exactly the email of its notice, and no step another one.
    expected = {
        "reminder_72h": NoticeKind.GRACE_REMINDER,
        "reminder_24h": NoticeKind.GRACE_REMINDER,
        "grace_end": NoticeKind.PAUSED,
        "card_update": NoticeKind.REACTIVATED,
    }
    for step, kind in expected.items():
        [mail] = walk.emails[step]
        [notice] = [n for n in notices.values() if n.get("message_id") == mail["id"]]
        assert notice["kind"] == kind.value, step
        assert notice.get("sent_at"), step
        assert {"message.html", "message.txt"} <= {p.name for p in _folder(mail).iterdir()}
    assert walk.emails["before_grace_end"] == []
    assert len(walk.all_emails()) == 1 + len(expected)
    assert sorted(n["kind"] for n in notices.values()) == sorted(k.value for k in expected.values())

    # The reminders are dated 72 h and 24 h before the grace end (grace_check runs hourly).
    for step, hours in (("reminder_72h", 72), ("reminder_24h", 24)):
        [mail] = walk.emails[step]
        mark = walk.grace_ends_at - timedelta(hours=hours)
        assert mark <= _sent_at(mail) < mark + timedelta(hours=1), step
    # The pause told is the non-payment pause that started at the grace end, and the
    # reactivation told is its lift.
    end, reason = walk.grace_ends_at, PauseReason.NON_PAYMENT
    paused = paused_notice(walk.contractor_id, reason, end)
    lifted = reactivated_notice(walk.contractor_id, reason, end, end)
    [paused_mail], [lifted_mail] = walk.emails["grace_end"], walk.emails["card_update"]
    assert notices[paused.notice_id]["message_id"] == paused_mail["id"]
    assert notices[lifted.notice_id]["message_id"] == lifted_mail["id"]


def _folder(mail: dict[str, Any]) -> Path:
    return Path(mail["text_path"] or mail["html_path"]).parent


def _sent_at(mail: dict[str, Any]) -> datetime:
    return instant(mail["sent_at"])


def _notices(local: LocalClient, contractor_id: str) -> dict[str, dict[str, Any]]:
    """The notices table's items of ``contractor_id``, by notice id."""
    items = (
        local.table("notices")
        .query(KeyConditionExpression=Key("contractor_id").eq(contractor_id), ConsistentRead=True)
        .get("Items", [])
    )
    return {str(item["notice_id"]): item for item in items}
