"""Limits (issue 12): a per-person rate limit on `/incident`, requests no listener takes marked
ignored, malformed signed bodies refused with 400, and `warroom export --out` replacing its file
only when the export succeeded. Driven over signed HTTP (or Socket Mode) against the stand-ins.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import sqlite3
import time
from contextlib import closing, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from bot.cli.main import main
from bot.models.incidents import utcnow
from bot.sandbox import payloads
from bot.sandbox.signing import FORM, JSON
from bot.sandbox.slack.records import INCIDENT_RESPONSE_CHANNEL_ID, TEAM_ID
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.boltfix import NOT_SLACK_SHAPED
from handlers.commands import CommandLimit
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET
from tests.test_process import free_port, warroom_process

TOO_FAST = "You are sending commands too fast: wait"


class FrozenClock:
    """The bot's clock, still unless the test moves it: a token bucket refills only when told."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def inbox(database: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(database)) as db:
        return [
            (str(kind), str(status))
            for kind, status in db.execute("select kind, status from inbox order by id")
        ]


# -- the rate limit -------------------------------------------------------------------------


async def test_commands_too_fast_are_refused_privately_per_person_and_cannot_delay_others(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    clock = FrozenClock()
    settings = make_settings(
        tmp_path / "warroom.db", slack_server, commands_per_minute=3
    )
    async with run_bot(settings, slack_server, clock) as bot:
        incident = await declare(bot, slack_workspace)  # alice's first command
        assert incident.channel_id
        answers = [
            (await command_in(bot, incident, f"note spam {n}", user="UBOB")).text
            for n in range(8)
        ]
        assert answers[:3] == ["", "", ""]
        assert answers[3:] == [f"{TOO_FAST} 20 s."] * 5
        # Bob's flood does not touch Alice's bucket: her status change goes through at once.
        status = await command_in(bot, incident, "status identified")
        assert status.text == ""

        def channel_texts() -> list[str]:
            return [m.text for m in slack_workspace.messages(incident.channel_id or "")]

        async def status_posted() -> list[str] | None:
            texts = channel_texts()
            return texts if any("set status" in t for t in texts) else None

        texts = await eventually(status_posted)
        # At most the limit's worth of Bob's notes can be queued ahead of the status post.
        ahead = texts[: next(i for i, t in enumerate(texts) if "set status" in t)]
        assert [t.rsplit(": ", 1)[-1] for t in ahead if "Note from" in t] == [
            f"spam {n}" for n in range(3)
        ]
        entries = await bot.services.storage.timeline(incident.number)
        assert [e.text for e in entries if e.kind == "note"] == [
            f"spam {n}" for n in range(3)
        ]
        outbox = await bot.services.storage.outbox_rows()
        assert not any("spam 3" in json.dumps(row.args) for row in outbox)

        # One token comes back every 60 / 3 = 20 s.
        clock.now += timedelta(seconds=19)
        early = await command_in(bot, incident, "note spam 8", user="UBOB")
        assert early.text == f"{TOO_FAST} 1 s."
        clock.now += timedelta(seconds=1)
        assert (await command_in(bot, incident, "note spam 9", user="UBOB")).text == ""

        async def notes() -> list[str] | None:
            entries = await bot.services.storage.timeline(incident.number)
            found = [e.text for e in entries if e.kind == "note"]
            return found if len(found) == 4 else None

        assert await eventually(notes) == [
            *(f"spam {n}" for n in range(3)),
            "spam 9",
        ]


def test_command_limit_refills_at_its_rate_and_zero_turns_it_off():
    limit, start = CommandLimit(), datetime(2026, 1, 5, 10, 0)
    assert [limit.take("U1", now=start, per_minute=2) for _ in range(3)] == [
        0.0,
        0.0,
        30.0,
    ]
    assert limit.take("U2", now=start, per_minute=2) == 0.0  # another person's bucket
    assert limit.take("U1", now=start + timedelta(seconds=15), per_minute=2) == 15.0
    # a clock that steps back gives nothing back
    assert limit.take("U1", now=start, per_minute=2) == 30.0
    assert limit.take("U1", now=start + timedelta(seconds=30), per_minute=2) == 0.0
    assert all(limit.take("U1", now=start, per_minute=0) == 0.0 for _ in range(50))


# -- requests no listener takes -------------------------------------------------------------


def unhandled_requests() -> dict[str, tuple[str, str]]:
    """Signed requests that reach the bot but that no listener of it handles."""
    return {
        "another app's command": (
            FORM,
            payloads.slash_command(
                command="/other",
                text="hello",
                user_id="UBOB",
                user_name="bob",
                channel_id=INCIDENT_RESPONSE_CHANNEL_ID,
                channel_name="incident-response",
                response_url="http://127.0.0.1:9/hook",
            ),
        ),
        "an event nobody listens to": (
            JSON,
            payloads.event_callback(
                {"type": "member_joined_channel", "user": "UBOB", "channel": "C1"}
            ),
        ),
        "a closed modal": (
            FORM,
            urlencode(
                {
                    "payload": json.dumps(
                        {
                            "type": "view_closed",
                            "team": {"id": TEAM_ID},
                            "user": {"id": "UBOB"},
                            "view": {"id": "V1", "callback_id": "nobody-opened-this"},
                        }
                    )
                }
            ),
        ),
        "a made-up type": (JSON, json.dumps({"type": "made_up", "team_id": TEAM_ID})),
    }


async def test_requests_no_listener_takes_are_marked_ignored_and_never_replayed(
    bot_settings, start_bot, slack_workspace: SlackWorkspace
):
    async with start_bot(bot_settings) as bot:
        for name, (content_type, body) in unhandled_requests().items():
            response = await bot.sender.send(body, content_type=content_type)
            assert response.status == 404, name
        handled = await bot.sender.command("help")
        assert handled.status == 200

        async def settled() -> list[tuple[str, str]] | None:
            rows = inbox(bot_settings.database_path)
            return rows if all(s != "pending" for _, s in rows) else None

        assert await eventually(settled) == [
            ("command", "ignored"),
            ("event_callback", "ignored"),
            ("view_closed", "ignored"),
            ("other", "ignored"),
            ("command", "done"),
        ]
        assert await bot.services.storage.inbox_pending() == []
    async with start_bot(bot_settings):  # a restart replays nothing
        statuses = [s for _, s in inbox(bot_settings.database_path)]
        assert statuses == ["ignored", "ignored", "ignored", "ignored", "done"]


UNMATCHABLE = urlencode(
    {
        "payload": json.dumps(
            {"type": "block_actions", "user": {"id": "UBOB"}, "actions": [1]}
        )
    }
)


async def test_a_signed_body_bolt_cannot_match_is_refused_and_never_replayed(
    bot_settings, start_bot
):
    async with start_bot(bot_settings) as bot:
        response = await bot.sender.send(UNMATCHABLE, content_type=FORM)
        assert (response.status, response.json()) == (400, {"error": NOT_SLACK_SHAPED})
        # Bolt only trips over it after the journal write: the row is kept, finished.
        assert inbox(bot_settings.database_path) == [("block_actions", "failed")]
    async with start_bot(bot_settings) as bot:
        assert inbox(bot_settings.database_path) == [("block_actions", "failed")]
        assert await bot.services.storage.inbox_pending() == []


async def test_requests_left_pending_by_an_older_version_are_settled_at_start(
    bot_settings, start_bot
):
    async with start_bot(bot_settings):
        pass  # creates the database
    left = [
        ("command", unhandled_requests()["another app's command"][1]),
        ("other", '{"type": "event_callback", "event": '),
        ("block_actions", UNMATCHABLE),
    ]
    with closing(sqlite3.connect(bot_settings.database_path)) as db, db:
        for n, (kind, body) in enumerate(left):
            db.execute(
                "insert into inbox (key, kind, body, received_at, status, attempts)"
                " values (?, ?, ?, ?, 'pending', 0)",
                [f"sig:v0=old{n}", kind, body, utcnow().isoformat()],
            )
    async with start_bot(bot_settings) as bot:
        assert inbox(bot_settings.database_path) == [
            ("command", "ignored"),
            ("other", "failed"),
            ("block_actions", "failed"),
        ]
        assert await bot.services.storage.inbox_pending() == []


async def test_socket_mode_requests_no_listener_takes_are_marked_ignored(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    database = tmp_path / "w.db"
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "WARROOM_"))
        },
        "SLACK_BOT_TOKEN": FAKE_BOT_TOKEN,
        "SLACK_APP_TOKEN": "xapp-test-1-socket-mode",
        "WARROOM_SLACK_API_URL": slack_server.api_url,
        "WARROOM_DATABASE_PATH": str(database),
        "WARROOM_HTTP_HOST": "127.0.0.1",
        "WARROOM_HTTP_PORT": str(free_port()),
    }
    event = payloads.event_envelope(
        {"type": "member_joined_channel", "user": "UBOB", "channel": "C1"}
    )
    async with warroom_process(env):
        # Bolt sends no ack frame for a request it did not handle (404), so nothing to wait for.
        sent = asyncio.create_task(slack_workspace.sockets.send("events_api", event))

        async def ignored() -> list[tuple[str, str]] | None:
            rows = inbox(database) if database.exists() else []
            return rows if rows and rows[0][1] != "pending" else None

        try:
            assert await eventually(ignored) == [("event_callback", "ignored")]
        finally:
            sent.cancel()
            with suppress(asyncio.CancelledError, TimeoutError):
                await sent


