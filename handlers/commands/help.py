"""`/incident help`: usage of every subcommand, generated from the registry."""

from __future__ import annotations

from handlers.access import Allow
from handlers.commands._registry import REGISTRY, CommandContext, NoArgs, subcommand


def help_text() -> str:
    lines = [
        f"• `/incident {s.usage}`: {s.summary}. Example: `/incident {s.example}`"
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
