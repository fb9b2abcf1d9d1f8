"""A local SMTP server that keeps every mail as a file: the demo's (and the tests') mailbox.

``party-orders up --demo`` runs one on 127.0.0.1 and points the worker's email channel at
it, so the check-in mails to the demo parties land in ``.party-orders/mail/``: one ``.eml``
file per mail (any mail program opens it), named by arrival time and recipient. It is
aiosmtpd's real SMTP server on the running event loop, not a stand-in.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


@dataclass
class MailSink:
    """Accepts every mail, writes it to ``directory`` and keeps it in ``received``."""

    directory: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, chosen when started
    received: list[EmailMessage] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _count: int = 0

    @property
    def url(self) -> str:
        """The ``PARTY_ORDERS_SMTP_URL`` that reaches this sink."""
        return f"smtp://{self.host}:{self.port}"

    async def start(self) -> MailSink:
        self.directory.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="party-orders-mail-sink"), self.host, self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MailSink:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # aiosmtpd's handler hook: called once per mail, after DATA.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)  # policy.default makes EmailMessage
        self._count += 1
        recipient = _UNSAFE.sub("_", ",".join(str(r) for r in envelope.rcpt_tos))[:80]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / f"{stamp}-{self._count:04d}-{recipient}.eml"
        await asyncio.to_thread(path.write_bytes, content)
        self.received.append(message)
        return "250 Message accepted for delivery"

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml"))
