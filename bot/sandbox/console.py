"""The terminal client: a person (or a script) using warroom through the local Slack workspace.

What is typed becomes exactly what Slack would send, signed, to the bot's real endpoint: a slash
command, a message event, a button click. Typed text is encoded as a Slack client encodes it
(`&`, `<`, `>` escaped; `@bob` and `#channel` become mentions of the workspace's people and
channels). Modals become prompts, submitted as view submissions, so the bot's own validation
answers (field errors are shown and asked again); what Slack's own widgets would not let through
(a choice that is not offered, a time that is not a time) is asked again here, with the reason.
Messages are rendered from Block Kit as text with numbered choices. A person is shown the channels
they are in and, as Slack previews a public channel without joining it, the one they are looking at:
where they went, or where they clicked last (an approver outside the incident channel sees what their
click changed). Nothing on the Slack path is bypassed. Reading the keyboard is not done here
(`bot.sandbox.terminal` does it).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from bot.sandbox import payloads
from bot.sandbox.render import Choice, plain, render_message
from bot.sandbox.signing import SlackSender
from bot.sandbox.slack.workspace import INCIDENT_RESPONSE_CHANNEL_ID, RunningWorkspace

HELP = """Type a slash command (/incident help), `say <text>` to post in the current channel,
a number to click a choice, `as <name>` to switch user, `go <#channel>` to switch channel, `quit`.
The people are alice (UALICE), bob (UBOB), carol (UCAROL) and dave (UDAVE); bob, carol and dave
approve AWS changes. Type @bob to mention someone, #incident-response to name a channel."""

# A time typed at a date-and-time prompt: "10 minutes ago", "2 hours ago", "1 day ago".
_AGO = re.compile(
    r"^(\d{1,6})\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)\s+ago$",
    re.IGNORECASE,
)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# `@name` (a handle or a user id) and `#channel` as typed, not already inside `<…>`.
_AT = re.compile(r"(?<![\w@<|/])@([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)")
_HASH = re.compile(r"(?<![\w#<|/&])#([a-z0-9_-]+)")


