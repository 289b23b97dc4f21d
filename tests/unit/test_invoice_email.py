"""R5: the invoice email, in the account's language, with its PDF; R1: nothing but leads.

Expected texts are written out here, not computed with Babel: amounts as US dollars the way
both en_US and es_US write them, dates as the contractor reads them in Chicago.
"""

from __future__ import annotations

import ast
import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from functions.adapters.invoice_email import (
    RenderedEmail,
    _words,
    invoice_message_id,
    render_invoice_email,
)
from functions.billing.account import Account, AccountManager, open_account
from functions.billing.invoices import (
    AttemptOutcome,
    Card,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    PaymentAttempt,
    record_attempt,
    threshold_invoice_id,
    weekly_invoice_id,
)
from functions.billing.money import Money

CHICAGO = "America/Chicago"
CONTRACTOR = "contractor-7"
SENDER = "CraftJack Billing <billing@craftjack.com>"
MANAGER = AccountManager(name="Ana López", phone="(312) 555-0147", email="ana.lopez@craftjack.com")
VISA = Card("pm_visa", "visa", "4242", 12, 2030)
ISSUED_AT = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)  # Friday, 6:00 AM in Chicago
WEEKLY_ID = weekly_invoice_id(CONTRACTOR, date(2024, 3, 8))

# (lead id, delivered at, category, cents) and how each reads, per language.
LINES = (
    ("L1", datetime(2024, 3, 6, 3, 30, tzinfo=UTC), "Roofing", 4_500),  # Mar 5 in Chicago
    ("L2", datetime(2024, 3, 7, 15, 5, tzinfo=UTC), "Kitchen remodel", 123_456),
    ("L3", datetime(2024, 3, 8, 0, 0, tzinfo=UTC), "Plumbing", 99),  # Mar 7 in Chicago
)
LINE_DATES = {
    "en": ("Mar 5, 2024, 9:30 PM", "Mar 7, 2024, 9:05 AM", "Mar 7, 2024, 6:00 PM"),
    "es": ("5 mar 2024, 9:30 p.m.", "7 mar 2024, 9:05 a.m.", "7 mar 2024, 6:00 p.m."),
}
LINE_AMOUNTS = ("$45.00", "$1,234.56", "$0.99")
TOTAL = "$1,280.55"
ISSUE_DATE = {"en": "March 8, 2024", "es": "8 de marzo de 2024"}
LANGUAGES = ("en", "es")


# -- Builders and readers -----------------------------------------------------------------


def make_account(language: str = "en", **changes: Any) -> Account:
    account = open_account(
        contractor_id=CONTRACTOR,
        business_name="Rivera Roofing",
        billing_email="billing@rivera-roofing.example",
        locale=language,
        timezone=CHICAGO,
        signed_up_at=datetime(2024, 1, 15, 16, tzinfo=UTC),
        monthly_budget=Money(500_000),
        account_manager=MANAGER,
    )
    return replace(account, **changes) if changes else account


def make_invoice(
    lines: tuple[tuple[str, datetime, str, int], ...] = LINES,
    *,
    kind: InvoiceKind = InvoiceKind.WEEKLY,
    invoice_id: str = WEEKLY_ID,
) -> Invoice:
    return Invoice(
        invoice_id=invoice_id,
        contractor_id=CONTRACTOR,
        kind=kind,
        issued_at=ISSUED_AT,
        lines=tuple(
            InvoiceLine(lead_id, delivered_at, category, Money(cents))
            for lead_id, delivered_at, category, cents in lines
        ),
    )


def attempt(
    invoice: Invoice,
    outcome: AttemptOutcome,
    *,
    decline_code: str | None = None,
    card: Card | None = VISA,
    at: datetime = datetime(2024, 3, 8, 12, 1, tzinfo=UTC),
) -> Invoice:
    return record_attempt(
        invoice,
        PaymentAttempt(
            number=invoice.next_attempt_number,
            at=at,
            outcome=outcome,
            payment_intent_id=f"pi_{invoice.next_attempt_number}",
            decline_code=decline_code,
            card=card if outcome is not AttemptOutcome.NO_CARD else None,
        ),
    )


def render(
    invoice: Invoice | None = None,
    account: Account | None = None,
    *,
    language: str = "en",
    grace_ends_at: datetime | None = None,
) -> RenderedEmail:
    return render_invoice_email(
        invoice or make_invoice(),
        account or make_account(language),
        sender=SENDER,
        grace_ends_at=grace_ends_at,
    )


