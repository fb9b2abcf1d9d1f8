"""Signed check-in links: scoped to one order, ending with the response window, unforgeable.

Pure functions of activities/portal.py: tokens are made and read with a fixed clock.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from activities.portal import (
    PortalClaims,
    PortalLinkExpired,
    PortalLinkInvalid,
    PortalLinkWrongOrder,
    PortalSettings,
    RedactPortalTokens,
    issue_token,
    read_token,
    redact_tokens,
    with_portal_link,
)
from settings import PORTAL_BASE_URL_ENV, PORTAL_SECRET_ENV, Settings
from tests.integration.test_channels import note

SECRET = "portal-secret-for-tests-0123456789"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CLAIMS = PortalClaims(order_id="PO-1", party_id="ACME", expires_at=NOW + timedelta(days=2))


def test_a_token_reads_back_its_claims() -> None:
    token = issue_token(SECRET, CLAIMS)
    assert read_token(SECRET, token, "PO-1", NOW) == CLAIMS
    # The same claims make the same token: a retried delivery sends the same link.
    assert issue_token(SECRET, CLAIMS) == token


def test_a_token_expires_at_the_end_of_the_window() -> None:
    token = issue_token(SECRET, CLAIMS)
    just_before = CLAIMS.expires_at - timedelta(seconds=1)
    assert read_token(SECRET, token, "PO-1", just_before).order_id == "PO-1"
    for when in (CLAIMS.expires_at, CLAIMS.expires_at + timedelta(days=30)):
        with pytest.raises(PortalLinkExpired, match="expired at 2026-12-03 12:00") as caught:
            read_token(SECRET, token, "PO-1", when)
        assert caught.value.status == 410


def test_a_token_is_for_one_order_only() -> None:
    token = issue_token(SECRET, CLAIMS)
    with pytest.raises(PortalLinkWrongOrder, match="another order") as caught:
        read_token(SECRET, token, "PO-2", NOW)
    assert caught.value.status == 403


def test_a_tampered_token_is_refused() -> None:
    token = issue_token(SECRET, CLAIMS)
    payload, _, signature = token.partition(".")
    # A payload rewritten for another order (or a later expiry), keeping the signature.
    forged_claims = {"v": 1, "order": "PO-2", "party": "ACME", "exp": 4_102_444_800}
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for bad in (
        f"{forged}.{signature}",
        f"{payload}.{flipped}",
        payload,
        f"{payload}.",
        "",
        "not-a-token",
        f"{payload}.{signature}x",
        f"{payload}.sïgnature",
    ):
        with pytest.raises(PortalLinkInvalid) as caught:
            read_token(SECRET, bad, "PO-1", NOW)
        assert caught.value.status == 403
    # Expired *and* forged: nothing of a forged token is believed, not even its expiry.
    with pytest.raises(PortalLinkInvalid):
        read_token(SECRET, f"{forged}.{signature}", "PO-2", NOW + timedelta(days=365))


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token("another-secret-0123456789abcdef", CLAIMS)
    with pytest.raises(PortalLinkInvalid, match="not one we sent"):
        read_token(SECRET, token, "PO-1", NOW)


def test_only_check_ins_to_the_party_get_a_link() -> None:
    settings = PortalSettings(secret=SECRET, base_url="https://orders.example/")
    answer_by = "2026-12-03T12:00:00Z"
    check_in = note(body={"answerBy": answer_by, "checkInNumber": 1})
    linked = with_portal_link(check_in, settings)
    url = linked.body["portalUrl"]
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "orders.example",
        "/portal/partyOrder/PO-1/checkIn",
    )
    token = parse_qs(parts.query)["token"][0]
    claims = read_token(SECRET, token, "PO-1", NOW)
    assert claims == PortalClaims("PO-1", "ACME", datetime(2026, 12, 3, 12, tzinfo=UTC))
    # Everything else is as it was; the notification given is not changed.
    assert {k: v for k, v in linked.body.items() if k != "portalUrl"} == check_in.body
    assert "portalUrl" not in check_in.body
    assert with_portal_link(check_in, settings) == linked  # deterministic

    for other in (
        note(kind="stateChanged", body={"answerBy": answer_by}),
        note(kind="checkIn", recipient_kind="contact", recipient="order-manager"),
    ):
        assert with_portal_link(other, settings) == other
    assert with_portal_link(check_in, None) == check_in  # no secret, no link


def test_a_check_in_without_answer_by_gets_a_link_that_still_ends() -> None:
    settings = PortalSettings(secret=SECRET)
    linked = with_portal_link(note(body={}), settings)
    token = parse_qs(urlsplit(linked.body["portalUrl"]).query)["token"][0]
    occurred = linked.occurred_at
    assert read_token(SECRET, token, "PO-1", occurred).expires_at == occurred + timedelta(days=2)


def test_settings_from_env() -> None:
    assert Settings.from_env({}).portal() is None
    settings = Settings.from_env({PORTAL_SECRET_ENV: SECRET}).portal()
    assert settings is not None and settings.base_url == "http://127.0.0.1:8080"
    assert SECRET not in repr(settings)
    custom = Settings.from_env(
        {PORTAL_SECRET_ENV: SECRET, PORTAL_BASE_URL_ENV: "https://api.example/x/"}
    ).portal()
    assert custom is not None and custom.base_url == "https://api.example/x"
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings.from_env({PORTAL_SECRET_ENV: "short"}).portal()
    with pytest.raises(ValueError, match=PORTAL_BASE_URL_ENV):
        Settings.from_env({PORTAL_SECRET_ENV: SECRET, PORTAL_BASE_URL_ENV: "ftp://x"}).portal()


def test_tokens_are_redacted_from_log_lines() -> None:
    token = issue_token(SECRET, CLAIMS)
    line = f'GET /portal/partyOrder/PO-1/checkIn?token={token}&x=1 HTTP/1.1" 200'
    assert token not in redact_tokens(line)
    assert "token=***&x=1" in redact_tokens(line)
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/portal/partyOrder/PO-1/checkIn?token={token}", "1.1", 200),
        None,
    )
    RedactPortalTokens().filter(record)
    assert token not in record.getMessage()


def test_a_link_names_the_tracking_its_check_in_was_sent_from() -> None:
    settings = PortalSettings(secret=SECRET)
    linked = with_portal_link(note("PO-1/run-7/checkIn-1", body={}), settings)
    token = parse_qs(urlsplit(linked.body["portalUrl"]).query)["token"][0]
    assert read_token(SECRET, token, "PO-1", NOW).tracking_id == "run-7"
    # The tracking is signed with the rest: another tracking's id cannot be put in.
    payload, _, signature = token.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "trk": "run-8"}).encode())
    with pytest.raises(PortalLinkInvalid):
        read_token(SECRET, f"{forged.decode().rstrip('=')}.{signature}", "PO-1", NOW)
    # A check-in of an order tracked before trackings were told apart names none.
    unnamed = with_portal_link(note("PO-1/checkIn-1", body={}), settings)
    token = parse_qs(urlsplit(unnamed.body["portalUrl"]).query)["token"][0]
    assert read_token(SECRET, token, "PO-1", NOW).tracking_id is None
