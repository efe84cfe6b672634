"""`warroom run` in Socket Mode (an app token set): no Slack endpoint, envelopes over the WebSocket,
acks as frames, the same journal, and health on the same port."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from urllib.parse import parse_qsl

import aiohttp

from bot.sandbox import payloads
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from tests.plugins.slack import FAKE_BOT_TOKEN
from tests.test_process import free_port, warroom_process


async def test_socket_mode_acks_frames_and_journals(
    tmp_path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": FAKE_BOT_TOKEN,
        "SLACK_APP_TOKEN": "xapp-test-1-socket-mode",
        "WARROOM_SLACK_API_URL": slack_server.api_url,
        "WARROOM_DATABASE_PATH": str(tmp_path / "w.db"),
        "WARROOM_HTTP_HOST": "127.0.0.1",
        "WARROOM_HTTP_PORT": str(port),
    }
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "WARROOM_"))
        },
        **env,
    }
    async with warroom_process(env):
        command = dict(
            parse_qsl(
                payloads.slash_command(
                    text="explode",
                    user_id="UALICE",
                    user_name="alice",
                    channel_id="C00000001",
                    channel_name="incident-response",
                    response_url=slack_server.response_url("s1"),
                )
            )
        )
        ack = await slack_workspace.sockets.send("slash_commands", command)
        assert "Unknown subcommand" in ack["payload"]["text"]
        event = {
            "type": "message",
            "channel": "C00000001",
            "user": "UBOB",
            "text": "hello",
            "ts": "1800000000.000100",
        }
        body = {
            "type": "event_callback",
            "event_id": "EvSocket1",
            "team_id": "T0WARROOM",
            "event": event,
        }
        for attempt in (0, 1):  # a Slack retry of the same event
            await slack_workspace.sockets.send(
                "events_api", body, retry_attempt=attempt
            )
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            assert response.status == 200
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/slack/events") as response,
        ):
            assert response.status == 404  # no HTTP endpoint for Slack in Socket Mode
        await asyncio.sleep(0.2)
        assert [
            c.method for c in slack_workspace.calls_to("apps.connections.open")
        ] == ["apps.connections.open"]
    with closing(sqlite3.connect(tmp_path / "w.db")) as db:
        kinds = sorted(k for (k,) in db.execute("select kind from inbox"))
    assert kinds == ["event_callback", "unknown"] or kinds == [
        "command",
        "event_callback",
    ]
