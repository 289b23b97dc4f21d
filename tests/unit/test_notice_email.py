"""R14: the notice emails (paused, reactivated, 75 % of the budget, grace reminders, card
expiring), in the account's language, with its amounts and its local times.

Expected texts are written out here, not computed with Babel: amounts as US dollars the way
both en_US and es_US write them, dates and hours as the contractor reads them on their own
clock.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html import unescape
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.adapters.email_format import common_words
from functions.adapters.invoice_email import render_invoice_email
from functions.adapters.mailer import SesMailer
from functions.adapters.notice_email import (
    RenderedNotice,
    _words,
    notice_message_id,
    render_notice,
)
from functions.billing.account import Account, AccountManager, PauseReason, open_account
from functions.billing.budget import budget_period_at
from functions.billing.invoices import (
    AttemptOutcome,
    Card,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    PaymentAttempt,
    record_attempt,
)
from functions.billing.money import Money
from functions.billing.notices import Notice, NoticeKind, paused_notice, reactivated_notice
from tests.unit.support import CHICAGO, LOS_ANGELES, at_local, at_utc

NEW_YORK = "America/New_York"
CONTRACTOR = "contractor-7"
SENDER = "CraftJack Billing <billing@craftjack.com>"
MANAGER = AccountManager(name="Ana López", phone="(312) 555-0147", email="ana.lopez@craftjack.com")
VISA = Card("pm_visa", "visa", "4242", 3, 2024)
SIGNED_UP_AT = at_utc(2024, 1, 15, 16)  # the 15th in Chicago: periods run 15th to 15th
LANGUAGES = ("en", "es")

# Friday 8 March 2024, 6:00 AM in Chicago (CST): inside the period Feb 15 - Mar 15.
PAUSED_AT = at_utc(2024, 3, 8, 12)
# Friday 15 March 2024, 1:01 PM in Chicago: CDT since the 10th.
GRACE_END = at_utc(2024, 3, 15, 18, 1)
REMINDED_AT = GRACE_END - timedelta(hours=72)
WARNED_AT = at_utc(2024, 3, 1, 15)  # inside the period Feb 15 - Mar 15

CARD_STEPS = {
    "en": (
        'In the Pro App: go to "My account" > "Billing information" and tap the card on file '
        "to update it.",
        'In the Lead Manager: sign in, click "Billing information" and update your card there.',
    ),
    "es": (
        'En la aplicación Pro App: vaya a "Mi cuenta" > "Información de facturación" y toque '
        "la tarjeta registrada para actualizarla.",
        "En el Administrador de Prospectos (Lead Manager): inicie sesión, haga clic en "
        '"Información de facturación" y actualice allí su tarjeta.',
    ),
}
UPDATE_CARD = {
    "en": "Update your card and the system automatically charges what is past due.",
    "es": "Actualice su tarjeta y nuestro sistema cobrará automáticamente lo vencido.",
}
RAISE_BUDGET = {
    "en": "raise your monthly budget in the Pro App or the Lead Manager",
    "es": "aumente su presupuesto mensual en la aplicación Pro App o en el Administrador de "
    "Prospectos (Lead Manager)",
}
LEADS_AGAIN = {"en": "You receive leads again.", "es": "Vuelve a recibir clientes potenciales."}


# -- Builders and readers -----------------------------------------------------------------


def make_account(
    language: str = "en",
    *,
    timezone: str = CHICAGO,
    at: datetime = PAUSED_AT,
    budget: int = 200_000,
    spent: int = 0,
    **changes: Any,
) -> Account:
    """An account in the budget period holding ``at``, with ``changes`` applied."""
    account = open_account(
        contractor_id=CONTRACTOR,
        business_name="Rivera Roofing",
        billing_email="billing@rivera-roofing.example",
        locale=language,
        timezone=timezone,
        signed_up_at=SIGNED_UP_AT,
        monthly_budget=Money(budget),
        account_manager=MANAGER,
    )
    pauses = changes.pop("pauses", {})
    account = replace(
        account,
        period=budget_period_at(at, SIGNED_UP_AT, timezone),
        spent=Money(spent),
        **changes,
    )
    return account.with_pauses(pauses)


def budget_paused(language: str = "en", **changes: Any) -> Account:
    return make_account(
        language,
        spent=200_000,
        pauses={PauseReason.BUDGET: PAUSED_AT},
        **changes,
    )


def unpaid(language: str = "en", **changes: Any) -> Account:
    """Past due, its grace period ending at GRACE_END."""
    fields: dict[str, Any] = {
        "past_due": Money(12_345),
        "first_failure_at": at_utc(2024, 3, 8, 18, 1),
        "grace_ends_at": GRACE_END,
        "spent": 50_000,
        **changes,
    }
    return make_account(language, **fields)


def render(notice: Notice, account: Account) -> RenderedNotice:
    return render_notice(notice, account, sender=SENDER)


def norm(text: str) -> str:
    """Whitespace of any kind (line breaks, Babel's narrow no-break space) as one space."""
    return " ".join(text.split())


def visible(html: str) -> str:
    """What an HTML part says, without its markup."""
    return norm(unescape(re.sub(r"<[^>]+>", " ", html)))


def parts(rendered: RenderedNotice) -> dict[str, str]:
    return {"text": norm(rendered.text), "html": visible(rendered.html)}


def assert_says(rendered: RenderedNotice, *sentences: str) -> None:
    for name, part in parts(rendered).items():
        for sentence in sentences:
            assert norm(sentence) in part, (name, sentence)


def assert_never_says(rendered: RenderedNotice, *sentences: str) -> None:
    for name, part in parts(rendered).items():
        for sentence in sentences:
            assert norm(sentence) not in part, (name, sentence)


def usd(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def grace_reminder(hours: int = 72, at: datetime = REMINDED_AT) -> Notice:
    return Notice(
        NoticeKind.GRACE_REMINDER,
        CONTRACTOR,
        f"grace-reminder-{hours}h~20240308T180100Z",
        at,
        hours_before=hours,
    )


def budget_75(at: datetime = WARNED_AT) -> Notice:
    return Notice(NoticeKind.BUDGET_75, CONTRACTOR, "budget75~20240215T060000Z", at)


def card_expiring(at: datetime = WARNED_AT) -> Notice:
    return Notice(NoticeKind.CARD_EXPIRING, CONTRACTOR, "card-expiring~pm_visa~2024-03", at)


# -- PAUSED: the budget is reached (R8) -----------------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "sentences"),
    [
        (
            "en",
            "Your CraftJack account is paused: 100% of your monthly budget reached",
            (
                "Your account is paused: you reached 100% of your monthly budget.",
                "You have spent $2,000.00 of your monthly budget of $2,000.00, so your account "
                "has been paused since March 8, 2024 at 6:00 AM CST and receives no new leads.",
                "Leads resume automatically when your budget resets on March 15, 2024.",
            ),
        ),
        (
            "es",
            "Su cuenta de CraftJack está en pausa: alcanzó el 100% de su presupuesto mensual",
            (
                "Su cuenta está en pausa: alcanzó el 100% de su presupuesto mensual.",
                "Ha gastado $2,000.00 de su presupuesto mensual de $2,000.00, por lo que su "
                "cuenta está en pausa desde el 8 de marzo de 2024 a las 6:00 a.m. (CST) y no "
                "recibe clientes potenciales nuevos.",
                "Los clientes potenciales se reanudarán automáticamente cuando su presupuesto se "
                "restablezca el 15 de marzo de 2024.",
            ),
        ),
    ],
)
def test_r8_r14_a_budget_pause_says_what_was_spent_since_when_and_when_leads_resume(
    language: str, subject: str, sentences: tuple[str, ...]
) -> None:
    notice = paused_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT)

    rendered = render(notice, budget_paused(language))

    assert rendered.subject == subject
    assert_says(rendered, *sentences, RAISE_BUDGET[language])
    # The remedy is the budget, not the card.
    assert_never_says(rendered, *CARD_STEPS[language], UPDATE_CARD[language])