def parse_moment(text: str, *, now: datetime) -> datetime:
    """A time typed at a prompt, in UTC: `2026-12-02 16:31 UTC` (the prompt's own format, also
    without `UTC`, with a `T`, seconds or an offset), `10 minutes ago`, or `now`.

    Raises ValueError saying what to type instead.
    """
    typed = " ".join(text.split())
    if typed.lower() == "now":
        return now
    ago = _AGO.match(typed)
    if ago:
        unit = _UNITS[ago.group(2)[0].lower()]
        return now - timedelta(**{unit: int(ago.group(1))})
    stamp = typed
    if stamp.upper().endswith(" UTC"):
        stamp = stamp[:-4]
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise ValueError(
            f"{typed!r} is not a time: type it as {now:%Y-%m-%d %H:%M} UTC, or as 10 minutes ago"
        ) from None
    return (
        moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    )


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
        echo: bool = True,
    ) -> None:
        """`echo` prints each typed line as a transcript line; a terminal, whose prompt already
        shows what was typed, turns it off."""
        self.workspace, self.slack = slack.workspace, slack
        self.sender = SlackSender(bot_url, signing_secret, slack=slack)
        self.user, self.channel = user, INCIDENT_RESPONSE_CHANNEL_ID
        self.out, self._ask, self.echo = out, ask, echo
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
        if self.echo:
            self.out(f"\n{self.name(self.user)}@{self.channel_name()}> {line}")
        if line.startswith("/incident"):
            response = await self.sender.command(
                self.encode(line.removeprefix("/incident").strip(), command=True),
                user_id=self.user,
                channel_id=self.channel,
            )
            if response.text and response.status == 200:
                self.out(_indent(f"(only you) {plain(response.text, self._names())}"))
            elif response.status != 200:
                self.out(_indent(f"Slack shows: HTTP {response.status}"))
        elif line.startswith("say "):
            event = self.workspace.user_message(
                self.channel, self.user, self.encode(line[4:], command=False)
            )
            await self.sender.event(event)
        elif line.isdigit():
            await self.click(int(line))
        elif line.startswith("as "):
            self.user = self.user_id(line[3:].strip())
        elif line.startswith("go "):
            self.channel = self.channel_id(line[3:].strip())
        else:
            self.out(HELP)
        await self.settle()
        await self.show()

    async def click(
        self, choice: int | str, *, on: str | None = None, option: str | None = None
    ) -> None:
        """Click a numbered choice, or the newest one whose label contains `choice`, on a message
        whose first line (a step card's title) contains `on`: another card may name that step too."""
        if isinstance(choice, str):
            matching = [
                n
                for n, (c, _, _, text) in enumerate(self.choices, 1)
                if choice.lower() in c.label.lower()
                and (on is None or on in _title(text))
            ]
            if not matching:
                raise LookupError(
                    f"no choice like {choice!r}"
                    + (f" on a message about {on!r}" if on else "")
                )
            choice = matching[-1]
        if not 0 < choice <= len(self.choices):
            raise LookupError(
                f"there is no choice {choice}: "
                + (
                    f"the choices shown are 1 to {len(self.choices)}"
                    if self.choices
                    else "nothing to click has been shown yet"
                )
            )
        picked, channel, ts, _ = self.choices[choice - 1]
        # To click a message in Slack you look at its channel: what the click changes there is
        # shown to the clicker, a member or not (issue 14, item 3).
        self.channel = channel
        if channel in self.workspace.channels and not self._sees(channel):
            self.out(
                _indent(
                    f"({self.name(self.user)} is not in the private channel #{self.channel_name()}:"
                    " Slack would not show them this message, nor what the click changes there)"
                )
            )
        value, label = picked.value, picked.label
        if picked.options:
            options = [{"value": v, "text": {"text": t}} for v, t in picked.options]
            listing = ", ".join(
                f"{n}={text}" for n, (_, text) in enumerate(picked.options, 1)
            )
            chosen = (
                _option(options, option)
                if option
                else await self._choose(
                    f"{picked.label}: {listing} (Enter: choose nothing)", options
                )
            )
            if chosen is None:
                if option:
                    raise LookupError(f"{picked.label} offers no {option!r}")
                self.out(_indent("(nothing chosen)"))
                return
            value = chosen
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
        """Print new and changed messages in the channels the person can see (those they are in,
        and the public one they are looking at), their private replies, and new forms."""
        for cid, channel in list(self.workspace.channels.items()):
            if not self._sees(cid):
                continue  # what happens there is shown to this person once they join or look
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

    def _sees(self, channel_id: str) -> bool:
        """Whether Slack shows the person this channel's messages: a member always; anyone else
        only the public channel they are looking at (Slack previews it without joining)."""
        channel = self.workspace.channels[channel_id]
        if self.user in channel.members:
            return True
        return (
            channel_id == self.channel and not channel.is_private and not channel.is_im
        )

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
        # An updated message shows its title and what changed, so a long runbook does not scroll
        # by again and the reader knows which message changed.
        self.out(
            "\n".join(
                [
                    *lines[:2],
                    *(line for line in lines[2:] if not updated or line not in before),
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
            if errors and self._ask is None and not self.answers:
                # A script ran out of answers: asking again would send the same form forever.
                raise LookupError(
                    "the form was refused and there is nobody to answer it again: "
                    + "; ".join(f"{k}: {v}" for k, v in errors.items())
                )
            todo = [b for b in inputs if b["block_id"] in errors]
        await self.settle()
        await self.show()

    async def _prompt(self, block: dict[str, Any]) -> dict[str, Any]:
        """Ask for one input block's value, as the widget Slack would show allows it."""
        element = block["element"]
        kind = element.get("type")
        label = block["label"]["text"] + (
            " (optional)" if block.get("optional") else ""
        )
        hint = (block.get("hint") or {}).get("text")
        if hint:
            self.out(_indent(f"({hint})"))
        if kind in ("static_select", "multi_static_select", "checkboxes"):
            options = element.get("options", [])
            initial = [
                str(o["value"])
                for o in element.get("initial_options", [])
                or (
                    [element["initial_option"]] if element.get("initial_option") else []
                )
            ]
            listing = ", ".join(f"{n}={o['value']}" for n, o in enumerate(options, 1))
            several = kind != "static_select" and len(options) > 1
            keep = (
                f"; Enter: {', '.join(initial)}"
                if initial
                else "; Enter: none"
                if block.get("optional")
                else ""
            )
            picked = await self._choose(
                f"{label} [{listing}{'; several, comma-separated' if several else ''}{keep}]",
                options,
                several=several,
                default=initial,
            )
            chosen = [] if picked is None else picked.split(",") if picked else []
            if kind == "checkboxes":
                return payloads.checkboxes_value(chosen)
            if kind == "multi_static_select":
                return payloads.multi_static_select_value(chosen)
            return payloads.static_select_value(chosen[0] if chosen else None)
        if kind == "datetimepicker":
            initial_stamp = element.get("initial_date_time")
            keep = (
                f"{datetime.fromtimestamp(initial_stamp, UTC):%Y-%m-%d %H:%M} UTC"
                if initial_stamp
                else "none"
            )
            while True:
                answer = await self.ask(
                    f"{label} [YYYY-MM-DD HH:MM UTC, or e.g. 10 minutes ago; Enter: {keep}]"
                )
                if not answer:
                    return payloads.datetimepicker_value(initial_stamp)
                try:
                    moment = parse_moment(answer, now=datetime.now(UTC))
                except ValueError as exc:
                    self.out(_indent(f"! {exc}"))
                    continue
                return payloads.datetimepicker_value(int(moment.timestamp()))
        if kind == "datepicker":
            day = await self.ask(
                f"{label} [YYYY-MM-DD; Enter: {element.get('initial_date') or 'none'}]"
            )
            return {
                "type": "datepicker",
                "selected_date": day or element.get("initial_date"),
            }
        if kind == "users_select":
            return payloads.users_select_value(
                await self.ask(f"{label} [a user id, e.g. UBOB]") or None
            )
        initial = element.get("initial_value")
        example = (element.get("placeholder") or {}).get("text")
        shown = (
            f"{label} [{initial}]"
            if initial
            else f"{label} (e.g. {example})"
            if example
            else label
        )
        answer = await self.ask(shown)
        return payloads.plain_text_value(answer or initial or None)

    async def _choose(
        self,
        prompt: str,
        options: list[dict[str, Any]],
        *,
        several: bool = False,
        default: list[str] | None = None,
    ) -> str | None:
        """Ask until the answer names offered options (by number or value); None for nothing.

        Several choices come back comma-separated; Enter keeps `default`.
        """
        while True:
            answer = await self.ask(prompt)
            if not answer:
                return ",".join(default) if default else None
            parts = [part.strip() for part in answer.split(",") if part.strip()]
            if not several and len(parts) > 1:
                self.out(_indent("! choose one"))
                continue
            values = [_option(options, part) for part in parts]
            wrong = [
                part for part, value in zip(parts, values, strict=True) if value is None
            ]
            if not wrong:
                return ",".join(v for v in values if v is not None)
            self.out(
                _indent(
                    f"! {', '.join(repr(w) for w in wrong)}: not offered; type a number from 1 to"
                    f" {len(options)} or one of the values shown"
                )
            )

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
        found = self._person(name)
        if found is None:
            people = ", ".join(
                u.name for u in self.workspace.users.values() if not u.is_bot
            )
            raise LookupError(f"no one is called {name!r}; the people are {people}")
        return found

    def _person(self, name: str) -> str | None:
        wanted = name.lstrip("@").lower()
        for uid, user in self.workspace.users.items():
            if wanted in (uid.lower(), user.name.lower()):
                return uid
        return None

    def channel_id(self, name: str) -> str:
        try:
            return self.workspace.channel_by_name(name).id
        except KeyError:
            names = ", ".join(
                f"#{c.name}" for c in self.workspace.channels.values() if not c.is_im
            )
            raise LookupError(
                f"no channel is called {name!r}; the channels are {names}"
            ) from None

    def channel_name(self) -> str:
        return self.workspace.channels[self.channel].name

    def encode(self, text: str, *, command: bool) -> str:
        """Typed text as a Slack client sends it: `&`, `<`, `>` escaped, then `@name` of a person and
        `#name` of a channel as mentions (a slash command's with the name, as `should_escape` asks)."""
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        def person(match: re.Match[str]) -> str:
            uid = self._person(match.group(1))
            if uid is None:
                return match.group(0)  # Slack leaves an unknown @word as typed
            name = self.workspace.users[uid].name
            return f"<@{uid}|{name}>" if command else f"<@{uid}>"

        def channel(match: re.Match[str]) -> str:
            try:
                found = self.workspace.channel_by_name(match.group(1))
            except KeyError:
                return match.group(0)
            return f"<#{found.id}|{found.name}>" if command else f"<#{found.id}>"

        return _HASH.sub(channel, _AT.sub(person, text))


def _option(options: list[dict[str, Any]], answer: str) -> str | None:
    """The value of the option `answer` names (its number or its value), or None."""
    if answer.isdigit() and 0 < int(answer) <= len(options):
        return str(options[int(answer) - 1]["value"])
    return next(
        (str(o["value"]) for o in options if str(o["value"]).lower() == answer.lower()),
        None,
    )


def _title(rendered: str) -> str:
    """The first line of a printed message after its author."""
    lines = rendered.splitlines()
    return lines[1] if len(lines) > 1 else ""


def _digest(text: str, blocks: list[dict[str, Any]]) -> int:
    return hash((text, json.dumps(blocks, sort_keys=True)))


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
