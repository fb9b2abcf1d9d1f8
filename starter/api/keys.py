"""API keys: made once, stored only as hashes, looked up in constant time.

A key reads ``pok_<keyId>_<secret>``. The key id is not secret: it names the stored record
(so ``api-key list`` and ``revoke`` can show and name keys) and lets a request find its
record without comparing against every hash. Only the SHA-256 of the secret is stored;
the secret is 32 random bytes, so a fast hash is enough (nothing to brute-force), and the
comparison is ``hmac.compare_digest``, so its time does not depend on how much matched.

The store is a JSON file (``PARTY_ORDERS_API_KEYS``, default ``.party-orders/api-keys.json``),
written atomically with mode 0600 under a lock file, and read again by a running API when
it changes, so a key made or revoked with the CLI counts at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import AwareDatetime, Field, ValidationError, model_validator

from settings import Settings
from workflows.domain.model import NonEmptyStr, WireModel

KEY_PREFIX = "pok"
# Compared against when a key id is unknown, so that an unknown id costs the same work.
_NO_HASH = hashlib.sha256(b"no such key").hexdigest()


class Role(StrEnum):
    PARTY = "party"  # a supplier, partner or customer: its own orders
    PROCESS = "process"  # an originating process: the orders it originated
    MANAGER = "manager"  # the enterprise's order managers: every order


class ApiKeyError(ValueError):
    """A key store that cannot be read, or a key request that breaks a rule."""


class ApiKey(WireModel):
    """One stored key: who it stands for, and the hash of its secret."""

    id: str
    role: Role
    party_id: NonEmptyStr | None = None
    process: NonEmptyStr | None = None
    label: str | None = None
    secret_sha256: str
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _bound(self) -> ApiKey:
        if (self.role == Role.PARTY) != (self.party_id is not None):
            raise ValueError("a party key, and only a party key, is bound to a party id")
        if (self.role == Role.PROCESS) != (self.process is not None):
            raise ValueError("a process key, and only a process key, is bound to a process")
        return self

    @property
    def subject(self) -> str:
        """Who the key stands for, as recorded in messages (``requestedBy``)."""
        bound = self.party_id or self.process
        return f"{self.role.value}:{bound}" if bound else f"{self.role.value}:{self.id}"


class KeyFile(WireModel):
    keys: list[ApiKey] = Field(default_factory=list)


def default_keys_path() -> Path:
    """``PARTY_ORDERS_API_KEYS``, else ``api-keys.json`` in the data folder."""
    return Settings.from_env().api_keys_path


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not key_id or not secret:
        return None
    return key_id, secret


class KeyStore:
    """The keys in one JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_keys_path()
        self._loaded: tuple[tuple[int, int] | None, dict[str, ApiKey]] | None = None

    # ------------------------------------------------------------------ reading

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _read(self) -> KeyFile:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return KeyFile()
        except OSError as error:
            raise ApiKeyError(f"cannot read the API keys in {self.path}: {error}") from None
        try:
            return KeyFile.model_validate_json(text)
        except ValidationError as error:
            raise ApiKeyError(f"the API key file {self.path} is not valid: {error}") from None

    def keys(self) -> dict[str, ApiKey]:
        """Every stored key by id, read again whenever the file changed."""
        stamp = self._stamp()
        if self._loaded is None or self._loaded[0] != stamp:
            self._loaded = (stamp, {key.id: key for key in self._read().keys})
        return self._loaded[1]

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key ``token`` is, or None (unknown, malformed or revoked)."""
        parts = split_key(token)
        key_id, secret = parts if parts else ("", token)
        key = self.keys().get(key_id)
        expected = key.secret_sha256 if key is not None else _NO_HASH
        matches = hmac.compare_digest(expected, _hash(secret))
        if key is None or not matches or key.revoked_at is not None:
            return None
        return key

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _locked(self) -> Iterator[KeyFile]:
        """The key file for a read-modify-write; written back (atomically) on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            content = self._read()
            yield content
            temporary = self.path.with_name(self.path.name + ".tmp")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(content.model_dump_json(by_alias=True, indent=2, exclude_none=True))
                out.write("\n")
            os.replace(temporary, self.path)

    def create(
        self,
        role: Role | str,
        *,
        party_id: str | None = None,
        process: str | None = None,
        label: str | None = None,
    ) -> tuple[ApiKey, str]:
        """Make a key; returns its record and the key itself (never stored, shown once)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        try:
            record = ApiKey(
                id=key_id,
                role=Role(role),
                party_id=party_id,
                process=process,
                label=label,
                secret_sha256=_hash(secret),
                created_at=datetime.now(UTC),
            )
        except ValueError as error:  # ValidationError, or an unknown role
            raise ApiKeyError(f"invalid API key request: {_reason(error)}") from None
        with self._locked() as content:
            content.keys.append(record)
        return record, f"{KEY_PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id; it is refused from then on. ApiKeyError if unknown."""
        with self._locked() as content:
            for index, key in enumerate(content.keys):
                if key.id == key_id:
                    if key.revoked_at is None:
                        key = key.model_copy(update={"revoked_at": datetime.now(UTC)})
                        content.keys[index] = key
                    return key
        raise ApiKeyError(f"no API key {key_id!r} in {self.path}")


def _reason(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(item["msg"].removeprefix("Value error, ") for item in error.errors())
    return str(error)


def key_summary(key: ApiKey) -> dict[str, str | None]:
    """What ``api-key list`` shows: everything but the hash."""
    data = json.loads(key.model_dump_json(by_alias=True, exclude={"secret_sha256"}))
    return {name: (None if value is None else str(value)) for name, value in data.items()}