def test_r7_the_reset_date_is_the_next_period_start_on_the_accounts_own_calendar() -> None:
    # Signed up on Jan 31 in Los Angeles: in February the period starts on the 29th (leap
    # year), and the pause on Feb 10 resets on Feb 29, read in Los Angeles.
    signed_up_at = at_local(LOS_ANGELES, 2024, 1, 31, 9)
    at = at_local(LOS_ANGELES, 2024, 2, 10, 8)
    account = replace(
        budget_paused(timezone=LOS_ANGELES),
        signed_up_at=signed_up_at,
        period=budget_period_at(at, signed_up_at, LOS_ANGELES),
    ).with_pauses({PauseReason.BUDGET: at})

    rendered = render(paused_notice(CONTRACTOR, PauseReason.BUDGET, at), account)

    assert_says(
        rendered,
        "paused since February 10, 2024 at 8:00 AM PST",
        "when your budget resets on February 29, 2024.",
    )


# -- PAUSED: the grace period ended unpaid (R10) ----------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "sentences"),
    [
        (
            "en",
            "Your CraftJack account is paused: $123.45 past due",
            (
                "Your account is paused for non-payment.",
                "The grace period to pay your past-due balance ended on March 15, 2024 at "
                "1:01 PM CDT, and $123.45 is still past due, so your account is paused and "
                "receives no new leads.",
                "As soon as $123.45 is paid, your account receives leads again.",
            ),
        ),
        (
            "es",
            "Su cuenta de CraftJack está en pausa por un saldo vencido de $123.45",
            (
                "Su cuenta está en pausa por falta de pago.",
                "El período de gracia para pagar su saldo vencido terminó el 15 de marzo de 2024 "
                "a la 1:01 p.m. (CDT) y todavía debe $123.45, por lo que su cuenta está en pausa",
                "En cuanto se cobre lo vencido, su cuenta volverá a recibir clientes potenciales.",
            ),
        ),
    ],
)
def test_r10_r14_a_non_payment_pause_says_what_is_past_due_and_how_to_update_the_card(
    language: str, subject: str, sentences: tuple[str, ...]
) -> None:
    notice = paused_notice(CONTRACTOR, PauseReason.NON_PAYMENT, GRACE_END)
    account = unpaid(language, pauses={PauseReason.NON_PAYMENT: GRACE_END})

    rendered = render(notice, account)

    assert rendered.subject == subject
    assert_says(rendered, *sentences, UPDATE_CARD[language], *CARD_STEPS[language])
    assert_never_says(rendered, RAISE_BUDGET[language])


