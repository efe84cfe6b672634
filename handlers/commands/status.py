"""`/incident status <state>`: move the incident along; `status resolved` opens the resolve form."""

from __future__ import annotations

from pydantic import BaseModel

from bot.models.incidents import Status
from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.commands._registry import CommandContext, subcommand


class StatusArgs(BaseModel):
    state: Status


@subcommand(
    "status",
    summary="Set the status",
    usage="status <investigating|identified|monitoring|resolved>",
    example="status identified",
    args=StatusArgs,
    allow=Allow.RESPONDER,
    needs_incident=True,
)
async def handle_status_command(args: StatusArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    if args.state is Status.RESOLVED:
        await ctx.open_view(blocks.resolve_modal(incident))
        return
    await ctx.services.incidents.set_status(
        number=incident.number, status=args.state, actor=ctx.user_id, source=ctx.source
    )
