"""Runbook steps that act: a page step pages through PagerDuty (the stand-in) whom
`WARROOM_PAGE_TARGETS` names, once per runbook step under double clicks and after a restart; a
target with nobody to page fails the step with the plan's contact to call; a notify step posts the
plan's notification without posting it twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.models.incidents import Incident
from bot.models.runbooks import StepState
from bot.sandbox.slack.state import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from bot.storage.paging import PageRow
from handlers.ids import Action
from tests.flows import eventually
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.pagerduty import RunningStandIn, pagerduty_settings
from tests.runbook_support import select_step, start_runbook, until_state

TARGETS = {"DevOps Lead": "PEPDEVO", "Security Lead": "Security"}


@pytest.fixture
async def paging_bot(
    tmp_path: Path, slack_server: RunningWorkspace, pagerduty_standin: RunningStandIn
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        **pagerduty_settings(pagerduty_standin, page_targets=TARGETS),
    )
    async with run_bot(settings, slack_server) as running:
        yield running


async def pages_settled(
    bot: RunningBot, incident: Incident, count: int
) -> list[PageRow]:
    async def check() -> list[PageRow] | None:
        rows = await bot.services.storage.pages_of(incident.number)
        finished = all(r.status in ("done", "failed") for r in rows)
        return rows if len(rows) == count and finished else None

    return await eventually(check)


def paged(standin: RunningStandIn, policy: str) -> list[dict[str, Any]]:
    return [
        r
        for r in standin.state.responder_requests
        if r["responder_request_targets"][0]["responder_request_target"]["id"] == policy
    ]


async def overview_text(bot: RunningBot, slack: SlackWorkspace, rb: int) -> str:
    """The runbook message as Slack shows it now."""
    runbook = await bot.services.storage.get_runbook(rb)
    assert runbook is not None
    incident = await bot.services.storage.get_incident(runbook.incident)
    assert incident is not None
    cards = await bot.services.storage.card_timestamps(incident.number)
    [message] = [
        m for m in slack.messages(incident.channel_id) if m.ts == cards[f"card:{rb}:"]
    ]
    return json.dumps(message.blocks)


@pytest.mark.parametrize(
    ("scenario", "step", "policy"),
    [
        ("complete-site-outage", "activate-response-team", "PEPDEVO"),
        ("security-incident", "page-security-lead", "PEPSECU"),
    ],
)
async def test_a_page_step_pages_its_target_once_under_double_clicks(
    paging_bot: RunningBot,
    slack_workspace: SlackWorkspace,
    slack_server: RunningWorkspace,
    pagerduty_standin: RunningStandIn,
    scenario: str,
    step: str,
    policy: str,
):
    bot = paging_bot
    incident, rb = await start_runbook(bot, slack_workspace, scenario)
    await pages_settled(bot, incident, 1)  # the SEV1's own trigger
    await asyncio.gather(
        *(
            select_step(bot, slack_server, incident, rb, Action.RUNBOOK_ACT, step)
            for _ in range(3)
        )
    )
    assert await until_state(bot, rb, step, StepState.DONE) is StepState.DONE
    rows = await pages_settled(bot, incident, 2)
    assert [r.status for r in rows] == ["done", "done"]
    [request] = paged(pagerduty_standin, policy)
    assert request["incident"]["id"] == rows[0].pd_incident_id
    view = await bot.services.runbooks.view(rb)
    [run] = [s.run for s in view.steps if s.step.id == step]
    assert run is not None
    assert run.attempt == 1
    assert run.requested_by == "UALICE"
    entries = await bot.services.storage.timeline(incident.number)
    done = [e.text for e in entries if e.kind == "runbook" and "Done:" in e.text]
    assert len(done) == 1
    assert "(escalation policy)" in done[0]

    async def shown() -> bool:
        return "Paged " in await overview_text(bot, slack_workspace, rb)

    assert await eventually(shown)
    # Clicked again later (a replay, a restart's re-delivery): done already, nobody paged again.
    await select_step(bot, slack_server, incident, rb, Action.RUNBOOK_ACT, step)
    await pages_settled(bot, incident, 2)
    assert len(paged(pagerduty_standin, policy)) == 1


async def test_a_page_queued_before_a_restart_is_not_sent_again_by_the_next_click(
    paging_bot: RunningBot,
    slack_workspace: SlackWorkspace,
    slack_server: RunningWorkspace,
    pagerduty_standin: RunningStandIn,
):
    """A restart between queueing the page and recording the step leaves a page row and no run:
    the next click finds that page instead of paging again."""
    bot, step = paging_bot, "activate-response-team"
    incident, rb = await start_runbook(bot, slack_workspace, "complete-site-outage")
    await pages_settled(bot, incident, 1)
    first = await bot.services.comms.pages.page_step(
        incident,
        target="DevOps Lead",
        message="Complete site outage (SEV1). Join the incident channel.",
        actor="UALICE",
        source=f"runbook-{rb}:{step}",
    )
    await pages_settled(bot, incident, 2)
    await select_step(bot, slack_server, incident, rb, Action.RUNBOOK_ACT, step)
    assert await until_state(bot, rb, step, StepState.DONE) is StepState.DONE
    assert len(await pages_settled(bot, incident, 2)) == 2
    assert len(paged(pagerduty_standin, "PEPDEVO")) == 1
    assert first.startswith("Paged DevOps Lead: ")


async def test_a_page_step_with_nobody_to_page_fails_and_names_the_plans_contact(
    tmp_path: Path,
    slack_workspace: SlackWorkspace,
    slack_server: RunningWorkspace,
    pagerduty_standin: RunningStandIn,
):
    settings = make_settings(
        tmp_path / "warroom.db", slack_server, **pagerduty_settings(pagerduty_standin)
    )
    async with run_bot(settings, slack_server) as bot:
        step = "activate-response-team"
        incident, rb = await start_runbook(bot, slack_workspace, "complete-site-outage")
        await pages_settled(bot, incident, 1)
        await select_step(bot, slack_server, incident, rb, Action.RUNBOOK_ACT, step)
        assert await until_state(bot, rb, step, StepState.FAILED) is StepState.FAILED

        async def shown() -> str | None:
            text = await overview_text(bot, slack_workspace, rb)
            return text if "Nobody to page for DevOps Lead" in text else None

        text = await eventually(shown)
        assert "Call DevOps Lead: John Doe (+1-555-0101)" in text
        assert len(await pages_settled(bot, incident, 1)) == 1
        assert pagerduty_standin.state.responder_requests == []


async def test_a_notify_step_never_posts_the_initial_notification_twice(
    paging_bot: RunningBot,
    slack_workspace: SlackWorkspace,
    slack_server: RunningWorkspace,
):
    bot, step = paging_bot, "announce"
    incident, rb = await start_runbook(bot, slack_workspace, "complete-site-outage")
    await select_step(bot, slack_server, incident, rb, Action.RUNBOOK_ACT, step)
    assert await until_state(bot, rb, step, StepState.DONE) is StepState.DONE

    async def settled() -> bool:
        return not await bot.services.storage.outbox_heads()

    await eventually(settled)
    for channel in (INCIDENT_RESPONSE_CHANNEL_ID, incident.channel_id):
        alerts = [
            m for m in slack_workspace.messages(channel) if "INCIDENT ALERT" in m.text
        ]
        assert len(alerts) == 1, channel
