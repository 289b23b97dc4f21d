"""R14: the notice emails, rendered: subject, plain text and HTML, in the account's language.

Pure code over the domain's values; deciding which notice is due is ``billing.notices``'
job, sending it the ``Notifier``'s. Each email greets the business, states the facts with
the account's own amounts and local times (``PAUSED``: why and since when;
``REACTIVATED``: which pause lifted and why, or that another still holds; ``BUDGET_75``:
spend, budget, remaining and the reset date; ``GRACE_REMINDER``: what is past due and
when the grace period ends; ``CARD_EXPIRING``: which card), says what to do (raise the
budget, or update the card in the Pro App or the Lead Manager), and gives the account
manager's phone and email.

Written like the invoice email (see ``email_format``): the words in
``templates/notice.<lang>.j2``, the sentences shared with the invoice (greeting, the card
update steps, the contact) in ``templates/common.<lang>.j2``, the layouts in
``notice_email.txt.j2`` and ``notice_email.html.j2``. The macros are called here, never
from a layout, and the HTML layout escapes their sentences like any other value.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from functions.adapters.email_format import (
    BABEL_LOCALES,
    LocalMoment,
    add_text_and_html,
    as_smtp_bytes,
    card_brand,
    common_words,
    content_boundary,
    environment,
    format_money,
    local_date,
    local_moment,
    message_id,
    new_message,
    plain,
    require_aware,
    tel_uri,
    words,
)
from functions.billing.account import Account, AccountManager, PauseReason
from functions.billing.invoices import Card
from functions.billing.notices import BUDGET_WARNING_PERCENT, REMINDER_HOURS, Notice, NoticeKind

# Why a pause lifted, as the email explains it (REACTIVATED).
NEW_PERIOD = "new_period"  # R8: a new budget period started
BUDGET_RAISED = "budget_raised"  # R8: the budget was raised above the spend
BUDGET_ABOVE_SPEND = "budget_above_spend"  # R8, when the pause's start is not known
BALANCE_SETTLED = "balance_settled"  # R10, R11

# The HTML's colours: something to act on, something to know, good news.
ALERT, WARNING, GOOD = "alert", "warning", "good"

# The start of the lifted pause, as ``billing.notices.reactivated_notice`` writes it at
# the end of the notice id.


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    """One notice's email, ready to send; ``to_mime`` gives the raw message.

    ``contractor_id`` comes last: with ``notice_id`` it names the message (Message-ID)."""

    notice_id: str
    sent_at: datetime  # the notice's instant (``Notice.at``): the email's Date
    language: str
    subject: str
    text: str
    html: str
    contractor_id: str

    def to_mime(self, to: str, sender: str, message_id_domain: str) -> bytes:
        """The message as sent: multipart/alternative (text, HTML), with CRLF line endings.

        The Message-ID is derived from the contractor and notice ids and the Date is the
        notice's instant, so a retried send is recognisable as the same message; the same
        rendering gives the same bytes.
        """
        message = new_message(
            sender=sender,
            to=to,
            subject=self.subject,
            sent_at=self.sent_at,
            message_id=notice_message_id(self.contractor_id, self.notice_id, message_id_domain),
        )
        add_text_and_html(message, self.text, self.html)
        message.set_boundary(
            content_boundary(
                "notice", self.contractor_id, self.notice_id, self.subject, self.text, self.html
            )
        )
        # Last: set_content and make_alternative move every Content-* header into the parts.
        message["Content-Language"] = self.language
        return as_smtp_bytes(message)


def notice_message_id(contractor_id: str, notice_id: str, domain: str) -> str:
    """The Message-ID of a notice's email: the same for every send of that notice.

    A notice id is unique per contractor only; "/" cannot occur in a contractor id, so
    the pair is one unambiguous key."""
    return message_id("notice", f"{contractor_id}/{notice_id}", domain)


# -- What the email shows, formatted for the reader --------------------------------------


@dataclass(frozen=True, slots=True)
class CardView:
    brand: str | None  # None: a card whose brand Stripe did not name
    last4: str
    expiry: str  # MM/YYYY, as printed on the card


@dataclass(frozen=True, slots=True)
class NoticeView:
    language: str
    kind: str  # NoticeKind's values
    reason: str | None  # PauseReason's values: what paused (PAUSED) or lifted (REACTIVATED)
    lifted_by: str | None  # REACTIVATED: NEW_PERIOD, BUDGET_RAISED, ... BALANCE_SETTLED
    still_paused: tuple[str, ...]  # REACTIVATED: the reasons of the pauses that still hold
    business_name: str
    billing_email: str
    sender: str
    at: LocalMoment  # the notice's instant: a pause's start, a lift
    budget: str
    spent: str
    remaining: str
    past_due: str
    warning_percent: str  # the share of the budget that gives BUDGET_75
    full_percent: str
    period_start: str  # the current budget period's first day
    reset_date: str  # the next budget period's first day (R7)
    grace_end: LocalMoment | None
    hours_before: int | None
    card: CardView | None
    card_steps: bool  # the Pro App and Lead Manager steps to update the card are shown
    tone: str  # ALERT, WARNING, GOOD
    manager: AccountManager
    manager_tel: str  # the phone as a tel: link


def render_notice(notice: Notice, account: Account, *, sender: str) -> RenderedNotice:
    """The email of ``notice`` for ``account``'s billing address, in the account's language.

    ``account`` is the snapshot the notice was found on (its balances, budget, pauses,
    grace end and card are what the email says). ``sender`` is the address the email comes
    from; the footer asks the contractor to add it to their contacts. A notice of another
    contractor, or one its kind's facts are missing for (a pause without its reason, a
    reminder without a grace end, a card notice without a card), is refused (ValueError).
    """
    if notice.contractor_id != account.contractor_id:
        raise ValueError(
            f"notice {notice.notice_id!r} belongs to {notice.contractor_id!r}, "
            f"not to {account.contractor_id!r}"
        )
    sender_address = email.utils.parseaddr(sender)[1]
    if "@" not in sender_address:
        raise ValueError(f"not an email address: {sender!r}")
    require_aware("at", notice.at)

    view = _view(notice, account, sender_address)
    notice_words, common = _words(view.language), common_words(view.language)
    labels = {key: plain(value) for key, value in {**common.labels, **notice_words.labels}.items()}
    say = _sentences(view, notice_words, common, labels)
    context = {"view": view, "labels": labels, "say": say}
    text = environment().get_template("notice_email.txt.j2").render(context)
    html = environment().get_template("notice_email.html.j2").render(context)
    return RenderedNotice(
        notice_id=notice.notice_id,
        sent_at=notice.at,
        language=view.language,
        subject=str(say["subject"]),
        text=text,
        html=html,
        contractor_id=notice.contractor_id,
    )


def _words(language: str) -> Any:
    """The macros and labels of one language's notice template."""
    return words("notice", language)


