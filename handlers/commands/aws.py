"""`/incident aws off|on`: the kill switch for AWS execution, everywhere at once.

Off: the incident commander or an approver; on again: approvers only (the runbook service decides).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from handlers.access import Allow
from handlers.commands._registry import CommandContext, subcommand


class AwsArgs(BaseModel):
    state: Literal["on", "off"]


@subcommand(
    "aws",
    summary="Switch AWS execution off or on for every runbook",
    usage="aws off|on",
    example="aws off",
    args=AwsArgs,
    allow=Allow.RESPONDER,
)
async def handle_aws_command(args: AwsArgs, ctx: CommandContext) -> None:
    enabled = args.state == "on"
    await ctx.services.runbooks.set_aws_enabled(
        enabled=enabled,
        user=ctx.user_id,
        source=ctx.source,
        incident=ctx.incident.number if ctx.incident else None,
    )
    text = (
        "AWS execution is back on."
        if enabled
        else ":octagonal_sign: AWS execution is off: no new AWS call will be sent."
    )
    await ctx.respond(text=text, response_type="in_channel")
