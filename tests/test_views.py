"""The bot accepts only the views it opened (issue 12), and opens each one once (issue 13).

`handlers.views.open_view` is the one place a modal is opened: it records whom each view is for, as
which form, and the request that opened it. A submission is accepted only from that person, as that
form; someone else's view, a forged view id or another form's callback is refused on the form and
changes nothing. A request replayed after a crash opens no second view.
"""

from __future__ import annotations

import ast
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.sandbox.slack.workspace import SlackWorkspace
from bot.storage import Storage
from handlers import views
from handlers.ids import Callback, Field
from tests.flows import declare_values, eventually, open_view
from tests.plugins.bot import RunningBot

ROOT = Path(__file__).resolve().parents[1]
# Slack's methods that open or change a modal; views.publish (App Home) has no submission.
OPENING = {"views_open", "views_push", "views_update"}
OPENING_METHODS = {"views.open", "views.push", "views.update"}
CHOKEPOINT = ROOT / "handlers" / "views.py"
STAND_IN = ROOT / "bot" / "sandbox" / "slack"  # implements those methods


def modal_calls(path: Path) -> list[str]:
    """Where a module names a call that opens or changes a modal: the client's method or its name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in OPENING:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.Constant) and node.value in OPENING_METHODS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    return found


def test_views_only_the_chokepoint_opens_modals():
    assert modal_calls(CHOKEPOINT), "the chokepoint itself calls views_open"
    elsewhere = [
        found
        for top in ("bot", "handlers")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path != CHOKEPOINT and STAND_IN not in path.parents
        for found in modal_calls(path)
    ]
    assert elsewhere == [], (
        "open modals through handlers.views.open_view, which records them:\n"
        + "\n".join(elsewhere)
    )


async def _incidents(bot: RunningBot) -> int:
    return len(await bot.services.storage.incidents())


async def test_views_a_submission_is_accepted_only_from_whom_and_as_what_it_was_opened(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    view_id = await open_view(bot, slack_workspace, "declare", user="UALICE")
    opened = await bot.services.storage.view_get(view_id)
    assert opened is not None
    assert (opened.user_id, opened.callback_id) == ("UALICE", Callback.DECLARE)
    assert opened.source.startswith("sig:")  # the inbox key of the command

    values = declare_values("Checkout is down")
    for user, view, callback in (
        ("UBOB", view_id, Callback.DECLARE),  # someone else's form
        ("UALICE", "V0FORGED1", Callback.DECLARE),  # a view the bot never opened
        ("UALICE", view_id, Callback.RESOLVE),  # her form, as another one
    ):
        refused = await bot.sender.submit_view(
            callback_id=callback, values=values, view_id=view, user_id=user
        )
        assert refused.status == 200
        assert refused.json() == {
            "response_action": "errors",
            "errors": {Field.TITLE: views.REFUSAL},
        }, (user, view, callback)
    assert await _incidents(bot) == 0
    assert slack_workspace.calls_to("conversations.create") == []

    accepted = await bot.sender.submit_view(
        callback_id=Callback.DECLARE, values=values, view_id=view_id, user_id="UALICE"
    )
    assert accepted.text == ""
    await slack_workspace.wait_for("conversations.create")
    assert await _incidents(bot) == 1


async def _inbox(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as db:
        return [r[0] for r in db.execute("select status from inbox order by id")]


async def test_views_a_replayed_request_opens_no_second_view(
    bot_settings, start_bot, slack_workspace: SlackWorkspace
):
    """Killed after its modal opened and before the request was marked done: the replay at the
    next start runs the command again, and it opens nothing, though its trigger is still valid."""
    slack_workspace.clock = lambda: (
        0.0
    )  # the trigger never expires: only the record stops it
    async with start_bot(bot_settings) as bot:
        view_id = await open_view(bot, slack_workspace, "declare Disk full")
        await eventually(lambda: _done(bot_settings.database_path))
    with closing(sqlite3.connect(bot_settings.database_path)) as db, db:
        db.execute("update inbox set status = 'pending', done_at = null")
    async with start_bot(bot_settings) as bot:
        await eventually(lambda: _done(bot_settings.database_path))
        opened = slack_workspace.calls_to("views.open")
        assert [c.response["view"]["id"] for c in opened if c.response] == [view_id]
        assert len(opened) == 1
        # the form opened before the crash is still the one accepted
        accepted = await bot.sender.submit_view(
            callback_id=Callback.DECLARE,
            values=declare_values("Disk full"),
            view_id=view_id,
        )
        assert accepted.text == ""
        await slack_workspace.wait_for("conversations.create")


async def _done(database: Path) -> bool:
    return await _inbox(database) == ["done"]


async def test_views_are_pruned_with_the_journal_rows_that_opened_them(tmp_path):
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    storage = Storage(tmp_path / "w.db")
    await storage.open()
    try:
        for key, when in (("old", now - timedelta(days=40)), ("recent", now)):
            row = await storage.inbox_put(key=key, kind="command", body="{}", now=when)
            assert row is not None
            await storage.inbox_finish(row, now=when)
            await storage.view_record(
                view_id=f"V{key}",
                user_id="UALICE",
                callback_id=Callback.DECLARE,
                source=key,
                now=when,
            )
        # a request records one view: a second record of it is ignored
        await storage.view_record(
            view_id="Vother", user_id="UBOB", callback_id="x", source="recent", now=now
        )
        assert await storage.view_get("Vother") is None

        await storage.prune_journal(before=now - timedelta(days=30))

        assert await storage.view_get("Vold") is None
        kept = await storage.view_for_request("recent")
        assert kept is not None
        assert (kept.view_id, kept.user_id, kept.opened_at) == (
            "Vrecent",
            "UALICE",
            now,
        )
    finally:
        await storage.close()
