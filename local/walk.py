"""``python -m local.walk`` (or ``make walk``): one account walked through non-payment and
recovery on a running ``make run`` stack, each step printed with the system's answer.

1. the account (``demo-contractor`` unless ``--contractor`` names another; opened when
   missing);
2. a card that attaches and is then declined at every charge (localstripe's 4000 0000
   0000 0341), saved as the apps save a card;
3. a lead, written into the Leads table as the lead distribution system writes it;
4. the clock moved to Friday 06:00 in the account's timezone: the weekly run invoices,
   the charge is declined, the invoice is past due and emailed, the grace period starts
   (R9: it ends exactly 168 hours after the failure);
5. 6. the clock moved past 72 h and 24 h before the grace end: ``grace_check`` (hourly)
   retries on days 1, 3 and 6 and emails the reminders (R14);
7. 8. a second before the grace end the account is still active; after it, it is paused
   for non-payment, dated at the grace end (R10);
9. the card update with a working card: ``POST /me/card/setup-intent``, Stripe.js's part
   against localstripe with the Stripe SDK, ``POST /me/card/confirm``, which charges what
   is past due at once (R11); the account is active again and the reactivation emailed.

The walk is a client of the stack like any other: HTTP on the gateway (the API and the
``/_local`` endpoints), boto3 on the AWS endpoint for the lead, the Stripe SDK on
localstripe for the card form. Moving the clock fires every schedule occurrence it
crosses (weekly invoices, hourly ``grace_check``, daily ``budget_reset``) and answers once
the streams have settled. ``run_walk`` returns what the walk saw, for a test to check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import boto3
import requests
import stripe

from local.demo import DEMO_ACCOUNT
from local.payments import LOCAL_API_KEY

DECLINING_CARD = "4000000000000341"  # localstripe: attaches, then every charge is declined
WORKING_CARD = "4242424242424242"
LEAD_PRICE_CENTS = 4_500
GRACE = timedelta(hours=168)  # R9
REMINDER_HOURS = (72, 24)  # R14
# grace_check runs hourly: an hour after an instant, a run has crossed it.
HOURLY = timedelta(hours=1)
# A clock move fires every schedule it crosses; a week of them takes a while.
CLOCK_TIMEOUT = 900


class WalkError(RuntimeError):
    """The stack answered something the walk cannot go on from."""


# ---------------------------------------------------------------------- formatting


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when(moment: datetime, timezone: str) -> str:
    """``Fri 2026-12-04 06:00 CST (12:00 UTC)``: local time first, as the account reads it."""
    local = moment.astimezone(ZoneInfo(timezone))
    utc = moment.astimezone(UTC)
    clock = "%H:%M:%S" if local.second else "%H:%M"
    return f"{local.strftime(f'%a %Y-%m-%d {clock} %Z')} ({utc.strftime(clock)} UTC)"


def shown_path(path: Path) -> str:
    """A path as a person at the repository types it."""
    absolute = path.resolve()
    try:
        return f"{absolute.relative_to(Path.cwd())}/"
    except ValueError:
        return f"{absolute}/"


def card_ending(number: str) -> str:
    """A card as the walk names it: never the number it types into Stripe.js, which is
    Stripe's to see only, but its last four."""
    return f"test card ending {number[-4:]}"


# ---------------------------------------------------------------------- the stack