def _sentences(
    view: NoticeView, notice_words: Any, common: Any, labels: dict[str, str]
) -> dict[str, str | tuple[str, ...]]:
    """Every sentence the email says, as plain text in the reader's language."""
    said = {
        "subject": notice_words.subject(view),
        "greeting": common.greeting(view.business_name),
        "headline": notice_words.headline(view),
        "facts": notice_words.facts(view),
        "action": notice_words.action(view),
        "contact": common.contact(view.manager),
        "closing": common.closing(),
        "footer": notice_words.footer(view.billing_email, view.sender),
    }
    sentences: dict[str, str | tuple[str, ...]] = {key: plain(value) for key, value in said.items()}
    act = view.tone == ALERT or view.card_steps
    sentences["action_heading"] = labels["what_to_do" if act else "what_next"]
    sentences["steps"] = (
        (plain(common.pro_app_steps()), plain(common.lead_manager_steps()))
        if view.card_steps
        else ()
    )
    return sentences


def _view(notice: Notice, account: Account, sender: str) -> NoticeView:
    from babel.numbers import format_percent

    locale = BABEL_LOCALES[account.locale]
    timezone = account.timezone
    kind, reason = notice.kind, notice.reason

    if kind in (NoticeKind.PAUSED, NoticeKind.REACTIVATED) and reason is None:
        raise ValueError(f"a {kind.value} notice needs its pause reason: {notice.notice_id!r}")
    if kind is NoticeKind.GRACE_REMINDER and notice.hours_before not in REMINDER_HOURS:
        raise ValueError(f"a grace reminder is due {REMINDER_HOURS} hours before the grace end")
    if kind is NoticeKind.GRACE_REMINDER and account.grace_ends_at is None:
        raise ValueError(f"a grace reminder for an account without a grace period: {notice!r}")
    if kind is NoticeKind.CARD_EXPIRING and account.card is None:
        raise ValueError(f"a card notice for an account without a card: {notice!r}")

    grace_end = account.grace_ends_at
    if kind is NoticeKind.PAUSED and reason is PauseReason.NON_PAYMENT:
        # R10: the pause starts at the grace end; the notice's instant is that start.
        grace_end = grace_end or notice.at
    still_paused = (
        tuple(sorted(other.value for other in account.pauses if other is not reason))
        if kind is NoticeKind.REACTIVATED
        else ()
    )
    card = account.card
    return NoticeView(
        language=account.locale.value,
        kind=kind.value,
        reason=reason.value if reason else None,
        lifted_by=_lifted_by(notice, account) if kind is NoticeKind.REACTIVATED else None,
        still_paused=still_paused,
        business_name=account.business_name,
        billing_email=account.billing_email,
        sender=sender,
        at=local_moment(notice.at, timezone, locale, "at"),
        budget=format_money(account.monthly_budget, locale),
        spent=format_money(account.spent, locale),
        remaining=format_money(account.remaining, locale),
        past_due=format_money(account.past_due, locale),
        warning_percent=format_percent(Decimal(BUDGET_WARNING_PERCENT) / 100, locale=locale),
        full_percent=format_percent(1, locale=locale),
        period_start=local_date(account.period.start, timezone, locale, "period.start"),
        reset_date=local_date(account.period.end, timezone, locale, "period.end"),
        grace_end=local_moment(grace_end, timezone, locale, "grace_ends_at") if grace_end else None,
        hours_before=notice.hours_before,
        card=_card(card) if card else None,
        card_steps=_card_steps(notice, still_paused),
        tone=_tone(notice, still_paused),
        manager=account.account_manager,
        manager_tel=tel_uri(account.account_manager.phone),
    )


