"""A local mail sink: an SMTP server on loopback that files every message it receives.

For the demo, messages land in a Maildir a person opens with any mail client
(``mutt -f DIR``); for tests, the sink also records them in memory (``messages``) and
can be switched to refuse mail (``mode = "fail"``, a 451 on DATA) or a recipient
(``mode = "refuse_rcpt"``, a 550).
"""

from __future__ import annotations

import mailbox
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

from aiosmtpd.controller import Controller

SinkMode = Literal["accept", "fail", "refuse_rcpt"]


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    def text(self) -> str:
        """Every text part, decoded and joined (plain text and HTML)."""
        parts = [
            part.get_content()
            for part in self.message.walk()
            if part.get_content_maintype() == "text"
        ]
        return "\n".join(str(p) for p in parts)


class _Handler:
    def __init__(self, sink: MaildirSink) -> None:
        self._sink = sink

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        del server, session, rcpt_options
        if self._sink.mode == "refuse_rcpt":
            return "550 5.1.1 recipient refused by the sink"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        del server, session
        if self._sink.mode == "fail":
            return "451 4.3.0 temporary failure (sink in fail mode)"
        self._sink.store(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller that learns its port when asked to bind port 0."""

    def _trigger_server(self) -> None:
        server: Any = self.server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class MaildirSink:
    """An SMTP server on 127.0.0.1 writing each message to a Maildir and/or memory."""

    def __init__(
        self, maildir: Path | str | None = None, *, port: int = 0, record: bool = True
    ) -> None:
        self.maildir = Path(maildir) if maildir is not None else None
        self.record = record
        self.mode: SinkMode = "accept"
        self.messages: list[ReceivedMessage] = []
        self._lock = threading.Lock()
        self._controller = _Controller(_Handler(self), hostname="127.0.0.1", port=port)
        self._started = False

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> Self:
        if self.maildir is not None:
            mailbox.Maildir(self.maildir, create=True)
        self._controller.start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._controller.stop()
            self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
        self.mode = "accept"

    def url(self, to: str, *, sender: str = "vahti@example.org") -> str:
        """An Apprise ``mailto://`` URL that delivers to this sink without TLS (loopback)."""
        return f"mailto://{self.host}:{self.port}?to={quote(to)}&from={quote(sender)}&mode=insecure"

    def store(self, mail_from: str, rcpt_tos: tuple[str, ...], content: bytes) -> None:
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            if self.maildir is not None:
                mailbox.Maildir(self.maildir, create=True).add(content)
            if self.record:
                self.messages.append(ReceivedMessage(mail_from, rcpt_tos, parsed, content))
