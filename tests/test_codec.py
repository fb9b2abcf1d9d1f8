"""The AES-256-GCM payload codec and its key ring: rotation, tampering, unknown key ids."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from privacy.codec import (
    ENCRYPTED_ENCODING,
    KEY_ID_KEY,
    EncryptionCodec,
    PayloadDecryptionError,
    data_converter,
)
from privacy.keys import EncryptionKeyError, parse_keys
from settings import ENCRYPTION_KEYS_ENV, Settings

EMAIL = "orders@acme.example"


def entry(key_id: str, key: bytes | None = None) -> str:
    return f"{key_id}:{base64.b64encode(key or os.urandom(32)).decode()}"


def codec(text: str) -> EncryptionCodec:
    return EncryptionCodec(parse_keys(text))


def plain(value: object) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([value])[0]


async def test_round_trip_hides_the_payload_and_names_the_key() -> None:
    ring = codec(entry("k1"))
    original = plain({"contactEmail": EMAIL})
    [sealed] = await ring.encode([original])
    assert sealed.metadata["encoding"] == ENCRYPTED_ENCODING
    assert sealed.metadata[KEY_ID_KEY] == b"k1"
    assert EMAIL.encode() not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()  # the inner metadata is sealed too
    [opened] = await ring.decode([sealed])
    assert opened == original


async def test_every_payload_gets_a_fresh_nonce() -> None:
    ring = codec(entry("k1"))
    original = plain("same text")
    first, second = await ring.encode([original, original])
    assert first.data[:12] != second.data[:12]
    assert first.data != second.data


async def test_rotation_new_key_encrypts_old_keys_still_decrypt() -> None:
    k1, k2 = entry("k1"), entry("k2")
    before = codec(k1)
    [old] = await before.encode([plain("written under k1")])
    after = codec(f"{k2},{k1}")
    [new] = await after.encode([plain("written under k2")])
    assert new.metadata[KEY_ID_KEY] == b"k2"
    assert await after.decode([old, new]) == [plain("written under k1"), plain("written under k2")]
    # A process that has not got the new key yet cannot read what the new one wrote.
    with pytest.raises(PayloadDecryptionError, match="'k2'"):
        await before.decode([new])


async def test_an_unknown_key_id_fails_naming_it() -> None:
    [sealed] = await codec(entry("k9")).encode([plain({"contactEmail": EMAIL})])
    with pytest.raises(PayloadDecryptionError) as raised:
        await codec(f"{entry('k2')},{entry('k1')}").decode([sealed])
    message = str(raised.value)
    assert "'k9'" in message and "k2, k1" in message
    assert ENCRYPTION_KEYS_ENV in message


async def test_a_tampered_payload_fails_the_gcm_tag() -> None:
    ring = codec(entry("k1"))
    [sealed] = await ring.encode([plain({"contactEmail": EMAIL})])
    for position in (0, 12, len(sealed.data) - 1):  # nonce, ciphertext, tag
        altered = bytearray(sealed.data)
        altered[position] ^= 0x01
        tampered = Payload(metadata=dict(sealed.metadata), data=bytes(altered))
        with pytest.raises(PayloadDecryptionError, match="failed authentication"):
            await ring.decode([tampered])
    truncated = Payload(metadata=dict(sealed.metadata), data=sealed.data[:20])
    with pytest.raises(PayloadDecryptionError, match="too short"):
        await ring.decode([truncated])


async def test_a_relabelled_key_id_fails_like_tampering() -> None:
    # Two keys, one payload moved from one label to the other: the key id is bound as
    # associated data, so even the same key material under another id is refused.
    key = os.urandom(32)
    ring = codec(f"{entry('a', key)},{entry('b', key)}")
    [sealed] = await ring.encode([plain("x")])
    relabelled = Payload(
        metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_KEY: b"b"}, data=sealed.data
    )
    with pytest.raises(PayloadDecryptionError, match="'b' failed authentication"):
        await ring.decode([relabelled])


async def test_an_encrypted_payload_without_key_id_is_refused() -> None:
    [sealed] = await codec(entry("k1")).encode([plain("x")])
    bare = Payload(metadata={"encoding": ENCRYPTED_ENCODING}, data=sealed.data)
    with pytest.raises(PayloadDecryptionError, match=KEY_ID_KEY):
        await codec(entry("k1")).decode([bare])


async def test_payloads_written_before_encryption_decode_as_they_are() -> None:
    original = plain({"id": "PO-1"})
    assert await codec(entry("k1")).decode([original]) == [original]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "holds no key"),
        (" , ", "holds no key"),
        ("k1", "no ':' found"),
        (":AAAA", "key id ''"),
        ("k 1:AAAA", "key id 'k 1'"),
        ("k1:not base64!", "entry 1 (key id 'k1'): not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "is 32 bytes, this one is 5"),
        (f"{entry('k1')},{entry('k1')}", "entry 2: key id 'k1' is listed twice"),
    ],
)
def test_a_malformed_key_list_says_which_entry_and_why(text: str, complaint: str) -> None:
    with pytest.raises(EncryptionKeyError) as raised:
        parse_keys(text)
    assert complaint in str(raised.value)


def test_errors_and_reprs_never_show_key_material() -> None:
    key = os.urandom(16)  # the wrong length: the error must still not quote it
    encoded = base64.b64encode(key).decode()
    with pytest.raises(EncryptionKeyError) as raised:
        parse_keys(f"k1:{encoded}")
    assert encoded not in str(raised.value)
    good = os.urandom(32)
    [parsed] = parse_keys(entry("k1", good))
    assert base64.b64encode(good).decode() not in repr(parsed)
    assert repr(good) not in repr(parsed)


def test_the_converter_encrypts_only_when_keys_are_set() -> None:
    assert data_converter(Settings({}).encryption_keys()) is pydantic_data_converter
    assert (
        data_converter(Settings({ENCRYPTION_KEYS_ENV: "  "}).encryption_keys())
        is pydantic_data_converter
    )
    converter = data_converter(
        Settings({ENCRYPTION_KEYS_ENV: f"{entry('k2')},{entry('k1')}"}).encryption_keys()
    )
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.key_ids == ["k2", "k1"]
    # Failure messages can quote an order's data: they go into an encrypted payload too.
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    with pytest.raises(EncryptionKeyError):
        data_converter(Settings({ENCRYPTION_KEYS_ENV: "k1:xx"}).encryption_keys())
