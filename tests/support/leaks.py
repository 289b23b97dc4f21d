"""What must never leave Stripe or the request that carried it: card numbers and secrets.

The whole test run is searched with these: every test's captured output (the functions'
log lines), every table item and every email of the emulators at the end of each test
(``tests/integration/conftest.py``) and of each local stack (``tests/e2e/conftest.py``).

A card number is a run of 13 to 19 digits, possibly grouped by single spaces or dashes,
that passes the Luhn check and starts as a card of a real network does (Visa, Mastercard,
American Express, Discover, JCB, Diners Club, UnionPay). The network prefix keeps out
digit runs that pass the Luhn check by chance, one in ten of them: epoch milliseconds
(``1795850221204``), stream sequence numbers, amounts.

A secret is what authenticates to Stripe or to this API: Stripe secret and restricted
keys, webhook signing secrets, a SetupIntent's client secret, and bearer tokens (JWTs).
"""

from __future__ import annotations

import email
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from typing import Any

# Digits, optionally grouped by one space or dash, 13 to 19 digits in all; not part of a
# longer run of digits or of a word.
_BOUNDARY = re.compile(r'boundary="[^"]*"')
_DIGIT_RUN = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-]|[ -]\d)")

# (first digits, allowed lengths): the networks' IIN ranges.
_NETWORKS: tuple[tuple[tuple[int, int], frozenset[int]], ...] = (
    ((4, 4), frozenset({13, 16, 19})),  # Visa
    ((51, 55), frozenset({16})),  # Mastercard
    ((2221, 2720), frozenset({16})),  # Mastercard 2-series
    ((34, 34), frozenset({15})),  # American Express
    ((37, 37), frozenset({15})),
    ((6011, 6011), frozenset({16, 17, 18, 19})),  # Discover
    ((644, 649), frozenset({16, 17, 18, 19})),
    ((65, 65), frozenset({16, 17, 18, 19})),
    ((3528, 3589), frozenset({16, 17, 18, 19})),  # JCB
    ((300, 305), frozenset({14, 15, 16, 17, 18, 19})),  # Diners Club
    ((36, 36), frozenset({14, 15, 16, 17, 18, 19})),
    ((38, 39), frozenset({16, 17, 18, 19})),
    ((62, 62), frozenset({16, 17, 18, 19})),  # UnionPay
)

_SECRETS = re.compile(
    r"\b(?:sk|rk)_(?:test|live)_[0-9A-Za-z]{8,}"  # Stripe secret and restricted keys
    r"|\bwhsec_[0-9A-Za-z+/=]{8,}"  # Stripe webhook signing secrets
    r"|\bseti_[0-9A-Za-z]+_secret_[0-9A-Za-z]+"  # a SetupIntent's client secret
    r"|\beyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]{8,}"  # a signed JWT
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _network_number(digits: str) -> bool:
    for (low, high), lengths in _NETWORKS:
        prefix = digits[: len(str(low))]
        if len(digits) in lengths and low <= int(prefix) <= high:
            return True
    return False


def card_numbers(text: str) -> list[str]:
    """The card numbers in ``text``, as written there."""
    found = []
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if _network_number(digits) and luhn_valid(digits):
            found.append(match.group())
    return found


def secrets(text: str, known: Iterable[str] = ()) -> list[str]:
    """The secrets in ``text``: those of a known shape, and any of ``known`` (the values
    the run configured: its Stripe keys, its webhook secret)."""
    found = [match.group() for match in _SECRETS.finditer(text)]
    found += [value for value in known if len(value) >= 8 and value in text]
    return list(dict.fromkeys(found))


def masked(value: str) -> str:
    """``value`` shown without giving it away: its first 6 and last 4 characters."""
    return value if len(value) <= 10 else f"{value[:6]}…{value[-4:]}"


@dataclass(frozen=True, slots=True)
class Leak:
    where: str  # a test's output, a table, an email
    kind: str  # "card number" or "secret"
    value: str

    def __str__(self) -> str:
        return f"{self.kind} {masked(self.value)} in {self.where}"


def leaks(where: str, text: str, known_secrets: Iterable[str] = ()) -> list[Leak]:
    return [Leak(where, "card number", value) for value in card_numbers(text)] + [
        Leak(where, "secret", value) for value in secrets(text, known_secrets)
    ]


# ---------------------------------------------------------------------- stored data


def table_leaks(dynamodb: Any, known_secrets: Iterable[str] = ()) -> tuple[int, list[Leak]]:
    """How many items every table of ``dynamodb`` (a boto3 client) holds, and the leaks
    among them."""
    count, found = 0, []
    for page in dynamodb.get_paginator("list_tables").paginate():
        for table in page["TableNames"]:
            for items in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in items["Items"]:
                    count += 1
                    found += leaks(f"table {table}", json.dumps(item), known_secrets)
    return count, found


def email_leaks(raw_messages: Iterable[str], known_secrets: Iterable[str] = ()) -> list[Leak]:
    """The leaks in emails as sent (MIME): their headers and every text part, decoded.
    Attachments (the invoice PDF, drawn from the same figures) are not read."""
    found = []
    for raw in raw_messages:
        message = email.message_from_string(raw, policy=policy.default)
        where = f"email {message['Subject']!r}"
        # A multipart boundary is a random run of 19 digits (the email package's): not the
        # message's content, and now and then Luhn-valid.
        parts = [_BOUNDARY.sub('boundary=""', str(value)) for value in message.values()]
        for part in message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        found += leaks(where, "\n".join(parts), known_secrets)
    return found
