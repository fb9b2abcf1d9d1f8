"""The duplicate window of rules 5: which messages an order has applied, kept compactly.

A sender that retries (a connector after an outage, an integration that timed out) must
not have its message applied twice, however many other messages came in between. The
window keeps every message applied in the last ``DUPLICATE_WINDOW`` (24 h), and at least
the newest ``DUPLICATE_IDS_KEPT`` (10,000) whatever their age, up to
``DUPLICATE_IDS_AT_MOST`` (20,000). Each is 13 bytes: a 48-bit digest of the message name
and requestId, a 24-bit digest of its payload (to refuse the same requestId with other
content) and the minute it was applied. Continue-as-new carries them as one base64
string: 20,000 ids are about 350,000 characters of state.
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from workflows.domain.bounds import DUPLICATE_IDS_AT_MOST, DUPLICATE_IDS_KEPT, DUPLICATE_WINDOW

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_KEY_BYTES = 6
_PAYLOAD_BYTES = 3
_MINUTE_BYTES = 4
_ENTRY_BYTES = _KEY_BYTES + _PAYLOAD_BYTES + _MINUTE_BYTES


def message_key(name: str, request_id: str) -> bytes:
    """The digest a message is known by: its name and requestId."""
    return hashlib.sha256(f"{name}/{request_id}".encode()).digest()[:_KEY_BYTES]


def payload_digest(hex_digest: str) -> bytes:
    """The payload's digest as kept, from the hex digest of its canonical JSON."""
    return bytes.fromhex(hex_digest[: 2 * _PAYLOAD_BYTES])


def _minute(at: datetime) -> int:
    return max(0, int((at - _EPOCH) / timedelta(minutes=1)))


class MessageWindow:
    """The messages applied, oldest first: key -> (payload digest, minute applied)."""

    def __init__(self, entries: OrderedDict[bytes, tuple[bytes, int]] | None = None) -> None:
        self._entries: OrderedDict[bytes, tuple[bytes, int]] = entries or OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MessageWindow) and self._entries == other._entries

    def __repr__(self) -> str:
        return f"MessageWindow({len(self._entries)} ids)"

    def payload_of(self, key: bytes) -> bytes | None:
        """The payload digest of an applied message, None for one not in the window."""
        seen = self._entries.get(key)
        return seen[0] if seen is not None else None

    def remember(self, key: bytes, payload: bytes, at: datetime) -> None:
        """Keep an applied message; the oldest go once the window holds more than it
        must (older than 24 h beyond the newest 10,000, or past 20,000)."""
        minute = _minute(at)
        self._entries[key] = (payload, minute)
        oldest_kept = minute - int(DUPLICATE_WINDOW / timedelta(minutes=1))
        entries = self._entries
        while len(entries) > DUPLICATE_IDS_KEPT:
            _, (_, applied_at) = next(iter(entries.items()))
            if len(entries) <= DUPLICATE_IDS_AT_MOST and applied_at >= oldest_kept:
                break
            entries.popitem(last=False)

    # ---------------------------------------------------------------- on the wire

    def dump(self) -> str:
        packed = bytearray()
        for key, (payload, minute) in self._entries.items():
            packed += key + payload + minute.to_bytes(_MINUTE_BYTES, "big")
        return base64.b64encode(bytes(packed)).decode("ascii")

    @classmethod
    def parse(cls, value: Any) -> MessageWindow:
        if isinstance(value, MessageWindow):
            return value
        if not isinstance(value, str):
            raise ValueError("appliedWindow must be a base64 string")
        packed = base64.b64decode(value.encode("ascii"), validate=True)
        if len(packed) % _ENTRY_BYTES:
            raise ValueError("appliedWindow is not a whole number of entries")
        entries: OrderedDict[bytes, tuple[bytes, int]] = OrderedDict()
        for start in range(0, len(packed), _ENTRY_BYTES):
            entry = packed[start : start + _ENTRY_BYTES]
            payload = entry[_KEY_BYTES : _KEY_BYTES + _PAYLOAD_BYTES]
            minute = int.from_bytes(entry[_KEY_BYTES + _PAYLOAD_BYTES :], "big")
            entries[entry[:_KEY_BYTES]] = (payload, minute)
        return cls(entries)


# The window as a field of TrackerState: one base64 string in JSON.
WindowField = Annotated[
    MessageWindow,
    PlainValidator(MessageWindow.parse),
    PlainSerializer(MessageWindow.dump, return_type=str),
]
