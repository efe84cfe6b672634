"""The single `/incident` listener: finds the subcommand, parses its arguments, acks, then runs it.

The router acks, subcommands never do: a parse error is answered in the ack itself (private usage
text), so the 3-second rule holds by construction. Sibling modules are discovered and imported so
that a new subcommand is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import PermissionDenied, UsageError
from bot.services import Services
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


async def handle_incident_command(
    ack: AsyncAck,
    command: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    name, _, rest = str(command.get("text") or "").strip().partition(" ")
    sub = REGISTRY.get(name.lower() or "help")
    if sub is None:
        await ack(f"Unknown subcommand `{name[:40]}`.\n{usage_text()}")
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
    if sub.responder_only and not await services.authoriser.is_responder(
        command["user_id"]
    ):
        raise PermissionDenied(f"Only responders may use `/incident {sub.name}`.")
    await sub.handler(args, ctx)


def register(app: AsyncApp) -> None:
    discover()
    app.command("/incident")(journaled(handle_incident_command))
