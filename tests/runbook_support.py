"""Helpers for the runbook tests: a bot with a controllable clock talking to moto through the fault
proxy, and clicks on step cards sent as signed Slack requests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from bot.config import Settings
from bot.models.incidents import Incident, utcnow
from bot.models.runbooks import StepState
from bot.sandbox import payloads
from bot.sandbox.signing import FORM
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.blocks.runbooks import StepRef
from handlers.ids import Action, Callback
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import declare, eventually
from tests.plugins.bot import RunningBot, make_settings, run_bot

APPROVERS = ["UBOB", "UCAROL", "UDAVE"]


class MovableClock:
    """The real time plus an offset a test moves forward (approval expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> Any:
        return utcnow() + self.offset


def runbook_settings(
    tmp_path: Path, slack: RunningWorkspace, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "approvers": APPROVERS,
        "shutdown_drain_seconds": 0.5,
        **overrides,
    }
    return make_settings(tmp_path / "warroom.db", slack, **values)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def rbot(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    aws_via_proxy: AwsFaultProxy,
    clock: MovableClock,
) -> AsyncIterator[RunningBot]:
    """The bot with approvers UBOB, UCAROL and UDAVE, a movable clock, and AWS through the proxy."""
    async with run_bot(
        runbook_settings(tmp_path, slack_server), slack_server, clock
    ) as running:
        yield running


@pytest.fixture
def aws_via_proxy(
    aws_proxy: AwsFaultProxy, estate: Any, monkeypatch: pytest.MonkeyPatch
) -> AwsFaultProxy:
    """Point every boto3 client of the bot at the fault proxy (in front of the seeded moto)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_proxy.endpoint_url)
    aws_proxy.calls.clear()
    return aws_proxy


async def start_runbook(
    bot: RunningBot, slack: SlackWorkspace, scenario: str
) -> tuple[Incident, int]:
    incident = await declare(
        bot, slack, scenario=payloads.static_select_value(scenario)
    )

    async def posted() -> Any:
        books = await bot.services.storage.runbooks_for(incident.number)
        if not books:
            return None
        cards = await bot.services.storage.card_timestamps(incident.number)
        return books[0].id if f"card:{books[0].id}:" in cards else None

    rb = await eventually(posted)
    members = slack.channels[incident.channel_id].members
    # approvers joined
    members.extend(u for u in ("UBOB", "UCAROL", "UDAVE") if u not in members)
    return incident, rb


async def ref(bot: RunningBot, rb: int, step: str) -> StepRef:
    item = (await bot.services.runbooks.view(rb)).step(step)
    return StepRef(
        rb=rb, step=step, attempt=item.next_attempt, run=item.run.id if item.run else 0
    )


async def click(
    bot: RunningBot,
    incident: Incident,
    rb: int,
    step: str,
    action: Action,
    user: str = "UALICE",
    value: StepRef | None = None,
) -> Any:
    chosen = value or await ref(bot, rb, step)
    cards = await bot.services.storage.card_timestamps(incident.number)
    response = await bot.sender.action(
        action_id=action,
        value=chosen.model_dump_json(),
        user_id=user,
        channel_id=incident.channel_id,
        message_ts=cards.get(f"card:{rb}:{step}"),
        block_id=f"step-{rb}-{step}",
    )
    assert response.status == 200, response.text
    return response


async def state_of(bot: RunningBot, rb: int, step: str) -> StepState:
    return (await bot.services.runbooks.view(rb)).step(step).state


async def until_state(
    bot: RunningBot, rb: int, step: str, *states: StepState, within: float = 60.0
) -> StepState:
    async def check() -> StepState | None:
        state = await state_of(bot, rb, step)
        return state if state in states else None

    result: StepState = await eventually(check, within=within)
    return result


async def submit_inputs(
    bot: RunningBot, slack: SlackWorkspace, values: dict[str, str], user: str = "UALICE"
) -> Any:
    """Submit the newest runbook-inputs modal with `values` (other fields keep their prefilled value)."""
    call = [
        c
        for c in slack.calls_to("views.open")
        if c.args.get("view", {}).get("callback_id") == Callback.RUNBOOK_INPUTS
    ][-1]
    assert call.response is not None
    view = call.response["view"]
    state = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            name = block["block_id"]
            state[name] = {
                "value": payloads.plain_text_value(
                    values.get(name, block["element"].get("initial_value"))
                )
            }
    return await bot.sender.submit_view(
        callback_id=Callback.RUNBOOK_INPUTS,
        values=state,
        view_id=view["id"],
        private_metadata=view.get("private_metadata", ""),
        user_id=user,
    )


def ephemeral_texts(slack: SlackWorkspace, user: str) -> list[str]:
    return [e.text for e in slack.ephemerals_for(user)]


async def run_step(
    bot: RunningBot, incident: Incident, rb: int, step: str
) -> StepState:
    """Click Run on a read-only step and wait for the outcome of the run that click started."""
    before = (await bot.services.runbooks.view(rb)).step(step).run
    await click(bot, incident, rb, step, Action.RUNBOOK_RUN)

    async def finished() -> StepState | None:
        run = (await bot.services.runbooks.view(rb)).step(step).run
        fresh = run is not None and (before is None or run.id != before.id)
        done = (StepState.SUCCEEDED, StepState.FAILED)
        return run.state if fresh and run is not None and run.state in done else None

    result: StepState = await eventually(finished)
    return result


async def request_restore(
    bot: RunningBot, slack: SlackWorkspace, incident: Incident, rb: int
) -> None:
    """database-failure: find the newest snapshot, then request the restore (inputs from the modal)."""
    assert await run_step(bot, incident, rb, "check-snapshots") is StepState.SUCCEEDED
    await click(bot, incident, rb, "restore-from-snapshot", Action.RUNBOOK_REQUEST)
    await slack.wait_for("views.open", lambda c: "snapshot_id" in str(c.args))
    response = await submit_inputs(bot, slack, {})
    assert response.text == "", response.text
    await until_state(bot, rb, "restore-from-snapshot", StepState.AWAITING_APPROVAL)


async def set_inputs(
    bot: RunningBot,
    slack: SlackWorkspace,
    incident: Incident,
    rb: int,
    step: str,
    values: dict[str, str],
) -> None:
    """Open a step's Inputs… modal from its card and submit `values` (the rest keep their defaults)."""
    before = len(slack.calls_to("views.open"))
    await click(bot, incident, rb, step, Action.RUNBOOK_INPUTS)
    await slack.wait_for(
        "views.open", lambda c: len(slack.calls_to("views.open")) > before
    )
    response = await submit_inputs(bot, slack, values)
    assert response.text == "", response.text

    async def stored() -> bool:
        have = await bot.services.storage.inputs(rb)
        return all(str(have.get(k)) == v for k, v in values.items())

    await eventually(stored)


async def approved_run(
    bot: RunningBot, incident: Incident, rb: int, step: str, *approvers: str
) -> StepState:
    """Request approval for a step, have `approvers` approve it, and wait for the outcome."""
    await click(bot, incident, rb, step, Action.RUNBOOK_REQUEST)
    await until_state(bot, rb, step, StepState.AWAITING_APPROVAL, StepState.FAILED)
    return await approve_and_wait(bot, incident, rb, step, *approvers)


async def approve_and_wait(
    bot: RunningBot, incident: Incident, rb: int, step: str, *approvers: str
) -> StepState:
    """Have `approvers` approve a step's pending request and wait for the outcome."""
    for user in approvers:
        await click(bot, incident, rb, step, Action.RUNBOOK_APPROVE, user=user)
    return await until_state(
        bot,
        rb,
        step,
        StepState.SUCCEEDED,
        StepState.FAILED,
        StepState.OUTCOME_UNKNOWN,
        StepState.SKIPPED,
    )


async def select_step(
    bot: RunningBot,
    slack: RunningWorkspace,
    incident: Incident,
    rb: int,
    action: str,
    step: str,
) -> None:
    """Pick `step` from the runbook message's menu `action` as Alice."""
    raw = payloads.block_actions(
        user_id="UALICE",
        action_id=action,
        block_id=f"runbook-{rb}",
        action_type="static_select",
        channel_id=incident.channel_id,
        workspace=slack.workspace,
    )
    payload = json.loads(parse_qs(raw)["payload"][0])
    payload["actions"][0]["selected_option"] = {
        "text": {"type": "plain_text", "text": step},
        "value": step,
    }
    response = await bot.sender.send(
        urlencode({"payload": json.dumps(payload)}), content_type=FORM
    )
    assert response.status == 200
