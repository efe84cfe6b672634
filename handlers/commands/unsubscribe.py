"""`/incident unsubscribe`: stop getting this incident's updates by direct message."""

from __future__ import annotations

from pydantic import BaseModel

from handlers.access import Allow
from handlers.commands._registry import CommandContext, subcommand


class UnsubscribeArgs(BaseModel):
    pass


@subcommand(
    "unsubscribe",
    summary="Stop getting this incident's updates by direct message",
    usage="unsubscribe",
    example="unsubscribe",
    args=UnsubscribeArgs,
    needs_incident=True,
    allow=Allow.ANYONE,
)
async def handle_unsubscribe_command(
    args: UnsubscribeArgs, ctx: CommandContext
) -> None:
    incident = ctx.require_incident()
    removed = await ctx.services.subscriptions.unsubscribe(
        number=incident.number, actor=ctx.user_id, source=ctx.source
    )
    text = (
        f"Unsubscribed from {incident.key}."
        if removed
        else f"You were not subscribed to {incident.key}."
    )
    await ctx.respond(text=text, response_type="ephemeral")