def test_r10_without_a_stored_grace_end_the_pause_start_is_the_grace_end() -> None:
    notice = paused_notice(CONTRACTOR, PauseReason.NON_PAYMENT, GRACE_END)
    account = unpaid(grace_ends_at=None, pauses={PauseReason.NON_PAYMENT: GRACE_END})

    assert_says(render(notice, account), "ended on March 15, 2024 at 1:01 PM CDT")


# -- Local times --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "language", "expected"),
    [
        (LOS_ANGELES, "en", "Your grace period ends on November 5, 2024 at 9:00 AM PST"),
        (NEW_YORK, "en", "Your grace period ends on November 5, 2024 at 12:00 PM EST"),
        (
            LOS_ANGELES,
            "es",
            "Su período de gracia termina el 5 de noviembre de 2024 a las 9:00 a.m. (PST)",
        ),
        (
            NEW_YORK,
            "es",
            "Su período de gracia termina el 5 de noviembre de 2024 a las 12:00 p.m. (EST)",
        ),
    ],
)
def test_r14_the_grace_end_is_read_on_the_contractors_own_clock(
    timezone: str, language: str, expected: str
) -> None:
    end = at_utc(2024, 11, 5, 17)
    account = unpaid(language, timezone=timezone, at=end, grace_ends_at=end)

    rendered = render(grace_reminder(24, at_utc(2024, 11, 4, 17)), account)

    assert_says(rendered, expected)


