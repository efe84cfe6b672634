"""Benchmark: what a responder waits for after submitting the declare form, with stand-ins slowed
to realistic figures (Slack 150 ms a Web API call, PagerDuty 300 ms a request).

`warroom run` pages through the PagerDuty stand-in (REST, over HTTPS) and talks to the local Slack
workspace. Incidents are declared one after another (`--incidents`), then `--burst` at once, as in a
regional outage. For each: declare form submitted → PagerDuty received the trigger (`page`), and →
the channel is ready (created, the commander invited, the card posted and pinned, the announcement
posted: the last of those calls to arrive). The stand-ins answer after their delay, so a request
is received as soon as it is sent: the trigger, the first request the page makes, has no round
trip before it, and the page time is the bot's own (it must not wait behind Slack or other
incidents' pages). The channel's figure is set against its critical path: four Slack calls in
order (create, invite, post the card, pin it; the announcement goes to another channel at once).

    python -m bench latency [--incidents 10] [--burst 20] [--slack-delay 0.15] [--pagerduty-delay 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import trustme
from aiohttp import web

from bench.ack_latency import SECRET, free_port, start_warroom, wait_ready
from bot.sandbox import payloads
from bot.sandbox.signing import SlackSender
from bot.sandbox.slack.state import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace, serve
from tests.pagerduty_standin import API_KEY, FROM_EMAIL, PagerDutyStandIn

ROUTES = {"default": {"service_id": "PSVCAPI", "escalation_policy_id": "PEPDEVO"}}
CHANNEL_CALLS = 4  # create, invite, post the card, pin it: one after another


async def declare(sender: SlackSender, workspace: SlackWorkspace, title: str) -> float:
    """Open the declare form and submit it (SEV1: it pages); when it was submitted."""
    opened = len(workspace.calls_to("views.open"))
    await sender.command(f"declare {title}")
    call = await workspace.wait_for(
        "views.open", lambda c: len(workspace.calls_to("views.open")) > opened
    )
    view = workspace.calls_to("views.open")[opened].response or call.response or {}
    values = {
        "title": {"value": payloads.plain_text_value(title)},
        "severity": {"value": payloads.static_select_value("SEV1")},
    }
    submitted = time.monotonic()
    await sender.submit_view(
        callback_id="declare-submit", values=values, view_id=view["view"]["id"]
    )
    return submitted


async def measure(
    standin: PagerDutyStandIn,
    workspace: SlackWorkspace,
    number: int,
    title: str,
    submitted: float,
) -> tuple[float, float]:
    """(declare → page, declare → channel ready) of incident `number`, in seconds."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        triggers = [
            r
            for r in standin.requests
            if r.method == "POST"
            and r.path == "/incidents"
            and f"INC-{number}" in json.dumps(r.json)
        ]
        created = [
            c
            for c in workspace.calls_to("conversations.create")
            if c.ok and c.args.get("name", "").startswith(f"inc-{number}-")
        ]
        channel = created[0].response["channel"]["id"] if created else None  # type: ignore[index]
        pins = [
            c
            for c in workspace.calls_to("pins.add")
            if c.ok and c.args.get("channel") == channel
        ]
        announced = [
            c
            for c in workspace.calls_to("chat.postMessage")
            if c.ok
            and c.args.get("channel")
            in (INCIDENT_RESPONSE_CHANNEL_ID, "incident-response")
            and created
            and f"<#{created[0].args['name']}>" in str(c.args.get("text"))
        ]
        if triggers and pins and announced:
            ready = max(pins[0].at, announced[0].at)
            return triggers[0].at - submitted, ready - submitted
        await asyncio.sleep(0.01)
    posts = [r.path for r in standin.requests if r.method == "POST"]
    raise RuntimeError(
        f"INC-{number} ({title}) was never paged and ready: PagerDuty POSTs {posts},"
        f" channel {channel}, pinned {len(pins)}, announced {len(announced)}"
    )


