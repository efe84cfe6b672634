"""`warroom demo`, `warroom console` and `warroom drill`: the product in a terminal, against local stand-ins.

Both need the `sandbox` extra (moto). Nothing here is used by `warroom run`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any


def cmd_drill(args: argparse.Namespace) -> int:
    from bot.sandbox.drill.driver import main as drill

    return drill(args.scenario, args.dir, dry_run=args.dry_run)


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.sandbox.demo import main as demo

    return demo(args.scenario, args.dir)


async def _console(user: str, directory: Path) -> int:
    from bot.sandbox.console import HELP
    from bot.sandbox.local import local_world

    async def ask(prompt: str) -> str:
        return await asyncio.to_thread(input, prompt)

    async with local_world(directory) as world, world.console(ask=ask) as console:
        console.user = console.user_id(user)
        print(
            f"warroom console: a local Slack workspace, moto with BodyScript's estate, and the bot.\n{HELP}"
        )
        while True:
            try:
                line = await ask(
                    f"{console.name(console.user)}@{console.channel_name()}> "
                )
            except EOFError:
                return 0
            if line.strip() in ("quit", "exit"):
                return 0
            if line.strip():
                try:
                    await console.type(line)
                except LookupError as exc:
                    print(f"  {exc}")


def cmd_console(args: argparse.Namespace) -> int:
    if args.dir:
        return asyncio.run(_console(args.as_user, Path(args.dir)))
    with tempfile.TemporaryDirectory(prefix="warroom-console-") as tmp:
        return asyncio.run(_console(args.as_user, Path(tmp)))


def add_parsers(sub: Any) -> None:
    demo = sub.add_parser(
        "demo", help="run a complete scripted incident against local stand-ins"
    )
    demo.add_argument("scenario", nargs="?", default="database-failure")
    demo.add_argument(
        "--dir",
        help="keep the database and post-mortem here (default: a temporary folder)",
    )
    demo.set_defaults(fn=cmd_demo)
    console = sub.add_parser(
        "console", help="use warroom interactively against local stand-ins"
    )
    console.add_argument(
        "--as",
        dest="as_user",
        default="alice",
        help="who you are (alice, bob, carol, dave)",
    )
    console.add_argument(
        "--dir", help="keep the database here (default: a temporary folder)"
    )
    console.set_defaults(fn=cmd_console)
    drill = sub.add_parser(
        "drill",
        help="rehearse a scenario as a drill incident against the sandbox, and score it",
    )
    drill.add_argument("scenario", help="e.g. database-failure")
    drill.add_argument(
        "--dir",
        help="keep the database and post-mortem here (default: a temporary folder)",
    )
    drill.add_argument(
        "--dry-run",
        action="store_true",
        help="as a drill in a real workspace runs: plan and approve, never send a mutating AWS call",
    )
    drill.set_defaults(fn=cmd_drill)
