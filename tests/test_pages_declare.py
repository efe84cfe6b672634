"""Paging on declare, end to end: signed Slack requests to the real bot, PagerDuty stand-in over HTTPS.

Assertions are on what the PagerDuty stand-in and the Slack workspace received and on SQLite.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.models.incidents import Incident
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view
from tests.pagerduty_standin import ROUTING_KEY
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.pagerduty import pagerduty_settings

KEY = "warroom-INC-1"


async def settled(bot: RunningBot, number: int = 1, count: int = 1) -> list[Any]:
    """Wait until `count` pages of the incident are no longer pending; return them."""

    async def check() -> list[Any] | None:
        rows = await bot.services.storage.pages_of(number)
        done = [r for r in rows if r.status != "pending"]
        return rows if len(done) >= count else None

    return await eventually(check)


async def kinds(bot: RunningBot, number: int = 1) -> list[str]:
    return [e.kind for e in await bot.services.storage.timeline(number)]


def pd_incidents(standin: Any) -> list[dict[str, Any]]:
    return list(standin.state.incidents.values())


async def channel_text(slack: SlackWorkspace, incident: Incident, needle: str) -> str:
    async def find() -> str | None:
        texts = [m.text for m in slack.messages(incident.channel_id or "")]
        return next((t for t in texts if needle in t), None)

    return await eventually(find)


async def test_pages_declare_sev1__exactly_one_pagerduty_incident_with_the_dedup_key(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    [row] = await settled(pd_bot)

    assert row.status == "done"
    [created] = pd_incidents(pagerduty_standin)
    assert created["incident_key"] == KEY
    assert created["service"]["id"] == "PSVCAPI"
    assert created["escalation_policy"]["id"] == "PEPSECU"
    assert row.pd_incident_id == created["id"]
    assert "page" in await kinds(pd_bot)
    # who is on call for the policy, mentioned when matched to Slack users by email, and invited
    oncall = await channel_text(slack_workspace, incident, "On call now")
    assert "<@UBOB>" in oncall
    assert "<@UALICE>" in oncall
    await slack_workspace.wait_for(
        "conversations.invite", lambda c: c.args.get("users") == "UBOB"
    )
    assert "UBOB" in slack_workspace.channels[incident.channel_id].members


async def test_pages_declare_retries_429_and_5xx_with_the_same_dedup_key(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    pagerduty_standin.fail("POST /incidents", 429, times=1)
    pagerduty_standin.fail("POST /incidents", 502, times=1, after_processing=True)
    await declare(pd_bot, slack_workspace, severity="SEV1")
    [row] = await settled(pd_bot)

    posts = pagerduty_standin.requests_to("POST", "/incidents")
    assert len(posts) == 3
    assert {p.json["incident"]["incident_key"] for p in posts} == {KEY}
    # the 502 came after PagerDuty created it
    assert len(pd_incidents(pagerduty_standin)) == 1
    assert row.status == "done"


async def test_pages_declare_400_is_not_retried_and_falls_back_loudly(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    pagerduty_standin.fail("POST /incidents", 400, times=1)
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    [row] = await settled(pd_bot)

    assert len(pagerduty_standin.requests_to("POST", "/incidents")) == 1
    assert row.status == "failed"
    text = await channel_text(slack_workspace, incident, "Paging failed")
    assert "John Doe (+1-555-0101)" in text  # the plan's emergency contacts
    assert "page_failed" in await kinds(pd_bot)


async def test_pages_declare_outage__incident_declared_fallback_message_and_timeline(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    pagerduty_standin.drop_connection(times=1)
    pagerduty_standin.fail("POST /incidents", 503, times=10)
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    [row] = await settled(pd_bot)

    assert row.status == "failed"
    assert len(pagerduty_standin.requests_to("POST", "/incidents")) == 4  # bounded
    assert pd_incidents(pagerduty_standin) == []
    text = await channel_text(slack_workspace, incident, "Paging failed")
    assert "Call these people directly" in text
    entries = await pd_bot.services.storage.timeline(incident.number)
    failed = next(e for e in entries if e.kind == "page_failed")
    assert "PagerDuty" in failed.text
    # declaring did not wait for, or fail because of, PagerDuty
    assert entries[0].kind == "declared"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{pd_bot.base_url}/readyz") as response,
    ):
        body = await response.json()
    assert body["ready"] is True
    assert body["pagerduty"] == "degraded"


async def test_pages_declare_sev3_does_not_page(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    await declare(pd_bot, slack_workspace, severity="SEV3")
    assert await pd_bot.services.storage.pages_of(1) == []
    assert pagerduty_standin.requests_to("POST", "/incidents") == []


async def test_pages_resolve_resolves_the_pagerduty_incident(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV2")
    [row] = await settled(pd_bot)
    view_id = await open_view(
        pd_bot, slack_workspace, "resolve", channel_id=incident.channel_id
    )
    response = await pd_bot.sender.submit_view(
        callback_id=Callback.RESOLVE,
        values={Field.SUMMARY: {"value": payloads.plain_text_value("Failed over")}},
        view_id=view_id,
        private_metadata='{"incident": 1}',
    )
    assert response.status == 200
    rows = await settled(pd_bot, count=2)

    assert [r.kind for r in rows] == ["trigger", "resolve"]
    assert pagerduty_standin.state.incidents[row.pd_incident_id]["status"] == "resolved"
    assert "pd_resolve" in await kinds(pd_bot)
    # the status-update reminders stop; only the post-mortem's (missing details) may follow
    active = await pd_bot.services.storage.reminders_active(incident=1)
    assert [r.kind for r in active if r.kind != "postmortem"] == []


async def test_pages_log_only_pager_says_what_it_would_have_paged(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace, severity="SEV1")
    text = await channel_text(slack_workspace, incident, "PagerDuty is not configured")
    assert "would page the on-call rotation for INC-1 (SEV1)" in text


async def test_pages_events_api_mode_triggers_and_resolves_with_the_dedup_key(
    tmp_path: Any,
    slack_server: Any,
    slack_workspace: SlackWorkspace,
    pagerduty_standin: Any,
):
    overrides = pagerduty_settings(
        pagerduty_standin,
        pagerduty_api_key=None,
        pagerduty_from_email=None,
        pagerduty_routing_key=SecretStr(ROUTING_KEY),
        pagerduty_routes={},
    )
    settings = make_settings(tmp_path / "warroom.db", slack_server, **overrides)
    async with run_bot(settings, slack_server) as bot:
        await declare(bot, slack_workspace, severity="SEV1")
        [row] = await settled(bot)
        assert row.status == "done"
        await bot.services.incidents.resolve(
            number=1,
            summary="fixed",
            root_cause="",
            actor="UALICE",
            source="test-resolve",
        )
        await settled(bot, count=2)
    events = [r.json for r in pagerduty_standin.requests_to("POST", "/v2/enqueue")]
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [
        ("trigger", KEY),
        ("resolve", KEY),
    ]
    [created] = pd_incidents(pagerduty_standin)
    assert created["status"] == "resolved"


async def test_pages_raising_the_severity_to_a_paging_level_pages_once_and_speeds_up_reminders(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV4")
    before = await pd_bot.services.storage.reminder_get("update:1")
    assert before is not None
    assert before.due_at == incident.declared_at + timedelta(minutes=60)

    await command_in(pd_bot, incident, "severity SEV1", user="UBOB")
    [row] = await settled(pd_bot)

    assert (row.kind, row.status, row.requested_by) == ("trigger", "done", "UBOB")
    [created] = pd_incidents(pagerduty_standin)
    assert created["incident_key"] == KEY
    await channel_text(slack_workspace, incident, "On call now")
    after = await pd_bot.services.storage.reminder_get("update:1")
    assert after is not None
    assert after.due_at < before.due_at
    assert after.due_at - pd_bot.services.clock() <= timedelta(minutes=15)

    # Down and up again: the incident is already paged, so nothing more goes to PagerDuty.
    await command_in(pd_bot, incident, "severity SEV3", user="UBOB")
    await command_in(pd_bot, incident, "severity SEV2", user="UBOB")

    async def all_worked() -> bool:
        with closing(sqlite3.connect(pd_bot.settings.database_path)) as db:
            severity_rows = db.execute(
                "select count(*) from timeline where kind = 'severity'"
            ).fetchone()[0]
            pending = db.execute(
                "select count(*) from inbox where status = 'pending'"
            ).fetchone()[0]
        return severity_rows == 3 and pending == 0

    await eventually(all_worked)
    assert [p.kind for p in await pd_bot.services.storage.pages_of(1)] == ["trigger"]
    assert len(pagerduty_standin.requests_to("POST", "/incidents")) == 1


async def test_pages_declare__the_on_call_are_invited_while_the_channels_posts_wait(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace
):
    # Slack refuses every post (as its one-a-second limit does to a busy channel): invitations
    # must not queue behind them.
    slack_workspace.fail("chat.postMessage", "ratelimited", times=10**6, retry_after=1)
    view_id = await open_view(pd_bot, slack_workspace, "declare Database down")
    response = await pd_bot.sender.submit_view(
        callback_id=Callback.DECLARE,
        values={
            Field.TITLE: {"value": payloads.plain_text_value("Database down")},
            Field.SEVERITY: {"value": payloads.static_select_value("SEV1")},
        },
        view_id=view_id,
    )
    assert response.status == 200, response.text
    invited = await slack_workspace.wait_for(
        "conversations.invite", lambda c: c.ok and c.args.get("users") == "UBOB"
    )
    channel = invited.args["channel"]
    assert not [
        c
        for c in slack_workspace.calls_to("chat.postMessage")
        if c.ok and c.args.get("channel") == channel
    ]
    slack_workspace.clear_faults()

    async def oncall_posted() -> bool:
        return any("On call now" in m.text for m in slack_workspace.messages(channel))

    await eventually(oncall_posted)  # the posts follow, in their order


async def test_pages_declare__who_is_on_call_is_asked_while_the_page_is_sent(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    release = pagerduty_standin.hold("POST /incidents")
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")

    async def asked() -> bool:
        return bool(pagerduty_standin.requests_to("GET", "/oncalls"))

    await eventually(asked)  # the trigger is still unanswered
    pages = await pd_bot.services.storage.pages_of(incident.number)
    assert [p.status for p in pages] == ["pending"]
    release.set()
    oncall = await channel_text(slack_workspace, incident, "On call now")
    assert "<@UBOB>" in oncall
    said = [m.text for m in slack_workspace.messages(incident.channel_id or "")]
    paged = next(i for i, t in enumerate(said) if "PagerDuty incident" in t)
    assert paged < said.index(oncall)  # shown after the page, as before
