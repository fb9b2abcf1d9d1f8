"""The PARTY_ORDERS_* settings (``settings.py``): read once, passed on, derived, never
written back to the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from settings import (
    ANSWER_TIMEOUT_ENV,
    API_KEYS_ENV,
    DATA_DIR_ENV,
    OUTBOX_ENV,
    PORTAL_SECRET_ENV,
    TASK_QUEUE_ENV,
    Settings,
)


def test_settings_are_a_snapshot_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TASK_QUEUE_ENV, "orders-eu")
    monkeypatch.setenv("UNRELATED", "x")
    settings = Settings.from_env()
    monkeypatch.setenv(TASK_QUEUE_ENV, "orders-us")
    assert settings.task_queue == "orders-eu"
    assert "UNRELATED" not in settings.values


def test_an_empty_variable_counts_as_unset() -> None:
    assert Settings({TASK_QUEUE_ENV: ""}).task_queue == "party-orders"
    assert Settings({PORTAL_SECRET_ENV: ""}).portal() is None


def test_defaults_fill_only_what_is_unset(tmp_path: Path) -> None:
    mine = str(tmp_path / "mine.jsonl")
    settings = Settings({OUTBOX_ENV: mine})
    derived = settings.with_defaults(
        {OUTBOX_ENV: str(tmp_path / "other.jsonl"), PORTAL_SECRET_ENV: "s" * 32}
    )
    assert derived.notifications().outbox_path == Path(mine)
    portal = derived.portal()
    assert portal is not None and portal.secret == "s" * 32
    # The settings derived from are unchanged.
    assert settings.portal() is None


def test_a_bad_value_fails_only_what_needs_it() -> None:
    settings = Settings({ANSWER_TIMEOUT_ENV: "soon"})
    assert settings.task_queue == "party-orders"
    with pytest.raises(ValueError, match=ANSWER_TIMEOUT_ENV):
        _ = settings.answer_timeout
    assert Settings({ANSWER_TIMEOUT_ENV: "2.5"}).answer_timeout == timedelta(seconds=2.5)


def test_the_api_keys_live_in_the_data_folder_unless_told_otherwise(tmp_path: Path) -> None:
    assert Settings({DATA_DIR_ENV: str(tmp_path)}).api_keys_path == tmp_path / "api-keys.json"
    elsewhere = tmp_path / "keys.json"
    assert Settings({API_KEYS_ENV: str(elsewhere)}).api_keys_path == elsewhere


def test_the_subscriptions_per_owner_lie_within_the_registrys_ceiling() -> None:
    from settings import DEFAULT_HUB_SUBSCRIPTIONS_PER_OWNER, HUB_SUBSCRIPTIONS_PER_OWNER_ENV
    from workflows.domain.bounds import MAX_SUBSCRIPTIONS_PER_OWNER

    assert Settings({}).hub_subscriptions_per_owner == DEFAULT_HUB_SUBSCRIPTIONS_PER_OWNER
    assert Settings({HUB_SUBSCRIPTIONS_PER_OWNER_ENV: "3"}).hub_subscriptions_per_owner == 3
    for unusable in ("many", "0", "-1", "2.5", str(MAX_SUBSCRIPTIONS_PER_OWNER + 1)):
        with pytest.raises(ValueError, match=HUB_SUBSCRIPTIONS_PER_OWNER_ENV):
            _ = Settings({HUB_SUBSCRIPTIONS_PER_OWNER_ENV: unusable}).hub_subscriptions_per_owner
