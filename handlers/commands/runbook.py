"""`/incident runbook <scenario>`: post a scenario's runbook in this incident's channel."""

from __future__ import annotations

from pydantic import BaseModel, Field

from handlers.access import Allow
from handlers.commands._registry import CommandContext, subcommand


class RunbookArgs(BaseModel):
    scenario: str = Field(default="", max_length=80)


@subcommand(
    "runbook",
    summary="Post a scenario's runbook (no argument: list scenarios)",
    usage="runbook [scenario]",
    example="runbook database-failure",
    args=RunbookArgs,
    allow=Allow.RESPONDER,
    needs_incident=True,
)
async def handle_runbook_command(args: RunbookArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    if not args.scenario:
        names = "\n".join(
            f"`{sid}`  {title}"
            for sid, title in sorted(ctx.services.scenario_titles.items())
        )
        await ctx.respond(
            text=f"*Scenarios*\n{names}\nUsage: `/incident runbook <scenario>`"
        )
        return
    await ctx.services.runbooks.start(
        incident=incident.number,
        scenario=args.scenario.strip().lower(),
        user=ctx.user_id,
        source=ctx.source,
        dry_run=incident.drill and ctx.services.settings.drill_dry_run,
    )