@pytest.mark.parametrize(
    ("timezone", "first_failure", "language", "expected"),
    [
        # 12:00 PM CST on Mar 5; seven days of 24 hours later the clocks moved forward.
        (CHICAGO, at_utc(2024, 3, 5, 18), "en", "ends on March 12, 2024 at 1:00 PM CDT"),
        (
            CHICAGO,
            at_utc(2024, 3, 5, 18),
            "es",
            "termina el 12 de marzo de 2024 a la 1:00 p.m. (CDT)",
        ),
        # 12:00 PM EDT on Oct 30; the clocks moved back on Nov 3.
        (NEW_YORK, at_utc(2024, 10, 30, 16), "en", "ends on November 6, 2024 at 11:00 AM EST"),
    ],
)
def test_r9_a_grace_end_across_a_dst_change_shows_the_hour_of_that_day(
    timezone: str, first_failure: datetime, language: str, expected: str
) -> None:
    end = first_failure + timedelta(hours=168)
    account = unpaid(
        language, timezone=timezone, at=end, first_failure_at=first_failure, grace_ends_at=end
    )

    rendered = render(grace_reminder(24, end - timedelta(hours=24)), account)

    assert_says(rendered, expected)


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (at_utc(2024, 3, 15, 18, 1), "a la 1:01 p.m. (CDT)"),
        (at_utc(2024, 3, 15, 19, 30), "a las 2:30 p.m. (CDT)"),
        (at_utc(2024, 3, 16, 5, 15), "a las 12:15 a.m. (CDT)"),
    ],
)
def test_r14_spanish_says_a_la_1_but_a_las_2(end: datetime, expected: str) -> None:
    account = unpaid("es", grace_ends_at=end)

    rendered = render(grace_reminder(72, at_utc(2024, 3, 12, 18, 1)), account)

    assert_says(rendered, expected)


def test_a_time_keeps_babels_no_break_space_so_it_never_breaks_across_lines() -> None:
    rendered = render(grace_reminder(), unpaid())

    assert "1:01\u202fPM CDT" in rendered.text
    assert "1:01\u202fPM CDT" in rendered.html


# -- REACTIVATED ----------------------------------------------------------------------------------


NEW_PERIOD_START = at_utc(2024, 3, 15, 5)  # midnight in Chicago (CDT) on Mar 15


@pytest.mark.parametrize(
    ("language", "subject", "why"),
    [
        (
            "en",
            "Your CraftJack account is active again",
            "The pause for reaching your monthly budget was lifted on March 15, 2024 at "
            "12:00 AM CDT because a new budget period started on March 15, 2024, with your "
            "monthly budget of $2,000.00.",
        ),
        (
            "es",
            "Su cuenta de CraftJack está activa de nuevo",
            "La pausa por alcanzar su presupuesto mensual se levantó el 15 de marzo de 2024 a "
            "las 12:00 a.m. (CDT) porque comenzó un nuevo período de presupuesto el 15 de "
            "marzo de 2024, con su presupuesto mensual de $2,000.00.",
        ),
    ],
)
def test_r8_r14_a_budget_pause_lifted_by_a_new_period_says_so_and_that_leads_come_again(
    language: str, subject: str, why: str
) -> None:
    notice = reactivated_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT, NEW_PERIOD_START)
    account = make_account(language, at=NEW_PERIOD_START)

    rendered = render(notice, account)

    assert rendered.subject == subject
    assert_says(rendered, why, LEADS_AGAIN[language])
    assert_never_says(rendered, *CARD_STEPS[language], RAISE_BUDGET[language])


@pytest.mark.parametrize(
    ("language", "why"),
    [
        (
            "en",
            "was lifted on March 9, 2024 at 9:30 AM CST because your monthly budget, now "
            "$3,000.00, is above what you have spent this period ($2,000.00).",
        ),
        (
            "es",
            "se levantó el 9 de marzo de 2024 a las 9:30 a.m. (CST) porque su presupuesto "
            "mensual, ahora de $3,000.00, supera lo que ha gastado en este período ($2,000.00).",
        ),
    ],
)
def test_r8_r14_a_budget_pause_lifted_by_a_raised_budget_says_so(language: str, why: str) -> None:
    lifted_at = at_utc(2024, 3, 9, 15, 30)
    notice = reactivated_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT, lifted_at)
    account = make_account(language, at=lifted_at, budget=300_000, spent=200_000)

    rendered = render(notice, account)

    assert_says(rendered, why, LEADS_AGAIN[language])
    assert_never_says(rendered, "new budget period", "nuevo período de presupuesto")


def test_r8_a_lift_whose_pause_start_is_unknown_states_the_budget_without_guessing_why() -> None:
    notice = Notice(
        NoticeKind.REACTIVATED,
        CONTRACTOR,
        "reactivated-budget",
        at_utc(2024, 3, 9, 15, 30),
        reason=PauseReason.BUDGET,
    )
    account = make_account(budget=300_000, spent=200_000)

    rendered = render(notice, account)

    assert_says(rendered, "your monthly budget of $3,000.00 is above what you have spent")
    assert_never_says(rendered, "because")


