"""`/incident catchup`: a private summary for someone joining late, from the timeline and storage."""

from __future__ import annotations

from pydantic import BaseModel

from bot.services.incidents.catchup import catch_up
from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.commands._registry import CommandContext, subcommand


class CatchupArgs(BaseModel):
    pass


@subcommand(
    "catchup",
    summary="Catch up: status, people, steps, approvals and key events, privately",
    usage="catchup",
    example="catchup",
    args=CatchupArgs,
    needs_incident=True,
    allow=Allow.ANYONE,
)
async def handle_catchup_command(args: CatchupArgs, ctx: CommandContext) -> None:
    services = ctx.services
    incident = ctx.require_incident()
    summary = await catch_up(services.storage, services.runbooks, incident)
    text = blocks.catchup_text(summary, now=services.clock())
    await ctx.respond(
        text=blocks.cut(text, 3000),
        blocks=blocks.text_section(text),
        response_type="ephemeral",
    )
