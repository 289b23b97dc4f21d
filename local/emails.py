"""The mail the functions sent through SES, read back from the AWS emulator.

The emulator keeps sent messages in memory and shows them in ``/moto-api/data.json``;
raw MIME messages are parsed with the ``email`` package, and their attachments written
to disk so that a person can open the invoice PDF.
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

import requests


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]", "_", name).strip(" .")
    return cleaned or "attachment"


def parse_raw_message(
    message_id: str, raw: str, destinations: list[str], directory: Path, fallback_sent_at: datetime
) -> dict[str, Any]:
    parsed = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    to = [address for _, address in email.utils.getaddresses(parsed.get_all("To", []))]
    sent_at = fallback_sent_at
    if parsed["Date"]:
        with contextlib.suppress(TypeError, ValueError):
            sent_at = email.utils.parsedate_to_datetime(str(parsed["Date"])).astimezone(UTC)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    attachments = []
    for index, part in enumerate(parsed.iter_attachments()):
        filename = _safe_filename(part.get_filename() or f"attachment-{index + 1}")
        target = directory / _safe_filename(message_id) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        content = part.get_payload(decode=True)
        target.write_bytes(content if isinstance(content, bytes) else b"")
        attachments.append(
            {"filename": filename, "content_type": part.get_content_type(), "path": str(target)}
        )
    return {
        "id": message_id,
        "from": str(parsed["From"] or ""),
        "to": to or list(destinations),
        "subject": str(parsed["Subject"] or ""),
        "sent_at": sent_at.isoformat(),
        "text": text_part.get_content() if text_part is not None else None,
        "html": html_part.get_content() if html_part is not None else None,
        "attachments": attachments,
    }


def _simple_message(item: dict[str, Any], sent_at: datetime) -> dict[str, Any]:
    destinations = item.get("destinations") or {}
    body = str(item.get("body") or "")
    is_html = bool(re.search(r"<\w+[^>]*>", body))
    return {
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


class Mailbox:
    def __init__(self, aws_endpoint: str, directory: Path, now: Callable[[], datetime]) -> None:
        self._url = f"{aws_endpoint}/moto-api/data.json"
        self._directory = directory
        self._now = now
        self._seen: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> list[dict[str, Any]]:
        """Read the emulator's sent messages; a message's ``sent_at`` is its Date header,
        or the simulated instant at which it was first seen."""
        data = requests.get(self._url, timeout=30).json().get("ses", {})
        with self._lock:
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
                    self._seen[item["id"]] = _simple_message(item, now)
            for item in data.get("TemplateMessage", []):
                if item["id"] not in self._seen:
                    message = _simple_message(item, now)
                    message["template"] = item.get("template")
                    message["template_data"] = item.get("template_data")
                    self._seen[item["id"]] = message
            return list(self._seen.values())