def _row(name: str, figures: list[float], critical: float | None) -> str:
    p50 = statistics.median(figures)
    p99 = sorted(figures)[max(0, round(0.99 * len(figures)) - 1)]
    path = (
        f"critical path {critical * 1000:5.0f} ms  p99 / critical {p99 / critical:5.2f}"
        if critical
        else "critical path: none (the trigger is the first request)"
    )
    return (
        f"{name:38} n={len(figures):3}  p50 {p50 * 1000:6.0f} ms  p99 {p99 * 1000:6.0f} ms"
        f"  max {max(figures) * 1000:6.0f} ms  {path}"
    )


async def run(args: argparse.Namespace) -> int:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    standin = PagerDutyStandIn()
    standin.delay = args.pagerduty_delay
    runner = web.AppRunner(standin.app, access_log=None)
    await runner.setup()
    pd_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", pd_port, ssl_context=server_tls).start()
    workspace = SlackWorkspace()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ca_path = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(ca_path))
            async with serve(workspace) as slack:
                return await _measure_all(
                    args, standin, workspace, slack, pd_port, Path(tmp), ca_path
                )
    finally:
        await runner.cleanup()


async def _measure_all(
    args: argparse.Namespace,
    standin: PagerDutyStandIn,
    workspace: SlackWorkspace,
    slack: RunningWorkspace,
    pd_port: int,
    tmp: Path,
    ca_path: Path,
) -> int:
    url = f"https://127.0.0.1:{pd_port}"
    env = {
        "WARROOM_PAGERDUTY_API_KEY": API_KEY,
        "WARROOM_PAGERDUTY_FROM_EMAIL": FROM_EMAIL,
        "WARROOM_PAGERDUTY_REST_URL": url,
        "WARROOM_PAGERDUTY_EVENTS_URL": url,
        "WARROOM_PAGERDUTY_CA_BUNDLE": str(ca_path),
        "WARROOM_PAGERDUTY_ROUTES": json.dumps(ROUTES),
    }
    port = free_port()
    warroom = start_warroom(port, slack, tmp / "latency.db", env=env)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz", warroom)
        workspace.delay("*", args.slack_delay)
        pages: list[float] = []
        channels: list[float] = []
        burst_pages: list[float] = []
        burst_channels: list[float] = []
        async with SlackSender(
            f"http://127.0.0.1:{port}/slack/events", SECRET, slack=slack
        ) as sender:
            number = 0
            for _ in range(
                args.incidents
            ):  # one at a time: each is paged and ready first
                number += 1
                title = f"Latency one {number}"
                submitted = await declare(sender, workspace, title)
                page, ready = await measure(
                    standin, workspace, number, title, submitted
                )
                pages.append(page)
                channels.append(ready)
            # A regional outage: `--burst` incidents declared together.
            first = number + 1
            titles = [f"Latency burst {n}" for n in range(first, first + args.burst)]
            submitted_at = [await declare(sender, workspace, t) for t in titles]
            for offset, (title, submitted) in enumerate(
                zip(titles, submitted_at, strict=True)
            ):
                page, ready = await measure(
                    standin, workspace, first + offset, title, submitted
                )
                burst_pages.append(page)
                burst_channels.append(ready)
    finally:  # measured: no need to wait for its drain of the slowed Slack queue
        warroom.kill()
        warroom.wait(timeout=30)
    slack_rt, pd_rt = args.slack_delay, args.pagerduty_delay
    print(
        f"declare latency: Slack {slack_rt * 1000:.0f} ms a call, PagerDuty {pd_rt * 1000:.0f} ms"
        f" a request; {args.incidents} incidents one at a time, then {args.burst} together"
    )
    print(_row("declare -> PagerDuty has the trigger", pages, None))
    print(_row("declare -> channel ready", channels, CHANNEL_CALLS * slack_rt))
    print(_row(f"burst of {args.burst}: -> PagerDuty has it", burst_pages, None))
    print(
        _row(
            f"burst of {args.burst}: -> channel ready",
            burst_channels,
            CHANNEL_CALLS * slack_rt,
        )
    )
    late = [p for p in burst_pages if p > 5]
    print(f"burst: pages later than 5 s after their declaration: {len(late)}")
    return 0


def main(argv: list[str]) -> int:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(prog="python -m bench latency")
    parser.add_argument("--incidents", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--slack-delay", type=float, default=0.15)
    parser.add_argument("--pagerduty-delay", type=float, default=0.3)
    return asyncio.run(run(parser.parse_args(argv)))