def norm(text: str) -> str:
    """Whitespace of any kind (line breaks, Babel's narrow no-break space) as one space."""
    return " ".join(text.split())


def visible(html: str) -> str:
    """What an HTML part says, without its markup."""
    return norm(unescape(re.sub(r"<[^>]+>", " ", html)))


def pdf_text(pdf: bytes) -> str:
    return norm("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def all_parts(rendered: RenderedEmail) -> dict[str, str]:
    return {
        "text": norm(rendered.text),
        "html": visible(rendered.html),
        "pdf": pdf_text(rendered.pdf),
    }


def usd(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


# -- R5: what the email says ----------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_r5_every_lead_shows_its_local_date_category_and_price_and_the_total(
    language: str,
) -> None:
    rendered = render(language=language)

    for name, part in all_parts(rendered).items():
        for (lead_id, _, category, _), when, amount in zip(
            LINES, LINE_DATES[language], LINE_AMOUNTS, strict=True
        ):
            assert norm(when) in part, (name, when)
            assert category in part, (name, category)
            assert lead_id in part, (name, lead_id)
            assert amount in part, (name, amount)
        assert f"Total {TOTAL}" in part.replace("Total:", "Total"), name
        assert ISSUE_DATE[language] in part, name
        assert WEEKLY_ID in part, name


def test_r5_lines_are_listed_in_the_order_the_leads_arrived() -> None:
    shuffled = make_invoice((LINES[2], LINES[0], LINES[1]))

    text = norm(render(shuffled).text)

    positions = [text.index(norm(when)) for when in LINE_DATES["en"]]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", f"CraftJack invoice {WEEKLY_ID}: {TOTAL}, paid"),
        ("es", f"Factura de CraftJack {WEEKLY_ID}: {TOTAL}, pagada"),
    ],
)
def test_r5_the_subject_names_the_invoice_and_its_total(language: str, expected: str) -> None:
    rendered = render(attempt(make_invoice(), AttemptOutcome.SUCCEEDED), language=language)

    assert rendered.subject == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", f"Payment failed: CraftJack invoice {WEEKLY_ID} ({TOTAL})"),
        ("es", f"Pago no realizado: factura de CraftJack {WEEKLY_ID} ({TOTAL})"),
    ],
)
def test_r5_the_subject_says_when_the_payment_failed(language: str, expected: str) -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.DECLINED, decline_code="expired_card")

    assert render(invoice, language=language).subject == expected


@pytest.mark.parametrize(
    ("language", "greeting", "weekly"),
    [
        ("en", "Hello Rivera Roofing,", "This is your weekly invoice"),
        ("es", "Hola, Rivera Roofing:", "Esta es su factura semanal"),
    ],
)
def test_r5_a_weekly_invoice_greets_the_business_and_says_it_is_weekly(
    language: str, greeting: str, weekly: str
) -> None:
    parts = all_parts(render(language=language))

    for name in ("text", "html"):
        assert greeting in parts[name], name
        assert weekly in parts[name], name


@pytest.mark.parametrize(
    ("language", "explained"),
    [
        ("en", "because your unbilled leads reached $150.00"),
        ("es", "porque sus clientes potenciales sin facturar alcanzaron $150.00"),
    ],
)
def test_r4_r5_a_threshold_invoice_explains_it_with_the_accounts_own_threshold(
    language: str, explained: str
) -> None:
    invoice = make_invoice(
        kind=InvoiceKind.THRESHOLD, invoice_id=threshold_invoice_id(CONTRACTOR, 3)
    )
    account = make_account(language, threshold=Money(15_000))

    parts = all_parts(render(invoice, account))

    assert explained in parts["text"]
    assert explained in parts["html"]
    assert "$150.00" in parts["pdf"]
    assert "weekly invoice" not in parts["text"]


@pytest.mark.parametrize(
    ("language", "paid"),
    [
        ("en", "Paid with Visa ending in 4242 on March 8, 2024"),
        ("es", "Pagado con Visa terminada en 4242 el 8 de marzo de 2024"),
    ],
)
def test_r5_a_paid_invoice_shows_the_card_brand_and_last_four(language: str, paid: str) -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.SUCCEEDED)

    for name, part in all_parts(render(invoice, language=language)).items():
        assert paid in part, name
        assert "4242" in part, name


def test_r5_the_card_brand_reads_as_printed_on_the_card() -> None:
    amex = Card("pm_amex", "amex", "0005", 1, 2031)
    invoice = attempt(make_invoice(), AttemptOutcome.SUCCEEDED, card=amex)

    assert "Paid with American Express ending in 0005" in norm(render(invoice).text)


