"""The subcommand registry: `@subcommand(...)` declares name, help, argument model and needs.

A subcommand module registers itself on import; the router and `/incident help` read from here.
Argument text is split into the model's fields in order, the last field taking the rest.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UsageError
from bot.models.incidents import Incident
from bot.services import Services
from handlers import views
from handlers.access import Allow
from handlers.blocks.incidents import escape


class NoArgs(BaseModel):
    """For subcommands that take no arguments."""


@dataclass
class CommandContext:
    """What a subcommand gets: who, where, the incident of this channel, and how to answer."""

    services: Services
    user_id: str
    channel_id: str
    trigger_id: str
    source: str
    respond: AsyncRespond
    client: AsyncWebClient
    incident: Incident | None

    def require_incident(self) -> Incident:
        if self.incident is None:
            raise UsageError("This command only works in an incident channel.")
        return self.incident

    async def open_view(self, view: dict[str, Any]) -> None:
        """Open a modal for the person who typed the command (`handlers.views`)."""
        await views.open_view(
            self.client,
            self.services,
            view=view,
            trigger_id=self.trigger_id,
            user_id=self.user_id,
            source=self.source,
        )


Handler = Callable[[Any, CommandContext], Awaitable[None]]


@dataclass(frozen=True)
class Subcommand:
    name: str
    summary: str
    usage: str
    example: str
    args: type[BaseModel]
    handler: Handler
    allow: Allow
    needs_incident: bool

    def parse(self, text: str) -> BaseModel:
        """Turn the text after the subcommand name into its argument model, or raise UsageError."""
        names = list(self.args.model_fields)
        text = text.strip()
        parts = split_args(text, len(names)) if names and text else []
        if len(parts) > len(names) or (not names and text):
            raise UsageError(
                f"Too many arguments.\nUsage: `/incident {escape(self.usage)}`"
            )
        try:
            return self.args.model_validate(dict(zip(names, parts, strict=False)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = str(first["loc"][0]) if first["loc"] else "arguments"
            raise UsageError(
                f"Invalid {escape(where)}: {escape(first['msg'])}.\n"
                f"Usage: `/incident {escape(self.usage)}`"
            ) from None


# A leading "quoted phrase" is one argument; Slack clients may send curly quotes.
_QUOTED = re.compile(r'^["\u201c\u201d]([^"\u201c\u201d]+)["\u201c\u201d](?:\s+|$)')


def split_args(text: str, count: int) -> list[str]:
    """At most `count` arguments: each but the last a word or a "quoted phrase", the last the rest."""
    parts: list[str] = []
    rest = text.strip()
    while rest and len(parts) < count - 1:
        quoted = _QUOTED.match(rest)
        if quoted:
            parts.append(quoted.group(1).strip())
            rest = rest[quoted.end() :]
        else:
            word, *tail = rest.split(None, 1)
            parts.append(word)
            rest = tail[0] if tail else ""
    if rest:
        parts.append(rest)
    return parts


REGISTRY: dict[str, Subcommand] = {}
_NAME = re.compile(r"^[a-z][a-z-]{1,20}$")


def subcommand(
    name: str,
    *,
    summary: str,
    usage: str,
    example: str,
    allow: Allow,
    args: type[BaseModel] = NoArgs,
    needs_incident: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a `/incident <name>` handler with its help text, its rule (`handlers.access`) and needs."""

    def register(handler: Handler) -> Handler:
        if not _NAME.match(name) or name in REGISTRY:
            raise ValueError(f"bad or duplicate subcommand name {name!r}")
        REGISTRY[name] = Subcommand(
            name, summary, usage, example, args, handler, allow, needs_incident
        )
        return handler

    return register


def usage_text() -> str:
    lines = [
        f"`/incident {escape(s.usage)}`  {s.summary}"
        for s in sorted(REGISTRY.values(), key=lambda s: s.name)
    ]
    return "*Usage*\n" + "\n".join(lines)
