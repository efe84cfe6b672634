"""The terminal client: a person (or a script) using warroom through the local Slack workspace.

What is typed becomes exactly what Slack would send, signed, to the bot's real endpoint: a slash
command, a message event, a button click. Modals become prompts, submitted as view submissions, so
the bot's own validation answers (field errors are shown and asked again). Messages are rendered
from Block Kit as text with numbered choices. Nothing on the Slack path is bypassed.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from bot.sandbox import payloads
from bot.sandbox.render import Choice, plain, render_message
from bot.sandbox.signing import SlackSender
from bot.sandbox.slack.workspace import INCIDENT_RESPONSE_CHANNEL_ID, RunningWorkspace

HELP = """Type a slash command (/incident help), `say <text>` to post in the current channel,
a number to click a choice, `as <name>` to switch user, `go <#channel>` to switch channel, `quit`."""


class Console:
    """Drive the bot as a Slack user would; `answers` feeds prompts when scripted."""

    def __init__(
        self,
        *,
        slack: RunningWorkspace,
        bot_url: str,
        signing_secret: str,
        user: str = "UALICE",
        out: Callable[[str], None] = print,
        ask: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.workspace, self.slack = slack.workspace, slack
        self.sender = SlackSender(bot_url, signing_secret, slack=slack)
        self.user, self.channel = user, INCIDENT_RESPONSE_CHANNEL_ID
        self.out, self._ask = out, ask
        self.answers: deque[str] = deque()
        # (choice, channel, message ts, the message as printed)
        self.choices: list[tuple[Choice, str, str, str]] = []
        # (channel, ts) -> a digest, and the lines, of what was printed of each message
        self._shown: dict[tuple[str, str], int] = {}
        self._lines: dict[tuple[str, str], list[str]] = {}
        self._ephemerals = 0
        self._views: set[str] = set()
        # How long the bot must stay silent before what it said is shown.
        self.quiet_for = 0.3

    async def __aenter__(self) -> Console:
        await self.sender.__aenter__()
        for cid in self.workspace.channels:
            for message in self.workspace.messages(cid):
                self._shown[(cid, message.ts)] = _digest(message.text, message.blocks)
        return self

    async def __aexit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.sender.close()

    # -- what a person does ------------------------------------------------------------------
    async def type(self, line: str) -> None:
        """Handle one typed line, then show what changed."""
        line = line.strip()
        self.out(f"\n{self.name(self.user)}@{self.channel_name()}> {line}")
        if line.startswith("/incident"):
            response = await self.sender.command(
                line.removeprefix("/incident").strip(),
                user_id=self.user,
                channel_id=self.channel,
            )
            if response.text and response.status == 200:
                self.out(_indent(f"(only you) {plain(response.text)}"))
            elif response.status != 200:
                self.out(_indent(f"Slack shows: HTTP {response.status}"))
        elif line.startswith("say "):
            event = self.workspace.user_message(self.channel, self.user, line[4:])
            await self.sender.event(event)
        elif line.isdigit():
            await self.click(int(line))
        elif line.startswith("as "):
            self.user = self.user_id(line[3:].strip())
        elif line.startswith("go "):
            self.channel = self.workspace.channel_by_name(line[3:].strip()).id
        else:
            self.out(HELP)
        await self.settle()
        await self.show()

    async def click(
        self, choice: int | str, *, on: str | None = None, option: str | None = None
    ) -> None:
        """Click a numbered choice, or the newest one whose label contains `choice` (on a message containing `on`)."""
        if isinstance(choice, str):
            matching = [
                n
                for n, (c, _, _, text) in enumerate(self.choices, 1)
                if choice.lower() in c.label.lower() and (on is None or on in text)
            ]
            if not matching:
                raise LookupError(
                    f"no choice like {choice!r}"
                    + (f" on a message about {on!r}" if on else "")
                )
            choice = matching[-1]
        picked, channel, ts, _ = self.choices[choice - 1]
        value, label = picked.value, picked.label
        if picked.options:
            listing = ", ".join(
                f"{n}={text}" for n, (_, text) in enumerate(picked.options, 1)
            )
            answer = option or await self.ask(f"{picked.label}: {listing}")
            value = (
                _option(
                    [{"value": v, "text": {"text": t}} for v, t in picked.options],
                    answer,
                )
                or ""
            )
            label = f"{picked.label.split(' (')[0]} {next((t for v, t in picked.options if v == value), value)}"
        self.out(_indent(f"[{self.name(self.user)} clicks {label}]"))
        if picked.url:
            self.out(_indent(f"(opens {picked.url})"))
        await self.sender.send(
            payloads.block_actions(
                user_id=self.user,
                action_id=picked.action_id,
                value=value,
                block_id=picked.block_id,
                action_type=picked.kind,
                text=label,
                channel_id=channel,
                message_ts=ts,
                workspace=self.workspace,
                response_url=self.slack.response_url(
                    f"c{ts}{self.user}{len(self.choices)}",
                    channel_id=channel,
                    user_id=self.user,
                    message_ts=ts,
                ),
            ),
            content_type="application/x-www-form-urlencoded",
        )
        await self.settle()
        await self.show()

    # -- what a person sees ------------------------------------------------------------------
    async def settle(self, quiet_for: float | None = None, limit: float = 20.0) -> None:
        """Wait until the bot has stopped talking to Slack for a moment."""
        quiet_for = self.quiet_for if quiet_for is None else quiet_for
        loop = asyncio.get_running_loop()
        deadline, count, since = loop.time() + limit, -1, loop.time()
        while loop.time() < deadline:
            if len(self.workspace.calls) != count:
                count, since = len(self.workspace.calls), loop.time()
            elif loop.time() - since >= quiet_for:
                return
            await asyncio.sleep(0.05)

    async def show(self) -> None:
        """Print new and changed messages in the user's channels, their private replies, and new forms."""
        for cid, channel in list(self.workspace.channels.items()):
            if self.user not in channel.members:
                continue  # what happens there is shown to this person once they join
            changed = []
            for message in self.workspace.messages(cid):
                digest = _digest(message.text, message.blocks)
                previous = self._shown.get((cid, message.ts))
                if previous != digest:
                    self._shown[(cid, message.ts)] = digest
                    changed.append((message, previous is not None))
            if not changed:
                continue
            self.out(f"  --- #{channel.name} ---")
            for message, updated in changed:
                author = self.name(message.user) + (" (updated)" if updated else "")
                self._print_message(
                    author,
                    message.text,
                    message.blocks,
                    cid,
                    message.ts,
                    updated=updated,
                )
        for ephemeral in self.workspace.ephemerals[self._ephemerals :]:
            if ephemeral.user == self.user:
                self._print_message(
                    "warroom (only you)",
                    ephemeral.text,
                    ephemeral.blocks,
                    ephemeral.channel,
                    "",
                )
        self._ephemerals = len(self.workspace.ephemerals)
        for view_id, view in list(self.workspace.views.items()):
            if view_id not in self._views and view.user_id == self.user:
                self._views.add(view_id)
                await self.fill(view_id)

    def _print_message(
        self,
        author: str,
        text: str,
        blocks: list[dict[str, Any]],
        channel: str,
        ts: str,
        *,
        updated: bool = False,
    ) -> None:
        rendered, choices = render_message(author, text, blocks, self._names())
        lines = rendered.splitlines()
        before = set(self._lines.get((channel, ts), []))
        self._lines[(channel, ts)] = lines
        # An updated message shows only what changed, so a long runbook does not scroll by again.
        self.out(
            "\n".join(
                [
                    lines[0],
                    *(line for line in lines[1:] if not updated or line not in before),
                ]
            )
        )
        for choice in choices:
            self.choices.append((choice, channel, ts, rendered))
            self.out(f"      [{len(self.choices)}] {choice.label}")

    # -- modals ------------------------------------------------------------------------------
    async def fill(self, view_id: str) -> None:
        """Ask for every input of a modal, submit it, and ask again for fields the bot rejects."""
        view = self.workspace.views[view_id].payload
        self.out(_indent(f"[form: {view.get('title', {}).get('text', '')}]"))
        inputs = [b for b in view.get("blocks", []) if b.get("type") == "input"]
        values: dict[str, dict[str, Any]] = {}
        todo = inputs
        while todo:
            for block in todo:
                values[block["block_id"]] = {"value": await self._prompt(block)}
            response = await self.sender.submit_view(
                callback_id=view.get("callback_id", ""),
                values=values,
                view_id=view_id,
                user_id=self.user,
                private_metadata=view.get("private_metadata", ""),
            )
            errors = (
                json.loads(response.text).get("errors", {})
                if response.text.startswith("{")
                else {}
            )
            for block_id, message in errors.items():
                self.out(_indent(f"! {block_id}: {message}"))
            todo = [b for b in inputs if b["block_id"] in errors]
        await self.settle()
        await self.show()

    async def _prompt(self, block: dict[str, Any]) -> dict[str, Any]:
        element, label = (
            block["element"],
            block["label"]["text"]
            + ("" if not block.get("optional") else " (optional)"),
        )
        kind = element.get("type")
        if kind in ("static_select", "multi_static_select"):
            options = element.get("options", [])
            listing = ", ".join(f"{n}={o['value']}" for n, o in enumerate(options, 1))
            answer = await self.ask(f"{label} [{listing}]")
            picked = [
                _option(options, part.strip())
                for part in answer.split(",")
                if part.strip()
            ]
            if kind == "multi_static_select":
                return payloads.multi_static_select_value([p for p in picked if p])
            return payloads.static_select_value(picked[0] if picked else None)
        if kind == "datetimepicker":
            answer = await self.ask(f"{label} [YYYY-MM-DD HH:MM UTC]")
            stamp = (
                int(datetime.fromisoformat(answer).replace(tzinfo=UTC).timestamp())
                if answer
                else None
            )
            return payloads.datetimepicker_value(stamp)
        answer = await self.ask(label)
        return payloads.plain_text_value(answer or element.get("initial_value") or None)

    async def ask(self, prompt: str) -> str:
        if self.answers:
            answer = self.answers.popleft()
            self.out(_indent(f"{prompt}: {answer}"))
            return answer
        if self._ask is None:
            return ""
        return (await self._ask(_indent(f"{prompt}: "))).strip()

    # -- names -------------------------------------------------------------------------------
    def _names(self) -> dict[str, str]:
        names = {uid: u.name for uid, u in self.workspace.users.items()}
        return names | {cid: c.name for cid, c in self.workspace.channels.items()}

    def name(self, user_id: str) -> str:
        user = self.workspace.users.get(user_id)
        return user.name if user else user_id

    def user_id(self, name: str) -> str:
        wanted = name.lstrip("@").lower()
        for uid, user in self.workspace.users.items():
            if wanted in (uid.lower(), user.name.lower()):
                return uid
        raise LookupError(f"no user called {name!r}")

    def channel_name(self) -> str:
        return self.workspace.channels[self.channel].name


def _option(options: list[dict[str, Any]], answer: str) -> str | None:
    if answer.isdigit() and 0 < int(answer) <= len(options):
        return str(options[int(answer) - 1]["value"])
    return next(
        (str(o["value"]) for o in options if str(o["value"]).lower() == answer.lower()),
        answer,
    )


def _digest(text: str, blocks: list[dict[str, Any]]) -> int:
    return hash((text, json.dumps(blocks, sort_keys=True)))


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
