"""Start-up to ready: `warroom run` as a subprocess until `/readyz` answers 200, with a database of
1,000 past incidents, against the same with an empty database measured in the same run.

The past incidents are written through `bot.storage.Storage` (resolved, each with a few timeline
rows on its chain), not through Slack. Each start is a fresh process on a copy of the prepared
database; the figure is the median over `--runs` starts.

    python -m bench startup [--incidents 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ack_latency import free_port, start_warroom
from bot.models.incidents import Incident, NewEntry, Status
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace, serve
from bot.storage import Storage

ROWS_PER_INCIDENT = 5


async def prepare(path: Path, incidents: int) -> None:
    """Create the schema and `incidents` resolved incidents with a few chained timeline rows each."""
    storage = Storage(path)
    await storage.open()
    try:
        start = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
        for n in range(incidents):
            at = start + timedelta(hours=8 * n)
            draft = Incident(
                number=0,
                title=f"Past incident {n}: replica lag on db-primary",
                severity="SEV2",
                commander="UALICE",
                channel_name=f"inc-{n + 1}-past",
                channel_id=f"CPAST{n:06d}",
                declared_by="UALICE",
                declared_at=at,
                components=["database"],
            )
            incident = await storage.create_incident(draft, source=f"bench:{n}")
            entries = [
                NewEntry(
                    kind="message",
                    actor="UBOB",
                    text=f"update {k} on incident {n}",
                    occurred_at=at + timedelta(minutes=k),
                    source=f"bench:{n}:{k}",
                )
                for k in range(ROWS_PER_INCIDENT)
            ]
            await storage.append(incident.number, entries, now=at)
            await storage.update_incident(
                incident.number,
                status=Status.RESOLVED,
                resolved_at=at + timedelta(hours=2),
                summary="Recovered",
            )
    finally:
        await storage.close()


async def start_once(slack: RunningWorkspace, database: Path) -> float:
    """Seconds from spawning `warroom run` to its first `/readyz` 200."""
    import aiohttp

    port = free_port()
    began = time.perf_counter()
    process = start_warroom(port, slack, database)
    try:
        async with aiohttp.ClientSession() as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"warroom exited with {process.returncode}")
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            return time.perf_counter() - began
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.01)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def run(args: argparse.Namespace) -> int:
    workspace = SlackWorkspace()
    with tempfile.TemporaryDirectory() as tmp:
        full, empty = Path(tmp) / "full.db", Path(tmp) / "empty.db"
        began = time.perf_counter()
        await prepare(full, args.incidents)
        prepared = time.perf_counter() - began
        await prepare(empty, 0)
        results: dict[str, list[float]] = {"empty": [], "full": []}
        async with serve(workspace) as slack:
            # interleaved, so drifting load hits both alike
            for run_no in range(args.runs):
                for name, source in (("empty", empty), ("full", full)):
                    copy = Path(tmp) / f"run-{run_no}-{name}.db"
                    shutil.copy(source, copy)
                    results[name].append(await start_once(slack, copy))
    print(
        f"start-up to ready (`warroom run` until /readyz 200), median of {args.runs} starts; "
        f"{args.incidents} past incidents x {ROWS_PER_INCIDENT} timeline rows prepared in {prepared:.1f} s"
    )
    print(f"{'database':34} {'median s':>9} {'min s':>7} {'max s':>7}")
    labels = {
        "empty": "empty",
        "full": f"{args.incidents} past incidents",
    }
    for name, times in results.items():
        print(
            f"{labels[name]:34} {statistics.median(times):9.2f} {min(times):7.2f} {max(times):7.2f}"
        )
    ratio = statistics.median(results["full"]) / statistics.median(results["empty"])
    print(f"ratio {args.incidents} incidents / empty: {ratio:.2f}")
    return 0


def main(argv: list[str]) -> int:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(prog="python -m bench startup")
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
