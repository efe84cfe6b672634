"""`/incident list`: the open incidents the caller may see (private ones from inside), privately."""

from __future__ import annotations

from handlers import access
from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.commands._registry import CommandContext, NoArgs, subcommand


@subcommand(
    "list",
    summary="List open incidents",
    usage="list",
    example="list",
    allow=Allow.ANYONE,
)
async def handle_list_command(args: NoArgs, ctx: CommandContext) -> None:
    incidents = await access.visible(
        ctx.client, ctx.user_id, await ctx.services.incidents.open_incidents()
    )
    text = blocks.incident_list_text(incidents, now=ctx.services.clock())
    await ctx.respond(
        text=blocks.cut(text, 3000),
        blocks=blocks.text_section(text),
        response_type="ephemeral",
    )
