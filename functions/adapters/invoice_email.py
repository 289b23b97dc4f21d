"""R5: the invoice email, rendered: subject, plain text, HTML, and the invoice as a PDF.

Pure code over the domain's values; sending is someone else's job. The email is in the
account's language and shows every lead with its date (in the account's timezone),
category and price, the total, how the invoice was paid or that the payment failed and
what to do about it (R9, R11), and the account manager's phone and email. It never shows
a fee: an invoice holds leads only (R1).

The words live in the templates, one file per language (``templates/invoice.<lang>.j2``,
macros that return plain text; the sentences the notices say too, such as the card update
steps, in ``templates/common.<lang>.j2``), and the layouts in one template per format
(``invoice_email.txt.j2``, ``invoice_email.html.j2``), so that both languages always show
the same facts; the PDF takes its words from the same macros. The macros are called here,
never from a layout: Jinja marks a macro's output safe when an autoescaping template
calls it, which would let a business name through the HTML unescaped. The layouts get
the sentences as plain strings, and the HTML layout escapes them like any other value.

Dates and amounts are formatted with Babel for ``en_US`` or ``es_US``; amounts go from
integer cents to ``Decimal``, never through a float.

Templates load from the directory beside this module (``FileSystemLoader``), which the
function assets carry (``infra/assets.py``); no package metadata is needed. What this email
shares with the notices (formats, templates, message parts) is in ``email_format``.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from functions.adapters.email_format import (
    BABEL_LOCALES,
    BRAND,
    NOT_SLUG,
    LocalMoment,
    add_text_and_html,
    as_smtp_bytes,
    card_brand,
    common_words,
    content_boundary,
    environment,
    format_money,
    local_moment,
    message_id,
    new_message,
    plain,
    require_aware,
    tel_uri,
    words,
)
from functions.adapters.invoice_pdf import InvoiceDocument, InvoiceRow, Tone, render_invoice_pdf
from functions.billing.account import Account, AccountManager
from functions.billing.invoices import AttemptOutcome, Card, Invoice, InvoiceStatus

# Stripe decline codes the email explains in words; any other code gets the general
# wording ("other"). The words themselves are in the language templates.
DECLINE_REASONS = {
    "card_declined": "card_declined",
    "generic_decline": "card_declined",
    "do_not_honor": "card_declined",
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "invalid_cvc": "incorrect_cvc",
    "processing_error": "processing_error",
}
NO_CARD = "no_card"
OTHER_DECLINE = "other"
UNCONFIRMED = "unconfirmed"  # Stripe's answer never came

_FAILED_OUTCOMES = frozenset(
    {AttemptOutcome.DECLINED, AttemptOutcome.NO_CARD, AttemptOutcome.UNKNOWN}
)


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """One invoice's email, ready to send; ``to_mime`` gives the raw message."""

    invoice_id: str
    issued_at: datetime
    language: str
    subject: str
    text: str
    html: str
    pdf: bytes
    pdf_filename: str

    def to_mime(self, to: str, sender: str, message_id_domain: str) -> bytes:
        """The message as sent: multipart/mixed of multipart/alternative (text, HTML) and
        the PDF attachment, with CRLF line endings.

        The Message-ID is derived from the invoice id and the Date is the invoice's issue
        instant, so a retried send is recognisable as the same message; the same rendering
        gives the same bytes.
        """
        message = new_message(
            sender=sender,
            to=to,
            subject=self.subject,
            sent_at=self.issued_at,
            message_id=invoice_message_id(self.invoice_id, message_id_domain),
        )
        add_text_and_html(message, self.text, self.html)
        message.add_attachment(
            self.pdf, maintype="application", subtype="pdf", filename=self.pdf_filename
        )
        boundary = content_boundary(
            "invoice", self.invoice_id, self.subject, self.text, self.html, self.pdf
        )
        message.set_boundary(f"{boundary}_mixed")
        alternative, _attachment = message.iter_parts()
        alternative.set_boundary(f"{boundary}_alternative")
        # Last: set_content and make_mixed move every Content-* header into the parts.
        message["Content-Language"] = self.language
        return as_smtp_bytes(message)


def invoice_message_id(invoice_id: str, domain: str) -> str:
    """The Message-ID of an invoice's email: the same for every send of that invoice.

    Readable (the invoice id's letters and digits) and unique (a hash of the whole id, as
    two ids may differ only in punctuation).
    """
    return message_id("invoice", invoice_id, domain)


# -- What the email shows, formatted for the reader --------------------------------------


@dataclass(frozen=True, slots=True)
class LineView:
    lead_id: str
    date: str  # date and time of delivery, in the account's timezone
    category: str
    amount: str


