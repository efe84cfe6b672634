"""`/incident help`: usage of every subcommand, generated from the registry.

Usage text is escaped for mrkdwn: Slack reads `<@user|…>` as a mention and `<a|b>` as a link,
even inside backticks, so `page <@user|escalation policy|service>` showed as "@escalation
policy|service" (issue 14).
"""

from __future__ import annotations

from handlers.access import Allow
from handlers.blocks.incidents import escape
from handlers.commands._registry import REGISTRY, CommandContext, NoArgs, subcommand


def help_text() -> str:
    lines = [
        f"• `/incident {escape(s.usage)}`: {escape(s.summary)}."
        f" Example: `/incident {escape(s.example)}`"
        for s in sorted(REGISTRY.values(), key=lambda s: s.name)
    ]
    return "*warroom: incident commands*\n" + "\n".join(lines)


@subcommand(
    "help",
    summary="Show this help",
    usage="help",
    example="help",
    allow=Allow.ANYONE,
)
async def handle_help_command(args: NoArgs, ctx: CommandContext) -> None:
    await ctx.respond(text=help_text(), response_type="ephemeral")
