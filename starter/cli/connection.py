"""The client every command that talks to Temporal connects with."""

from __future__ import annotations

from settings import Settings
from starter.client import PartyOrderClient
from starter.errors import InvalidInput


async def connect_client(settings: Settings | None = None) -> PartyOrderClient:
    """A client with the command line's timeouts (``PARTY_ORDERS_CONNECT_TIMEOUT``,
    ``PARTY_ORDERS_ANSWER_TIMEOUT``)."""
    settings = settings or Settings.from_env()
    try:
        connect_timeout, answer_timeout = settings.connect_timeout, settings.answer_timeout
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return await PartyOrderClient.connect(
        connect_timeout=connect_timeout, answer_timeout=answer_timeout, settings=settings
    )
