"""`warroom verify | export | stats`: the commands that read the database and need nothing else.

Owns their arguments, output and exit codes (0 OK, 1 a broken chain, 2 bad usage or no such
incident / database). They open the database read-only through `bot.storage.snapshot`; they never
need Slack tokens and never write to it. `export --out FILE` writes a temporary file beside FILE and
renames it over FILE only once the whole draft is written, so a failed export leaves FILE as it was.
`bot/cli/main.py` adds these parsers to its own.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.config import load_settings
from bot.errors import BotError, UsageError

_KEY = re.compile(r"^(?:INC-)?(\d+)$", re.IGNORECASE)


def incident_number(text: str) -> int:
    """Parse `INC-12` (or `12`) into 12."""
    match = _KEY.match(text.strip())
    if not match:
        raise UsageError(f"{text!r} is not an incident id; use INC-<n>.")
    return int(match.group(1))


def _database(args: argparse.Namespace) -> Path:
    if args.database:
        return Path(args.database)
    return load_settings(args.command).database_path


def cmd_verify(args: argparse.Namespace) -> int:
    from bot.storage.chain import verify_incident

    try:
        report = verify_incident(
            _database(args), incident_number(args.incident), expected_head=args.head
        )
    except BotError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(report.describe())
    return 0 if report.ok else 1


@contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """Write to a new file beside `path`; rename it over `path` only if the block succeeds."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        out = open(partial, "x", encoding="utf-8", newline="\n")  # noqa: SIM115 -- closed below, before the rename
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        try:
            os.replace(partial, path)
        except OSError as exc:  # e.g. `path` is a directory
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)


def cmd_export(args: argparse.Namespace) -> int:
    from bot.services.postmortem.service import export_to

    try:
        settings = load_settings(args.command)
        database = Path(args.database) if args.database else settings.database_path
        number = incident_number(args.incident)
        if args.out:
            with replacing(Path(args.out)) as out:
                report = export_to(
                    out,
                    database=database,
                    number=number,
                    fmt=args.format,
                    settings=settings,
                )
        else:
            report = export_to(
                sys.stdout,
                database=database,
                number=number,
                fmt=args.format,
                settings=settings,
            )
    except BotError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    # `warroom export ... | head`: the reader left; Python's documented recipe
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if args.out:
        print(f"wrote {args.out} ({report.describe()})", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from bot.services.postmortem.stats import compute_stats, stats_text

    try:
        settings = load_settings(args.command)
        database = Path(args.database) if args.database else settings.database_path
        since = _date(args.since) if args.since else None
        stats = compute_stats(database=database, settings=settings, since=since)
    except BotError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(stats_text(stats))
    return 0


def _date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: use a date like 2026-01-31.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_parsers(sub: Any) -> None:
    """Add `verify`, `export` and `stats` to the `warroom` sub-parsers."""
    verify = sub.add_parser(
        "verify",
        help="check an incident's hash-chained timeline",
        description="Walk an incident's hash-chained timeline: print OK with the head hash (exit"
        " 0), or name the first row edited, deleted, inserted or reordered (exit 1).",
    )
    verify.add_argument("incident", help="INC-<n>")
    verify.add_argument(
        "--head",
        help="a head hash published earlier (e.g. in Slack) that must be in the chain",
    )
    export = sub.add_parser(
        "export",
        help="write an incident's post-mortem draft",
        description="Write an incident's post-mortem draft from the database alone.",
    )
    export.add_argument("incident", help="INC-<n>")
    export.add_argument(
        "--format",
        choices=("md", "json"),
        default="md",
        help="md: the Markdown draft (default); json: everything the Markdown shows, as JSON",
    )
    export.add_argument("--out", help="file to write (default: standard output)")
    stats = sub.add_parser(
        "stats",
        help="time to acknowledge / resolve and RTO attainment",
        description="Mean time to acknowledge and to resolve, and RTO attainment, by severity"
        " and by scenario (drills excluded), with a legend.",
    )
    stats.add_argument(
        "--since", help="only incidents declared on or after this date (YYYY-MM-DD)"
    )
    for parser, fn in ((verify, cmd_verify), (export, cmd_export), (stats, cmd_stats)):
        parser.add_argument(
            "--database", help="SQLite file (default: WARROOM_DATABASE_PATH)"
        )
        parser.set_defaults(fn=fn)