# -- malformed signed bodies ----------------------------------------------------------------

MALFORMED = {
    "JSON that does not parse": (JSON, b'{"type": "event_callback", "event": ', "body is not valid JSON"),
    "a JSON array": (JSON, b'[{"type": "event_callback"}]', "body is not a JSON object"),
    "a JSON string": (JSON, b'"event_callback"', "body is not a JSON object"),
    "JSON nested past the parser": (JSON, b"{" + b'"a":[' * 50_000, "body is not valid JSON"),
    "a payload field that does not parse": (FORM, b"payload=%7B%22type%22", "payload field is not valid JSON"),
    "a payload field that is a list": (FORM, b"payload=%5B%5D", "payload field is not a JSON object"),
    "bytes that are not UTF-8": (FORM, b"command=%2Fincident&text=note+\xff\xfe", "body is not UTF-8"),
    "an event that is not an object": (JSON, b'{"type": "event_callback", "event": "x"}', "event is not a JSON object"),
    "a team that is a number": (FORM, ("payload=" + quote('{"type": "block_actions", "team": 5}')).encode(), "body is not shaped as Slack sends it"),
    "a user that is a number": (FORM, ("payload=" + quote('{"type": "view_submission", "user": 5}')).encode(), "body is not shaped as Slack sends it"),
}  # fmt: skip


