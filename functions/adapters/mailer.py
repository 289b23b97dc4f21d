"""Send an invoice email with SES v2, as one raw MIME message with its PDF (R5)."""

from __future__ import annotations

from typing import Any

from functions.adapters.invoice_email import RenderedEmail


class SesMailer:
    def __init__(self, client: Any, sender: str, configuration_set: str) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set

    @property
    def sender(self) -> str:
        return self._sender

    def send(self, to: str, email: RenderedEmail) -> str:
        """Send ``email`` to ``to``; SES's message id."""
        domain = self._sender.rsplit("@", 1)[-1]
        response = self._client.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": [to]},
            Content={"Raw": {"Data": email.to_mime(to, self._sender, domain)}},
            ConfigurationSetName=self._configuration_set,
        )
        return str(response["MessageId"])