@pytest.mark.parametrize(
    ("language", "why"),
    [
        (
            "en",
            "The pause for non-payment was lifted on March 20, 2024 at 10:00 AM CDT because "
            "your past-due balance is paid.",
        ),
        (
            "es",
            "La pausa por falta de pago se levantó el 20 de marzo de 2024 a las 10:00 a.m. "
            "(CDT) porque su saldo vencido está pagado.",
        ),
    ],
)
def test_r10_r14_a_non_payment_pause_lifted_says_the_balance_is_settled(
    language: str, why: str
) -> None:
    lifted_at = at_utc(2024, 3, 20, 15)
    notice = reactivated_notice(CONTRACTOR, PauseReason.NON_PAYMENT, GRACE_END, lifted_at)

    rendered = render(notice, make_account(language, at=lifted_at))

    assert_says(rendered, why, LEADS_AGAIN[language])
    assert_never_says(rendered, *CARD_STEPS[language])


@pytest.mark.parametrize(
    ("language", "subject", "still"),
    [
        (
            "en",
            "Budget pause lifted, but your CraftJack account is still paused for non-payment",
            "However, your account is still paused for non-payment: $123.45 is still past due.",
        ),
        (
            "es",
            "Se levantó la pausa por presupuesto, pero su cuenta de CraftJack sigue en pausa "
            "por falta de pago",
            "Sin embargo, su cuenta sigue en pausa por falta de pago: todavía debe $123.45.",
        ),
    ],
)
def test_r12_r14_a_lift_while_unpaid_says_the_account_is_still_paused_and_how_to_pay(
    language: str, subject: str, still: str
) -> None:
    notice = reactivated_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT, NEW_PERIOD_START)
    account = unpaid(
        language, at=NEW_PERIOD_START, spent=0, pauses={PauseReason.NON_PAYMENT: GRACE_END}
    )

    rendered = render(notice, account)

    assert rendered.subject == subject
    assert_says(rendered, still, UPDATE_CARD[language], *CARD_STEPS[language])
    assert_never_says(rendered, LEADS_AGAIN[language], "active again", "activa de nuevo")


@pytest.mark.parametrize(
    ("language", "subject", "still"),
    [
        (
            "en",
            "Payment received, but your CraftJack account is still paused: monthly budget reached",
            "However, your account is still paused because you reached 100% of your monthly "
            "budget: you have spent $2,000.00 of $2,000.00. Leads resume automatically when "
            "your budget resets on March 15, 2024.",
        ),
        (
            "es",
            "Recibimos su pago, pero su cuenta de CraftJack sigue en pausa: alcanzó su "
            "presupuesto mensual",
            "Sin embargo, su cuenta sigue en pausa porque alcanzó el 100% de su presupuesto "
            "mensual: ha gastado $2,000.00 de $2,000.00. Los clientes potenciales se "
            "reanudarán automáticamente cuando su presupuesto se restablezca el 15 de marzo de "
            "2024.",
        ),
    ],
)
def test_r12_r14_a_payment_while_over_budget_says_the_account_is_still_paused_for_budget(
    language: str, subject: str, still: str
) -> None:
    lifted_at = at_utc(2024, 3, 10, 15)
    notice = reactivated_notice(CONTRACTOR, PauseReason.NON_PAYMENT, at_utc(2024, 3, 1), lifted_at)
    account = budget_paused(language, at=lifted_at)

    rendered = render(notice, account)

    assert rendered.subject == subject
    assert_says(rendered, still, RAISE_BUDGET[language])
    assert_never_says(rendered, LEADS_AGAIN[language], *CARD_STEPS[language])


# -- BUDGET_75 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "sentences"),
    [
        (
            "en",
            "You have used 75% of your CraftJack monthly budget",
            (
                "You have spent $1,500.00 of your monthly budget of $2,000.00; $500.00 remains "
                "until your budget resets on March 15, 2024.",
                "If you reach 100% before then, your account is paused until March 15, 2024 "
                "and receives no leads.",
            ),
        ),
        (
            "es",
            "Ha usado el 75% de su presupuesto mensual de CraftJack",
            (
                "Ha gastado $1,500.00 de su presupuesto mensual de $2,000.00; le quedan $500.00 "
                "hasta que su presupuesto se restablezca el 15 de marzo de 2024.",
                "Si alcanza el 100% antes de esa fecha, su cuenta se pausará hasta el 15 de "
                "marzo de 2024 y no recibirá clientes potenciales.",
            ),
        ),
    ],
)
def test_r8_r14_at_75_percent_the_email_shows_spend_budget_remaining_and_the_reset(
    language: str, subject: str, sentences: tuple[str, ...]
) -> None:
    rendered = render(budget_75(), make_account(language, spent=150_000))

    assert rendered.subject == subject
    assert_says(rendered, *sentences, RAISE_BUDGET[language])
    assert_never_says(rendered, *CARD_STEPS[language])


