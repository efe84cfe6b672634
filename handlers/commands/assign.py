"""`/incident assign <role> @user`: give someone a role (and invite them to the channel)."""

from __future__ import annotations

import re

from pydantic import BaseModel, field_validator

from handlers.access import Allow
from handlers.commands._registry import CommandContext, subcommand

MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>$")


class AssignArgs(BaseModel):
    role: str
    user: str

    @field_validator("user")
    @classmethod
    def _mention(cls, value: str) -> str:
        match = MENTION.match(value.strip())
        if not match:
            raise ValueError("mention the person, like @dana")
        return match.group(1)


@subcommand(
    "assign",
    summary="Assign a role",
    usage="assign <role> @user",
    example="assign scribe @dana",
    args=AssignArgs,
    allow=Allow.RESPONDER,
    needs_incident=True,
)
async def handle_assign_command(args: AssignArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    await ctx.services.incidents.assign(
        number=incident.number,
        role=args.role,
        user=args.user,
        actor=ctx.user_id,
        source=ctx.source,
    )