def test_r5_a_later_failure_notice_does_not_turn_a_paid_invoice_into_a_failed_one() -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.SUCCEEDED)
    invoice = attempt(invoice, AttemptOutcome.DECLINED, decline_code="card_declined")

    text = norm(render(invoice).text)

    assert "Paid with Visa ending in 4242" in text
    assert "payment failed" not in text.lower()


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", f"The total of {TOTAL} will be charged to your card on file."),
        ("es", f"El total de {TOTAL} se cobrará a su tarjeta registrada."),
    ],
)
def test_r5_an_invoice_not_yet_charged_says_the_card_on_file_will_be_charged(
    language: str, expected: str
) -> None:
    parts = all_parts(render(language=language))

    for name, part in parts.items():
        assert expected in part, name
    assert "Lead Manager" not in parts["text"]


FAILURES = {
    "en": {
        "card_declined": "because your bank declined the card",
        "insufficient_funds": "because the card has insufficient funds",
        "expired_card": "because the card has expired",
        "incorrect_cvc": "because the card's security code (CVC) was incorrect",
        "processing_error": "because an error occurred while processing the card",
        "fraudulent": "because your card's bank did not approve the charge",
        None: "because your card's bank did not approve the charge",
    },
    "es": {
        "card_declined": "porque su banco rechazó la tarjeta",
        "insufficient_funds": "porque la tarjeta no tiene fondos suficientes",
        "expired_card": "porque la tarjeta está vencida",
        "incorrect_cvc": "porque el código de seguridad (CVC) de la tarjeta es incorrecto",
        "processing_error": "porque ocurrió un error al procesar la tarjeta",
        "fraudulent": "porque el banco de su tarjeta no aprobó el cargo",
        None: "porque el banco de su tarjeta no aprobó el cargo",
    },
}
FAILED = {"en": "The payment failed", "es": "El pago no se realizó"}
WHAT_TO_DO = {
    "en": (
        "Update your card and the system automatically charges what is past due.",
        'In the Pro App: go to "My account" > "Billing information"',
        'In the Lead Manager: sign in, click "Billing information"',
    ),
    "es": (
        "Actualice su tarjeta y nuestro sistema cobrará automáticamente lo vencido.",
        'En la aplicación Pro App: vaya a "Mi cuenta" > "Información de facturación"',
        "En el Administrador de Prospectos (Lead Manager): inicie sesión, "
        'haga clic en "Información de facturación"',
    ),
}


@pytest.mark.parametrize(
    ("language", "decline_code"),
    [(language, code) for language in LANGUAGES for code in FAILURES[language]],
)
def test_r5_a_declined_payment_says_why_in_plain_words_and_what_to_do(
    language: str, decline_code: str | None
) -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.DECLINED, decline_code=decline_code)

    for name, part in all_parts(render(invoice, language=language)).items():
        assert FAILED[language] in part, name
        assert FAILURES[language][decline_code] in part, name
        for step in WHAT_TO_DO[language]:
            assert step in part, (name, step)
        assert "Paid with" not in part and "Pagado con" not in part


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "because there is no card on file for your account"),
        ("es", "porque no hay una tarjeta registrada en su cuenta"),
    ],
)
def test_r5_no_card_on_file_says_so(language: str, expected: str) -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.NO_CARD)

    text = norm(render(invoice, language=language).text)

    assert expected in text
    assert WHAT_TO_DO[language][1] in text


def test_r5_an_unanswered_charge_is_shown_as_failed_without_inventing_a_decline() -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.UNKNOWN)

    text = norm(render(invoice).text)

    assert "The payment failed" in text
    assert "we could not get a confirmation of the charge from your card's bank" in text
    assert "declined" not in text


def test_r5_the_reason_is_the_latest_refusal_even_when_a_retry_went_unanswered() -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.DECLINED, decline_code="insufficient_funds")
    invoice = attempt(invoice, AttemptOutcome.UNKNOWN)

    assert "because the card has insufficient funds" in norm(render(invoice).text)


