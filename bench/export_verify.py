"""Benchmark: verify and export (Markdown, JSON) an incident with 500,000 timeline rows.

Generates the rows in a temporary database with the bot's own schema and the same `row_hash` the
bot chains with (in batches, straight into SQLite, which is the fast path), then measures each
operation in a fresh subprocess: wall time and peak RSS (`resource.getrusage`), against the targets
of 10 s and 100 MB. Run: `python -m bench export_verify [--rows N] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.models.incidents import Incident, to_iso
from bot.storage import GENESIS, Storage, row_hash

TARGET_S, TARGET_MB = 10.0, 100.0
KINDS = ("message",) * 90 + ("note",) * 5 + ("edit", "pin", "pushpin", "page", "role")


async def _schema(path: Path) -> int:
    storage = Storage(path)
    await storage.open()
    try:
        incident = Incident(
            number=0,
            title="Benchmark: regional outage",
            severity="SEV1",
            commander="UALICE",
            channel_name="inc-1-benchmark",
            declared_by="UALICE",
            components=["database", "api"],
            declared_at=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        )
        return (await storage.create_incident(incident, source="bench")).number
    finally:
        await storage.close()


def generate(path: Path, rows: int) -> int:
    """Create the database and `rows` chained timeline rows for one incident; return its number."""
    number = asyncio.run(_schema(path))
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    users = ("UALICE", "UBOB", "UCAROL", "UDAVE")
    prev, batch = GENESIS, []
    columns = (
        "incident",
        "seq",
        "kind",
        "actor",
        "text",
        "data",
        "occurred_at",
        "recorded_at",
        "slack_ts",
        "permalink",
        "key_event",
        "corrects",
        "prev_hash",
        "hash",
        "source",
    )
    sql = f"insert into timeline ({', '.join(columns)}) values ({', '.join('?' * len(columns))})"
    with sqlite3.connect(path) as db:
        for seq in range(1, rows + 1):
            kind = KINDS[seq % len(KINDS)]
            at = to_iso(start + timedelta(milliseconds=seq * 50))
            ts = f"{1767607200 + seq // 20}.{seq % 1_000_000:06d}"
            row = {
                "incident": number,
                "seq": seq,
                "kind": kind,
                "actor": users[seq % 4],
                "text": f"message {seq}: replica lag is {seq % 97}s on db-primary | check <@UBOB> & retry",
                "data": json.dumps(
                    {"thread_ts": ts} if seq % 7 == 0 else {}, sort_keys=True
                ),
                "occurred_at": at,
                "recorded_at": at,
                "slack_ts": ts,
                "permalink": f"https://slack.com/archives/C00000002/p{ts.replace('.', '')}",
                "key_event": int(kind in ("pin", "pushpin")),
                "corrects": None,
                "prev_hash": prev,
            }
            row["hash"] = prev = row_hash(row)
            batch.append((*row.values(), f"bench:{seq}"))
            if len(batch) == 10_000:
                db.executemany(sql, batch)
                batch.clear()
        db.executemany(sql, batch)
    return number


def measure(what: str, database: Path, number: int, out: Path) -> dict[str, float]:
    """Run in a child process: one operation, its wall time and the process's peak RSS."""
    from bot.services.postmortem.service import export_to
    from bot.storage.chain import verify_incident

    settings = Settings(database_path=database)
    began = time.perf_counter()
    if what == "verify":
        report, size = verify_incident(database, number), 0
    else:
        with out.open("w", encoding="utf-8") as handle:
            report = export_to(
                handle, database=database, number=number, fmt=what, settings=settings
            )
        size = out.stat().st_size
    elapsed = time.perf_counter() - began
    if not report.ok:
        raise SystemExit(f"{what}: chain broken: {report.describe()}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": elapsed,
        "peak_rss_mb": peak_kb / 1024,
        "rows": report.rows,
        "output_mb": size / 1e6,
    }


def _child(what: str, database: Path, number: int, out: Path) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "bench.export_verify",
        "--measure",
        what,
        "--database",
        str(database),
        "--incident",
        str(number),
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench export_verify")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--keep", help="directory to keep the database and exports in")
    parser.add_argument(
        "--measure", choices=("verify", "md", "json"), help=argparse.SUPPRESS
    )
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--incident", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(
            json.dumps(
                measure(
                    args.measure, Path(args.database), args.incident, Path(args.out)
                )
            )
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="warroom-bench-") as scratch:
        folder = Path(args.keep or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        database = folder / "bench.db"
        database.unlink(missing_ok=True)
        began = time.perf_counter()
        number = generate(database, args.rows)
        print(
            f"generated {args.rows:,} timeline rows in {time.perf_counter() - began:.1f} s "
            f"({database.stat().st_size / 1e6:.0f} MB database)"
        )
        print(
            f"machine: {os.cpu_count()} CPU(s), Python {platform.python_version()}, {platform.platform()}"
        )
        print(
            f"\n| operation | rows | time (s) | peak RSS (MB) | output (MB) | within {TARGET_S:.0f} s / {TARGET_MB:.0f} MB |"
        )
        print("|---|---|---|---|---|---|")
        worst = 0
        for what in ("verify", "md", "json"):
            result = _child(what, database, number, folder / f"postmortem.{what}")
            ok = result["seconds"] <= TARGET_S and result["peak_rss_mb"] <= TARGET_MB
            worst |= 0 if ok else 1
            name = {
                "verify": "verify",
                "md": "export --format md",
                "json": "export --format json",
            }[what]
            print(
                f"| {name} | {int(result['rows']):,} | {result['seconds']:.2f} | {result['peak_rss_mb']:.0f} | "
                f"{result['output_mb']:.0f} | {'yes' if ok else 'NO'} |"
            )
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