def signed(secret: str, raw: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    base = f"v0:{timestamp}:".encode() + raw
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }


async def post_raw(
    bot: RunningBot, raw: bytes, content_type: str, secret: str
) -> tuple[int, Any]:
    session = bot.sender._session  # the sender signs text; these bodies are bytes
    assert session is not None
    headers = {"Content-Type": content_type, **signed(secret, raw)}
    async with session.post(bot.url, data=raw, headers=headers) as response:
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_signed_bodies_get_400_with_a_reason_and_record_nothing(
    bot: RunningBot, slack_workspace: SlackWorkspace, case: str
):
    content_type, raw, reason = MALFORMED[case]
    status, answer = await post_raw(bot, raw, content_type, FAKE_SIGNING_SECRET)
    assert (status, answer) == (400, {"error": f"malformed request: the {reason}"})
    # Unsigned, the same bytes are only ever "invalid request": nothing about the body.
    status, answer = await post_raw(bot, raw, content_type, "not-the-secret")
    assert (status, answer) == (401, {"error": "invalid request"})
    assert inbox(bot.settings.database_path) == []
    # (the bot learns its own identity at start: auth.test is the only call it makes)
    assert {c.method for c in slack_workspace.calls} <= {"auth.test"}


# -- export --out ---------------------------------------------------------------------------


async def test_export_out_replaces_the_file_only_when_the_export_succeeds(
    tmp_path: Path,
    bot_settings,
    start_bot,
    slack_workspace: SlackWorkspace,
    capsys: pytest.CaptureFixture[str],
):
    async with start_bot(bot_settings) as bot:
        incident = await declare(bot, slack_workspace)
    database = str(bot_settings.database_path)
    out = tmp_path / "drafts" / "postmortem.md"
    out.parent.mkdir()
    out.write_text("the draft someone edited by hand\n")

    def export(key: str, target: Path) -> int:
        return main(["export", key, "--database", database, "--out", str(target)])

    assert export("INC-99", out) == 2
    assert "INC-99" in capsys.readouterr().err
    assert out.read_text() == "the draft someone edited by hand\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["postmortem.md"]

    assert export(incident.key, out) == 0
    assert out.read_text().startswith(f"# Post-mortem draft: {incident.key}")
    assert sorted(p.name for p in out.parent.iterdir()) == ["postmortem.md"]

    assert export(incident.key, tmp_path / "no-such-dir" / "x.md") == 2
    assert "cannot write" in capsys.readouterr().err
    assert export(incident.key, out.parent) == 2  # a directory is not a file to replace
    assert out.parent.is_dir()
    assert sorted(p.name for p in out.parent.iterdir()) == ["postmortem.md"]
