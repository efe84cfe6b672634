"""The single `/incident` listener: limits each person's rate, finds the subcommand, parses its
arguments, acks, then runs it.

The router acks, subcommands never do: a parse error is answered in the ack itself (private usage
text), so the 3-second rule holds by construction. Sibling modules are discovered and imported so
that a new subcommand is one new file.

Every `/incident` command, whatever its subcommand, first takes a token from its sender's bucket
(`CommandLimit`, `WARROOM_COMMANDS_PER_MINUTE`): one person sending commands too fast is told so
privately and nothing runs, so their notes cannot queue up ahead of anyone else's posts (issue 12).
"""

from __future__ import annotations

import functools
import importlib
import math
import pkgutil
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UsageError
from bot.services import Services
from handlers import access
from handlers.access import Allow
from handlers.blocks.incidents import escape
from handlers.commands._registry import REGISTRY, CommandContext, usage_text
from handlers.middleware import journaled


def discover() -> list[str]:
    """Import every sibling module; each registers its subcommand(s)."""
    names = [
        m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
    ]
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names


class CommandLimit:
    """Per-person token buckets: `per_minute` commands at once, then one every 60 / `per_minute` s.

    Kept as the time each person's bucket is full again (the "generic cell rate" form of a token
    bucket: exact datetimes, no float drift). In memory, so a restart forgets it, which only ever
    lets more through; read against the services' clock, so tests move time instead of waiting.
    """

    MAX_PEOPLE = 10_000

    def __init__(self) -> None:
        self._due: dict[str, datetime] = {}  # user -> when their bucket is full again

    def take(self, user_id: str, *, now: datetime, per_minute: int) -> float:
        """Take one token for `user_id`: 0 when there was one, else the seconds until there is."""
        if per_minute <= 0:
            return 0.0
        every = timedelta(minutes=1) / per_minute
        due = max(self._due.get(user_id, now), now)
        early = due - now - every * (per_minute - 1)
        if early > timedelta(0):
            return early.total_seconds()
        if len(self._due) >= self.MAX_PEOPLE:
            self._due = {u: d for u, d in self._due.items() if d > now}
            if len(self._due) >= self.MAX_PEOPLE:
                self._due.clear()  # everyone starts full again: lenient, and bounded
        self._due[user_id] = due + every
        return 0.0


async def handle_incident_command(
    ack: AsyncAck,
    command: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
    *,
    limit: CommandLimit,
) -> None:
    wait = limit.take(
        str(command.get("user_id") or ""),
        now=services.clock(),
        per_minute=services.settings.commands_per_minute,
    )
    if wait:
        await ack(f"You are sending commands too fast: wait {math.ceil(wait)} s.")
        return
    name, _, rest = str(command.get("text") or "").strip().partition(" ")
    sub = REGISTRY.get(name.lower() or "help")
    if sub is None:
        await ack(f"Unknown subcommand `{escape(name[:40])}`.\n{usage_text()}")
        return
    try:
        args = sub.parse(rest)
    except UsageError as exc:
        await ack(exc.message)
        return
    await ack()
    incident = await services.incidents.by_channel(command["channel_id"])
    ctx = CommandContext(
        services=services,
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        trigger_id=command.get("trigger_id", ""),
        source=inbox_key,
        respond=respond,
        client=client,
        incident=incident,
    )
    if sub.needs_incident:
        ctx.require_incident()
    await access.check(
        services.authoriser,
        sub.allow,
        command["user_id"],
        f"use `/incident {sub.name}`",
    )
    await sub.handler(args, ctx)


def register(app: AsyncApp) -> None:
    discover()
    # One limit per app, so its buckets live exactly as long as the app. `limit` is keyword-only:
    # Bolt injects only the listener's other arguments.
    router = functools.partial(handle_incident_command, limit=CommandLimit())
    app.command("/incident")(
        journaled(
            functools.update_wrapper(router, handle_incident_command),
            allow=Allow.ANYONE,  # each subcommand has its own rule, checked below
        )
    )