class LocalApi:
    """The running stack as the walk uses it; every action it takes is printed."""

    def __init__(self, base_url: str, say: Callable[[str], None]) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.say = say
        try:
            self.config: dict[str, Any] = self._get("/_local/config")
        except requests.ConnectionError as error:
            raise WalkError(
                f"no local stack answers at {self.base_url}: start one with `make run`"
            ) from error
        self._admin: str | None = None

    def _get(self, path: str, token: str | None = None) -> Any:
        return self.call("GET", path, token=token, show=False)

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        expect: tuple[int, ...] = (200, 201),
        show: bool = True,
        note: str = "",
    ) -> Any:
        """The JSON answer of ``method path``; a status not in ``expect`` stops the walk."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.request(
            method, f"{self.base_url}{path}", json=body, headers=headers, timeout=CLOCK_TIMEOUT
        )
        if show:
            sent = f" {json.dumps(body)}" if body else ""
            self.say(f"> {method} {path}{sent} -> {response.status_code}{note}")
        if response.status_code not in expect:
            raise WalkError(
                f"{method} {path} answered {response.status_code}: {response.text.strip()[:500]}"
            )
        return response.json() if response.content else None

    # tokens, as POST /_local/token issues them
    def admin_token(self) -> str:
        if self._admin is None:
            self._admin = self.call("POST", "/_local/token", body={"role": "admin"}, show=False)[
                "token"
            ]
        return str(self._admin)

    def contractor_token(self, contractor_id: str) -> str:
        answer = self.call(
            "POST", "/_local/token", body={"contractor_id": contractor_id}, show=False
        )
        return str(answer["token"])

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, token=self.admin_token(), **kwargs)

    # what the operator sees
    def account(self, contractor_id: str) -> dict[str, Any]:
        return dict(self.admin("GET", f"/admin/accounts/{contractor_id}", show=False))

    def invoices(self, contractor_id: str) -> list[dict[str, Any]]:
        answer = self.admin("GET", f"/admin/accounts/{contractor_id}/invoices", show=False)
        return list(answer["items"])

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        return dict(self.admin("GET", f"/admin/invoices/{invoice_id}", show=False))

    # the clock
    def now(self) -> datetime:
        return instant(self._get("/_local/clock")["now"])

    def set_clock(self, moment: datetime) -> datetime:
        answer = self.call("POST", "/_local/clock", body={"set": iso_z(moment)}, expect=(200,))
        return instant(answer["now"])

    def settle(self, why: str) -> None:
        """Move the clock by nothing: it answers once every stream and queue is drained."""
        self.call(
            "POST", "/_local/clock", body={"advance_seconds": 0}, expect=(200,), note=f" ({why})"
        )

    def emails(self) -> list[dict[str, Any]]:
        return list(self._get("/_local/emails")["items"])

    # the lead distribution system and Stripe.js
    def put_lead(self, item: dict[str, dict[str, str]]) -> str:
        table = self.config["tables"]["leads"]
        boto3.client(
            "dynamodb",
            endpoint_url=self.config["aws_endpoint"],
            region_name=self.config["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the emulator takes any key
        ).put_item(TableName=table, Item=item)
        return str(table)

    def stripe(self) -> stripe.StripeClient:
        # Stripe.js sends the publishable key; localstripe takes it only in form fields,
        # so the SDK speaks with the stack's test secret key to the same endpoints.
        return stripe.StripeClient(
            LOCAL_API_KEY,
            base_addresses={"api": self.config["stripe_endpoint"]},
            max_network_retries=0,
        )


# ---------------------------------------------------------------------- what the walk saw


@dataclass
class WalkRecord:
    """What the walk saw, step by step (keys: ``STEPS``)."""

    contractor_id: str
    billing_email: str
    timezone: str
    emails_directory: Path
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    emails: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    friday: datetime | None = None
    invoice_id: str | None = None
    invoice_after_friday: dict[str, Any] | None = None
    invoice_at_end: dict[str, Any] | None = None
    failed_at: datetime | None = None
    grace_ends_at: datetime | None = None
    past_due_before_card_cents: int | None = None
    confirm: dict[str, Any] | None = None

    def all_emails(self) -> list[dict[str, Any]]:
        return [mail for step in self.emails.values() for mail in step]


STEPS = (
    "account",
    "declining_card",
    "lead",
    "friday",
    "reminder_72h",
    "reminder_24h",
    "before_grace_end",
    "grace_end",
    "card_update",
)


class Walk:
    def __init__(self, api: LocalApi, contractor_id: str, out: TextIO) -> None:
        self.api = api
        self.contractor_id = contractor_id
        self.out = out
        self.number = 0
        self._seen_emails = {mail["id"] for mail in api.emails()}
        self._seen_attempts = 0
        self.record = WalkRecord(
            contractor_id=contractor_id,
            billing_email="",
            timezone=str(DEMO_ACCOUNT["timezone"]),
            emails_directory=Path(api.config["emails_directory"]),
        )

    # ------------------------------------------------------------------ printing

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def step(self, title: str) -> None:
        self.number += 1
        self.say()
        self.say(f"{self.number}. {title}")

    def line(self, label: str, text: str) -> None:
        self.say(f"   {label:<10}{text}")

    def when(self, moment: datetime) -> str:
        return when(moment, self.record.timezone)

    # ------------------------------------------------------------------ observing

    def observe(self, key: str) -> dict[str, Any]:
        """Print and keep the clock and the account's state after step ``key``."""
        state = self.api.account(self.contractor_id)
        self.record.states[key] = state
        self.line("clock", self.when(self.api.now()))
        self.line("account", self.account_summary(state))
        return state

    def mail(self, key: str) -> None:
        """Print and keep the emails to the account that are new since the last step."""
        self.record.emails[key] = self.new_emails()

    def account_summary(self, state: dict[str, Any]) -> str:
        pauses = [f"{p['reason']} since {self.when(instant(p['since']))}" for p in state["pauses"]]
        parts = [f"{state['status']} ({', '.join(pauses)})" if pauses else f"{state['status']}"]
        parts.append(f"past due {money(state['past_due_cents'])}")
        parts.append(f"unbilled {money(state['unbilled_cents'])}")
        grace = state["grace_ends_at"]
        parts.append(f"grace ends {self.when(instant(grace))}" if grace else "no grace period")
        return "; ".join(parts)

    def new_emails(self) -> list[dict[str, Any]]:
        mails = [
            mail
            for mail in self.api.emails()
            if mail["id"] not in self._seen_emails and self.record.billing_email in mail["to"]
        ]
        mails.sort(key=lambda mail: mail["sent_at"])
        self._seen_emails.update(mail["id"] for mail in mails)
        if not mails:
            self.line("emails", "none new")
        for index, mail in enumerate(mails):
            self.line("emails" if index == 0 else "", f'new: "{mail["subject"]}"')
            self.line("", f"     {email_folder(mail, self.record.emails_directory)}")
        return mails

    def attempts(self, invoice: dict[str, Any]) -> None:
        """Print the payment attempts not printed yet."""
        for attempt in invoice["attempts"][self._seen_attempts :]:
            decline = f" ({attempt['decline_code']})" if attempt["decline_code"] else ""
            self.line(
                "attempt",
                f"{attempt['number']} at {self.when(instant(attempt['at']))}: "
                f"{attempt['outcome']}{decline}",
            )
        self._seen_attempts = len(invoice["attempts"])

    # ------------------------------------------------------------------ the steps

    def open_account(self) -> None:
        self.step(f"The account {self.contractor_id}")
        path = f"/admin/accounts/{self.contractor_id}"
        found = self.api.admin("GET", path, expect=(200, 404))
        if found.get("contractor_id") != self.contractor_id:
            fields = {**DEMO_ACCOUNT, "contractor_id": self.contractor_id}
            if self.contractor_id != DEMO_ACCOUNT["contractor_id"]:
                fields["billing_email"] = f"{self.contractor_id}@example.com"
            self.api.admin("POST", "/admin/accounts", body=fields, expect=(201,))
        state = self.api.account(self.contractor_id)
        self.record.billing_email = state["billing_email"]
        self.record.timezone = state["timezone"]
        self.line(
            "details",
            f"{state['business_name']}, {state['timezone']}, language {state['locale']}, "
            f"emails to {state['billing_email']}, budget {money(state['budget']['monthly_cents'])}",
        )
        state = self.observe("account")
        self.mail("account")
        if state["status"] != "active" or state["past_due_cents"] or state["grace_ends_at"]:
            raise WalkError(
                f"{self.contractor_id} is not active with nothing past due (an earlier walk "
                "stopped half way?): walk another account with --contractor <new id>"
            )

    def save_card(self, number: str) -> dict[str, Any]:
        """A card saved as the Pro App saves it: the number goes to Stripe only."""
        token = self.api.contractor_token(self.contractor_id)
        setup = self.api.call("POST", "/me/card/setup-intent", token=token, expect=(201,))
        client = self.api.stripe()
        method = client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            }
        )
        # Confirmed on its own, as Stripe.js confirms (localstripe takes no confirm=True
        # at creation); the billing attaches the card when it saves it (/me/card/confirm).
        # Stripe.js would send the publishable key and the client secret; the SDK sends the
        # stack's test secret key instead.
        confirmed = client.v1.setup_intents.confirm(
            setup["setup_intent_id"], params={"payment_method": method.id}
        )
        self.say(
            f"   > localstripe, as Stripe.js: PaymentMethod {method.id} created, "
            f"SetupIntent {confirmed.id} confirmed -> {confirmed.status}"
        )
        if confirmed.status != "succeeded":
            raise WalkError(f"the SetupIntent is {confirmed.status}, not succeeded")
        answer: dict[str, Any] = self.api.call(
            "POST",
            "/me/card/confirm",
            token=token,
            body={"setup_intent_id": setup["setup_intent_id"]},
            expect=(200,),
        )
        card = answer["card"]
        self.line(
            "answer",
            f"card {card['brand']} ending {card['last4']}, expires "
            f"{card['exp_month']:02d}/{card['exp_year']}; collected_cents "
            f"{answer['collected_cents']}; status {answer['billing']['status']}",
        )
        return answer

    def declining_card(self) -> None:
        self.step(
            "A card that attaches, then is declined at every charge "
            f"({card_ending(DECLINING_CARD)})"
        )
        self.save_card(DECLINING_CARD)
        self.observe("declining_card")
        self.mail("declining_card")

    def deliver_lead(self) -> None:
        self.step("A lead, written into the Leads table as the lead distribution system does")
        now = self.api.now()
        lead_id = f"walk-{uuid.uuid4().hex[:10]}"
        table = self.api.put_lead(
            {
                "lead_id": {"S": lead_id},
                "contractor_id": {"S": self.contractor_id},
                "price_cents": {"N": str(LEAD_PRICE_CENTS)},
                "delivered_at": {"S": now.isoformat()},
                "category": {"S": "roofing"},
            }
        )
        self.say(
            f"   > PutItem {table}: {lead_id}, roofing, {money(LEAD_PRICE_CENTS)}, "
            f"delivered {self.when(now)}"
        )
        self.api.settle("on_lead charges it")
        state = self.observe("lead")
        budget = state["budget"]
        self.line(
            "budget", f"spent {money(budget['spent_cents'])} of {money(budget['monthly_cents'])}"
        )
        self.mail("lead")
        if state["unbilled_cents"] < LEAD_PRICE_CENTS:
            raise WalkError(f"the lead was not charged: {state}")

    def next_friday(self) -> datetime:
        """The first Friday 06:00 in the account's timezone after the clock's now."""
        zone = ZoneInfo(self.record.timezone)
        now = self.api.now().astimezone(zone)
        for days in range(8):
            day = now.date() + timedelta(days=days)
            at = datetime(day.year, day.month, day.day, 6, tzinfo=zone)
            if day.weekday() == 4 and at > now:  # Friday
                return at.astimezone(UTC)
        raise AssertionError("a week always has a Friday")

    def friday(self) -> None:
        friday = self.next_friday()
        self.record.friday = friday
        self.step(
            f"Friday 06:00 in {self.record.timezone}: the weekly run invoices, the charge is "
            "declined"
        )
        self.api.set_clock(friday)
        state = self.observe("friday")
        issued = [
            summary
            for summary in self.api.invoices(self.contractor_id)
            if summary["issued_at"] and instant(summary["issued_at"]) >= friday
        ]
        if not issued:
            raise WalkError(f"no invoice was issued at {self.when(friday)}")
        invoice = self.api.invoice(issued[0]["invoice_id"])
        self.record.invoice_id = invoice["invoice_id"]
        self.record.invoice_after_friday = invoice
        self.line(
            "invoice",
            f"{invoice['invoice_id']} ({invoice['kind']}, {len(invoice['lines'])} lead(s), "
            f"{money(invoice['total_cents'])}): {invoice['status']}",
        )
        self.attempts(invoice)
        if invoice["status"] != "past_due" or not state["grace_ends_at"]:
            raise WalkError(f"expected a past-due invoice and a grace period: {invoice}")
        failed_at = instant(invoice["attempts"][0]["at"])
        grace_ends_at = instant(state["grace_ends_at"])
        self.record.failed_at, self.record.grace_ends_at = failed_at, grace_ends_at
        hours = (grace_ends_at - failed_at) / timedelta(hours=1)
        self.line("grace", f"ends {self.when(grace_ends_at)}, {hours:g} h after the failure")
        if grace_ends_at - failed_at != GRACE:
            raise WalkError(f"the grace period lasts {hours:g} h, not 168 h (R9)")
        self.mail("friday")

    def retries(self) -> None:
        assert self.record.invoice_id is not None
        self.attempts(self.api.invoice(self.record.invoice_id))

    def reminder(self, hours: int) -> None:
        assert self.record.grace_ends_at is not None
        mark = self.record.grace_ends_at - timedelta(hours=hours)
        self.step(f"{hours} h before the grace end, {self.when(mark)}: a reminder")
        self.say("   (grace_check runs hourly: the clock stops an hour past the mark)")
        self.api.set_clock(mark + HOURLY)
        state = self.observe(f"reminder_{hours}h")
        self.retries()
        self.mail(f"reminder_{hours}h")
        self.expect_active(state)

    def before_grace_end(self) -> None:
        assert self.record.grace_ends_at is not None
        self.step("A second before the grace end: still active, leads still charged")
        self.api.set_clock(self.record.grace_ends_at - timedelta(seconds=1))
        state = self.observe("before_grace_end")
        self.retries()
        self.mail("before_grace_end")
        self.expect_active(state)

    def grace_end(self) -> None:
        end = self.record.grace_ends_at
        assert end is not None
        self.step(f"The grace end, {self.when(end)}: paused for non-payment")
        self.say("   (an hour on, so that the hourly grace_check has run)")
        self.api.set_clock(end + HOURLY)
        state = self.observe("grace_end")
        self.mail("grace_end")
        pauses = {pause["reason"]: instant(pause["since"]) for pause in state["pauses"]}
        if pauses.get("non_payment") != end:
            raise WalkError(
                f"expected a non-payment pause since {self.when(end)}: {state['pauses']}"
            )

    def card_update(self) -> None:
        self.step(f"The card update with a working card ({card_ending(WORKING_CARD)})")
        past_due = self.api.account(self.contractor_id)["past_due_cents"]
        self.record.past_due_before_card_cents = past_due
        answer = self.save_card(WORKING_CARD)
        self.record.confirm = answer
        self.line(
            "collected",
            f"{money(answer['collected_cents'])}, the past-due total ({money(past_due)})"
            if answer["collected_cents"] == past_due
            else f"{money(answer['collected_cents'])}, NOT the past-due total {money(past_due)}",
        )
        self.api.settle("notify reads the accounts stream")
        state = self.observe("card_update")
        assert self.record.invoice_id is not None
        invoice = self.api.invoice(self.record.invoice_id)
        self.record.invoice_at_end = invoice
        self.line("invoice", f"{invoice['invoice_id']}: {invoice['status']}")
        self.attempts(invoice)
        self.mail("card_update")
        if answer["collected_cents"] != past_due or state["status"] != "active":
            raise WalkError(f"expected {past_due} collected and the account active: {answer}")

    def expect_active(self, state: dict[str, Any]) -> None:
        if state["status"] != "active" or state["pauses"]:
            raise WalkError(f"expected the account active before the grace end: {state}")

    def summary(self) -> None:
        mails = self.record.all_emails()
        self.say()
        self.say(
            f"Done. {len(mails)} email(s) to {self.record.billing_email}, one folder each "
            f"under {shown_path(self.record.emails_directory)}:"
        )
        for mail in mails:
            self.say(f"   {self.when(instant(mail['sent_at']))}  {mail['subject']}")
            self.say(f"      {email_folder(mail, self.record.emails_directory)}")

    def run(self) -> WalkRecord:
        self.say(f"Walk: a declined Friday to reactivation, on {self.api.base_url}")
        self.say(f"Emails are written to {shown_path(self.record.emails_directory)}")
        self.open_account()
        self.declining_card()
        self.deliver_lead()
        self.friday()
        for hours in REMINDER_HOURS:
            self.reminder(hours)
        self.before_grace_end()
        self.grace_end()
        self.card_update()
        self.summary()
        return self.record


