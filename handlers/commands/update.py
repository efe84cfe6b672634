"""`/incident update`: open the status-update form (posted to the announcement and incident channels)."""

from __future__ import annotations

from bot.errors import ConflictError
from handlers.access import Allow
from handlers.blocks import paging as paging_blocks
from handlers.commands._registry import CommandContext, NoArgs, subcommand


@subcommand(
    "update",
    summary="Post a status update (announcement and incident channels)",
    usage="update",
    example="update",
    allow=Allow.RESPONDER,
    needs_incident=True,
)
async def handle_update_command(args: NoArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    if not incident.is_open:
        raise ConflictError(f"{incident.key} is resolved.")
    minutes = ctx.services.comms.reminders.update_minutes(incident)
    view = paging_blocks.update_modal(
        incident,
        now=ctx.services.clock(),
        minutes=minutes,
        zone=ctx.services.settings.zone,
    )
    await ctx.open_view(view)