@pytest.mark.parametrize(
    ("language", "grace_ends_at", "expected"),
    [
        (
            "en",
            datetime(2024, 3, 15, 18, 1, tzinfo=UTC),
            "You will keep receiving leads until March 15, 2024 at 1:01 PM CDT. "
            "If the balance is still past due then, your account will be paused",
        ),
        (
            "es",
            datetime(2024, 3, 15, 18, 1, tzinfo=UTC),
            "Seguirá recibiendo clientes potenciales hasta el 15 de marzo de 2024 a la 1:01 p.m. "
            "(CDT). Si para entonces el saldo sigue vencido, su cuenta se pausará",
        ),
        (
            "es",
            datetime(2024, 3, 15, 19, 30, tzinfo=UTC),
            "hasta el 15 de marzo de 2024 a las 2:30 p.m. (CDT)",
        ),
    ],
)
def test_r9_r10_a_failed_payment_shows_when_the_grace_period_ends_and_the_pause_that_follows(
    language: str, grace_ends_at: datetime, expected: str
) -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.DECLINED, decline_code="expired_card")

    parts = all_parts(render(invoice, language=language, grace_ends_at=grace_ends_at))

    for name, part in parts.items():
        assert norm(expected) in part, name


def test_r9_the_grace_end_defaults_to_the_accounts_own() -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.DECLINED, decline_code="expired_card")
    account = make_account(grace_ends_at=datetime(2024, 3, 15, 18, 1, tzinfo=UTC))

    assert "until March 15, 2024 at 1:01 PM CDT" in norm(render(invoice, account).text)


def test_r9_without_a_grace_period_the_email_promises_no_leads_until_a_date() -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.DECLINED, decline_code="expired_card")

    for name, part in all_parts(render(invoice)).items():
        assert "keep receiving leads" not in part, name


@pytest.mark.parametrize("language", LANGUAGES)
def test_r5_the_account_manager_name_phone_and_email_are_shown(language: str) -> None:
    rendered = render(language=language)

    for name, part in all_parts(rendered).items():
        assert MANAGER.name in part, name
        assert MANAGER.phone in part, name
        assert MANAGER.email in part, name
    assert 'href="tel:+13125550147"' in rendered.html
    assert f'href="mailto:{MANAGER.email}"' in rendered.html


def test_r5_spanish_speaks_the_help_articles_words_and_no_english() -> None:
    invoice = attempt(make_invoice(), AttemptOutcome.DECLINED, decline_code="expired_card")
    grace_ends_at = datetime(2024, 3, 15, 18, 1, tzinfo=UTC)

    parts = all_parts(render(invoice, language="es", grace_ends_at=grace_ends_at))

    for name, part in parts.items():
        for words in (
            "clientes potenciales",
            "Administrador de Prospectos (Lead Manager)",
            "aplicación Pro App",
            '"Mi cuenta" > "Información de facturación"',
            "gerente de cuenta",
        ):
            assert words in part, (name, words)
        for english in ("Invoice", "Payment", "Paid", "Phone", "Lead ID", "Billing information"):
            assert english not in part, (name, english)


# -- R1: nothing but leads ------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(InvoiceKind))
def test_r1_every_amount_shown_is_a_lead_price_the_total_or_the_threshold(
    language: str, kind: InvoiceKind
) -> None:
    rendered = render(make_invoice(kind=kind), language=language)
    allowed = {*LINE_AMOUNTS, TOTAL, "$200.00"}

    for name, part in all_parts(rendered).items():
        shown = re.findall(r"\$[0-9][0-9,]*\.[0-9]{2}", part)
        assert set(shown) <= allowed, name
        assert set(LINE_AMOUNTS) <= set(shown), name
    rows = re.findall(r"<tr>\s*<td valign=\"top\"", rendered.html)
    assert len(rows) == len(LINES)


# -- Escaping and fonts ---------------------------------------------------------------------


def test_the_html_part_escapes_what_the_contractor_typed() -> None:
    account = replace(make_account(), business_name='<script>alert("x")</script> & Sons')
    invoice = make_invoice(
        (("<b>L9</b>", datetime(2024, 3, 6, 15, tzinfo=UTC), "<img src=x>", 4_500),)
    )

    rendered = render(invoice, account)

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Sons" in rendered.html
    assert "<img src=x>" not in rendered.html
    assert "&lt;img src=x&gt;" in rendered.html
    assert "<b>L9</b>" not in rendered.html
    assert 'Hello <script>alert("x")</script> & Sons,' in rendered.text


def test_the_pdf_shows_text_outside_latin_1_with_stand_ins_instead_of_failing() -> None:
    account = replace(make_account(), business_name="“Dvořák” Roofing… \U0001f528")

    text = pdf_text(render(make_invoice(), account).pdf)

    assert '"Dvorák" Roofing... ?' in text


# -- The PDF ----------------------------------------------------------------------------------


def test_r5_the_pdf_is_the_same_bytes_for_the_same_invoice_and_dated_when_issued() -> None:
    first, second = render().pdf, render().pdf

    assert first == second
    assert PdfReader(io.BytesIO(first)).metadata.creation_date == ISSUED_AT