@dataclass(frozen=True, slots=True)
class PaymentView:
    state: Tone
    card_brand: str | None = None  # None: a card whose brand Stripe did not name
    card_last4: str | None = None
    paid_on: str | None = None
    failure: str | None = None  # DECLINE_REASONS' values, NO_CARD, OTHER_DECLINE, UNCONFIRMED
    by_credit: bool = False  # the account credit paid it all: no card was charged


@dataclass(frozen=True, slots=True)
class InvoiceView:
    language: str
    invoice_id: str
    business_name: str
    billing_email: str
    sender: str
    kind: str
    threshold: str
    issue_date: str
    lines: tuple[LineView, ...]
    total: str
    payment: PaymentView
    # The account credit taken off the total (lead credits), as a negative amount, and what
    # the card is charged; None and the total when no credit applies.
    credit_applied: str | None
    amount_due: str
    grace: LocalMoment | None  # the grace end (R9), after which the account is paused (R10)
    manager: AccountManager
    manager_tel: str  # the phone as a tel: link


def render_invoice_email(
    invoice: Invoice,
    account: Account,
    *,
    sender: str,
    grace_ends_at: datetime | None = None,
) -> RenderedEmail:
    """The email of ``invoice`` for ``account``'s billing address, in the account's language.

    ``sender`` is the address the email comes from; the footer asks the contractor to add
    it to their contacts. ``grace_ends_at`` is the end of the grace period running for the
    account (R9), shown when the payment failed; it defaults to the account's own.
    """
    if invoice.contractor_id != account.contractor_id:
        raise ValueError(
            f"invoice {invoice.invoice_id!r} belongs to {invoice.contractor_id!r}, "
            f"not to {account.contractor_id!r}"
        )
    sender_address = email.utils.parseaddr(sender)[1]
    if "@" not in sender_address:
        raise ValueError(f"not an email address: {sender!r}")
    require_aware("issued_at", invoice.issued_at)

    view = _view(invoice, account, sender_address, grace_ends_at or account.grace_ends_at)
    invoice_words, common = _words(view.language), common_words(view.language)
    labels = {key: plain(value) for key, value in {**common.labels, **invoice_words.labels}.items()}
    say = _sentences(view, invoice_words, common)
    context = {"view": view, "labels": labels, "say": say}
    text = environment().get_template("invoice_email.txt.j2").render(context)
    html = environment().get_template("invoice_email.html.j2").render(context)
    pdf = render_invoice_pdf(_document(view, labels, say, invoice.issued_at))
    slug = NOT_SLUG.sub("-", invoice.invoice_id).strip("-")
    return RenderedEmail(
        invoice_id=invoice.invoice_id,
        issued_at=invoice.issued_at,
        language=view.language,
        subject=say["subject"],
        text=text,
        html=html,
        pdf=pdf,
        pdf_filename=f"{BRAND}-{labels['file_name']}-{slug}.pdf",
    )


def _words(language: str) -> Any:
    """The macros and labels of one language's invoice template."""
    return words("invoice", language)


def _sentences(view: InvoiceView, invoice_words: Any, common: Any) -> dict[str, str]:
    """Every sentence the email and the PDF say, as plain text in the reader's language."""
    said = {
        # A paid invoice is named by its total; one still to pay, by what the card owes.
        "subject": invoice_words.subject(
            view.payment,
            view.invoice_id,
            view.total if view.payment.state is Tone.PAID else view.amount_due,
        ),
        "greeting": common.greeting(view.business_name),
        "intro": invoice_words.intro(view.kind, view.threshold),
        "kind_name": invoice_words.kind_name(view.kind, view.threshold),
        "payment_status": invoice_words.payment_status(view.payment, view.amount_due),
        "update_card": common.update_card(),
        "pro_app_steps": common.pro_app_steps(),
        "lead_manager_steps": common.lead_manager_steps(),
        "grace": invoice_words.grace(view.grace) if view.grace else "",
        "contact": common.contact(view.manager),
        "attachment_note": invoice_words.attachment_note(),
        "closing": common.closing(),
        "footer": invoice_words.footer(view.billing_email, view.sender),
    }
    return {key: plain(value) for key, value in said.items()}


