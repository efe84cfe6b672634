"""`warroom demo`, `warroom console` and `warroom drill`: the product in a terminal, against local stand-ins.

They need the `sandbox` extra (moto). Owns their arguments, defaults and exit codes (0 success,
1 a step failed, 2 bad usage: an unknown scenario or person is refused before anything starts).
Nothing here is used by `warroom run`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bot.sandbox.choices import incident_scenarios


def cmd_drill(args: argparse.Namespace) -> int:
    from bot.sandbox.drill.driver import main as drill

    return drill(args.scenario, args.dir, dry_run=args.dry_run)


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.sandbox.demo import main as demo

    return demo(args.scenario, args.dir)


def cmd_console(args: argparse.Namespace) -> int:
    from bot.sandbox.slack.records import SEED_USERS
    from bot.sandbox.terminal import Session, seed_user

    user = seed_user(args.as_user)
    if user is None:
        people = ", ".join(handle for _, handle, *_ in SEED_USERS)
        print(
            f"No one is called {args.as_user!r} in the sandbox; the people are {people}."
        )
        return 2
    folder = (
        Path(args.dir)
        if args.dir
        else Path(tempfile.mkdtemp(prefix="warroom-console-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    return Session(folder, user=user).run()


def add_parsers(sub: Any) -> None:
    scenarios = ", ".join(incident_scenarios())
    demo = sub.add_parser(
        "demo",
        help="run a complete scripted incident against local stand-ins",
        description="Play a whole incident in the terminal against a local Slack workspace, moto"
        " with BodyScript's estate and the bot; exit 0 only when every step succeeded.",
    )
    demo.add_argument(
        "scenario",
        nargs="?",
        default="database-failure",
        metavar="SCENARIO",
        help=f"one of: {scenarios} (default: database-failure, the narrated one; any other is"
        " played by the drill driver)",
    )
    demo.add_argument(
        "--dir",
        help="keep the database and post-mortem here (default: a new temporary folder, kept)",
    )
    demo.set_defaults(fn=cmd_demo)
    console = sub.add_parser(
        "console",
        help="use warroom interactively against local stand-ins",
        description="The demo's world, interactive: type /incident commands, `say <text>`, a"
        " number to click, `as <name>`, `go <#channel>`; forms become prompts. Ctrl-C, Ctrl-D or"
        " `quit` ends it and says where the database and post-mortem drafts are.",
    )
    console.add_argument(
        "--as",
        dest="as_user",
        default="alice",
        metavar="NAME",
        help="who you are: alice (default; declares), bob, carol or dave (approvers)",
    )
    console.add_argument(
        "--dir",
        help="keep the database and post-mortems here (default: a new temporary folder, kept)",
    )
    console.set_defaults(fn=cmd_console)
    drill = sub.add_parser(
        "drill",
        help="rehearse a scenario as a drill incident against the sandbox, and score it",
        description="Declare a drill of SCENARIO, run every step through the console, resolve"
        " it and score recovery against the plan's RTO and RPO targets.",
    )
    drill.add_argument("scenario", metavar="SCENARIO", help=f"one of: {scenarios}")
    drill.add_argument(
        "--dir",
        help="keep the database and post-mortem here (default: a new temporary folder, kept)",
    )
    drill.add_argument(
        "--dry-run",
        action="store_true",
        help="as a drill in a real workspace runs: plan and approve, never send a mutating AWS call",
    )
    drill.set_defaults(fn=cmd_drill)