@pytest.mark.parametrize(
    ("language", "filename"),
    [
        ("en", "CraftJack-invoice-contractor-7-W2024-03-08.pdf"),
        ("es", "CraftJack-factura-contractor-7-W2024-03-08.pdf"),
    ],
)
def test_r5_the_pdf_file_is_named_after_the_invoice(language: str, filename: str) -> None:
    assert render(language=language).pdf_filename == filename


# -- The message ----------------------------------------------------------------------------


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize("language", LANGUAGES)
def test_r5_the_message_has_text_html_and_the_pdf_attached(language: str) -> None:
    rendered = render(language=language)

    message = parse(rendered.to_mime("billing@rivera-roofing.example", SENDER, "craftjack.com"))

    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]
    assert message["To"] == "billing@rivera-roofing.example"
    assert message["From"] == SENDER
    assert message["Subject"] == rendered.subject
    assert message["Content-Language"] == language
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n") == rendered.html
    (attachment,) = message.iter_attachments()
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == rendered.pdf_filename
    assert attachment.get_content() == rendered.pdf


def test_r5_a_resent_invoice_email_carries_the_same_message_id_and_date() -> None:
    def message_id(invoice: Invoice) -> str:
        raw = render(invoice).to_mime("a@example.com", SENDER, "craftjack.com")
        # A long Message-ID is folded onto its own line; the id is what follows the space.
        return str(parse(raw)["Message-ID"]).strip()

    first = message_id(make_invoice())
    paid_later = message_id(attempt(make_invoice(), AttemptOutcome.SUCCEEDED))
    other = message_id(make_invoice(invoice_id=threshold_invoice_id(CONTRACTOR, 1)))

    assert first == paid_later != other
    assert first == invoice_message_id(WEEKLY_ID, "craftjack.com")
    assert re.fullmatch(r"<invoice\.contractor-7-W2024-03-08\.[0-9a-f]{16}@craftjack\.com>", first)
    date = parse(render().to_mime("a@example.com", SENDER, "craftjack.com"))["Date"]
    assert parsedate_to_datetime(date) == ISSUED_AT


def test_the_same_email_is_the_same_bytes() -> None:
    rendered = render()

    assert rendered.to_mime("a@example.com", SENDER, "craftjack.com") == render().to_mime(
        "a@example.com", SENDER, "craftjack.com"
    )


def test_invoice_ids_differing_only_in_punctuation_get_different_message_ids() -> None:
    assert invoice_message_id("c-1/W2024", "craftjack.com") != invoice_message_id(
        "c-1-W2024", "craftjack.com"
    )


@pytest.mark.parametrize("domain", ["", "craftjack.com>", "a b.com", "x@craftjack.com"])
def test_a_message_id_domain_that_is_not_a_domain_is_refused(domain: str) -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        invoice_message_id(WEEKLY_ID, domain)


def test_an_invoice_of_another_contractor_is_refused() -> None:
    with pytest.raises(ValueError, match="belongs to"):
        render(account=replace(make_account(), contractor_id="contractor-8"))


# -- The total, for any invoice ----------------------------------------------------------------


@settings(max_examples=40)
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=100_000), min_size=1, max_size=40),
    language=st.sampled_from(LANGUAGES),
)
def test_r5_the_total_in_text_html_and_pdf_is_the_sum_of_the_lines(
    amounts: list[int], language: str
) -> None:
    lines = tuple(
        (f"L{index}", datetime(2024, 3, 6, index % 24, tzinfo=UTC), "Roofing", cents)
        for index, cents in enumerate(amounts)
    )

    parts = all_parts(render(make_invoice(lines), language=language))

    expected = f"Total {usd(sum(amounts))}"
    assert expected in parts["text"].replace("Total:", "Total")
    assert expected in parts["html"]
    assert expected in parts["pdf"]


# -- Languages and layers ---------------------------------------------------------------------


def test_both_languages_define_the_same_words() -> None:
    english, spanish = _words("en"), _words("es")

    def names(module: object) -> set[str]:
        return {name for name in dir(module) if not name.startswith("_")}

    assert names(english) == names(spanish)
    assert english.labels.keys() == spanish.labels.keys()
    assert english.failure_reasons.keys() == spanish.failure_reasons.keys()


def test_the_billing_domain_imports_no_rendering_library() -> None:
    billing = Path(__file__).resolve().parents[2] / "functions" / "billing"
    imported = set()
    for module in billing.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])

    assert not imported & {"jinja2", "babel", "fpdf", "markupsafe"}
