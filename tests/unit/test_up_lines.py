"""What `party-orders up` tells another shell: the exports it needs to reach this stack."""

from __future__ import annotations

from pathlib import Path

from starter.local.up import other_shells


def test_a_stack_in_another_folder_names_its_keys_and_the_export_for_them() -> None:
    keys = Path("/tmp/stack-b/api-keys.json")
    assert other_shells("localhost:7244", keys) == [
        f"API keys          {keys}",
        f"Other shells      export TEMPORAL_ADDRESS=localhost:7244 PARTY_ORDERS_API_KEYS={keys}",
    ]


def test_the_default_stack_needs_no_export() -> None:
    keys = Path(".party-orders/api-keys.json")
    assert other_shells("localhost:7233", keys) == [f"API keys          {keys}"]


def test_without_the_api_only_the_server_address() -> None:
    assert other_shells("localhost:7244", None) == [
        "Other shells      export TEMPORAL_ADDRESS=localhost:7244"
    ]
    assert other_shells("localhost:7233", None) == []


def test_reset_deletes_the_folder_of_up_only_after_a_yes(tmp_path: Path) -> None:
    from starter.local.up import reset_data_dir

    data = tmp_path / "data"
    data.mkdir()
    (data / "temporal.db").write_text("")
    asked: list[str] = []

    def say_no(question: str) -> str:
        asked.append(question)
        return "n"

    assert not reset_data_dir(data, confirmed=False, ask=say_no)
    assert data.exists() and "Delete" in asked[0]
    assert reset_data_dir(data, confirmed=False, ask=lambda _: "y")
    assert not data.exists()
    # Not a folder of `up`: nothing is deleted, whatever the answer.
    other = tmp_path / "other"
    other.mkdir()
    assert not reset_data_dir(other, confirmed=True, ask=lambda _: "y")
    assert other.exists()
    # Nothing to delete: `up` goes on.
    assert reset_data_dir(tmp_path / "absent", confirmed=False, ask=lambda _: "")


def test_a_new_demo_revokes_the_keys_of_the_one_before(tmp_path: Path) -> None:
    from starter.api.keys import KeyStore
    from starter.local.up import DEMO_KEY_LABEL, revoke_demo_keys

    keys = KeyStore(tmp_path / "api-keys.json")
    demo, _ = keys.create("manager", label=DEMO_KEY_LABEL)
    own, _ = keys.create("manager", label="ops")
    assert revoke_demo_keys(keys) == [demo.id]
    assert keys.keys()[demo.id].revoked_at is not None
    assert keys.keys()[own.id].revoked_at is None
    assert revoke_demo_keys(keys) == []  # revoked once
