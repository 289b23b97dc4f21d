"""The mail the functions sent through SES, read back from the AWS emulator.

The emulator keeps sent messages in memory and shows them in ``/moto-api/data.json``;
raw MIME messages are parsed with the ``email`` package. Each message is also written to
disk for a person to open, in a folder of its own under the mailbox's directory::

    <directory>/<message id>/message.html   the HTML body, as a mail client shows it
    <directory>/<message id>/message.txt    the plain-text body
    <directory>/<message id>/invoice.pdf    each attachment, under its file name

A body the message does not have is not written.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import requests

HTML_FILE = "message.html"
TEXT_FILE = "message.txt"


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]", "_", name).strip(" .")
    return cleaned or "attachment"


def message_folder(directory: Path, message_id: str) -> Path:
    return directory / _safe_filename(message_id)


def _write_bodies(folder: Path, message: dict[str, Any]) -> None:
    """Write the message's bodies beside its attachments; their paths go in the message."""
    for key, filename in (("html", HTML_FILE), ("text", TEXT_FILE)):
        body = message.get(key)
        path = None
        if body is not None:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / filename
            path.write_text(body, encoding="utf-8")
        message[f"{key}_path"] = str(path) if path is not None else None


def parse_raw_message(
    message_id: str, raw: str, destinations: list[str], directory: Path, fallback_sent_at: datetime
) -> dict[str, Any]:
    # The emulator keeps the raw message as the UTF-8 decoding of the bytes sent; parsed
    # as text, an 8bit body in UTF-8 would be decoded as Latin-1. Parsed as those bytes,
    # each part is decoded with its own charset and transfer encoding.
    parsed = email.message_from_bytes(
        raw.encode("utf-8", "surrogateescape"), policy=email.policy.default
    )
    assert isinstance(parsed, EmailMessage)
    to = [address for _, address in email.utils.getaddresses(parsed.get_all("To", []))]
    sent_at = fallback_sent_at
    if parsed["Date"]:
        with contextlib.suppress(TypeError, ValueError):
            sent_at = email.utils.parsedate_to_datetime(str(parsed["Date"])).astimezone(UTC)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    folder = message_folder(directory, message_id)
    attachments = []
    reserved = {HTML_FILE, TEXT_FILE}
    for index, part in enumerate(parsed.iter_attachments()):
        filename = _safe_filename(part.get_filename() or f"attachment-{index + 1}")
        if filename in reserved:
            filename = f"attachment-{index + 1}-{filename}"
        target = folder / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        content = part.get_payload(decode=True)
        target.write_bytes(content if isinstance(content, bytes) else b"")
        attachments.append(
            {"filename": filename, "content_type": part.get_content_type(), "path": str(target)}
        )
    message = {
        "id": message_id,
        "from": str(parsed["From"] or ""),
        "to": to or list(destinations),
        "subject": " ".join(str(parsed["Subject"] or "").split()),
        "sent_at": sent_at.isoformat(),
        "text": text_part.get_content() if text_part is not None else None,
        "html": html_part.get_content() if html_part is not None else None,
        "attachments": attachments,
    }
    _write_bodies(folder, message)
    return message


def simple_message(item: dict[str, Any], directory: Path, sent_at: datetime) -> dict[str, Any]:
    """A message sent with SES's simple or templated content (no MIME to parse)."""
    destinations = item.get("destinations") or {}
    body = str(item.get("body") or "")
    is_html = bool(re.search(r"<\w+[^>]*>", body))
    message = {
        "id": item["id"],
        "from": item.get("source", ""),
        "to": list(
            destinations.get("ToAddresses", []) if isinstance(destinations, dict) else destinations
        ),
        "subject": item.get("subject", ""),
        "sent_at": sent_at.isoformat(),
        "text": None if is_html else body,
        "html": body if is_html else None,
        "attachments": [],
    }
    _write_bodies(message_folder(directory, str(item["id"])), message)
    return message


class Mailbox:
    def __init__(self, aws_endpoint: str, directory: Path, now: Callable[[], datetime]) -> None:
        self._url = f"{aws_endpoint}/moto-api/data.json"
        self._directory = directory
        self._now = now
        self._seen: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        # The emulator's count of messages sent: the whole emulator state is read only
        # when it moved, as that state grows with every table and stream.
        self._ses = boto3.client(
            "ses",
            endpoint_url=aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the emulator takes any key
        )
        self._sent_count: float | None = None

    @property
    def directory(self) -> Path:
        """Where each message is written, one folder per message."""
        return self._directory

    def refresh(self) -> list[dict[str, Any]]:
        """Read the emulator's sent messages; a message's ``sent_at`` is its Date header,
        or the simulated instant at which it was first seen."""
        sent_count = float(self._ses.get_send_quota()["SentLast24Hours"])
        with self._lock:
            if sent_count == self._sent_count:
                return list(self._seen.values())
        data = requests.get(self._url, timeout=30).json().get("ses", {})
        with self._lock:
            self._sent_count = sent_count
            now = self._now()
            for item in data.get("RawMessage", []):
                if item["id"] not in self._seen:
                    self._seen[item["id"]] = parse_raw_message(
                        item["id"],
                        item.get("raw_data", ""),
                        item.get("destinations") or [],
                        self._directory,
                        now,
                    )
            for item in data.get("Message", []):
                if item["id"] not in self._seen:
                    self._seen[item["id"]] = simple_message(item, self._directory, now)
            for item in data.get("TemplateMessage", []):
                if item["id"] not in self._seen:
                    message = simple_message(item, self._directory, now)
                    message["template"] = item.get("template")
                    message["template_data"] = item.get("template_data")
                    self._seen[item["id"]] = message
            return list(self._seen.values())
