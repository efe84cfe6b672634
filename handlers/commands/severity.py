"""`/incident severity <sev>`: change the severity."""

from __future__ import annotations

from pydantic import BaseModel, Field

from handlers.access import Allow
from handlers.commands._registry import CommandContext, subcommand


class SeverityArgs(BaseModel):
    severity: str = Field(pattern=r"^[A-Za-z0-9-]{1,16}$")


@subcommand(
    "severity",
    summary="Change the severity",
    usage="severity <SEV1|SEV2|SEV3|SEV4>",
    example="severity SEV2",
    args=SeverityArgs,
    allow=Allow.RESPONDER,
    needs_incident=True,
)
async def handle_severity_command(args: SeverityArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    await ctx.services.incidents.set_severity(
        number=incident.number,
        severity=args.severity,
        actor=ctx.user_id,
        source=ctx.source,
    )