@settings(max_examples=40)
@given(
    budget=st.integers(min_value=1, max_value=100_000_000),
    share=st.integers(min_value=75, max_value=99),
    language=st.sampled_from(LANGUAGES),
)
def test_r14_the_amounts_are_the_accounts_cents_to_the_cent(
    budget: int, share: int, language: str
) -> None:
    spent = budget * share // 100
    rendered = render(budget_75(), make_account(language, budget=budget, spent=spent))

    shown = re.findall(r"\$[0-9][0-9,]*\.[0-9]{2}", norm(rendered.text))

    assert shown == [usd(spent), usd(budget), usd(budget - spent)]


# -- GRACE_REMINDER ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "hours", "subject", "sentences"),
    [
        (
            "en",
            72,
            "Your CraftJack account will be paused in 72 hours: $123.45 past due",
            (
                "Your account will be paused in 72 hours.",
                "$123.45 is past due on your account. Your grace period ends on March 15, 2024 "
                "at 1:01 PM CDT: you keep receiving leads until then.",
                "If the balance is still past due then, your account will be paused",
            ),
        ),
        (
            "en",
            24,
            "Your CraftJack account will be paused in 24 hours: $123.45 past due",
            ("Your account will be paused in 24 hours.",),
        ),
        (
            "es",
            24,
            "Su cuenta de CraftJack se pausará en 24 horas: saldo vencido de $123.45",
            (
                "Su cuenta se pausará en 24 horas.",
                "Su cuenta tiene un saldo vencido de $123.45. Su período de gracia termina el 15 "
                "de marzo de 2024 a la 1:01 p.m. (CDT): hasta entonces, seguirá recibiendo "
                "clientes potenciales.",
                "Si para entonces el saldo sigue vencido, su cuenta se pausará",
            ),
        ),
    ],
)
def test_r9_r14_a_grace_reminder_says_what_is_due_when_the_pause_comes_and_what_to_do(
    language: str, hours: int, subject: str, sentences: tuple[str, ...]
) -> None:
    rendered = render(grace_reminder(hours, GRACE_END - timedelta(hours=hours)), unpaid(language))

    assert rendered.subject == subject
    assert_says(rendered, *sentences, UPDATE_CARD[language], *CARD_STEPS[language])


def test_r9_a_reminder_for_an_account_without_a_grace_period_is_refused() -> None:
    with pytest.raises(ValueError, match="without a grace period"):
        render(grace_reminder(), make_account())


# -- CARD_EXPIRING -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "facts"),
    [
        (
            "en",
            "Your Visa card ending in 4242 expires this month",
            "Your card on file, the Visa card ending in 4242, expires at the end of this month "
            "(expiration date 03/2024).",
        ),
        (
            "es",
            "Su tarjeta Visa terminada en 4242 vence este mes",
            "La tarjeta Visa terminada en 4242 registrada en su cuenta vence al final de este "
            "mes (fecha de vencimiento: 03/2024).",
        ),
    ],
)
def test_r14_a_card_expiring_this_month_is_named_with_its_expiry_and_how_to_update_it(
    language: str, subject: str, facts: str
) -> None:
    rendered = render(card_expiring(), make_account(language, card=VISA))

    assert rendered.subject == subject
    assert_says(rendered, facts, *CARD_STEPS[language])
    # Nothing is past due: the email does not speak of charging a balance.
    assert_never_says(rendered, UPDATE_CARD[language], "$")


@pytest.mark.parametrize(
    ("brand", "expected"),
    [("amex", "the American Express card ending in 0005"), ("unknown", "the card ending in 0005")],
)
def test_r14_the_card_brand_reads_as_printed_on_the_card(brand: str, expected: str) -> None:
    card = Card("pm_1", brand, "0005", 11, 2031)

    assert_says(render(card_expiring(), make_account(card=card)), expected)


