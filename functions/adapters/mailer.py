"""Send a contractor's email with SES v2, as one raw MIME message: an invoice with its PDF
(R5) or a notice (R14)."""

from __future__ import annotations

from typing import Any, Protocol


class OutgoingEmail(Protocol):
    """A rendered email (``RenderedEmail``, ``RenderedNotice``): its raw message, with the
    Message-ID's domain given by the sender."""

    def to_mime(self, to: str, sender: str, message_id_domain: str) -> bytes: ...


class SesMailer:
    def __init__(self, client: Any, sender: str, configuration_set: str) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set

    @property
    def sender(self) -> str:
        return self._sender

    def send(self, to: str, email: OutgoingEmail) -> str:
        """Send ``email`` to ``to``; SES's message id."""
        domain = self._sender.rsplit("@", 1)[-1]
        response = self._client.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": [to]},
            Content={"Raw": {"Data": email.to_mime(to, self._sender, domain)}},
            ConfigurationSetName=self._configuration_set,
        )
        return str(response["MessageId"])
