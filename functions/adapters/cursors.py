"""Opaque page cursors, bound to the account whose listing they continue (R13).

A cursor is where a listing stopped: the sort key of the last item of a page (an
invoice's ``issued_key``, a ledger entry's ``recorded_key``, both ``<instant>#<id>``).
It travels to the client as URL-safe base64 of ``[version, contractor_id, sort_key]``.

A listing is always queried in the caller's own partition, so no cursor can reach another
account's items; the contractor id inside the cursor makes the refusal explicit: a cursor
that another account's listing made, or one that does not decode to a sort key of the
expected shape, is ``InvalidCursor`` (a 400), never a query. Nothing is signed: a client
that edits its own cursor can only skip within its own listing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

VERSION = 1
# The longest cursor a listing makes: the contractor id (128) and a sort key of an instant
# and an id (an invoice id, or a ledger entry id naming a lead id of 128), JSON-escaped and
# base64-encoded, stay well within it.
MAX_CURSOR_LENGTH = 1024
# ``accounts.instant``: the fixed-width UTC instant every sort key starts with.
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#(?P<id>.{1,400})$", re.S)


class InvalidCursor(ValueError):
    """A cursor that no page of this listing made: malformed, tampered with, or another
    account's."""


def encode(contractor_id: str, sort_key: str) -> str:
    raw = json.dumps([VERSION, contractor_id, sort_key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(cursor: str, contractor_id: str) -> tuple[str, str]:
    """The sort key and the id it ends with, of a cursor made for ``contractor_id``'s
    listing; ``InvalidCursor`` for any other."""
    if len(cursor) > MAX_CURSOR_LENGTH or not _BASE64URL.match(cursor):
        raise InvalidCursor("not a cursor of this listing")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidCursor("not a cursor of this listing") from error
    if (
        not isinstance(value, list)
        or len(value) != 3
        or isinstance(value[0], bool)
        or value[0] != VERSION
        or not isinstance(value[1], str)
        or not isinstance(value[2], str)
    ):
        raise InvalidCursor("not a cursor of this listing")
    _, owner, sort_key = value
    if owner != contractor_id:
        raise InvalidCursor("not a cursor of this listing")
    match = _SORT_KEY.match(sort_key)
    if match is None:
        raise InvalidCursor("not a cursor of this listing")
    return sort_key, match.group("id")
