"""The codec server, for real: HTTP against ``CodecServer`` on a free port, the ``temporal``
CLI decoding an encrypted order's history through it on the dev server, and
``party-orders codec-server`` as a process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from privacy.codec import ENCRYPTED_ENCODING, EncryptionCodec, data_converter
from privacy.keys import parse_keys
from settings import CODEC_TOKEN_ENV, ENCRYPTION_KEYS_ENV, Settings
from starter.client import PartyOrderClient
from starter.codec_server import CodecServer
from starter.local.binaries import temporal_cli_path
from starter.local.devserver import DevServerConfig, server_command
from starter.samples import example_order
from tests.conftest import running_worker, unique
from workflows.domain.model import track_workflow_id

EMAIL = "jane.doe@acme.example"
UI = "http://localhost:8233"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def payloads_json(*values: Any) -> dict[str, Any]:
    payloads = data_converter().payload_converter.to_payloads(list(values))
    result: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    return result


def values_of(body: dict[str, Any]) -> list[Any]:
    payloads = json_format.ParseDict(body, Payloads()).payloads
    return [data_converter().payload_converter.from_payload(p) for p in payloads]


KEYS = f"{key_entry('k2')},{key_entry('k1')}"


def payload_texts(history_json: str) -> str:
    """The data of every payload in ``temporal workflow show --output json``, decoded from
    base64 (JSON output shows bytes in base64) and joined."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and isinstance(node.get("metadata"), dict):
                found.append(base64.b64decode(node["data"]).decode("utf-8", errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return "\n".join(found)


@pytest.fixture
async def codec_url() -> AsyncIterator[str]:
    server = CodecServer(EncryptionCodec(parse_keys(KEYS)), port=free_port(), origins=[UI])
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def test_encode_then_decode_round_trips_as_the_web_ui_sends_it(codec_url: str) -> None:
    headers = {"Content-Type": "application/json", "X-Namespace": "default", "Origin": UI}
    async with httpx.AsyncClient(base_url=codec_url) as http:
        encoded = await http.post("/encode", json=payloads_json({"contactEmail": EMAIL}, 7))
        assert encoded.status_code == 200
        sealed = encoded.json()["payloads"]
        assert len(sealed) == 2 and EMAIL not in encoded.text
        assert base64.b64decode(sealed[0]["metadata"]["encoding"]) == ENCRYPTED_ENCODING
        decoded = await http.post("/decode", json=encoded.json(), headers=headers)
        assert decoded.status_code == 200
        assert decoded.headers["Access-Control-Allow-Origin"] == UI
        assert values_of(decoded.json()) == [{"contactEmail": EMAIL}, 7]
        # Plaintext payloads (written before encryption) come back as they were.
        plain = await http.post("/decode", json=payloads_json("as it was"))
        assert values_of(plain.json()) == ["as it was"]


async def test_cors_preflight_answers_only_the_web_ui_origin(codec_url: str) -> None:
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    async with httpx.AsyncClient(base_url=codec_url) as http:
        allowed = await http.options("/decode", headers={**asked, "Origin": UI})
        assert allowed.status_code == 204
        assert allowed.headers["Access-Control-Allow-Origin"] == UI
        assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
        allowed_headers = allowed.headers["Access-Control-Allow-Headers"].lower()
        assert "content-type" in allowed_headers and "x-namespace" in allowed_headers
        other = await http.options("/decode", headers={**asked, "Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
        posted = await http.post(
            "/decode", json=payloads_json(1), headers={"Origin": "http://evil.example"}
        )
        assert "Access-Control-Allow-Origin" not in posted.headers


async def test_bad_bodies_and_unknown_keys_are_clear_400s(codec_url: str) -> None:
    stranger = CodecServer(EncryptionCodec(parse_keys(key_entry("k9"))), port=free_port())
    await stranger.start()
    try:
        async with httpx.AsyncClient() as http:
            foreign = await http.post(f"{stranger.url}/encode", json=payloads_json(EMAIL))
            response = await http.post(f"{codec_url}/decode", json=foreign.json())
            assert response.status_code == 400
            assert "'k9'" in response.json()["message"] and EMAIL not in response.text
            for body in ("not json", '{"payloads": 3}'):
                bad = await http.post(
                    f"{codec_url}/decode",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                assert bad.status_code == 400 and "Payloads" in bad.json()["message"]
    finally:
        await stranger.stop()


async def test_a_bearer_token_when_configured() -> None:
    server = CodecServer(
        EncryptionCodec(parse_keys(KEYS)), port=free_port(), origins=[UI], token="t0ken"
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            body = payloads_json(1)
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken"}):
                refused = await http.post("/encode", json=body, headers={**headers, "Origin": UI})
                assert refused.status_code == 401
                # The browser can still read why (the refusal carries the CORS headers).
                assert refused.headers["Access-Control-Allow-Origin"] == UI
            ok = await http.post("/encode", json=body, headers={"Authorization": "Bearer t0ken"})
            assert ok.status_code == 200
            preflight = await http.options("/encode", headers={"Origin": UI})
            assert preflight.status_code == 204  # preflights carry no credentials
    finally:
        await server.stop()


async def test_the_temporal_cli_shows_an_encrypted_order_only_through_the_codec(
    dev_client: Client, dev_address: str, outbox: Path
) -> None:
    encrypted = Client(
        dev_client.service_client,
        namespace=dev_client.namespace,
        data_converter=data_converter(Settings({ENCRYPTION_KEYS_ENV: KEYS}).encryption_keys()),
    )
    server = CodecServer(
        EncryptionCodec(parse_keys(KEYS)), port=free_port(), origins=[UI], token="t0ken"
    )
    await server.start()
    order_id = unique("ENC")
    order = example_order(order_id, datetime.now(UTC))
    order["party"]["contactEmail"] = EMAIL
    try:
        async with running_worker(encrypted, outbox) as (_, task_queue):
            await PartyOrderClient(encrypted, task_queue).start(order)
            show = [
                temporal_cli_path(),
                "workflow",
                "show",
                "--address",
                dev_address,
                "--workflow-id",
                track_workflow_id(order_id),
                "--output",
                "json",
            ]
            without = await asyncio.to_thread(
                subprocess.run, show, capture_output=True, text=True, timeout=60
            )
            assert without.returncode == 0, without.stderr
            shown = payload_texts(without.stdout)
            assert EMAIL not in shown and EMAIL not in without.stdout
            assert base64.b64encode(ENCRYPTED_ENCODING).decode() in without.stdout
            codec = ["--codec-endpoint", server.url, "--codec-auth", "Bearer t0ken"]
            through = await asyncio.to_thread(
                subprocess.run, [*show, *codec], capture_output=True, text=True, timeout=60
            )
            assert through.returncode == 0, through.stderr
            assert EMAIL in payload_texts(through.stdout)
    finally:
        await server.stop()


async def test_party_orders_codec_server_runs_until_interrupted() -> None:
    port = free_port()
    env = {**os.environ, ENCRYPTION_KEYS_ENV: KEYS, CODEC_TOKEN_ENV: "t0ken"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        "codec-server",
        "--port",
        str(port),
        "--ui-origin",
        "http://localhost:9999",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = ""
        while "temporal CLI" not in banner:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line, f"exited early: {banner}"
            banner += line.decode()
        assert "k2, k1" in banner and "http://localhost:9999" in banner
        assert "required" in banner and "t0ken" not in banner
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"http://localhost:{port}/encode",
                json=payloads_json(EMAIL),
                headers={"Authorization": "Bearer t0ken", "Origin": "http://localhost:9999"},
            )
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:9999"
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_party_orders_codec_server_without_keys_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k != ENCRYPTION_KEYS_ENV}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starter", "codec-server", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"{ENCRYPTION_KEYS_ENV} is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_up_points_the_web_ui_at_the_codec_server() -> None:
    config = DevServerConfig(codec_endpoint="http://localhost:8234")
    command = server_command(config, "temporal")
    assert command[command.index("--ui-codec-endpoint") + 1] == "http://localhost:8234"
    assert "--ui-codec-endpoint" not in server_command(DevServerConfig(), "temporal")
    headless = DevServerConfig(codec_endpoint="http://localhost:8234", headless=True)
    assert "--ui-codec-endpoint" not in server_command(headless, "temporal")
