"""`/incident timeline [n]`: show the last n timeline entries, privately."""

from __future__ import annotations

from pydantic import BaseModel, Field

from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.commands._registry import CommandContext, subcommand


class TimelineArgs(BaseModel):
    n: int = Field(default=10, ge=1, le=50)


@subcommand(
    "timeline",
    summary="Show the latest timeline entries",
    usage="timeline [n]",
    example="timeline 20",
    args=TimelineArgs,
    needs_incident=True,
    allow=Allow.ANYONE,
)
async def handle_timeline_command(args: TimelineArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    entries = await ctx.services.incidents.timeline(number=incident.number, last=args.n)
    text = f"*{incident.key} timeline* (last {len(entries)})\n" + blocks.timeline_text(
        entries
    )
    await ctx.respond(
        text=blocks.cut(text, 3000),
        blocks=blocks.text_section(text),
        response_type="ephemeral",
    )
