"""Every ``PARTY_ORDERS_*`` setting, read from the environment here and nowhere else.

    settings = Settings.from_env()        # a snapshot of the environment's PARTY_ORDERS_*
    settings.task_queue                   # each value parsed when asked for
    settings.notifications()              # the worker's channels
    local = settings.with_defaults({OUTBOX_ENV: "..."})   # derived, never os.environ

A value is parsed when it is asked for, so a bad one fails the command that needs it,
naming the variable, and no other. An empty variable counts as unset. Settings are passed
on explicitly: ``party-orders up`` derives its own (the outbox beside the database, a shared
portal secret) and hands them to the worker and the API it runs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

from pydantic import TypeAdapter, ValidationError

from activities.connectors import (
    BearerToken,
    ConnectorSettings,
    OAuth2ClientCredentials,
    PartyCredentials,
)
from activities.outbound import ALLOW_ENV, AllowList, check_url
from activities.portal import DEFAULT_PORTAL_BASE_URL, PortalSettings
from activities.settings import (
    DEFAULT_OUTBOX_PATH,
    DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
    NotificationSettings,
    SmtpSettings,
    check_webhook_url,
)
from activities.signing import (
    MASTER_SECRET_ENV,
    OLD_SHARED_SECRET_ENV,
    check_master_secret,
    require_master_secret,
)
from privacy.keys import EncryptionKey, parse_keys
from workflows.domain import names
from workflows.domain.bounds import MAX_SUBSCRIPTIONS_PER_OWNER

PREFIX = "PARTY_ORDERS_"

# Where the worker runs, and how.
TASK_QUEUE_ENV = names.TASK_QUEUE_ENV
METRICS_PORT_ENV = "PARTY_ORDERS_METRICS_PORT"
BUILD_ID_ENV = "PARTY_ORDERS_BUILD_ID"
DEPLOYMENT_NAME_ENV = "PARTY_ORDERS_DEPLOYMENT_NAME"
MAX_CACHED_WORKFLOWS_ENV = "PARTY_ORDERS_MAX_CACHED_WORKFLOWS"
LOG_LEVEL_ENV = "PARTY_ORDERS_LOG_LEVEL"
# Payload encryption, for every process that talks to Temporal.
ENCRYPTION_KEYS_ENV = "PARTY_ORDERS_ENCRYPTION_KEYS"
# Where notifications go (activities/channels.py, activities/mail.py, activities/portal.py).
OUTBOX_ENV = "PARTY_ORDERS_OUTBOX"
# Each receiver's signing secret is derived from this one (activities/signing.py).
WEBHOOK_MASTER_SECRET_ENV = MASTER_SECRET_ENV
# The old secret shared by every receiver: no longer read, only named when still set.
OLD_WEBHOOK_SECRET_ENV = OLD_SHARED_SECRET_ENV
# Internal addresses webhooks, hub callbacks and the mail relay may still reach.
CALLBACK_ALLOW_ENV = ALLOW_ENV
PROCESS_WEBHOOK_URL_ENV = "PARTY_ORDERS_PROCESS_WEBHOOK_URL"
CONTACT_WEBHOOK_URL_ENV = "PARTY_ORDERS_CONTACT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_ENV = "PARTY_ORDERS_WEBHOOK_TIMEOUT"
SMTP_URL_ENV = "PARTY_ORDERS_SMTP_URL"
SMTP_FROM_ENV = "PARTY_ORDERS_SMTP_FROM"
PORTAL_SECRET_ENV = "PARTY_ORDERS_PORTAL_SECRET"
PORTAL_BASE_URL_ENV = "PARTY_ORDERS_PORTAL_BASE_URL"
# A party's own ordering system: the secret a connector names (``credentials: NAME``),
# a bearer token in PARTY_ORDERS_SECRET_<NAME>, or OAuth2 client credentials in
# PARTY_ORDERS_SECRET_<NAME>_CLIENT_ID, _CLIENT_SECRET and _TOKEN_URL.
PARTY_SECRET_PREFIX = "PARTY_ORDERS_SECRET_"
# The command line and the client.
CONNECT_TIMEOUT_ENV = "PARTY_ORDERS_CONNECT_TIMEOUT"
ANSWER_TIMEOUT_ENV = "PARTY_ORDERS_ANSWER_TIMEOUT"  # how long a query or update may wait
DEBUG_ENV = "PARTY_ORDERS_DEBUG"
DATA_DIR_ENV = "PARTY_ORDERS_DATA_DIR"
CODEC_TOKEN_ENV = "PARTY_ORDERS_CODEC_TOKEN"
# The HTTP API.
API_KEYS_ENV = "PARTY_ORDERS_API_KEYS"
API_RATE_ENV = "PARTY_ORDERS_API_RATE"  # requests per second per key
API_BURST_ENV = "PARTY_ORDERS_API_BURST"  # requests a key may make at once
# Event subscriptions one owner (a party, a process, the managers) may hold.
HUB_SUBSCRIPTIONS_PER_OWNER_ENV = "PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER"
# The shortest check-in interval, response window or repeat interval an order may ask for
# where it enters (client API, CLI, HTTP API): shorter ones flood the party (a number taken
# as seconds once sent a check-in every 7 seconds). Demos and tests lower it.
MIN_DURATION_ENV = "PARTY_ORDERS_MIN_DURATION"

_DURATION = TypeAdapter(timedelta)
OAUTH2_SUFFIXES = ("CLIENT_ID", "CLIENT_SECRET", "TOKEN_URL")
DEFAULT_DEPLOYMENT_NAME = "party-orders"
# Cached workflow runs bound the worker's memory with many open orders; evicted ones are
# rebuilt from history when they next have work.
DEFAULT_MAX_CACHED_WORKFLOWS = 2_000
DEFAULT_DATA_DIR = Path(".party-orders")
# The command line gives up on an unreachable service sooner than a long-lived client.
DEFAULT_CLI_CONNECT_TIMEOUT = timedelta(seconds=5)
# How long a person waits for a worker to answer a query or an update before being told
# that no worker seems to be running (instead of waiting forever).
DEFAULT_ANSWER_TIMEOUT = timedelta(seconds=20)
DEFAULT_API_RATE = 20.0
DEFAULT_MIN_DURATION = timedelta(minutes=5)
# What ``party-orders up --demo`` needs: its orders live for seconds.
DEMO_MIN_DURATION = "PT5S"
DEFAULT_API_BURST = 100
DEFAULT_HUB_SUBSCRIPTIONS_PER_OWNER = 20


@dataclass(frozen=True)
class Settings:
    """The ``PARTY_ORDERS_*`` values of one process, unparsed until asked for."""

    values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Only our variables, and a copy nobody can change behind the settings' back.
        ours = {k: v for k, v in self.values.items() if k.startswith(PREFIX)}
        object.__setattr__(self, "values", MappingProxyType(ours))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``environ`` (default: this process's environment)."""
        return cls(os.environ if environ is None else environ)

    def with_defaults(self, defaults: Mapping[str, str]) -> Settings:
        """These settings, with ``defaults`` for the variables left unset."""
        unset = {name: value for name, value in defaults.items() if self.get(name) is None}
        return Settings({**self.values, **unset})

    def get(self, name: str) -> str | None:
        """The variable's text, None when it is unset or empty."""
        return self.values.get(name) or None

    # ---------------------------------------------------------------- the worker

    @property
    def task_queue(self) -> str:
        return self.get(TASK_QUEUE_ENV) or names.DEFAULT_TASK_QUEUE

    def metrics_address(self) -> str | None:
        """Where the Prometheus exporter listens: ``PARTY_ORDERS_METRICS_PORT`` is a port (on
        every interface, for a scraper elsewhere) or ``HOST:PORT``; None when unset."""
        raw = (self.get(METRICS_PORT_ENV) or "").strip()
        if not raw:
            return None
        host, _, port = raw.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{METRICS_PORT_ENV} must be a port or HOST:PORT, got {raw!r}")
        return f"{host or '0.0.0.0'}:{int(port)}"

    @property
    def build_id(self) -> str | None:
        """The worker's build, when it runs with Worker Deployment Versioning."""
        return (self.get(BUILD_ID_ENV) or "").strip() or None

    @property
    def deployment_name(self) -> str:
        return (self.get(DEPLOYMENT_NAME_ENV) or "").strip() or DEFAULT_DEPLOYMENT_NAME

    @property
    def max_cached_workflows(self) -> int:
        return int(self.get(MAX_CACHED_WORKFLOWS_ENV) or DEFAULT_MAX_CACHED_WORKFLOWS)

    def log_level(self, default: str) -> str:
        return (self.get(LOG_LEVEL_ENV) or default).upper()

    def encryption_keys(self) -> list[EncryptionKey] | None:
        """The configured keys, or None when encryption is off; EncryptionKeyError when the
        list is malformed."""
        text = self.get(ENCRYPTION_KEYS_ENV) or ""
        return parse_keys(text) if text.strip() else None

    # ---------------------------------------------------------------- notifications

    def notifications(self) -> NotificationSettings:
        """Where the worker's notifications go. A relative outbox path is fixed against the
        current directory now, so a later ``chdir`` cannot move the outbox. Bad values
        raise ValueError naming the variable."""
        outbox_raw = self.get(OUTBOX_ENV)
        outbox_path = Path(outbox_raw).expanduser() if outbox_raw else DEFAULT_OUTBOX_PATH
        if not outbox_path.is_absolute():
            outbox_path = Path.cwd() / outbox_path
        allow = self.callback_allow()  # a bad entry stops the worker at start, named
        return NotificationSettings(
            outbox_path=outbox_path,
            master_secret=self.master_secret(),
            process_webhook_url=self._webhook_url(PROCESS_WEBHOOK_URL_ENV, allow),
            contact_webhook_url=self._webhook_url(CONTACT_WEBHOOK_URL_ENV, allow),
            webhook_timeout_seconds=self._webhook_timeout(),
            portal=self.portal(),
            smtp=self.smtp(),
            callback_allow=allow,
        )

    def _webhook_url(self, name: str, allow: AllowList) -> str | None:
        url = self.get(name)
        if url is None:
            return None
        url = check_webhook_url(url.strip(), name)
        check_url(url, name, allow)  # no internal address unless the allow list has it
        return url

    def master_secret(self) -> str | None:
        """The webhook master secret, verbatim (a stripped copy could diverge from the
        operator's); None when unset, ValueError when too short to be a secret."""
        value = self.get(MASTER_SECRET_ENV)
        return check_master_secret(value, MASTER_SECRET_ENV) if value is not None else None

    def require_master_secret(self) -> str:
        """The master secret, or MasterSecretMissing saying how to set one (and naming the
        old shared secret when that is what is set)."""
        return require_master_secret(
            self.master_secret(), self.get(OLD_SHARED_SECRET_ENV) is not None
        )

    def callback_allow(self) -> AllowList:
        """The internal addresses outbound calls may still reach; ValueError naming the
        variable and the entry when the list does not parse."""
        return AllowList.setting(self.get(CALLBACK_ALLOW_ENV))

    def with_callback_allowed(self, entry: str) -> Settings:
        """These settings with ``entry`` added to the allow list (checked now): how ``up``
        lets its worker reach the local listeners it starts itself."""
        self.callback_allow().also(entry)  # ValueError for a bad entry or list
        current = [item.strip() for item in (self.get(CALLBACK_ALLOW_ENV) or "").split(",")]
        items = [item for item in current if item]
        if entry not in items:
            items.append(entry)
        return Settings({**self.values, CALLBACK_ALLOW_ENV: ",".join(items)})

    def _webhook_timeout(self) -> float:
        raw = self.get(WEBHOOK_TIMEOUT_ENV)
        if raw is None:
            return DEFAULT_WEBHOOK_TIMEOUT_SECONDS
        try:
            timeout = float(raw)
        except ValueError:
            timeout = math.nan
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(
                f"{WEBHOOK_TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}"
            )
        return timeout

    def portal(self) -> PortalSettings | None:
        """Signed check-in links; None when no secret is set (check-ins carry no link)."""
        secret = self.get(PORTAL_SECRET_ENV)
        if secret is None:
            return None
        base_url = (self.get(PORTAL_BASE_URL_ENV) or "").strip() or DEFAULT_PORTAL_BASE_URL
        return PortalSettings(secret=secret, base_url=base_url)

    def smtp(self) -> SmtpSettings | None:
        """The email channel; None when no mail server is set."""
        url = self.get(SMTP_URL_ENV)
        if url is None:
            return None
        return SmtpSettings.from_url(url, (self.get(SMTP_FROM_ENV) or "").strip() or None)

    def party_credentials(self, name: str) -> PartyCredentials | None:
        """The secret a connector's ``credentials: NAME`` names; None when no variable
        holds it. ValueError naming the variables when the OAuth2 three are incomplete."""
        prefix = f"{PARTY_SECRET_PREFIX}{name}"
        token = self.get(prefix)
        if token is not None:
            return BearerToken(token.strip())
        parts = {suffix: self.get(f"{prefix}_{suffix}") for suffix in OAUTH2_SUFFIXES}
        if all(value is None for value in parts.values()):
            return None
        missing = [f"{prefix}_{suffix}" for suffix, value in parts.items() if value is None]
        if missing:
            raise ValueError(f"{', '.join(missing)} must be set too (OAuth2 client credentials)")
        return OAuth2ClientCredentials(
            client_id=parts["CLIENT_ID"] or "",
            client_secret=parts["CLIENT_SECRET"] or "",
            token_url=parts["TOKEN_URL"] or "",
        )

    def connectors(self) -> ConnectorSettings:
        """What the connectors' activities need: the secrets, looked up when a call is
        made, and the outbound allow list."""
        return ConnectorSettings(credentials=self.party_credentials, allow=self.callback_allow())

    # ---------------------------------------------------------------- the command line

    @property
    def connect_timeout(self) -> timedelta:
        return self._seconds(CONNECT_TIMEOUT_ENV, DEFAULT_CLI_CONNECT_TIMEOUT)

    @property
    def answer_timeout(self) -> timedelta:
        return self._seconds(ANSWER_TIMEOUT_ENV, DEFAULT_ANSWER_TIMEOUT)

    def _seconds(self, name: str, default: timedelta) -> timedelta:
        """A positive number of seconds; ValueError naming the variable otherwise."""
        raw = self.get(name)
        if raw is None:
            return default
        try:
            seconds = float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
        if seconds <= 0:
            raise ValueError(f"{name} must be positive, got {raw!r}")
        return timedelta(seconds=seconds)

    @property
    def debug(self) -> bool:
        return self.get(DEBUG_ENV) is not None

    @property
    def data_dir(self) -> Path:
        return Path(self.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)

    @property
    def codec_token(self) -> str | None:
        return self.get(CODEC_TOKEN_ENV)

    # ---------------------------------------------------------------- the HTTP API

    @property
    def api_keys_path(self) -> Path:
        return Path(self.get(API_KEYS_ENV) or self.data_dir / "api-keys.json")

    def api_rate_limit(self) -> tuple[float, int]:
        """Requests per second per key, and how many a key may make at once."""
        try:
            rate = float(self.get(API_RATE_ENV) or DEFAULT_API_RATE)
            burst = int(self.get(API_BURST_ENV) or DEFAULT_API_BURST)
        except ValueError as error:
            raise ValueError(f"{API_RATE_ENV}/{API_BURST_ENV} must be numbers: {error}") from None
        return rate, burst

    @property
    def hub_subscriptions_per_owner(self) -> int:
        """How many event subscriptions one owner may hold: 1 to the registry's own
        ceiling, ``MAX_SUBSCRIPTIONS_PER_OWNER`` (it may lower it, not raise it)."""
        raw = (self.get(HUB_SUBSCRIPTIONS_PER_OWNER_ENV) or "").strip()
        if not raw:
            return DEFAULT_HUB_SUBSCRIPTIONS_PER_OWNER
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_SUBSCRIPTIONS_PER_OWNER:
            raise ValueError(
                f"{HUB_SUBSCRIPTIONS_PER_OWNER_ENV} must be a whole number from 1 to"
                f" {MAX_SUBSCRIPTIONS_PER_OWNER}, got {raw!r}"
            )
        return value

    def min_duration(self) -> timedelta:
        """``PARTY_ORDERS_MIN_DURATION`` (an ISO 8601 duration), by default five minutes."""
        text = (self.get(MIN_DURATION_ENV) or "").strip()
        if not text:
            return DEFAULT_MIN_DURATION
        try:
            value = _DURATION.validate_json(json.dumps(text), strict=True)
        except ValidationError:
            raise ValueError(
                f"{MIN_DURATION_ENV}: {text!r} is not an ISO 8601 duration such as PT5M"
            ) from None
        if value <= timedelta(0):
            raise ValueError(f"{MIN_DURATION_ENV}: {text!r} must be longer than zero")
        return value
