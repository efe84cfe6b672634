"""`/incident page <@user | escalation policy | service> [message]`: page more people through PagerDuty
(a name with spaces goes in quotes: `/incident page "BodyScript API" checkout is down`).

Resolves the target (a Slack user by email) and queues the page; the paging worker sends it and posts
the outcome in the channel. Owns no state.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from handlers.access import Allow
from handlers.blocks.incidents import escape
from handlers.commands._registry import CommandContext, subcommand


class PageArgs(BaseModel):
    target: str = Field(min_length=1, max_length=200)
    message: str = Field(default="", max_length=1000)


@subcommand(
    "page",
    summary="Page more people through PagerDuty",
    usage='page <@user|escalation policy|service> [message] (quote a name with spaces: "BodyScript API")',
    example="page @dana DB restore needs a second approver",
    args=PageArgs,
    allow=Allow.RESPONDER,
    needs_incident=True,
)
async def handle_page_command(args: PageArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    queued = await ctx.services.comms.pages.request_page(
        incident=incident,
        target=args.target,
        message=args.message.strip(),
        actor=ctx.user_id,
        source=ctx.source,
    )
    kind = queued.target.kind.replace("_", " ")
    await ctx.respond(
        # The name is PagerDuty's: shown as text, never as a mention or a link.
        text=f"Paging {kind} {escape(queued.target.name)} for {incident.key}; the result will be posted here.",
        response_type="ephemeral",
    )
