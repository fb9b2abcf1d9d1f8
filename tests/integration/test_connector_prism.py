"""The Sonata connector against Prism serving MEF 123's official management API
(``reference/mef-sonata/productOrderManagement.api.yaml``): a seller written by nobody here.

Prism checks every request against the spec (a request off the spec is answered 422), so
an answer read here is also a request the spec accepts. Prism comes from npm into
``.prism/`` (``./dev prism`` installs it); without it these tests are skipped.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.connectors import (
    NOT_FOUND,
    REFUSED,
    UNAVAILABLE,
    ConnectorSettings,
    PartySystems,
)
from activities.outbound import guarded_client
from settings import CALLBACK_ALLOW_ENV, Settings
from tests.support.processes import free_port, tail
from workflows.domain.connectors import OrderView, PartyAnswer, PartyOrderFetch
from workflows.domain.connectors.sonata import read_answer
from workflows.domain.model import PartyConnector

REPO = Path(__file__).resolve().parents[2]
PRISM = REPO / ".prism" / "node_modules" / ".bin" / "prism"
SPEC = REPO / "reference" / "mef-sonata" / "productOrderManagement.api.yaml"
READY_WITHIN = 180.0  # loading the spec takes 10 to 60 s on a busy machine
NOW = datetime(2026, 11, 1, tzinfo=UTC)
VIEW = OrderView(item_ids={}, milestone_ids={}, open_item_ids=(), cancellation_requested=False)

pytestmark = pytest.mark.skipif(
    not PRISM.exists(),
    reason="Prism is not installed: `./dev prism` installs @stoplight/prism-cli into .prism/",
)


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_WITHIN
        while "Prism is listening" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start:\n{tail(log)}")
            time.sleep(0.2)  # polling the log for readiness, not waiting a fixed time
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def systems(prefer: str | None = None) -> PartySystems:
    """The connectors' activities, as a worker has them; ``prefer`` asks Prism for one of
    the answers the spec defines (``code=404``)."""
    settings = Settings(
        {CALLBACK_ALLOW_ENV: "127.0.0.1", "PARTY_ORDERS_SECRET_SELLER": "token-1"}
    ).connectors()

    def client_for(headers: Mapping[str, str]) -> httpx.AsyncClient:
        extra = {"Prefer": prefer} if prefer else {}
        return guarded_client(settings.timeout_seconds, {**headers, **extra}, settings.allow)

    return PartySystems(
        ConnectorSettings(settings.credentials, settings.allow),
        clock=lambda: NOW,
        client_for=client_for,
    )


def fetch(base_url: str, external_id: str) -> PartyOrderFetch:
    return PartyOrderFetch(
        order_id="PO-24",
        connector=PartyConnector(
            protocol="mef-sonata-v10", base_url=base_url, credentials="SELLER"
        ),
        external_id=external_id,
        view=VIEW,
    )


async def test_the_get_is_the_specs_and_its_answer_is_read(prism: str) -> None:
    # Prism's static answer fills every string with "string", the order's id too: so
    # that is the order asked for (the connector checks the answer is the order asked).
    answer: PartyAnswer = await ActivityEnvironment().run(
        systems().fetch_party_order, fetch(prism, "string")
    )
    assert answer.party_order_id == "string"
    assert answer.party_state == "acknowledged"  # the first state the spec lists


@pytest.mark.parametrize(
    ("code", "kind", "retried"),
    [
        (400, REFUSED, False),
        (401, REFUSED, False),
        (403, REFUSED, False),
        (404, NOT_FOUND, False),
        (500, UNAVAILABLE, True),
    ],
)
async def test_each_error_answer_of_the_spec_ends_as_it_should(
    prism: str, code: int, kind: str, retried: bool
) -> None:
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            systems(f"code={code}").fetch_party_order, fetch(prism, "string")
        )
    assert (raised.value.type, raised.value.non_retryable) == (kind, not retried)
    assert f"answered {code}" in raised.value.message


async def test_answers_generated_from_the_spec_are_all_read(prism: str) -> None:
    # Prism's dynamic mode draws each answer at random from the spec's schema.
    async with httpx.AsyncClient(base_url=prism, timeout=30) as client:
        for attempt in range(25):
            response = await client.get(
                f"/productOrder/order-{attempt}", headers={"Prefer": "dynamic=true"}
            )
            assert response.status_code == 200, response.text
            document = response.json()
            answer = read_answer(document, VIEW, NOW)
            assert answer.party_state == document["state"]