def test_r14_a_card_notice_for_an_account_without_a_card_is_refused() -> None:
    with pytest.raises(ValueError, match="without a card"):
        render(card_expiring(), make_account())


# -- Every notice: contact, words, escaping ---------------------------------------------------


def every_notice(language: str) -> list[tuple[Notice, Account]]:
    lifted_at = at_utc(2024, 3, 9, 15, 30)
    return [
        (paused_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT), budget_paused(language)),
        (
            paused_notice(CONTRACTOR, PauseReason.NON_PAYMENT, GRACE_END),
            unpaid(language, pauses={PauseReason.NON_PAYMENT: GRACE_END}),
        ),
        (
            reactivated_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT, lifted_at),
            make_account(language, budget=300_000, spent=200_000),
        ),
        (
            reactivated_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT, NEW_PERIOD_START),
            unpaid(language, at=NEW_PERIOD_START, pauses={PauseReason.NON_PAYMENT: GRACE_END}),
        ),
        (budget_75(), make_account(language, spent=150_000)),
        (grace_reminder(72), unpaid(language)),
        (card_expiring(), make_account(language, card=VISA)),
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_r14_every_notice_greets_the_business_and_gives_the_account_managers_contact(
    language: str,
) -> None:
    greeting = {"en": "Hello Rivera Roofing,", "es": "Hola, Rivera Roofing:"}[language]
    for notice, account in every_notice(language):
        rendered = render(notice, account)

        assert rendered.language == language
        assert_says(rendered, greeting, MANAGER.name, MANAGER.phone, MANAGER.email)
        assert 'href="tel:+13125550147"' in rendered.html, notice.kind
        assert f'href="mailto:{MANAGER.email}"' in rendered.html, notice.kind
        assert f'<html lang="{language}">' in rendered.html


def test_r14_spanish_notices_speak_the_help_articles_words_and_no_english() -> None:
    for notice, account in every_notice("es"):
        for name, part in parts(render(notice, account)).items():
            assert "gerente de cuenta" in part, (notice.kind, name)
            for english in (
                "Your",
                "account",
                "paused",
                "budget",
                "Billing information",
                "What to do",
                "Phone",
                "Hello",
            ):
                assert english not in part, (notice.kind, name, english)


def test_r14_the_card_steps_are_the_invoice_emails_own_words() -> None:
    """One source for the Pro App and Lead Manager steps: the notice says what the failed
    invoice's email says."""
    invoice = Invoice(
        invoice_id="inv-1",
        contractor_id=CONTRACTOR,
        kind=InvoiceKind.WEEKLY,
        issued_at=PAUSED_AT,
        lines=(InvoiceLine("L1", PAUSED_AT, "Roofing", Money(4_500)),),
    )
    invoice = record_attempt(
        invoice,
        PaymentAttempt(
            number=1,
            at=PAUSED_AT,
            outcome=AttemptOutcome.DECLINED,
            payment_intent_id="pi_1",
            decline_code="expired_card",
            card=VISA,
        ),
    )
    for language in LANGUAGES:
        invoice_text = norm(
            render_invoice_email(invoice, make_account(language), sender=SENDER).text
        )
        notice_text = norm(render(grace_reminder(), unpaid(language)).text)
        for sentence in (UPDATE_CARD[language], *CARD_STEPS[language]):
            assert sentence in invoice_text
            assert sentence in notice_text


def test_the_html_part_escapes_what_the_contractor_typed() -> None:
    name = '<script>alert("x")</script> & Sons'
    for notice, account in every_notice("en"):
        rendered = render(notice, replace(account, business_name=name))

        assert "<script>" not in rendered.html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Sons" in rendered.html
        assert f"Hello {name}," in rendered.text


def test_both_languages_define_the_same_words() -> None:
    def names(module: object) -> set[str]:
        return {name for name in dir(module) if not name.startswith("_")}

    for english, spanish in (
        (_words("en"), _words("es")),
        (common_words("en"), common_words("es")),
    ):
        assert names(english) == names(spanish)
        assert english.labels.keys() == spanish.labels.keys()


# -- Refusals -------------------------------------------------------------------------------------


def test_a_notice_of_another_contractor_is_refused() -> None:
    notice = paused_notice("contractor-8", PauseReason.BUDGET, PAUSED_AT)

    with pytest.raises(ValueError, match="belongs to"):
        render(notice, budget_paused())