def _card(card: Card) -> CardView:
    return CardView(card_brand(card.brand), card.last4, f"{card.exp_month:02d}/{card.exp_year:04d}")


def _lifted_by(notice: Notice, account: Account) -> str:
    """Why the pause of a REACTIVATED notice lifted. A budget pause that started before
    the current budget period was lifted by that period's start; one that started in it,
    by a raised budget (R8)."""
    if notice.reason is PauseReason.NON_PAYMENT:
        return BALANCE_SETTLED
    since = notice.paused_since
    if since is None:
        return BUDGET_ABOVE_SPEND
    return NEW_PERIOD if since < account.period.start else BUDGET_RAISED


def _card_steps(notice: Notice, still_paused: tuple[str, ...]) -> bool:
    """The card update steps go with every email whose remedy is a card update."""
    return (
        notice.kind in (NoticeKind.GRACE_REMINDER, NoticeKind.CARD_EXPIRING)
        or (notice.kind is NoticeKind.PAUSED and notice.reason is PauseReason.NON_PAYMENT)
        or PauseReason.NON_PAYMENT.value in still_paused
    )


def _tone(notice: Notice, still_paused: tuple[str, ...]) -> str:
    if notice.kind is NoticeKind.REACTIVATED:
        return ALERT if still_paused else GOOD
    if notice.kind in (NoticeKind.PAUSED, NoticeKind.GRACE_REMINDER):
        return ALERT
    return WARNING
