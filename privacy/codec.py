"""The AES-256-GCM payload codec, and the data converter every process connects with.

Each payload (workflow input and result, signals, updates, queries, activity inputs,
memo, static summary and current details, failure messages) is serialized whole and
encrypted with the first key of the ring under a fresh random 96-bit nonce:

    metadata  encoding = binary/encrypted, encryption-key-id = <key id>
    data      nonce (12 bytes) || ciphertext || GCM tag (16 bytes)

The key id is also the GCM associated data, so a payload relabelled with another key id
fails authentication like a tampered one. Decoding picks the key by the payload's key id;
a key id the ring does not hold is an error naming it, never a pass-through. Payloads
that were never encrypted (written before encryption was turned on) decode as they are,
so orders already running keep running when the keys are first set.

Search attributes are not payloads the codec sees: Temporal must index them in the clear
(``workflows.visibility`` publishes only ids, states, a level and a date).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from privacy.keys import KEYS_SOURCE, EncryptionKey

ENCODING_KEY = "encoding"
ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_KEY = "encryption-key-id"
NONCE_BYTES = 12
TAG_BYTES = 16


class PayloadDecryptionError(ValueError):
    """An encrypted payload that cannot be decrypted; the text names the key id."""


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with key rotation: the first key encrypts, every key decrypts."""

    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        if not keys:
            raise ValueError("an encryption codec needs at least one key")
        self._keys = {key.key_id: AESGCM(key.key) for key in keys}
        self.key_id = keys[0].key_id
        self._encryptor = self._keys[self.key_id]

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._encryptor.encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(
            metadata={ENCODING_KEY: ENCRYPTED_ENCODING, KEY_ID_KEY: key_id},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get(ENCODING_KEY) != ENCRYPTED_ENCODING:
            return payload  # never encrypted: written before the keys were set
        raw_id = payload.metadata.get(KEY_ID_KEY)
        if raw_id is None:
            raise PayloadDecryptionError(
                f"an encrypted payload carries no {KEY_ID_KEY} in its metadata"
            )
        key_id = raw_id.decode("utf-8", errors="replace")
        decryptor = self._keys.get(key_id)
        if decryptor is None:
            raise PayloadDecryptionError(
                f"payload encrypted under key id {key_id!r}, which {KEYS_SOURCE}"
                f" does not hold (it holds {', '.join(self._keys)}): add that key to the list"
            )
        if len(payload.data) < NONCE_BYTES + TAG_BYTES:
            raise PayloadDecryptionError(
                f"payload under key id {key_id!r} is too short to be AES-GCM ciphertext"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = decryptor.decrypt(nonce, sealed, raw_id)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload under key id {key_id!r} failed authentication: it was altered,"
                " or that key id names a different key than the one it was written with"
            ) from None
        return Payload.FromString(plain)


def encrypted_converter(codec: EncryptionCodec) -> DataConverter:
    """The pydantic data converter with ``codec``; failure messages and stack traces are
    moved into an encoded payload too, since an error text can quote an order's data."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def codec_for(keys: Sequence[EncryptionKey] | None) -> EncryptionCodec | None:
    """The codec for ``keys`` (``Settings.encryption_keys()``), None when there are none."""
    return EncryptionCodec(keys) if keys else None


def data_converter(keys: Sequence[EncryptionKey] | None = None) -> DataConverter:
    """The converter for a process: pydantic, encrypted when it has keys."""
    codec = codec_for(keys)
    return encrypted_converter(codec) if codec is not None else pydantic_data_converter
