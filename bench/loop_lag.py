"""Event-loop lag of the bot while AWS throttles every call.

The bot runs in this process (its real web app and lifecycle, as in the tests), pointed at the local
Slack workspace and at an AWS endpoint that answers every request with the protocol's throttling
error (built from `tests/aws_fault_proxy.py`'s protocol helpers; it runs on its own thread and loop).
Several incidents are declared with the database-failure scenario; their read-only steps are run
through signed button clicks, and re-run as soon as they fail, for `--seconds`. A ticker coroutine
sleeping 10 ms on the bot's loop records how late it wakes: p50 / p99 / max, idle first (the
baseline of the same run), then under the throttling storm. The Slack stand-in and the request
sender share the loop, so the figure is an upper bound for the bot alone. Not a test: a figure.

    python -m bench loop_lag [--incidents 8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from bot.models.runbooks import StepState
from bot.sandbox.local import sandbox_aws_environment
from bot.sandbox.slack.workspace import SlackWorkspace, serve
from handlers.ids import Action
from tests.aws_fault_proxy import _Rule, fault_response, identify, normalise
from tests.plugins.bot import make_settings, run_bot
from tests.runbook_support import APPROVERS, click, start_runbook, state_of

STEPS = ("check-rds-instance", "check-snapshots")  # read-only, no inputs
TICK = 0.010


@contextmanager
def throttling_endpoint() -> Iterator[tuple[str, list[str]]]:
    """An AWS endpoint on its own thread that throttles every call; yield (url, operations seen)."""
    seen: list[str] = []
    ready = threading.Event()
    state: dict[str, object] = {}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        service, operation, _, style = identify(request, body)
        seen.append(f"{service}:{operation}")
        rule = _Rule("throttled", normalise(operation), None, None)
        return fault_response(rule, service, operation, style, request.method)

    async def serve_forever() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        stop = asyncio.Event()
        state["stop"], state["loop"] = stop, asyncio.get_running_loop()
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(serve_forever()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield str(state["url"]), seen
    finally:
        loop, stop = state["loop"], state["stop"]
        loop.call_soon_threadsafe(stop.set)  # type: ignore[attr-defined]
        thread.join(10)


async def measure(seconds: float) -> list[float]:
    """Sleep TICK repeatedly for `seconds`; return how late each wake-up was (s)."""
    lags: list[float] = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        await asyncio.sleep(TICK)
        lags.append(max(0.0, time.perf_counter() - now - TICK))
    return lags


def figures(lags: list[float]) -> str:
    ordered = sorted(lags)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return (
        f"{len(ordered):7} {statistics.median(ordered) * 1000:8.1f} {p99 * 1000:8.1f} "
        f"{ordered[-1] * 1000:8.1f}"
    )


async def run(args: argparse.Namespace) -> int:
    workspace = SlackWorkspace()
    with (
        tempfile.TemporaryDirectory() as tmp,
        throttling_endpoint() as (aws_url, seen),
        sandbox_aws_environment(aws_url),
    ):
        async with serve(workspace) as slack:
            settings = make_settings(
                Path(tmp) / "warroom.db",
                slack,
                approvers=APPROVERS,
                shutdown_drain_seconds=0.5,
            )
            async with run_bot(settings, slack) as bot:
                books = [
                    await start_runbook(bot, workspace, "database-failure")
                    for _ in range(args.incidents)
                ]
                idle = await measure(3)
                runs = 0

                async def keep_running() -> None:
                    nonlocal runs
                    while True:
                        for incident, rb in books:
                            for step in STEPS:
                                state = await state_of(bot, rb, step)
                                if state is not StepState.EXECUTING:
                                    await click(
                                        bot, incident, rb, step, Action.RUNBOOK_RUN
                                    )
                                    runs += 1
                        await asyncio.sleep(0.2)

                driver = asyncio.create_task(keep_running())
                try:
                    busy = await measure(args.seconds)
                finally:
                    driver.cancel()
                    await asyncio.gather(driver, return_exceptions=True)
                throttled = len(seen)
    print(
        f"event-loop lag while AWS throttles every call: {args.incidents} incidents x {len(STEPS)} read-only "
        f"steps re-run for {args.seconds:.0f} s; {runs} step runs started, {throttled} AWS requests throttled"
    )
    print(f"{'phase':28} {'ticks':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(f"{'idle (same run)':28} {figures(idle)}")
    print(f"{'AWS throttling every call':28} {figures(busy)}")
    return 0


def main(argv: list[str]) -> int:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    logging.basicConfig(level=logging.CRITICAL)
    parser = argparse.ArgumentParser(prog="python -m bench loop_lag")
    parser.add_argument("--incidents", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
