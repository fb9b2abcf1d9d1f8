"""Encryption on, end to end, on the real dev server: an order's whole life with the AES-GCM
codec leaves only ciphertext in Temporal (histories of both workflows, memo, static
summary, current details), while the project's client reads the order as usual. Search
attributes, which Temporal must index in the clear, hold no personal data."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RawValue

import worker
from privacy.codec import ENCRYPTED_ENCODING, KEY_ID_KEY, EncryptionCodec, data_converter
from settings import ENCRYPTION_KEYS_ENV, Settings
from starter.cli import main
from starter.client import PartyOrderClient
from starter.samples import example_order
from tests.conftest import read_outbox, running_worker, unique
from workflows.domain.model import PartyOrder, close_workflow_id, track_workflow_id
from workflows.domain.rules import RULE_VERSIONS
from workflows.patches import BOUNDED_RUNS_PATCH, HOLIDAYS_PATCH, LOCAL_NOTICES_PATCH
from workflows.visibility import search_attribute_values

EMAIL = "jane.doe@acme.example"
WEBHOOK = "https://hooks.acme.example/orders?token=s3cret-token"
NOTE = "call Jane on +49 170 5550101 before the survey"
PARTY_NAME = "Jane Doe Networks"
# What the SDK's core writes, in the clear, on a local activity's marker.
LOCAL_ACTIVITY_BOOKKEEPING = {
    "seq",
    "attempt",
    "activity_id",
    "activity_type",
    "complete_time",
    "backoff",
    "original_schedule_time",
    "activation_index",
}
DESCRIPTION = "backhaul for Jane's private residence"
PERSONAL = [EMAIL, NOTE, PARTY_NAME, DESCRIPTION, "+49 170 5550101", "s3cret-token"]
METADATA_QUERY = "__temporal_workflow_metadata"  # the Web UI's current details


def key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def payloads_in(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload inside a proto message, with where it was, search attributes left out
    (Temporal indexes those in the clear; they are checked on their own)."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        if field.name in ("search_attributes", "indexed_fields"):
            continue
        where = f"{path}.{field.name}"
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    yield from payloads_in(item, f"{where}[{key}]")
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from payloads_in(item, f"{where}[{index}]")
        else:
            yield from payloads_in(value, where)


async def raw_history(handle: WorkflowHandle[Any, Any]) -> History:
    history = await handle.fetch_history()
    return History(events=history.events)


async def wait_until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_an_encrypted_order_leaves_only_ciphertext_in_temporal(
    dev_client: Client, outbox: Path
) -> None:
    converter = data_converter(
        Settings({ENCRYPTION_KEYS_ENV: f"{key_entry('k2')},{key_entry('k1')}"}).encryption_keys()
    )
    encrypted = Client(
        dev_client.service_client, namespace=dev_client.namespace, data_converter=converter
    )
    plain = dev_client  # the pydantic converter, no keys: what an operator of Temporal sees
    order_id = unique("ENC")
    order = example_order(order_id, datetime.now(UTC), description=DESCRIPTION)
    order["party"] = {
        "id": "ACME",
        "name": PARTY_NAME,
        "role": "supplier",
        "contactEmail": EMAIL,
        "webhookUrl": None,
    }
    async with running_worker(encrypted, outbox) as (_, task_queue):
        client = PartyOrderClient(encrypted, task_queue)
        await client.start(order)
        await client.report_progress(order_id, {"percentComplete": 30, "note": NOTE}, confirm=True)
        read = await client.get(order_id)
        assert read.party.contact_email == EMAIL and read.percent_complete == 30

        track = plain.get_workflow_handle(track_workflow_id(order_id))
        # Current details (Web UI, "User Metadata"): the worker answers in ciphertext.
        metadata = await track.query(METADATA_QUERY, result_type=RawValue)
        assert metadata.payload.metadata["encoding"] == ENCRYPTED_ENCODING
        assert metadata.payload.metadata[KEY_ID_KEY] == b"k2"
        # get_order, asked without the keys, is ciphertext too.
        answer = await track.query("get_order", result_type=RawValue)
        assert answer.payload.metadata["encoding"] == ENCRYPTED_ENCODING
        assert not any(text.encode() in answer.payload.data for text in PERSONAL)

        await client.report_progress(order_id, {"delivered": True}, confirm=False)
        final = await encrypted.get_workflow_handle(
            track_workflow_id(order_id), result_type=PartyOrder
        ).result()
        assert final.state.value == "completed" and final.party.contact_email == EMAIL
        close = plain.get_workflow_handle(close_workflow_id(order_id))

        async def closed() -> bool:
            try:
                return (await close.describe()).close_time is not None
            except Exception:
                return False

        await wait_until(closed)
        # The activities got their inputs decrypted: the notifications went out.
        kinds = {line["kind"] for line in read_outbox(outbox) if line["orderId"] == order_id}
        assert "completed" in kinds

    for handle in (track, close):
        history = await raw_history(handle)
        blob = history.SerializeToString()
        for text in PERSONAL:
            assert text.encode() not in blob, f"{text!r} in the raw history of {handle.id}"
        found = list(payloads_in(history))
        assert len(found) > 5
        # The SDK writes two kinds of marker details itself, past the data converter, and
        # no order data in either: a patch marker's (the patch id, "tracking-rules-4") and
        # a local activity marker's bookkeeping (sequence, attempt, activity id and type,
        # times). The local activity's result (the notice sent) is ciphertext.
        written_by_sdk = (
            "marker_recorded_event_attributes.details[patch-data].payloads[0]",
            "marker_recorded_event_attributes.details[data].payloads[0]",
        )
        plaintext = [
            where
            for where, p in found
            if p.metadata["encoding"] != ENCRYPTED_ENCODING and not where.endswith(written_by_sdk)
        ]
        assert plaintext == [], f"unencrypted payloads in {handle.id}: {plaintext}"
        patches = [p for where, p in found if "details[patch-data]" in where]
        # Every patch id the workflows know: the rules versions' and the others.
        known = tuple(
            patch.encode()
            for patch in (
                *(rules.patch for rules in RULE_VERSIONS if rules.patch is not None),
                BOUNDED_RUNS_PATCH,
                HOLIDAYS_PATCH,
                LOCAL_NOTICES_PATCH,
            )
        )
        assert all(any(patch in p.data for patch in known) for p in patches)
        bookkeeping = [
            json.loads(p.data) for where, p in found if where.endswith(written_by_sdk[1])
        ]
        assert all(
            set(entry) <= LOCAL_ACTIVITY_BOOKKEEPING
            and entry["activity_type"].startswith("notify_")
            for entry in bookkeeping
        ), bookkeeping
        wheres = " ".join(where for where, _ in found)
        assert "user_metadata.summary" in wheres  # the static summary is ciphertext too
    close_start = (await raw_history(close)).events[0]
    memo = close_start.workflow_execution_started_event_attributes.memo.fields
    assert memo and all(p.metadata["encoding"] == ENCRYPTED_ENCODING for p in memo.values())

    # What Temporal indexes in the clear: ids, states, a level and a date, nothing personal.
    description = await track.describe()
    indexed = description.raw_description.workflow_execution_info.search_attributes
    assert len(indexed.indexed_fields) >= 6
    for name, payload in indexed.indexed_fields.items():
        for text in [*PERSONAL, "acme.example", "hooks."]:
            assert text.encode() not in payload.data, f"{text!r} in search attribute {name}"


def test_search_attributes_take_no_free_text_from_the_order() -> None:
    """Each of the six attributes, for an order with personal data in every free field."""
    now = datetime.now(UTC)
    marked = example_order(
        "PO-PRIV",
        now,
        description=DESCRIPTION,
        party={
            "id": "ACME",
            "name": PARTY_NAME,
            "role": "supplier",
            "contactEmail": EMAIL,
            "webhookUrl": WEBHOOK,
        },
        originatingProcess={"name": "service-order-handling", "reference": NOTE},
    )
    order = PartyOrder.model_validate(marked)
    values = search_attribute_values(order)
    assert values == {
        "PartyOrderState": order.state.value,
        "PartyOrderJeopardy": order.jeopardy.status.value,
        "PartyOrderEscalationLevel": order.jeopardy.escalation_level,
        "PartyId": "ACME",
        "OriginatingProcess": "service-order-handling",
        "PartyOrderDueDate": order.due_date,
    }
    for name, value in values.items():
        for text in [*PERSONAL, WEBHOOK, "acme.example"]:
            assert text not in str(value), f"{text!r} in search attribute {name}"


async def test_the_worker_and_the_cli_connect_with_the_keys_from_the_environment(
    dev_address: str,
    outbox: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_address)
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, f"{key_entry('k2')},{key_entry('k1')}")
    client = await worker.connect()
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
    assert client.data_converter.payload_codec.key_ids == ["k2", "k1"]
    order_id = unique("ENC")
    order = example_order(order_id, datetime.now(UTC))
    order["party"]["contactEmail"] = EMAIL
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    async with running_worker(client, outbox) as (_, task_queue):
        monkeypatch.setenv("PARTY_ORDERS_TASK_QUEUE", task_queue)
        assert await asyncio.to_thread(main, ["start", str(path)]) == 0
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["show", order_id, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["party"]["contactEmail"] == EMAIL
        history = await raw_history(client.get_workflow_handle(track_workflow_id(order_id)))
        assert EMAIL.encode() not in history.SerializeToString()

    # Keys that do not parse: one line naming the entry, never a traceback or the key.
    bad = base64.b64encode(os.urandom(16)).decode()
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, f"k2:{bad}")
    assert await asyncio.to_thread(main, ["show", order_id]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and bad not in err
    assert "encryption keys are invalid" in err and "key id 'k2'" in err
