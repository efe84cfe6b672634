"""`/incident drill <scenario>`: open the declare form for a drill of one of the plan's scenarios.

A drill is an ordinary incident marked as a drill: its channel is `drill-<n>-…`, every notification
and the post-mortem say DRILL, and its runbook plans AWS steps without sending mutating calls unless
`WARROOM_DRILL_DRY_RUN` is off (only a sandbox does that). The mark rides in the form's
private_metadata, which Slack returns unchanged; the submission is handled in handlers/listeners/incident_views.py.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.errors import UsageError
from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.commands._registry import CommandContext, subcommand
from handlers.listeners.scenario_choices import scenario_choices


class DrillArgs(BaseModel):
    scenario: str = Field(default="", max_length=80)


@subcommand(
    "drill",
    summary="Rehearse a scenario as a drill incident (opens a form)",
    usage="drill <scenario>",
    example="drill database-failure",
    args=DrillArgs,
    allow=Allow.RESPONDER,
)
async def handle_drill_command(args: DrillArgs, ctx: CommandContext) -> None:
    scenario = args.scenario.strip().lower()
    choices = [
        (sid, title)
        for sid, title in scenario_choices(ctx.services)
        if ctx.services.runbooks.scenario(sid).kind == "incident"
    ]
    titles = dict(choices)
    if scenario not in titles:
        known = ", ".join(f"`{sid}`" for sid in titles)
        raise UsageError(
            f"Name the scenario to rehearse: `/incident drill <scenario>`, one of {known}."
        )
    view = blocks.declare_modal(
        ctx.services.settings,
        title=titles[scenario],
        scenarios=choices,
        scenario=scenario,
        drill=True,
    )
    await ctx.open_view(view)
