"""Determinism: recorded histories of every released version replay against the current code.

``tests/histories/<version>/`` holds, for each released version, the histories
``tests/support/recorder.py`` recorded with it (listed in that folder's ``manifest.json``):
a whole order life with the Close Party Order process, a
cancellation, bad messages, an invalid start and orders that continued-as-new (from before
and after the carry-pending-notifications patch). They
stand for orders already running: a change to ``TrackPartyOrder`` or ``ClosePartyOrder``
(or to the domain core they run) that would make a running order take another path fails
``test_committed_history_replays`` with a nondeterminism error. Such a change must be
versioned (``workflow.patched``), never "fixed" by re-recording or editing a history: see
``docs/versioning.md``.

``test_fresh_histories_replay`` records the same scenarios with the current code and
replays them at once, so new code paths are covered before they are ever committed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from tests.support.recorder import (
    MANIFEST,
    TIME_SKIPPING_SCENARIOS,
    carried_notifications,
    check_clean,
    events_of,
    project_version,
    run_scenarios,
    version_sets,
)
from workflows.close_party_order import ClosePartyOrder
from workflows.domain import names
from workflows.domain.model import PartyOrder
from workflows.interceptors import interceptors
from workflows.track_party_order import TrackPartyOrder

HISTORIES = Path(__file__).parents[1] / "histories"
VERSIONS = version_sets(HISTORIES)
# Every history of every version, each entry with "version" (its folder) added.
ENTRIES: list[dict[str, Any]] = [
    {**entry, "version": folder.name}
    for folder in VERSIONS
    for entry in json.loads((folder / MANIFEST).read_text())["histories"]
]


def replayer(*workflows: type, **options: Any) -> Replayer:
    options.setdefault("interceptors", interceptors())  # as worker.build_worker has them
    return Replayer(
        workflows=list(workflows) or [TrackPartyOrder, ClosePartyOrder],
        data_converter=pydantic_data_converter,
        **options,
    )


def load(entry: dict[str, Any]) -> WorkflowHistory:
    path = HISTORIES / entry["version"] / entry["file"]
    return WorkflowHistory.from_json(entry["workflowId"], path.read_text())


def entry_named(file: str, version: str = "0.1.0") -> dict[str, Any]:
    return next(e for e in ENTRIES if e["file"] == file and e["version"] == version)


def entry_id(entry: dict[str, Any]) -> str:
    return f"{entry['version']}/{entry['file']}"


# ---------------------------------------------------------------------- committed histories


def test_every_version_keeps_its_own_set() -> None:
    # Nothing outside the version folders; each folder names its version.
    assert {path.name for path in HISTORIES.iterdir()} == {folder.name for folder in VERSIONS}
    assert [folder.name for folder in VERSIONS][:2] == ["0.1.0", "0.2.0"]
    for folder in VERSIONS:
        assert json.loads((folder / MANIFEST).read_text())["version"] == folder.name
    # The version being built has its set, so the next release replays it.
    assert project_version() in {folder.name for folder in VERSIONS}


def test_manifest_lists_every_committed_history_unchanged() -> None:
    for folder in VERSIONS:
        on_disk = {path.name for path in folder.glob("*.json")} - {MANIFEST}
        assert on_disk == {e["file"] for e in ENTRIES if e["version"] == folder.name}, folder
    for entry in ENTRIES:
        history = load(entry)
        # What the recorder saw; a hand-edited history rarely keeps both.
        assert history.run_id == entry["runId"], entry["file"]
        assert len(history.events) == entry["events"], entry["file"]
        assert EventType.Name(history.events[-1].event_type) == entry["lastEvent"]


def test_committed_histories_cover_the_contract() -> None:
    """Re-recording must not quietly drop what the histories exercise."""
    histories = [load(entry) for entry in ENTRIES]
    signals = {
        event.workflow_execution_signaled_event_attributes.signal_name
        for history in histories
        for event in events_of(history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    }
    assert {
        names.REPORT_PROGRESS,
        names.REQUEST_CHANGE,
        names.RESOLVE_CHANGE,
        names.CANCEL_ORDER,
        names.CHECK_IN_NOW,
        names.ORDER_COMPLETED,
        "no_such_signal",
    } <= signals
    updates = {
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for history in histories
        for event in events_of(history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    }
    assert updates == {names.CHANGE_STATE, names.ACKNOWLEDGE_ESCALATION}
    # Runs from before the rules-2 patch (rules 1) and runs with it, fresh and continued.
    patched = [
        h
        for h in histories
        if any(
            e.marker_recorded_event_attributes.marker_name == "core_patch"
            for e in events_of(h, EventType.EVENT_TYPE_MARKER_RECORDED)
        )
    ]
    assert patched and len(patched) < len(histories)
    assert any(
        h.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        for h in patched
    ), "no continued run that took the rules-2 patch"
    assert {entry["workflowType"] for entry in ENTRIES} == {
        names.TRACK_WORKFLOW,
        names.CLOSE_WORKFLOW,
    }
    assert {entry["lastEvent"] for entry in ENTRIES} >= {
        "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
    }
    continued = [
        h
        for h in histories
        if h.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    ]
    assert continued, "no history of a run that was continued-as-new"
    # A run that handed notifications in flight over to the next one.
    assert any(carried_notifications(h) for h in histories), "no run carried notifications"
    for kind in ("TIMER_FIRED", "ACTIVITY_TASK_COMPLETED", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"):
        assert any(events_of(h, EventType.Value(f"EVENT_TYPE_{kind}")) for h in histories), kind
    for folder in VERSIONS:  # keep each version's histories short
        events = sum(len(load(e).events) for e in ENTRIES if e["version"] == folder.name)
        assert events < 2_000, folder.name


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry_id(entry) for entry in ENTRIES])
async def test_committed_history_replays(entry: dict[str, Any]) -> None:
    # Raises (NondeterminismError, or the workflow task's failure) if the current code
    # would not take the recorded path.
    result = await replayer().replay_workflow(load(entry))
    assert result.replay_failure is None


# ---------------------------------------------------------------------- the harness itself


@workflow.defn(name=names.TRACK_WORKFLOW)
class UnversionedChange(TrackPartyOrder):
    """A change shipped without versioning: one more timer before tracking starts."""

    @workflow.run
    async def run(self, raw: RawValue) -> PartyOrder:
        await workflow.sleep(timedelta(minutes=5), summary="settle before tracking")
        return await super().run(raw)


@workflow.defn(name=names.TRACK_WORKFLOW)
class PatchedChange(TrackPartyOrder):
    """The same change behind ``workflow.patched``, as docs/versioning.md describes."""

    @workflow.run
    async def run(self, raw: RawValue) -> PartyOrder:
        if workflow.patched("settle-before-tracking"):
            await workflow.sleep(timedelta(minutes=5), summary="settle before tracking")
        return await super().run(raw)


async def test_replay_catches_an_unversioned_change() -> None:
    """The harness is not vacuous: a change that alters the commands fails the replay."""
    history = load(entry_named("lifecycle.track.json"))
    result = await replayer(
        UnversionedChange, ClosePartyOrder, workflow_runner=UnsandboxedWorkflowRunner()
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure


async def test_the_same_change_behind_a_patch_replays() -> None:
    for file in ("lifecycle.track.json", "continued.track.run2.json"):
        result = await replayer(
            PatchedChange, ClosePartyOrder, workflow_runner=UnsandboxedWorkflowRunner()
        ).replay_workflow(load(entry_named(file)), raise_on_replay_failure=False)
        assert result.replay_failure is None, (file, result.replay_failure)


# ---------------------------------------------------------------------- fresh histories


async def test_fresh_histories_replay(time_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """Record every time-skipping scenario with the current code now, then replay it."""
    recorded = await run_scenarios(time_env, list(TIME_SKIPPING_SCENARIOS.values()), tmp_path)
    check_clean(recorded)  # no workflow task failed while recording
    assert {item.workflow_type for item in recorded} == {names.TRACK_WORKFLOW, names.CLOSE_WORKFLOW}
    results = await replayer().replay_workflows(
        _iterate([item.history for item in recorded]), raise_on_replay_failure=False
    )
    failures = {run_id: str(error) for run_id, error in results.replay_failures.items()}
    assert failures == {}


async def _iterate(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history
