"""Acknowledgement latency of warroom against a bare Bolt app, under the same load, in one run.

Both servers run as their own processes on 127.0.0.1. The local Slack workspace answers every Web
API call after a delay (10 s by default): nothing outbound may sit on warroom's ack path, so its
acks must not notice. The load is signed slash commands (`/incident note` in an incident channel),
button clicks and message events, open-loop at a fixed rate with a cap on requests in flight.

    python -m bench ack_latency [--seconds 60] [--rate 200] [--concurrency 50] [--slack-delay 10]
                                [--backups SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp

from bot.sandbox import payloads
from bot.sandbox.signing import FORM, JSON, sign
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace, serve

SECRET = "test-bench-signing-secret"
TOKEN = "xoxb-test-bench-0000-warroom"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}")
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} never became ready")


def warroom_env(
    port: int,
    slack: RunningWorkspace,
    database: Path,
    env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a benchmarked `warroom run`: fake tokens, the stand-in, quiet; `env` adds settings."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_"))
    }
    environment.update(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        WARROOM_SLACK_API_URL=slack.api_url,
        WARROOM_DATABASE_PATH=str(database),
        WARROOM_HTTP_HOST="127.0.0.1",
        WARROOM_HTTP_PORT=str(port),
        WARROOM_LOG_LEVEL="ERROR",
        WARROOM_SHUTDOWN_DRAIN_SECONDS="0",
        WARROOM_COMMANDS_PER_MINUTE="0",  # one sender drives the load: no per-person limit
    )
    environment.update(env or {})
    return environment


def start_warroom(
    port: int,
    slack: RunningWorkspace,
    database: Path,
    command: Sequence[str] = ("-m", "bot", "run"),
    *,
    env: dict[str, str] | None = None,
    file_limit: int | None = None,
) -> subprocess.Popen[bytes]:
    """`warroom run` (or `command`, run by this Python) on `port` and `database`, quiet; `env`
    adds settings, and `file_limit` caps the size of every file it writes, as a full disk does."""

    def full_disk() -> (
        None
    ):  # in the child: a write past the limit fails (EFBIG), not the process
        if file_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, hard))

    return subprocess.Popen(
        [sys.executable, *command],
        env=warroom_env(port, slack, database, env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=full_disk if file_limit is not None else None,
    )


def start_bare(port: int, slack: RunningWorkspace) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.bare_bolt", str(port), SECRET, slack.api_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def request_makers(
    slack: RunningWorkspace, channel: str
) -> list[Callable[[int], tuple[str, str]]]:
    """Builders of (body, content type) for the three kinds of request, each unique per call."""

    def command(n: int) -> tuple[str, str]:
        return payloads.slash_command(
            text=f"note load {n}",
            user_id="UBOB",
            user_name="bob",
            channel_id=channel,
            channel_name="inc",
            response_url=slack.response_url(f"c{n}"),
        ), FORM

    def click(n: int) -> tuple[str, str]:
        return payloads.block_actions(
            user_id="UBOB",
            action_id="card-timeline",
            value="1",
            block_id=f"b{n}",
            channel_id=channel,
            message_ts=f"1700000000.{n:06d}",
            response_url=slack.response_url(f"b{n}"),
        ), FORM

    def event(n: int) -> tuple[str, str]:
        body = {
            "type": "message",
            "channel": channel,
            "user": "UCAROL",
            "text": f"load {n}",
            "ts": f"1800000000.{n:06d}",
            "channel_type": "channel",
        }
        return payloads.event_callback(body), JSON

    return [command, click, event]


async def load(
    url: str,
    makers: list[Callable[[int], tuple[str, str]]],
    *,
    seconds: float,
    rate: float,
    concurrency: int,
) -> tuple[list[float], int]:
    """Open-loop load: one request every 1/rate s, at most `concurrency` in flight. Returns latencies (s)."""
    latencies: list[float] = []
    errors = 0
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def one(n: int) -> None:
            nonlocal errors
            body, content_type = makers[n % len(makers)](n)
            headers = {"Content-Type": content_type, **sign(SECRET, body)}
            async with gate:
                started = time.perf_counter()
                try:
                    async with http.post(
                        url, data=body.encode(), headers=headers
                    ) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        tasks, start, n = [], time.perf_counter(), 0
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(elapsed * rate)
            while n < due:
                tasks.append(asyncio.create_task(one(n)))
                n += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
    return latencies, errors


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "max": ordered[-1] * 1000,
    }


async def run(args: argparse.Namespace) -> int:
    from bench.ingest import declare  # the incident is declared through the real flow

    workspace = SlackWorkspace()
    async with serve(workspace) as slack:
        with tempfile.TemporaryDirectory() as tmp:
            ports = free_port(), free_port()
            backups = (
                {
                    "WARROOM_BACKUP_URL": f"{tmp}/backups",
                    "WARROOM_BACKUP_OPEN_SECONDS": f"{args.backups:g}",
                }
                if args.backups
                else {}
            )
            warroom = start_warroom(
                ports[0], slack, Path(tmp) / "bench.db", env=backups
            )
            bare = start_bare(ports[1], slack)
            try:
                await wait_ready(f"http://127.0.0.1:{ports[0]}/readyz", warroom)
                await wait_ready(f"http://127.0.0.1:{ports[1]}/slack/events", bare)
                channel = await declare(
                    f"http://127.0.0.1:{ports[0]}/slack/events",
                    workspace,
                    slack,
                    Path(tmp) / "bench.db",
                )
                workspace.delay("*", args.slack_delay)
                makers = request_makers(slack, channel)
                results = {}
                for name, port in (
                    ("bare Bolt (ack only)", ports[1]),
                    ("warroom", ports[0]),
                ):
                    url = f"http://127.0.0.1:{port}/slack/events"
                    latencies, errors = await load(
                        url,
                        makers,
                        seconds=args.seconds,
                        rate=args.rate,
                        concurrency=args.concurrency,
                    )
                    results[name] = summary(latencies) | {"errors": errors}
            finally:
                for process in (warroom, bare):
                    process.terminate()
                    process.wait(timeout=30)
    print(
        f"ack latency: {args.seconds:.0f} s at {args.rate:.0f} req/s, {args.concurrency} in flight, "
        f"Slack stand-in answering after {args.slack_delay:.0f} s; {os.cpu_count()} cores"
        + (f"; warroom backing up every {args.backups:g} s" if args.backups else "")
    )
    print(
        f"{'server':24} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:24} {r['n']:8.0f} {r['errors']:6.0f} {r['p50']:8.1f} {r['p99']:8.1f} {r['max']:8.1f}"
        )
    ratio = results["warroom"]["p99"] / results["bare Bolt (ack only)"]["p99"]
    print(f"p99 ratio warroom / bare Bolt: {ratio:.2f}")
    return 0


def main(argv: list[str]) -> int:
    # The servers under test are terminated mid-request at the end; the stand-in need not report it.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(prog="python -m bench ack_latency")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--slack-delay", type=float, default=10)
    parser.add_argument(
        "--backups",
        type=float,
        metavar="SECONDS",
        help="warroom backs up every SECONDS (to a directory) while it is measured",
    )
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
