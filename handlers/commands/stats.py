"""`/incident stats [since]`: mean time to acknowledge and resolve, RTO attainment, privately."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel

from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.commands._registry import CommandContext, subcommand


class StatsArgs(BaseModel):
    since: date | None = None


@subcommand(
    "stats",
    summary="Mean time to acknowledge and resolve, RTO attainment",
    usage="stats [YYYY-MM-DD]",
    example="stats 2026-01-01",
    args=StatsArgs,
    allow=Allow.ANYONE,
)
async def handle_stats_command(args: StatsArgs, ctx: CommandContext) -> None:
    since = (
        datetime(args.since.year, args.since.month, args.since.day, tzinfo=UTC)
        if args.since
        else None
    )
    text = await ctx.services.postmortems.stats_text(since=since)
    await ctx.respond(
        text=blocks.cut(text, 3000),
        blocks=blocks.text_section(f"```{text}```"),
        response_type="ephemeral",
    )