def email_folder(mail: dict[str, Any], directory: Path) -> str:
    """The email's folder and the files in it."""
    paths = [mail.get("html_path"), mail.get("text_path")]
    paths += [attachment.get("path") for attachment in mail.get("attachments") or []]
    files = [Path(path) for path in paths if path]
    folder = files[0].parent if files else directory / str(mail["id"])
    names = ", ".join(path.name for path in files)
    return f"{shown_path(folder)} ({names})" if names else shown_path(folder)


def run_walk(
    base_url: str, contractor_id: str = DEMO_ACCOUNT["contractor_id"], out: TextIO | None = None
) -> WalkRecord:
    """Walk ``contractor_id`` on the stack at ``base_url``, printing to ``out`` (stdout)."""
    stream = out or sys.stdout

    def say(line: str) -> None:
        print(f"   {line}", file=stream, flush=True)

    return Walk(LocalApi(base_url, say), contractor_id, stream).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.walk",
        description="Walk an account from a declined Friday to its reactivation on a "
        "running `make run` stack.",
    )
    parser.add_argument(
        "--base-url",
        default=f"http://127.0.0.1:{os.environ.get('LOCAL_API_PORT', '3000')}",
        help="the local stack's gateway (default: http://127.0.0.1:$LOCAL_API_PORT or :3000)",
    )
    parser.add_argument(
        "--contractor",
        default=DEMO_ACCOUNT["contractor_id"],
        help="the account to walk, opened when missing (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        run_walk(args.base_url, args.contractor)
    except (WalkError, stripe.StripeError) as error:
        print(f"\nwalk stopped: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