def test_a_pause_notice_without_its_reason_is_refused() -> None:
    notice = Notice(NoticeKind.PAUSED, CONTRACTOR, "paused~x", PAUSED_AT)

    with pytest.raises(ValueError, match="pause reason"):
        render(notice, budget_paused())


def test_a_sender_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="not an email address"):
        render_notice(budget_75(), make_account(), sender="CraftJack Billing")


# -- The message ----------------------------------------------------------------------------------


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def mime(rendered: RenderedNotice, to: str = "billing@rivera-roofing.example") -> bytes:
    return rendered.to_mime(to, SENDER, "craftjack.com")


@pytest.mark.parametrize("language", LANGUAGES)
def test_r14_the_message_has_text_and_html_dated_at_the_notice_in_the_accounts_language(
    language: str,
) -> None:
    notice = paused_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT)
    rendered = render(notice, budget_paused(language))

    raw = mime(rendered)
    message = parse(raw)

    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert message["To"] == "billing@rivera-roofing.example"
    assert message["From"] == SENDER
    assert message["Subject"] == rendered.subject
    assert message["Content-Language"] == language
    assert parsedate_to_datetime(message["Date"]) == PAUSED_AT == rendered.sent_at
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n") == rendered.html
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def message_id(rendered: RenderedNotice) -> str:
    # A long Message-ID is folded onto its own line; the id is what follows the space.
    return str(parse(mime(rendered))["Message-ID"]).strip()


def test_r14_a_resent_notice_is_the_same_bytes_and_the_same_message_id() -> None:
    notice = paused_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT)

    first = mime(render(notice, budget_paused()))
    again = mime(render(notice, budget_paused()))

    assert first == again
    assert message_id(render(notice, budget_paused())) == notice_message_id(
        CONTRACTOR, notice.notice_id, "craftjack.com"
    )
    assert re.fullmatch(
        r"<notice\.contractor-7-paused-budget-20240308T120000Z\.[0-9a-f]{16}@craftjack\.com>",
        message_id(render(notice, budget_paused())),
    )


def test_r14_two_notices_get_two_message_ids_and_one_notice_keeps_its_own() -> None:
    budget = render(paused_notice(CONTRACTOR, PauseReason.BUDGET, PAUSED_AT), budget_paused())
    reminder_72 = render(grace_reminder(72), unpaid())
    reminder_24 = render(grace_reminder(24), unpaid())
    # The same notice from a later snapshot (more past due) is still the same message.
    reminder_72_later = render(grace_reminder(72), unpaid(past_due=Money(99_999)))

    ids = {message_id(budget), message_id(reminder_72), message_id(reminder_24)}

    assert len(ids) == 3
    assert message_id(reminder_72_later) == message_id(reminder_72)


def test_the_same_notice_id_of_two_contractors_gives_two_message_ids() -> None:
    assert notice_message_id("c-1", "budget75~x", "craftjack.com") != notice_message_id(
        "c-2", "budget75~x", "craftjack.com"
    )


@pytest.mark.parametrize("domain", ["", "craftjack.com>", "a b.com", "x@craftjack.com"])
def test_a_message_id_domain_that_is_not_a_domain_is_refused(domain: str) -> None:
    rendered = render(budget_75(), make_account())

    with pytest.raises(ValueError, match="not a domain name"):
        rendered.to_mime("a@example.com", SENDER, domain)


class RecordingSes:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> dict[str, str]:
        self.calls.append(request)
        return {"MessageId": f"ses-{len(self.calls)}"}


def test_r14_the_mailer_sends_a_notice_as_its_raw_message() -> None:
    ses = RecordingSes()
    mailer = SesMailer(ses, "billing@craftjack.com", "billing-emails")
    rendered = render(grace_reminder(), unpaid())

    message_id = mailer.send("billing@rivera-roofing.example", rendered)

    assert message_id == "ses-1"
    (request,) = ses.calls
    assert request["Destination"] == {"ToAddresses": ["billing@rivera-roofing.example"]}
    assert request["ConfigurationSetName"] == "billing-emails"
    assert request["Content"]["Raw"]["Data"] == rendered.to_mime(
        "billing@rivera-roofing.example", "billing@craftjack.com", "craftjack.com"
    )
