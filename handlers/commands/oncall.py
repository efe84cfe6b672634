"""`/incident oncall`: show who is on call now in PagerDuty (the incident's policy, or every
configured one outside an incident channel), privately. Owns no state."""

from __future__ import annotations

from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.blocks import paging as paging_blocks
from handlers.commands._registry import CommandContext, NoArgs, subcommand


@subcommand(
    "oncall",
    summary="Show who is on call now",
    usage="oncall",
    example="oncall",
    allow=Allow.ANYONE,
)
async def handle_oncall_command(args: NoArgs, ctx: CommandContext) -> None:
    pages = ctx.services.comms.pages
    if pages.log_only:
        await ctx.respond(
            text="PagerDuty is not configured, so there is no on-call information.",
            response_type="ephemeral",
        )
        return
    oncall, slack_ids = await pages.oncall_people(ctx.incident)
    key = ctx.incident.key if ctx.incident else "the configured policies"
    text = paging_blocks.oncall_text(
        key, oncall, slack_ids, zone=ctx.services.settings.zone
    )
    await ctx.respond(
        text=blocks.cut(text, 3000),
        blocks=blocks.text_section(text),
        response_type="ephemeral",
    )
