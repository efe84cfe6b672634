"""`/incident declare [title]`: open the declare modal (the submission is handled in handlers/listeners/incident_views.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.commands._registry import CommandContext, subcommand
from handlers.listeners.scenario_choices import scenario_choices


class DeclareArgs(BaseModel):
    title: str = Field(default="", max_length=150)


@subcommand(
    "declare",
    summary="Declare an incident (opens a form)",
    usage="declare [title]",
    example="declare API returns 500s",
    args=DeclareArgs,
    allow=Allow.RESPONDER,
)
async def handle_declare_command(args: DeclareArgs, ctx: CommandContext) -> None:
    # views.open is the one call made right after the ack: a trigger id lives 3 seconds.
    view = blocks.declare_modal(
        ctx.services.settings,
        title=args.title,
        scenarios=scenario_choices(ctx.services),
    )
    await ctx.open_view(view)
