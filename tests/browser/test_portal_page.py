"""The check-in page, as a party uses it: the link from a check-in, in headless Chromium.

The dev server, a worker that signs check-in links, and the API served by uvicorn. The
link is read from the check-in notification as delivered (the outbox line), opened in
Debian's Chromium (driven by Playwright), the form filled in and sent; the order read back
with get_order shows the report, sent with source ``party``. Expired, tampered and
wrong-order links get a page in words with 410 / 403; bad input gets the form back, the
field named (sent with httpx: the browser's own checks would stop it first).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Browser
from temporalio.client import Client

from activities.portal import PortalClaims
from starter.api import portal
from starter.samples import example_order
from tests.conftest import unique
from tests.support.live_portal import LiveStack, eventually, live_stack
from workflows.domain.model import PartyOrder, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_V2
from workflows.domain.tracker import PartyOrderTracker

STEP_TIMEOUT_MS = 15_000


async def checked_in(stack: LiveStack, **overrides: Any) -> tuple[str, str]:
    """A new order, asked for progress now; its id and the portalUrl its party was sent."""
    order = example_order(unique(), datetime.now(UTC), **overrides)
    await stack.orders.start(order)
    await stack.orders.check_in_now(order["id"], {"requestedBy": "portal test"})

    async def link() -> str | None:
        notices = stack.check_in_notices(order["id"])
        return notices[0]["body"].get("portalUrl") if notices else None

    url = await eventually(link, what="the check-in notification")
    return order["id"], url


@pytest.mark.browser
async def test_a_party_answers_a_check_in_on_the_page(
    stack: LiveStack, browser: Browser, output_dir: Path
) -> None:
    order_id, url = await checked_in(stack)
    assert url.startswith(f"{stack.base_url}/portal/partyOrder/{order_id}/checkIn?token=")
    page = await browser.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        response = await page.goto(url)
        assert response is not None and response.status == 200
        assert await page.title() == f"Report progress on order {order_id} · Party order tracking"
        assert await page.locator("html").get_attribute("lang") == "en"
        # What the supplier reads first: the agreed date and the state in words, not wire
        # names, and nothing that speaks of the supplier as a third party.
        text = await page.locator("main").inner_text()
        spec = await stack.orders.get(order_id)
        agreed = spec.requested_completion_date
        assert agreed is not None
        assert await page.locator("#agreed-date").inner_text() == (f"{agreed.day} {agreed:%B %Y}")
        assert "Acknowledged, work not started" in text
        assert "acknowledged" not in text.replace("Acknowledged", "")
        assert "yetToReach" not in text and "inProgress" not in text
        assert "Ordered from" not in text
        assert "none yet" in await page.locator("#last-report").inner_text()
        # The date is typed as the hint says, not in the browser's own format.
        forecast = page.get_by_label("Forecast completion date")
        assert await forecast.get_attribute("type") == "text"
        assert await forecast.get_attribute("placeholder") == "YYYY-MM-DD"
        hint = await page.locator("#forecast-hint").inner_text()
        assert "year-month-day" in hint
        # Every field is found by its label, as a screen reader would announce it.
        await page.get_by_label("Percent complete (0 to 100)").fill("40")
        await page.get_by_label("Site survey", exact=False).check()
        await page.get_by_label("Forecast completion date").fill("2027-01-08")
        await page.get_by_label("Note").fill("survey done, splicing next week")
        assert await page.get_by_role("group", name="Milestones reached").is_visible()
        await page.screenshot(path=output_dir / "portal-check-in.png", full_page=True)
        await page.get_by_role("button", name="Send progress report").click()
        await page.wait_for_url(f"**/portal/partyOrder/{order_id}/checkIn")
        assert await page.locator("#state").inner_text() == "In progress"
        assert await page.locator("#percent").inner_text() == "40%"
        assert "Thank you" in await page.get_by_role("heading", level=1).inner_text()
        # What happens next: the next check-in, and who has the report.
        told = await page.locator("#next").inner_text()
        assert "order's contact with us sees it now, and was told that work has started" in told
        after = (await stack.orders.get(order_id)).check_ins.next_at
        assert after is not None
        assert await page.locator("#next-check-in").inner_text() == (
            f"We will next ask you for progress on {after.day} {after:%B %Y}."
            " Tell us sooner if anything changes."
        )
        await page.screenshot(path=output_dir / "portal-check-in-sent.png", full_page=True)
    finally:
        await page.close()

    order = await stack.orders.get(order_id)
    assert order.state == "inProgress"
    assert order.percent_complete == 40
    assert order.milestone("survey") is not None
    assert order.milestone("survey").status == "completed"  # type: ignore[union-attr]
    assert order.expected_completion_date == datetime(2027, 1, 8, tzinfo=UTC)
    assert order.check_ins.unanswered_streak == 0 and order.check_ins.answer_by is None
    assert order.rejected_messages == []


@pytest.mark.browser
async def test_an_expired_link_is_refused(stack: LiveStack, browser: Browser) -> None:
    policy = example_order("x", datetime.now(UTC))["trackingPolicy"]
    order_id, url = await checked_in(stack, trackingPolicy={**policy, "responseWindow": "PT2S"})
    expires = parse_qs(urlsplit(url).query)["token"][0]
    await asyncio.sleep(3)
    page = await browser.new_page()
    try:
        response = await page.goto(url)
        assert response is not None and response.status == 410
        assert await page.title() == "This link has expired · Party order tracking"
        text = await page.locator("main").inner_text()
        assert "response window ended" in text
        assert "Traceback" not in text and "{" not in text
        assert await page.locator("form").count() == 0
    finally:
        await page.close()
    # The form cannot be sent with it either.
    async with httpx.AsyncClient() as http:
        sent = await http.post(url.split("?")[0], data={"token": expires, "percentComplete": "5"})
    assert sent.status_code == 410
    assert (await stack.orders.get(order_id)).percent_complete == 0


@pytest.mark.browser
async def test_a_tampered_or_wrong_order_link_is_refused(
    stack: LiveStack, browser: Browser
) -> None:
    order_id, url = await checked_in(stack)
    other_id, other_url = await checked_in(stack)
    path, _, query = url.partition("?")
    token = parse_qs(query)["token"][0]
    flipped = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    tampered = f"{path}?token={flipped}"
    wrong_order = f"{other_url.partition('?')[0]}?token={token}"
    page = await browser.new_page()
    try:
        for bad, says in (
            (tampered, "not one we sent"),
            (f"{path}?token=", "not complete"),
            (path, "not complete"),
            (wrong_order, "another order"),
        ):
            response = await page.goto(bad)
            assert response is not None and response.status == 403, bad
            assert await page.title() == "This link cannot be used · Party order tracking"
            assert says in await page.locator("main").inner_text()
            assert await page.locator("form").count() == 0
    finally:
        await page.close()
    async with httpx.AsyncClient() as http:
        sent = await http.post(
            other_url.split("?")[0], data={"token": token, "percentComplete": "90"}
        )
    assert sent.status_code == 403
    assert (await stack.orders.get(other_id)).percent_complete == 0
    assert (await stack.orders.get(order_id)).percent_complete == 0


async def test_bad_input_gets_the_form_back_naming_the_field(stack: LiveStack) -> None:
    order_id, url = await checked_in(stack)
    action = url.partition("?")[0]
    token = parse_qs(urlsplit(url).query)["token"][0]
    async with httpx.AsyncClient() as http:
        form = (await http.get(url)).text
        request_id = form.split('name="requestId" value="')[1].split('"')[0]
        for fields, says in (
            ({"percentComplete": "lots", "note": "kept"}, "Percent complete: enter a whole number"),
            ({"percentComplete": "150"}, "Percent complete: enter a whole number"),
            ({"expectedCompletionDate": "next week"}, "Forecast completion date: enter a date"),
            ({"milestone": "no-such-step"}, "this order has no milestone no-such-step"),
            ({}, "fill in at least one field"),
            ({"note": "x" * 4001}, "Note:"),
        ):
            answer = await http.post(
                action, data={"token": token, "requestId": request_id, **fields}
            )
            assert answer.status_code == 400, fields
            assert answer.headers["content-type"].startswith("text/html")
            assert says in answer.text, (fields, answer.text)
            assert "<title>Error: Report progress" in answer.text
            assert 'aria-invalid="true"' in answer.text or not fields
            assert f'value="{token}"' in answer.text  # the form comes back, ready to send
        assert (
            ">kept</textarea>"
            in (
                await http.post(
                    action, data={"token": token, "percentComplete": "x", "note": "kept"}
                )
            ).text
        )
        assert (
            await http.post(
                action,
                content=b'{"percentComplete": 5}',
                headers={"content-type": "application/json"},
            )
        ).status_code == 400

        # Sent twice with the same request id (a reload of the result page): applied once.
        for _ in range(2):
            sent = await http.post(
                action,
                data={"token": token, "requestId": request_id, "percentComplete": "30"},
            )
            assert sent.status_code == 200, sent.text
    order = await stack.orders.get(order_id)
    assert order.percent_complete == 30
    assert order.rejected_messages == []


async def test_a_report_the_order_refuses_shows_its_reason(stack: LiveStack) -> None:
    order_id, url = await checked_in(stack)
    token = parse_qs(urlsplit(url).query)["token"][0]
    await stack.orders.cancel(order_id, {"reason": "site decommissioned"})

    async def cancelled() -> bool:
        return (await stack.orders.get(order_id)).state == "cancelled"

    await eventually(cancelled, what="the order cancelled")
    async with httpx.AsyncClient() as http:
        opened = await http.get(url)
        assert opened.status_code == 200
        assert "no more progress reports are needed" in opened.text
        assert "<form" not in opened.text
        sent = await http.post(url.partition("?")[0], data={"token": token, "note": "late"})
    assert sent.status_code == 409
    assert "was not accepted" in sent.text
    assert "cancelled" in sent.text or "closed" in sent.text


async def test_the_access_log_never_shows_the_token(dev_client: Client, tmp_path: Path) -> None:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keep = Keep()
    async with live_stack(dev_client, tmp_path, log_level="info") as stack:
        access = logging.getLogger("uvicorn.access")
        access.addHandler(keep)
        try:
            order_id, url = await checked_in(stack)
            token = parse_qs(urlsplit(url).query)["token"][0]
            async with httpx.AsyncClient() as http:
                assert (await http.get(url)).status_code == 200
                assert (await http.get(url + "x")).status_code == 403
        finally:
            access.removeHandler(keep)
    logged = [line for line in lines if f"/portal/partyOrder/{order_id}/checkIn" in line]
    assert len(logged) == 2, lines
    assert all("token=***" in line for line in logged), logged
    assert not any(token in line for line in lines)


def an_order(**items: str) -> PartyOrder:
    data = example_order("PO-ITEMS", datetime(2026, 12, 1, tzinfo=UTC))
    data["orderItems"] = [
        {"id": item_id, "description": f"item {item_id}", "state": state}
        for item_id, state in items.items()
    ]
    spec = PartyOrderSpec.model_validate(data)
    return PartyOrderTracker.start(
        spec, datetime(2026, 12, 1, tzinfo=UTC), "t1", rules_version=CURRENT_RULES
    ).order


CLAIMS = PortalClaims("PO-ITEMS", "ACME", datetime(2026, 12, 3, tzinfo=UTC))


def test_item_states_are_offered_for_items_tracked_on_their_own() -> None:
    order = an_order(**{"1": "inProgress", "2": "held"})
    html = bytes(portal.form_page(order, "tok", CLAIMS, portal.Form()).body).decode()
    assert "<legend>Order items</legend>" in html
    assert '<label for="item-1">Item 1: item 1</label>' in html
    assert '<select id="item-2" name="item:2">' in html
    assert '<option value="held" selected>On hold</option>' in html
    assert '<option value="inProgress">In progress</option>' in html
    # Items shown with their current state are not reported unless changed.
    unchanged = portal.Form(items={"1": "inProgress", "2": "held"})
    report, errors = portal.to_report(unchanged, order)
    assert report is None and errors[""].startswith("fill in at least one field")
    _, errors = portal.to_report(portal.Form(items={"9": "completed"}), order)
    assert errors == {"orderItems": "this order has no item 9"}
    # A changed item is reported as the workflow takes it (report_progress.orderItems).
    report, errors = portal.to_report(portal.Form(items={"1": "completed", "2": "held"}), order)
    assert errors == {} and report is not None and report.order_items is not None
    assert [(i.id, i.state) for i in report.order_items] == [("1", "completed")]

    # Items without states (an order on rules before 3 has none) are never offered.
    plain = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(example_order("PO-PLAIN", datetime(2026, 12, 1, tzinfo=UTC))),
        datetime(2026, 12, 1, tzinfo=UTC),
        "t1",
        rules_version=RULES_V2,
    ).order
    assert plain.order_items and all(item.state is None for item in plain.order_items)
    html = bytes(portal.form_page(plain, "tok", CLAIMS, portal.Form()).body).decode()
    assert "Order items" not in html and "<select" not in html


async def test_the_page_shows_the_party_its_own_last_report_and_nothing_internal(
    stack: LiveStack,
) -> None:
    order_id, url = await checked_in(stack)
    token = parse_qs(urlsplit(url).query)["token"][0]
    async with httpx.AsyncClient() as http:
        sent = await http.post(
            url.partition("?")[0],
            data={"token": token, "percentComplete": "30", "note": "splicing next week"},
        )
        assert sent.status_code == 200, sent.text
        await stack.orders.report_progress(
            order_id, {"source": "enterprise", "note": "considering NORDFIBER"}, confirm=True
        )
        page = (await http.get(url)).text
    assert "NORDFIBER" not in page
    last = page.split('id="last-report">')[1].split("</dd>")[0]
    assert "splicing next week" in last
    assert "In progress, 30% complete" in page


async def test_a_link_from_an_ended_tracking_does_not_work_on_the_next(
    stack: LiveStack,
) -> None:
    order = example_order(unique(), datetime.now(UTC))
    await stack.orders.start(order)
    await stack.orders.check_in_now(order["id"], {"requestedBy": "portal test"})

    async def link() -> str | None:
        notices = stack.check_in_notices(order["id"])
        return notices[0]["body"].get("portalUrl") if notices else None

    url = await eventually(link, what="the check-in notification")
    await stack.orders.cancel(order["id"], {"reason": "ordered again"})

    async def cancelled() -> bool:
        return (await stack.orders.get(order["id"])).state == "cancelled"

    await eventually(cancelled, what="the order cancelled")
    await stack.orders.start(order, again=True)
    async with httpx.AsyncClient() as http:
        opened = await http.get(url)
        token = parse_qs(urlsplit(url).query)["token"][0]
        sent = await http.post(url.partition("?")[0], data={"token": token, "note": "late"})
    assert opened.status_code == 403, opened.text
    assert "earlier tracking of this order" in opened.text
    assert sent.status_code == 403
    assert (await stack.orders.get(order["id"])).notes == []
