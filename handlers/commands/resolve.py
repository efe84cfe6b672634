"""`/incident resolve`: open the resolve form (summary and root cause)."""

from __future__ import annotations

from bot.errors import ConflictError
from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.commands._registry import CommandContext, NoArgs, subcommand


@subcommand(
    "resolve",
    summary="Resolve the incident (asks for a summary)",
    usage="resolve",
    example="resolve",
    allow=Allow.RESPONDER,
    needs_incident=True,
)
async def handle_resolve_command(args: NoArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    if not incident.is_open:
        raise ConflictError(f"{incident.key} is already resolved.")
    await ctx.open_view(blocks.resolve_modal(incident))
