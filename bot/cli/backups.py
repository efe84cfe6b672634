"""`warroom backup | restore`: an online backup of the database to `WARROOM_BACKUP_URL`, and putting
the newest backup that passes its checks back.

Owns their arguments, output and exit codes: 0 done; 1 `restore` found no backup that passes its
checks (nothing was changed); 2 bad usage or settings, a copy that failed its checks (nothing was
shipped), or a database in use by a running warroom. Neither needs Slack tokens; `backup` only reads
the live database (the bot may be running), `restore` writes only through a temporary file renamed
over the target. `bot/cli/main.py` adds these parsers to its own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.errors import BotError, UsageError
from bot.models.incidents import utcnow


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.gateways.backups import store_for
    from bot.storage.backup import take

    settings = load_settings("backup")
    database = Path(args.database) if args.database else settings.database_path
    url = args.to or settings.backup_url
    if not url:
        print("Say where: set WARROOM_BACKUP_URL or pass --to.", file=sys.stderr)
        return 2
    try:
        store = store_for(url, region=settings.backup_region)
        with tempfile.TemporaryDirectory(prefix="warroom-backup-") as work:
            packed, manifest = take(database, Path(work), now=utcnow())
            store.put(packed, manifest)
    except BotError as exc:
        print(f"No backup was made: {exc.message}", file=sys.stderr)
        return 2
    print(
        f"Backed up {database} to {store.where}/{manifest.file}: {manifest.size:,} bytes,"
        f" sha256 {manifest.sha256}, {len(manifest.heads)} incident(s), every chain verified."
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from bot.gateways.backups import store_for
    from bot.storage.backup import put_in_place, unpack

    settings = load_settings("restore")
    target = Path(args.to) if args.to else settings.database_path
    url = args.source or settings.backup_url
    if not url:
        print("Say from where: set WARROOM_BACKUP_URL or pass --from.", file=sys.stderr)
        return 2
    try:
        at = _moment(args.at) if args.at else None
        store = store_for(url, region=settings.backup_region)
        manifests = [m for m in store.manifests() if at is None or m.taken_at <= at]
        target.parent.mkdir(parents=True, exist_ok=True)
        for manifest in manifests:
            # On the target's file system, so the restored file is renamed into place.
            with tempfile.TemporaryDirectory(dir=target.parent) as work:
                packed, restored = (
                    Path(work) / manifest.file,
                    Path(work) / "restored.db",
                )
                store.fetch(manifest, packed)
                try:
                    unpack(packed, manifest, restored)
                except BotError as exc:
                    print(f"skipped {manifest.name}: {exc.message}")
                    continue
                put_in_place(restored, target, lease_seconds=settings.lease_seconds)
            print(_restored(manifest, target))
            return 0
    except BotError as exc:
        print(f"Nothing was restored: {exc.message}", file=sys.stderr)
        return 2
    before = f" taken at or before {at:%Y-%m-%d %H:%M:%S} UTC" if at else ""
    print(
        f"No backup at {store.where}{before} passed its checks; nothing was restored."
    )
    return 1


def _restored(manifest: Any, target: Path) -> str:
    heads = ", ".join(
        f"INC-{n} ({h['rows']} rows, head {str(h['hash'])[:12]})"
        for n, h in sorted(manifest.heads.items(), key=lambda item: int(item[0]))
    )
    return (
        f"Restored {manifest.name} (taken {manifest.taken_at:%Y-%m-%d %H:%M:%S} UTC) to"
        f" {target}: {heads or 'no incidents'}. Anything said in Slack after that time is not"
        " in it."
    )


def _moment(text: str) -> datetime:
    """`2026-12-04 01:30`, `2026-12-04T01:30:00Z` or with an offset; UTC when none is given."""
    cleaned = text.strip().removesuffix(" UTC").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not a time like 2026-12-04 01:30 UTC."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def add_parsers(sub: Any) -> None:
    backup = sub.add_parser(
        "backup",
        help="back the database up now, checked, to WARROOM_BACKUP_URL",
        description="Copy the live database (the bot may be running), check the copy"
        " (integrity_check, every incident's chain), compress it and ship it with its"
        " manifest to WARROOM_BACKUP_URL (s3://bucket/prefix or a directory).",
    )
    backup.add_argument("--database", help="default: WARROOM_DATABASE_PATH")
    backup.add_argument("--to", help="a backup URL instead of WARROOM_BACKUP_URL")
    backup.set_defaults(fn=cmd_backup)
    restore = sub.add_parser(
        "restore",
        help="put the newest backup that passes its checks in place of the database",
        description="Find the newest backup (or the newest taken at or before --at) whose"
        " file matches its manifest and passes integrity_check and every chain, and rename"
        " it over the database. Refused while a warroom runs on that database.",
    )
    restore.add_argument(
        "--to", help="the database to write; default: WARROOM_DATABASE_PATH"
    )
    restore.add_argument(
        "--from", dest="source", help="a backup URL instead of WARROOM_BACKUP_URL"
    )
    restore.add_argument("--at", help="a time, e.g. '2026-12-04 01:30 UTC'")
    restore.set_defaults(fn=cmd_restore)
