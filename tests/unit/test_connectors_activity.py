"""``fetch_party_order`` against a seller's system served in this process: the GET it
makes, the credentials it sends, and how each failure ends (retried or not, and why)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.connectors import (
    NOT_ALLOWED,
    NOT_FOUND,
    REFUSED,
    UNAVAILABLE,
    UNUSABLE,
    BearerToken,
    ConnectorSettings,
    OAuth2ClientCredentials,
    PartySystems,
    retry_after,
)
from settings import CALLBACK_ALLOW_ENV, Settings
from workflows.domain.connectors import OrderView, PartyAnswer, PartyOrderFetch
from workflows.domain.model import PartyConnector

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SELLER_ORDER = "00000000-1111-2222-3333-000000000123"
VIEW = OrderView(
    item_ids={"item-001": "1"},
    milestone_ids={},
    open_item_ids=("1",),
    cancellation_requested=False,
)


def product_order(order_id: str = SELLER_ORDER, state: str = "inProgress") -> dict[str, Any]:
    return {
        "id": order_id,
        "orderDate": "2026-10-30T09:00:00Z",
        "state": state,
        "relatedContactInformation": [
            {
                "emailAddress": "a@b.example",
                "name": "A",
                "number": "1",
                "role": "productOrderContact",
            }
        ],
        "productOrderItem": [
            {
                "id": "item-001",
                "action": "add",
                "state": "inProgress",
                "expectedCompletionDate": "2027-01-10T00:00:00Z",
            }
        ],
    }


class Seller:
    """A seller's management API: answers each GET with the next of ``answers`` (status,
    headers, body), or hangs until closed when the body is ``HANG``."""

    HANG = object()

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], Any]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.released = threading.Event()
        seller = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seller.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = seller.answers.pop(0) if seller.answers else (500, {}, b"")
                if body is Seller.HANG:
                    seller.released.wait(30)
                    return
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mefApi/sonata/v10"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def answer(self, status: int, body: Any = b"", **headers: str) -> None:
        self.answers.append((status, headers, body))

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def seller() -> Iterator[Seller]:
    server = Seller()
    try:
        yield server
    finally:
        server.close()


def systems(settings: dict[str, str] | None = None, timeout: float = 5.0) -> PartySystems:
    values = {CALLBACK_ALLOW_ENV: "127.0.0.1", "PARTY_ORDERS_SECRET_CARRIER_ONE": "tok-1"}
    connectors = Settings(values if settings is None else settings).connectors()
    bound = ConnectorSettings(connectors.credentials, connectors.allow, timeout_seconds=timeout)
    return PartySystems(bound, clock=lambda: NOW)


def fetch(
    base_url: str, external_id: str = SELLER_ORDER, credentials: str | None = "CARRIER_ONE"
) -> PartyOrderFetch:
    return PartyOrderFetch(
        order_id="PO-24",
        connector=PartyConnector(
            protocol="mef-sonata-v10", base_url=base_url, credentials=credentials
        ),
        external_id=external_id,
        view=VIEW,
    )


async def run(system: PartySystems, request: PartyOrderFetch) -> PartyAnswer:
    answer: PartyAnswer = await ActivityEnvironment().run(system.fetch_party_order, request)
    return answer


async def failure(system: PartySystems, request: PartyOrderFetch) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await run(system, request)
    return raised.value


async def test_a_check_in_gets_the_sellers_order_with_our_token_and_reads_it(
    seller: Seller,
) -> None:
    seller.answer(200, product_order())
    answer = await run(systems(), fetch(seller.base_url + "/"))
    [(path, headers)] = seller.requests
    assert path == f"/mefApi/sonata/v10/productOrder/{SELLER_ORDER}"
    assert headers["authorization"] == "Bearer tok-1"
    assert headers["accept"] == "application/json"
    assert answer.party_state == "inProgress" and answer.party_order_id == SELLER_ORDER
    assert answer.report is not None
    assert answer.report.expected_completion_date == datetime(2027, 1, 10, tzinfo=UTC)


async def test_an_external_id_is_one_path_segment_whatever_it_holds(seller: Seller) -> None:
    seller.answer(200, product_order("A/B?c=1"))
    await run(systems(), fetch(seller.base_url, external_id="A/B?c=1"))
    assert seller.requests[0][0] == "/mefApi/sonata/v10/productOrder/A%2FB%3Fc%3D1"


async def test_without_credentials_no_authorization_is_sent(seller: Seller) -> None:
    seller.answer(200, product_order())
    await run(systems(), fetch(seller.base_url, credentials=None))
    assert "authorization" not in seller.requests[0][1]


@pytest.mark.parametrize(
    ("status", "kind", "retried", "why"),
    [
        (500, UNAVAILABLE, True, "failed"),
        (502, UNAVAILABLE, True, "failed"),
        (503, UNAVAILABLE, True, "failed"),
        (429, UNAVAILABLE, True, "too many requests"),
        (401, REFUSED, False, "does not accept our credentials"),
        (403, REFUSED, False, "does not accept our credentials"),
        (400, REFUSED, False, "refused the request"),
        (404, NOT_FOUND, False, "no such order"),
    ],
)
async def test_each_failing_answer_is_retried_or_not_as_its_status_says(
    seller: Seller, status: int, kind: str, retried: bool, why: str
) -> None:
    seller.answer(status, {"code": str(status), "reason": "no"})
    error = await failure(systems(), fetch(seller.base_url))
    assert (error.type, error.non_retryable) == (kind, not retried)
    assert f"answered {status}: " in error.message and why in error.message


async def test_a_429_is_retried_after_the_time_the_seller_asks_for(seller: Seller) -> None:
    seller.answer(429, b"", **{"Retry-After": "7"})
    error = await failure(systems(), fetch(seller.base_url))
    assert error.next_retry_delay == timedelta(seconds=7)


async def test_a_seller_that_does_not_answer_in_time_is_retried(seller: Seller) -> None:
    seller.answer(200, Seller.HANG)
    error = await failure(systems(timeout=0.3), fetch(seller.base_url))
    assert (error.type, error.non_retryable) == (UNAVAILABLE, False)
    assert "in time" in error.message


async def test_a_refused_connection_is_retried() -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await failure(systems(), fetch(f"http://127.0.0.1:{port}"))
    assert (error.type, error.non_retryable) == (UNAVAILABLE, False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"<html>maintenance</html>", "(document)"),
        ({**product_order(), "state": "finished"}, "state"),
        ({**product_order(), "productOrderItem": []}, "productOrderItem"),
        (product_order("SOMEONE-ELSES-ORDER"), "id"),
    ],
)
async def test_an_answer_without_the_specs_shape_is_not_retried_and_names_the_field(
    seller: Seller, body: Any, field: str
) -> None:
    seller.answer(200, body)
    error = await failure(systems(), fetch(seller.base_url))
    assert (error.type, error.non_retryable) == (UNUSABLE, True)
    assert error.details == (field,)
    assert f"{field}: " in error.message


async def test_the_outbound_guard_refuses_an_internal_base_url_before_calling(
    seller: Seller,
) -> None:
    error = await failure(systems({}), fetch(seller.base_url, credentials=None))
    assert (error.type, error.non_retryable) == (NOT_ALLOWED, True)
    assert "party.connector.baseUrl" in error.message
    assert seller.requests == []


async def test_a_secret_that_is_not_configured_stops_the_call_naming_the_variable(
    seller: Seller,
) -> None:
    error = await failure(systems(), fetch(seller.base_url, credentials="NOBODY"))
    assert (error.type, error.non_retryable) == (NOT_ALLOWED, True)
    assert "PARTY_ORDERS_SECRET_NOBODY" in error.message
    assert seller.requests == []


async def test_oauth2_credentials_are_named_as_not_used_yet(seller: Seller) -> None:
    settings = {
        CALLBACK_ALLOW_ENV: "127.0.0.1",
        "PARTY_ORDERS_SECRET_CARRIER_ONE_CLIENT_ID": "id",
        "PARTY_ORDERS_SECRET_CARRIER_ONE_CLIENT_SECRET": "s3cret",
        "PARTY_ORDERS_SECRET_CARRIER_ONE_TOKEN_URL": "https://auth.example/token",
    }
    error = await failure(systems(settings), fetch(seller.base_url))
    assert (error.type, error.non_retryable) == (NOT_ALLOWED, True)
    assert "OAuth2" in error.message and "s3cret" not in error.message
    assert seller.requests == []


def test_the_secret_a_connector_names_is_read_from_its_variables() -> None:
    settings = Settings(
        {
            "PARTY_ORDERS_SECRET_CARRIER": "tok",
            "PARTY_ORDERS_SECRET_WHOLESALE_CLIENT_ID": "id",
            "PARTY_ORDERS_SECRET_WHOLESALE_CLIENT_SECRET": "sec",
            "PARTY_ORDERS_SECRET_WHOLESALE_TOKEN_URL": "https://auth.example/token",
            "PARTY_ORDERS_SECRET_HALF_CLIENT_ID": "id",
        }
    )
    assert settings.party_credentials("CARRIER") == BearerToken("tok")
    assert settings.party_credentials("WHOLESALE") == OAuth2ClientCredentials(
        "id", "sec", "https://auth.example/token"
    )
    assert settings.party_credentials("NOBODY") is None
    with pytest.raises(ValueError, match="PARTY_ORDERS_SECRET_HALF_CLIENT_SECRET"):
        settings.party_credentials("HALF")
    assert "tok" not in repr(settings.party_credentials("CARRIER"))
    assert "sec" not in repr(settings.party_credentials("WHOLESALE"))


def test_retry_after_in_seconds_or_as_a_date_and_never_too_long() -> None:
    assert retry_after("12", NOW) == timedelta(seconds=12)
    assert retry_after("Sun, 01 Nov 2026 00:01:00 GMT", NOW) == timedelta(minutes=1)
    assert retry_after("Sat, 31 Oct 2026 00:00:00 GMT", NOW) == timedelta(0)
    assert retry_after("86400", NOW) == timedelta(minutes=10)
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None


async def test_the_answer_crosses_the_data_converter_unchanged(seller: Seller) -> None:
    seller.answer(200, product_order(state="held.assessingCharge"))
    answer = await run(systems(), fetch(seller.base_url))
    converter = pydantic_data_converter.payload_converter
    [payload] = converter.to_payloads([answer])
    [back] = converter.from_payloads([payload], [PartyAnswer])
    assert back == answer
    assert back.state_change is not None and back.state_change.state == "held"
