"""R5, R14: what every email to a contractor shares: the templates, the reader's formats,
the sentences common to several emails, and the parts of a deterministic MIME message.

The invoice email (``invoice_email``) and the notices (``notice_email``) are written the
same way: the words in one macro template per language and email, the sentences shared by
several emails (the card update steps, the account manager's contact, the greeting) in
``templates/common.<lang>.j2``, and the layouts in one template per format. Macros are
called from Python and their output checked by ``plain``, never called from a layout:
Jinja marks a macro's output safe when an autoescaping template calls it, which would let
a business name through the HTML unescaped.

Dates, times and amounts are formatted with Babel for ``en_US`` or ``es_US``; amounts go
from integer cents to ``Decimal``, never through a float; times are shown on the
account's wall clock with the zone's name, so a contractor in Los Angeles and one in New
York each read their own hour, and an hour across a DST change reads right.

Jinja2 and Babel are imported when an email is first rendered, not when this module is:
the functions that send emails import it at init, and most of their invocations send
none (``bench/cold_start.py`` measures what that saves).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email import policy, utils
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from functions.billing.account import Locale
from functions.billing.money import Money

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
BRAND = "CraftJack"

# The Babel locale each account language is written in: US Spanish for US contractors.
BABEL_LOCALES = {Locale.EN: "en_US", Locale.ES: "es_US"}

# Stripe's card brands, as a contractor reads them on their card.
CARD_BRANDS = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos",
    "interac": "Interac",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}

_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
NOT_SLUG = re.compile(r"[^A-Za-z0-9]+")
_TEMPLATE_SPACE = re.compile(r"[ \t\r\n\f\v]+")


# -- Templates ------------------------------------------------------------------------------


@functools.cache
def environment() -> Environment:
    """The one Jinja environment of every email: HTML layouts autoescape, nothing else."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def words(name: str, language: str) -> Any:
    """The macros and labels of ``templates/<name>.<language>.j2``."""
    return environment().get_template(f"{name}.{language}.j2").module


def common_words(language: str) -> Any:
    """The sentences several emails share (``templates/common.<language>.j2``)."""
    return words("common", language)


def plain(value: object) -> str:
    """A sentence on one line; refuses markup, which autoescaping would let through.

    Only the template's own spacing (line breaks, indentation) is collapsed: the no-break
    spaces Babel writes (between "6:00" and "AM") stay, so a time never breaks across lines.
    """
    from markupsafe import Markup

    if isinstance(value, Markup) or not isinstance(value, str):
        raise TypeError(f"a sentence must be plain text, got {type(value).__name__}")
    return _TEMPLATE_SPACE.sub(" ", value).strip(" ")


# -- The reader's formats ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalMoment:
    """An instant on the account's wall clock: ``date`` (long), ``time`` (short), ``zone``
    (its abbreviation then, such as CST or CDT)."""

    date: str
    time: str
    zone: str
    hour: int  # 1..12 on the clock face; Spanish says "a la 1" but "a las 2"


def require_aware(name: str, instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must carry a UTC offset")


def local_moment(instant: datetime, timezone: str, locale: str, name: str) -> LocalMoment:
    """``instant`` as read in ``timezone`` (``name`` says which instant, in errors)."""
    from babel.dates import format_date, format_datetime, format_time

    require_aware(name, instant)
    zone = ZoneInfo(timezone)
    local = instant.astimezone(zone)
    return LocalMoment(
        date=format_date(local, "long", locale=locale),
        time=format_time(local, "short", tzinfo=zone, locale=locale),
        zone=format_datetime(local, "z", tzinfo=zone, locale=locale),
        hour=local.hour % 12 or 12,
    )


def local_date(instant: datetime, timezone: str, locale: str, name: str) -> str:
    """The long date of ``instant`` in ``timezone``."""
    from babel.dates import format_date

    require_aware(name, instant)
    return format_date(instant.astimezone(ZoneInfo(timezone)), "long", locale=locale)


def format_money(amount: Money, locale: str) -> str:
    """An amount as the reader writes it, from integer cents through ``Decimal``."""
    from babel.numbers import format_currency

    return format_currency(Decimal(amount.cents) / 100, amount.currency, locale=locale)


def card_brand(brand: str) -> str | None:
    """A Stripe card brand as printed on the card; None for one Stripe did not name."""
    key = brand.strip().lower()
    if not key or key == "unknown":
        return None
    return CARD_BRANDS.get(key, key.replace("_", " ").title())


def tel_uri(phone: str) -> str:
    """A ``tel:`` link for a phone number as people write it; US numbers get +1."""
    digits = re.sub(r"[^0-9]", "", phone)
    if len(digits) == 10:
        digits = "1" + digits
    return f"tel:+{digits}" if len(digits) == 11 and digits.startswith("1") else f"tel:{digits}"


# -- The message ------------------------------------------------------------------------------


def message_id(kind: str, key: str, domain: str) -> str:
    """A Message-ID that is the same for every send of one email (``kind``, ``key``).

    Readable (the key's letters and digits) and unique (a hash of the whole key, as two
    keys may differ only in punctuation).
    """
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a domain name for a Message-ID: {domain!r}")
    slug = NOT_SLUG.sub("-", key).strip("-")[:48].strip("-")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    local_part = ".".join(part for part in (kind, slug, digest) if part)
    return f"<{local_part}@{domain}>"


def new_message(
    *, sender: str, to: str, subject: str, sent_at: datetime, message_id: str
) -> EmailMessage:
    """A message with its headers and no content yet. Content-Language is set last, by
    the caller: adding content moves every Content-* header into the parts."""
    require_aware("sent_at", sent_at)
    message = EmailMessage(policy=policy.default)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = utils.format_datetime(sent_at)
    message["Message-ID"] = message_id
    return message


def add_text_and_html(message: EmailMessage, text: str, html: str) -> None:
    """The plain-text and HTML alternatives, in UTF-8 quoted-printable."""
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")


def content_boundary(kind: str, *parts: str | bytes) -> str:
    """A MIME boundary from the content rather than a random one, so that the same email
    is the same bytes. "=_" can occur in neither quoted-printable nor base64 bodies."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part.encode() if isinstance(part, str) else part).digest())
    return f"=_{kind}_{digest.hexdigest()[:32]}"


def as_smtp_bytes(message: EmailMessage) -> bytes:
    """The message as sent, with CRLF line endings."""
    return message.as_bytes(policy=policy.SMTP)