def _view(
    invoice: Invoice, account: Account, sender: str, grace_ends_at: datetime | None
) -> InvoiceView:
    from babel.dates import format_date, format_time, get_datetime_format

    locale = BABEL_LOCALES[account.locale]
    zone = ZoneInfo(account.timezone)

    def local(instant: datetime, name: str) -> datetime:
        require_aware(name, instant)
        return instant.astimezone(zone)

    def date_and_time(instant: datetime) -> str:
        moment = local(instant, "delivered_at")
        pattern = str(get_datetime_format("medium", locale=locale))
        return pattern.replace("{1}", format_date(moment, "medium", locale=locale)).replace(
            "{0}", format_time(moment, "short", tzinfo=zone, locale=locale)
        )

    grace = None
    if grace_ends_at is not None:
        grace = local_moment(grace_ends_at, account.timezone, locale, "grace_ends_at")
    return InvoiceView(
        language=account.locale.value,
        invoice_id=invoice.invoice_id,
        business_name=account.business_name,
        billing_email=account.billing_email,
        sender=sender,
        kind=invoice.kind.value,
        threshold=format_money(account.threshold, locale),
        issue_date=format_date(local(invoice.issued_at, "issued_at"), "long", locale=locale),
        lines=tuple(
            LineView(
                lead_id=line.lead_id,
                date=date_and_time(line.delivered_at),
                category=line.category,
                amount=format_money(line.amount, locale),
            )
            # In the order the leads arrived, as the contractor remembers them.
            for line in sorted(invoice.lines, key=lambda line: (line.delivered_at, line.lead_id))
        ),
        total=format_money(invoice.total, locale),
        credit_applied=format_money(-invoice.credit_applied, locale)
        if invoice.credit_applied
        else None,
        amount_due=format_money(invoice.amount_due, locale),
        payment=_payment(invoice, lambda at: format_date(local(at, "at"), "long", locale=locale)),
        grace=grace,
        manager=account.account_manager,
        manager_tel=tel_uri(account.account_manager.phone),
    )


def _payment(invoice: Invoice, long_date: Any) -> PaymentView:
    """Paid (with which card), waiting for its charge, or failed (and why)."""
    succeeded = next(
        (attempt for attempt in invoice.attempts if attempt.outcome is AttemptOutcome.SUCCEEDED),
        None,
    )
    if succeeded is not None or invoice.status is InvoiceStatus.PAID:
        card: Card | None = invoice.paid_with
        return PaymentView(
            state=Tone.PAID,
            card_brand=card_brand(card.brand) if card else None,
            card_last4=card.last4 if card else None,
            paid_on=long_date(succeeded.at) if succeeded else None,
            by_credit=not invoice.amount_due,
        )
    last = invoice.attempts[-1] if invoice.attempts else None
    if invoice.status is InvoiceStatus.PAST_DUE or (last and last.outcome in _FAILED_OUTCOMES):
        return PaymentView(state=Tone.FAILED, failure=_failure(invoice))
    return PaymentView(state=Tone.OPEN)


def _failure(invoice: Invoice) -> str:
    """Why the latest refused attempt failed; UNKNOWN answers only when nothing was refused."""
    for attempt in reversed(invoice.attempts):
        if attempt.outcome is AttemptOutcome.NO_CARD:
            return NO_CARD
        if attempt.outcome is AttemptOutcome.DECLINED:
            code = (attempt.decline_code or "").strip().lower()
            return DECLINE_REASONS.get(code, OTHER_DECLINE)
    if any(attempt.outcome is AttemptOutcome.UNKNOWN for attempt in invoice.attempts):
        return UNCONFIRMED
    return OTHER_DECLINE


def _document(
    view: InvoiceView, labels: dict[str, str], say: dict[str, str], issued_at: datetime
) -> InvoiceDocument:
    """The PDF's content: the email's facts, in the email's words."""
    failed = view.payment.state is Tone.FAILED
    steps: tuple[str, ...] = ()
    if failed:
        steps = (say["update_card"], say["pro_app_steps"], say["lead_manager_steps"])
        steps += (say["grace"],) if say["grace"] else ()
    manager = view.manager
    return InvoiceDocument(
        language=view.language,
        brand=BRAND,
        title=labels["invoice"],
        invoice_id=view.invoice_id,
        issued_at=issued_at,
        business_name=view.business_name,
        billed_to_label=labels["billed_to"],
        billed_to=(view.billing_email,),
        details=(
            (labels["invoice_number"], view.invoice_id),
            (labels["issue_date"], view.issue_date),
            (labels["invoice_type"], say["kind_name"]),
            (labels["status"], labels["status_" + view.payment.state.value]),
        ),
        columns=(labels["date"], labels["category"], labels["lead_id"], labels["amount"]),
        rows=tuple(
            InvoiceRow(line.date, line.category, line.lead_id, line.amount) for line in view.lines
        ),
        total_label=labels["total"],
        total=view.total,
        adjustments=(
            (
                (labels["credit_applied"], view.credit_applied),
                (labels["amount_due"], view.amount_due),
            )
            if view.credit_applied
            else ()
        ),
        payment_heading=labels["payment"],
        payment_tone=view.payment.state,
        payment=(say["payment_status"],),
        steps_heading=labels["what_to_do"] if failed else None,
        steps=steps,
        contact_heading=labels["account_manager"],
        contact=(
            manager.name,
            f"{labels['phone']}: {manager.phone}",
            f"{labels['email']}: {manager.email}",
        ),
        page_label=labels["page"],
    )
