"""The encryption key ring, as ``PARTY_ORDERS_ENCRYPTION_KEYS`` gives it.

    PARTY_ORDERS_ENCRYPTION_KEYS="k2:BASE64KEY,k1:BASE64KEY"

Each entry is a key id and a 32-byte AES-256 key in standard base64. The first key
encrypts everything written from now on; every key listed decrypts. Rotating is: put a
new key first and keep the old ones after it for as long as any history, memo or
schedule may hold a payload written under them.

Errors name the entry by its position and its key id, never the key material.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

# Where the keys come from (read by the top-level ``settings``), as errors name it.
KEYS_SOURCE = "PARTY_ORDERS_ENCRYPTION_KEYS"
KEY_BYTES = 32  # AES-256
# Key ids travel in every payload's metadata and in error messages: keep them plain.
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class EncryptionKeyError(ValueError):
    """The key list is malformed; the text says which entry and why (never the key)."""


@dataclass(frozen=True)
class EncryptionKey:
    key_id: str
    # Hidden from repr so that a key never ends up in a log line or a traceback.
    key: bytes = field(repr=False)


def parse_keys(text: str, *, source: str = KEYS_SOURCE) -> list[EncryptionKey]:
    """The keys in ``text`` (``id:base64,id:base64``), first the one that encrypts."""
    keys: list[EncryptionKey] = []
    seen: set[str] = set()
    entries = [entry.strip() for entry in text.split(",")]
    if not any(entries):
        raise EncryptionKeyError(f"{source} holds no key: expected ID:BASE64KEY[,ID:BASE64KEY]")
    for position, entry in enumerate(entries, start=1):
        where = f"{source} entry {position}"
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep:
            raise EncryptionKeyError(f"{where}: expected ID:BASE64KEY (no ':' found)")
        if not _KEY_ID.fullmatch(key_id):
            raise EncryptionKeyError(
                f"{where}: key id {key_id!r} must be 1 to 64 letters, digits, '.', '_' or '-',"
                " starting with a letter or digit"
            )
        if key_id in seen:
            raise EncryptionKeyError(f"{where}: key id {key_id!r} is listed twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise EncryptionKeyError(f"{where} (key id {key_id!r}): not valid base64") from None
        if len(key) != KEY_BYTES:
            raise EncryptionKeyError(
                f"{where} (key id {key_id!r}): an AES-256 key is {KEY_BYTES} bytes,"
                f" this one is {len(key)}"
            )
        seen.add(key_id)
        keys.append(EncryptionKey(key_id, key))
    return keys
