"""Who may act, at the edges an attacker used: a non-responder cannot declare (command or form),
note, ask for a post-mortem, or post a status update (reminder button or form), nor submit a form
the bot opened for someone else or never opened; a runbook click is refused unless its runbook
belongs to the incident of the channel it came from."""

from __future__ import annotations

import json
from pathlib import Path

from bot.models.runbooks import StepState
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers import views
from handlers.blocks.paging import ReminderButton
from handlers.blocks.runbooks import StepRef
from handlers.ids import Action, Callback, Field
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import command_in, declare, declare_values, eventually, open_view
from tests.plugins.bot import run_bot
from tests.runbook_support import (
    click,
    ref,
    runbook_settings,
    start_runbook,
    state_of,
    until_state,
)

RESPONDERS = [
    "UALICE",
    "UBOB",
    "UCAROL",
]  # UDAVE is a workspace member, not a responder


def _refusals(slack: SlackWorkspace, user: str, text: str) -> int:
    """Private answers to `user` containing `text` (sent even where the user is no member)."""
    return sum(
        c.args.get("user") == user and text in str(c.args.get("text"))
        for c in slack.calls_to("chat.postEphemeral")
    )


async def _told(slack: SlackWorkspace, user: str, text: str) -> bool:
    return _refusals(slack, user, text) > 0


async def test_a_non_responder_cannot_declare_note_update_or_ask_for_a_postmortem(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    settings = runbook_settings(tmp_path, slack_server, responders=RESPONDERS)
    async with run_bot(settings, slack_server) as bot:
        incident = await declare(bot, slack_workspace)
        for text in ("note hello from outside", "postmortem", "declare"):
            await command_in(bot, incident, text, user="UDAVE")

        async def all_refused() -> bool:
            return _refusals(slack_workspace, "UDAVE", "Only responders") == 3

        await eventually(all_refused)
        # The forms refuse too, submitted without the command: a responder's open form, and one
        # the bot never opened.
        alices = await open_view(bot, slack_workspace, "declare")
        declared = await bot.sender.submit_view(
            callback_id=Callback.DECLARE,
            values=declare_values(title="Spoofed incident", severity="SEV1"),
            view_id=alices,
            user_id="UDAVE",
        )
        assert declared.json()["errors"] == {Field.TITLE: views.REFUSAL}
        updated = await bot.sender.submit_view(
            callback_id=Callback.UPDATE,
            values={
                Field.UPDATE_STATUS: {
                    "value": payloads.static_select_value("monitoring")
                },
                Field.UPDATE_MESSAGE: {"value": payloads.plain_text_value("All good")},
            },
            private_metadata=json.dumps({"incident": incident.number}),
            view_id="V0DAVE2",
            user_id="UDAVE",
        )
        assert updated.json()["errors"] == {Field.UPDATE_STATUS: views.REFUSAL}
        button = ReminderButton(incident=incident.number, minutes=30)
        opened = len(slack_workspace.calls_to("views.open"))
        await bot.sender.action(
            action_id=Action.REMINDER_UPDATE,
            value=button.model_dump_json(),
            user_id="UDAVE",
            channel_id=incident.channel_id,
        )

        async def button_refused() -> bool:
            return _refusals(slack_workspace, "UDAVE", "Only responders") == 4

        await eventually(button_refused)
        assert len(slack_workspace.calls_to("views.open")) == opened
        assert len(await bot.services.storage.incidents()) == 1
        stored = await bot.services.storage.get_incident(incident.number)
        assert stored.status == incident.status
        kinds = [e.kind for e in await bot.services.storage.timeline(incident.number)]
        assert "note" not in kinds
        assert "status_update" not in kinds


async def test_a_runbook_click_from_another_incidents_channel_is_refused(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    clock,
):
    step = "stop-write-operations"
    async with run_bot(
        runbook_settings(tmp_path, slack_server), slack_server, clock
    ) as bot:
        first, rb = await start_runbook(bot, slack_workspace, "data-corruption")
        other = await declare(bot, slack_workspace, title="Another incident")
        await click(bot, first, rb, step, Action.RUNBOOK_REQUEST)
        await until_state(bot, rb, step, StepState.AWAITING_APPROVAL)
        # The card's own value, clicked in another incident's channel.
        await click(bot, other, rb, step, Action.RUNBOOK_APPROVE, user="UBOB")
        await eventually(lambda: _told(slack_workspace, "UBOB", "does not belong"))
        # A run of this runbook named under another runbook id.
        own = await ref(bot, rb, step)
        other_rb, _ = await bot.services.storage.create_runbook(
            incident=other.number,
            scenario="data-corruption",
            created_by="UALICE",
            dry_run=False,
            now=bot.services.clock(),
            source="test",
        )
        forged = StepRef(rb=other_rb.id, step=step, attempt=1, run=own.run)
        await click(
            bot, other, other_rb.id, step, Action.RUNBOOK_APPROVE, "UCAROL", forged
        )
        await eventually(lambda: _told(slack_workspace, "UCAROL", "does not belong"))
        assert await bot.services.storage.approvals(own.run) == []
        assert await state_of(bot, rb, step) is StepState.AWAITING_APPROVAL


def test_every_listener_and_subcommand_has_a_rule(bot_settings):
    """Undeclared means denied: a listener registered without `journaled(..., allow=...)` fails here."""
    from bot.app import build_services, create_app
    from handlers.access import Allow
    from handlers.commands._registry import REGISTRY

    app = create_app(bot_settings, build_services(bot_settings))
    listeners = app._async_listeners
    assert len(listeners) >= 20
    unruled = [
        getattr(lst.ack_function, "__name__", repr(lst.ack_function))
        for lst in listeners
        if not isinstance(lst.ack_function.__dict__.get("allow"), Allow)
    ]
    assert unruled == []
    assert REGISTRY
    assert all(isinstance(sub.allow, Allow) for sub in REGISTRY.values())
