"""Emails a person can read: each sent message is written to its own folder, its HTML
body beside its attachments, under the folder the ``make run`` banner names."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest

from local.demo import banner
from local.emails import parse_raw_message, simple_message

pytestmark = pytest.mark.e2e

SENT_AT = datetime(2025, 3, 7, 6, 0, tzinfo=UTC)


def invoice_email() -> str:
    message = EmailMessage()
    message["From"] = "billing@craftjack.com"
    message["To"] = "demo@example.com"
    message["Subject"] = "Your invoice INV-1"
    message.set_content("Your invoice is attached.")
    message.add_alternative("<html><body><p>Your invoice <b>INV-1</b></p></body></html>", "html")
    message.add_attachment(
        b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="INV-1.pdf"
    )
    return message.as_string()


def test_a_raw_message_is_written_to_its_folder_html_text_and_attachments(tmp_path: Path):
    parsed = parse_raw_message("msg-1", invoice_email(), ["demo@example.com"], tmp_path, SENT_AT)

    folder = tmp_path / "msg-1"
    assert sorted(path.name for path in folder.iterdir()) == [
        "INV-1.pdf",
        "message.html",
        "message.txt",
    ]
    assert parsed["html_path"] == str(folder / "message.html")
    assert "<b>INV-1</b>" in (folder / "message.html").read_text()
    assert parsed["text_path"] == str(folder / "message.txt")
    assert (folder / "message.txt").read_text().strip() == "Your invoice is attached."
    (attachment,) = parsed["attachments"]
    assert Path(attachment["path"]).read_bytes() == b"%PDF-1.4 invoice"


def test_an_attachment_does_not_overwrite_a_body(tmp_path: Path):
    message = EmailMessage()
    message["Subject"] = "Clash"
    message.add_alternative("<p>the body</p>", "html")
    message.add_attachment(
        b"<p>attached</p>", maintype="text", subtype="html", filename="message.html"
    )

    parsed = parse_raw_message("msg-2", message.as_string(), [], tmp_path, SENT_AT)

    assert Path(parsed["html_path"]).read_text().strip() == "<p>the body</p>"
    (attachment,) = parsed["attachments"]
    assert Path(attachment["path"]).read_bytes() == b"<p>attached</p>"
    assert Path(attachment["path"]).parent == tmp_path / "msg-2"


def test_a_simple_html_message_is_written_too(tmp_path: Path):
    item = {
        "id": "msg/3",
        "source": "billing@craftjack.com",
        "destinations": {"ToAddresses": ["demo@example.com"]},
        "subject": "Paid",
        "body": "<p>Thank you</p>",
    }

    message = simple_message(item, tmp_path, SENT_AT)

    assert Path(message["html_path"]).read_text() == "<p>Thank you</p>"
    assert Path(message["html_path"]).parent.parent == tmp_path  # one folder, a safe name
    assert message["text_path"] is None


def test_the_banner_names_the_emails_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    config = {
        "api_endpoint": "http://127.0.0.1:3000",
        "aws_endpoint": "http://127.0.0.1:5001",
        "stripe_endpoint": "http://127.0.0.1:8420",
        "now": SENT_AT.isoformat(),
        "event_bus": "lead-billing",
        "emails_directory": str(tmp_path / ".local" / "emails"),
        "tables": {"leads": "LeadBilling-LeadsTable"},
    }
    stack = SimpleNamespace(config=lambda: config, demo_result=None, notes=[])

    shown = banner(stack)  # type: ignore[arg-type]

    assert "  Emails         .local/emails/  (one folder per email" in shown
    assert "/me/card/setup-intent" in shown
