"""Benchmark: `warroom backup` and `warroom restore` of databases of about 20 and 100 MB.

Builds each database with `bench.export_verify.generate` (chained timeline rows of one incident,
the bot's own schema), then times, median of `--runs`: the online copy with its checks and
compression (`bot.storage.backup.take`) shipped to a directory, and the restore of it (fetch, SHA-256,
decompress, checks, rename). Run: `python -m bench backup [--rows 60000 300000] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.export_verify import generate
from bot.gateways.backups import DirectoryStore
from bot.models.incidents import utcnow
from bot.storage.backup import put_in_place, take, unpack


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench backup")
    parser.add_argument("--rows", type=int, nargs="+", default=[60_000, 300_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(
        "database | backup (copy, checks, gzip, ship) | restore (fetch, checks, rename) | compressed"
    )
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="warroom-bench-backup-") as tmp:
            work = Path(tmp)
            database = work / "warroom.db"
            generate(database, rows)
            store = DirectoryStore(work / "kept")
            backups, restores = [], []
            for run in range(args.runs):
                copy_dir = work / f"copy-{run}"
                copy_dir.mkdir()
                started = time.perf_counter()
                packed, manifest = take(database, copy_dir, now=utcnow())
                store.put(packed, manifest)
                backups.append(time.perf_counter() - started)
                started = time.perf_counter()
                fetched, restored = (
                    work / f"fetched-{run}.gz",
                    work / f"restored-{run}.db",
                )
                store.fetch(manifest, fetched)
                unpack(fetched, manifest, restored)
                put_in_place(restored, work / f"target-{run}.db", lease_seconds=30)
                restores.append(time.perf_counter() - started)
            size = database.stat().st_size / 1e6
            print(
                f"{rows:,} rows, {size:.0f} MB | median {statistics.median(backups):.2f} s"
                f" (runs {', '.join(f'{b:.2f}' for b in backups)}) | median"
                f" {statistics.median(restores):.2f} s (runs {', '.join(f'{r:.2f}' for r in restores)})"
                f" | {manifest.size / 1e6:.1f} MB"
            )
    return 0
