"""Benchmark: what a responder waits for, with the stand-ins slowed to realistic figures (Slack
150 ms a Web API call and its published rate limits, PagerDuty 300 ms, AWS 100 ms a request).

`warroom run` pages through the PagerDuty stand-in (REST, over HTTPS), runs AWS steps through the
fault proxy in front of moto, and talks to the local Slack workspace, which refuses calls over
Slack's limits (one post a second per channel, method tiers: `bot/sandbox/slack/limits.py`) with
429 and Retry-After. Measured, each against its critical path (the sum of the round trips that
must happen one after another) as `figure / critical path`:
- declare form submitted → PagerDuty answered the trigger (one PagerDuty request);
- → the channel is ready: created, the commander invited, the card posted and pinned, the
  announcement posted (three Slack calls in order: create, card, pin; the commander's
  invitation runs beside them, the announcement goes at once to another channel);
- → the on-call invited (PagerDuty's on-call list, Slack's lookup by email, the invitation);
- a read-only step's Run click → AWS answered the call (one AWS request) → the card shows the
  result (the card's "running" update beside the call, then the result's update);
- an approved mutating step's Approve click → AWS answered the change (the approved value read
  again, then the change) → the card shows the result (+ waiter, verify, then the update);
- the same declare figures with `--burst` incidents declared together, and whether any card or
  announcement was lost, repeated or out of order once the queue to Slack is empty.

    python -m bench latency [--incidents 10] [--steps 5] [--burst 20] [--slack-delay 0.15]
        [--pagerduty-delay 0.3] [--aws-delay 0.1] [--no-rate-limits]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import trustme
from aiohttp import web

from bench.ack_latency import SECRET, free_port, start_warroom, wait_ready
from bot.sandbox import payloads
from bot.sandbox.estate.moto_server import MotoSandbox, seed_estate
from bot.sandbox.signing import SlackSender
from bot.sandbox.slack.limits import POST_INTERVAL
from bot.sandbox.slack.state import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import Message, RunningWorkspace, SlackWorkspace, serve
from handlers.ids import Action
from tests.aws_fault_proxy import AwsFaultProxy
from tests.pagerduty_standin import API_KEY, FROM_EMAIL, PagerDutyStandIn

T = TypeVar("T")

ROUTES = {"default": {"service_id": "PSVCAPI", "escalation_policy_id": "PEPDEVO"}}
CHANNEL_CALLS = 3  # create, post the card, pin it: one after another (the commander's
# invitation runs beside the card, the announcement in another channel at once)
# The PagerDuty stand-in's on-call people, as members of the workspace (found by their email).
ON_CALL = {
    "UJOHNDO": ("John Doe", "john@example.com"),
    "UJANESM": ("Jane Smith", "jane@example.com"),
}


async def declare(
    sender: SlackSender, workspace: SlackWorkspace, title: str, scenario: str = ""
) -> float:
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
    if scenario:
        values["scenario"] = {"value": payloads.static_select_value(scenario)}
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
) -> tuple[float, float, float]:
    """(declare → page, → channel ready, → the on-call invited) of incident `number`, in seconds."""
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
        invited = [
            c
            for c in workspace.calls_to("conversations.invite")
            if c.ok
            and c.args.get("channel") == channel
            and set(str(c.args.get("users")).split(",")) & set(ON_CALL)
        ]
        commander = [
            c
            for c in workspace.calls_to("conversations.invite")
            if c.ok
            and c.args.get("channel") == channel
            and c.args.get("users") == "UALICE"
        ]
        if triggers and pins and announced and invited and commander:
            # Slack acts on a call once it has taken its time (its delay) over it.
            done = [
                c.at + workspace.delay_for(c.method)
                for c in (pins[0], announced[0], commander[0])
            ]
            return (
                triggers[0].at - submitted,
                max(done) - submitted,
                invited[0].at + workspace.delay_for("conversations.invite") - submitted,
            )
        await asyncio.sleep(0.01)
    posts = [r.path for r in standin.requests if r.method == "POST"]
    raise RuntimeError(
        f"INC-{number} ({title}) was never paged and ready: PagerDuty POSTs {posts},"
        f" channel {channel}, pinned {len(pins)}, announced {len(announced)},"
        f" on-call invited {len(invited)}"
    )


@dataclass(frozen=True)
class StepCase:
    """A runbook step to click: its scenario, the click that sends it, and its AWS calls in order."""

    scenario: str
    step: str
    operation: str  # `service:Operation` as the AWS proxy names it
    calls_before: (
        int  # AWS calls the bot must make first (a change re-reads what was approved)
    )
    calls_before_card: (
        int  # AWS calls in sequence from the click until the step's result
    )
    approvers: tuple[str, ...] = ()


READ_ONLY = StepCase(
    "database-failure", "check-rds-instance", "rds:DescribeDBInstances", 0, 1
)
# One approver. The preview's current value is read again (it must not have changed since the
# approval), then update_service, the services_stable waiter's first poll and the verify call.
MUTATING = StepCase(
    "complete-site-outage", "scale-api-multi-az", "ecs:UpdateService", 1, 4, ("UBOB",)
)


def _button(
    workspace: SlackWorkspace, channel: str, step: str, action: str
) -> tuple[Message, str, str] | None:
    """The step's card, and the block id and value of its `action` button, as a person sees them."""
    for message in workspace.messages(channel):
        for block in message.blocks:
            block_id = str(block.get("block_id", ""))
            if not (block_id.startswith("step-") and block_id.endswith(f"-{step}")):
                continue
            for element in block.get("elements") or [block.get("accessory") or {}]:
                if element.get("action_id") == action:
                    return message, block_id, str(element.get("value", ""))
    return None


async def _until(check: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        await asyncio.sleep(0.005)
    raise RuntimeError(f"never saw {what}")


async def click_step(
    sender: SlackSender,
    workspace: SlackWorkspace,
    proxy: AwsFaultProxy,
    channel: str,
    case: StepCase,
) -> tuple[float, float]:
    """Click the step's button (Run, or Request then Approve): (→ AWS answered, → card shows the result)."""
    action = Action.RUNBOOK_APPROVE if case.approvers else Action.RUNBOOK_RUN
    if case.approvers:
        card = await _until(
            lambda: _button(workspace, channel, case.step, Action.RUNBOOK_REQUEST),
            f"{case.step}'s Request button",
        )
        await sender.action(
            action_id=Action.RUNBOOK_REQUEST,
            value=card[2],
            channel_id=channel,
            message_ts=card[0].ts,
            block_id=card[1],
        )
    message, block_id, value = await _until(
        lambda: _button(workspace, channel, case.step, action),
        f"{case.step}'s {action}",
    )
    seen = len(proxy.calls)
    clicked_wall, clicked = time.time(), time.monotonic()
    await sender.action(
        action_id=action,
        value=value,
        user_id=(case.approvers or ("UALICE",))[0],
        channel_id=channel,
        message_ts=message.ts,
        block_id=block_id,
    )
    service, operation = case.operation.split(":")
    sent = await _until(
        lambda: next(
            (
                c
                for c in proxy.calls[seen:]
                if c.service == service and c.operation == operation
            ),
            None,
        ),
        f"{case.operation} at AWS",
    )
    shown = await _until(
        lambda: next(
            (
                c
                for c in workspace.calls_to("chat.update")
                if c.ok
                and c.at >= clicked
                and c.args.get("ts") == message.ts
                and ":white_check_mark:" in json.dumps(c.args.get("blocks"))
            ),
            None,
        ),
        f"{case.step}'s card showing its result",
    )
    return sent.at - clicked_wall, shown.at + workspace.delay_for(
        "chat.update"
    ) - clicked


def _channel(workspace: SlackWorkspace, number: int) -> str:
    created = [
        c
        for c in workspace.calls_to("conversations.create")
        if c.ok and c.args.get("name", "").startswith(f"inc-{number}-")
    ]
    return str(created[0].response["channel"]["id"])  # type: ignore[index]


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
    moto = MotoSandbox()
    endpoint = moto.start()
    seed_estate(endpoint_url=endpoint)
    workspace = SlackWorkspace()
    for user, (name, email) in ON_CALL.items():
        workspace.add_user(user, email.split("@")[0], name, email)
    if args.rate_limits:
        workspace.enforce_rate_limits()
    try:
        async with AwsFaultProxy(endpoint) as proxy:
            proxy.delay("*", args.aws_delay)
            with tempfile.TemporaryDirectory() as tmp:
                ca_path = Path(tmp) / "ca.pem"
                ca.cert_pem.write_to_path(str(ca_path))
                async with serve(workspace) as slack:
                    return await _measure_all(
                        args,
                        standin,
                        proxy,
                        workspace,
                        slack,
                        pd_port,
                        Path(tmp),
                        ca_path,
                    )
    finally:
        await runner.cleanup()
        moto.stop()


async def _measure_all(
    args: argparse.Namespace,
    standin: PagerDutyStandIn,
    proxy: AwsFaultProxy,
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
        "WARROOM_APPROVERS": json.dumps(list(MUTATING.approvers)),
        "AWS_ENDPOINT_URL": proxy.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    port = free_port()
    warroom = start_warroom(port, slack, tmp / "latency.db", env=env)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz", warroom)
        workspace.delay("*", args.slack_delay)
        one: list[tuple[float, float, float]] = []
        burst: list[tuple[float, float, float]] = []
        steps: dict[StepCase, list[tuple[float, float]]] = {}
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
                one.append(await measure(standin, workspace, number, title, submitted))
                await asyncio.sleep(
                    POST_INTERVAL
                )  # apart: not within one post's second
            for case in (
                READ_ONLY,
                MUTATING,
            ):  # each on a fresh incident of its scenario
                for _ in range(args.steps):
                    number += 1
                    title = f"Latency step {number}"
                    submitted = await declare(sender, workspace, title, case.scenario)
                    await measure(standin, workspace, number, title, submitted)
                    channel = _channel(workspace, number)
                    steps.setdefault(case, []).append(
                        await click_step(sender, workspace, proxy, channel, case)
                    )
            # A regional outage: `--burst` incidents declared together, after a quiet minute
            # (Slack's per-minute budgets unspent: the phases above created channels too).
            if workspace.rate_limits is not None:
                workspace.enforce_rate_limits()
            first = number + 1
            titles = [f"Latency burst {n}" for n in range(first, first + args.burst)]
            submitted_at = [await declare(sender, workspace, t) for t in titles]
            for offset, (title, submitted) in enumerate(
                zip(titles, submitted_at, strict=True)
            ):
                burst.append(
                    await measure(standin, workspace, first + offset, title, submitted)
                )
        problems = await order_problems(workspace, tmp / "latency.db")
    finally:
        warroom.kill()
        warroom.wait(timeout=30)
    slack_rt, pd_rt, aws_rt = args.slack_delay, args.pagerduty_delay, args.aws_delay
    print(
        f"latency: Slack {slack_rt * 1000:.0f} ms a call"
        f" ({'with' if args.rate_limits else 'without'} its published rate limits),"
        f" PagerDuty {pd_rt * 1000:.0f} ms, AWS {aws_rt * 1000:.0f} ms a request;"
        f" {args.incidents} incidents one at a time, {args.steps} step clicks of each kind,"
        f" then {args.burst} incidents together"
    )
    # A request is answered its delay after it arrives: that is when the page is sent. The on-call
    # are invited after PagerDuty says who they are and Slack finds them by email.
    oncall_path = pd_rt + 2 * slack_rt
    for label, figures in (("", one), (f"burst of {args.burst}: ", burst)):
        pages = [page + pd_rt for page, _, _ in figures]
        print(_row(f"{label}declare -> PagerDuty answered", pages, pd_rt))
        ready = [r for _, r, _ in figures]
        print(_row(f"{label}declare -> channel ready", ready, CHANNEL_CALLS * slack_rt))
        oncall = [o for _, _, o in figures]
        print(_row(f"{label}declare -> on-call invited", oncall, oncall_path))
    for case, clicks in steps.items():
        kind = "approved mutating" if case.approvers else "read-only"
        click = "Approve" if case.approvers else "Run"
        print(
            _row(
                f"{kind} {click} -> AWS answered {case.operation}",
                [sent + aws_rt for sent, _ in clicks],
                (case.calls_before + 1) * aws_rt,
            )
        )
        print(
            _row(
                f"{kind} {click} -> card shows the result",
                [shown for _, shown in clicks],
                # The card says "running" first: that update and the AWS calls go together,
                # then the result's update.
                max(slack_rt, case.calls_before_card * aws_rt) + slack_rt,
            )
        )
    if args.rate_limits and args.burst:
        floor = (args.burst - 1) * POST_INTERVAL + slack_rt
        print(
            f"burst: the announcement channel takes one post a second, so the last of"
            f" {args.burst} announcements cannot be posted sooner than {floor:.2f} s"
        )
    late = [p for p, _, _ in burst if p + pd_rt > 5]
    print(f"burst: pages later than 5 s after their declaration: {len(late)}")
    refused = workspace.rate_limits.refused if workspace.rate_limits else 0
    print(
        f"burst: Slack refused {refused} calls over its limits; cards or announcements lost,"
        f" repeated or out of order: {len(problems)}"
    )
    for problem in problems:
        print(f"  {problem}")
    return 0


async def order_problems(workspace: SlackWorkspace, database: Path) -> list[str]:
    """Once the bot's queue to Slack is empty: every post it queued is in its channel once, in
    the order it was queued, and none failed for good."""

    def rows() -> list[sqlite3.Row]:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute("select id, dedup_key, method, status from outbox"))

    deadline = time.monotonic() + 300
    while any(r["status"] == "pending" for r in rows()):
        if time.monotonic() > deadline:
            return ["the queue to Slack did not drain in 300 s"]
        await asyncio.sleep(0.2)
    queued = {r["dedup_key"]: r["id"] for r in rows()}
    problems = [
        f"failed for good: {r['dedup_key']}" for r in rows() if r["status"] == "dead"
    ]
    posted = {r["dedup_key"] for r in rows() if r["method"] == "chat.postMessage"}
    seen: set[str] = set()
    for channel in list(workspace.channels):
        keys = [
            m.metadata["event_payload"]["key"]
            for m in workspace.messages(channel)
            if m.metadata and m.metadata.get("event_payload", {}).get("key") in queued
        ]
        problems += [
            f"posted twice in {channel}: {k}" for k in keys if keys.count(k) > 1
        ]
        if [queued[k] for k in keys] != sorted(queued[k] for k in keys):
            problems.append(f"out of order in {channel}: {keys}")
        seen.update(keys)
    problems += [f"never posted: {k}" for k in sorted(posted - seen)]
    return problems


def main(argv: list[str]) -> int:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(prog="python -m bench latency")
    parser.add_argument("--incidents", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--slack-delay", type=float, default=0.15)
    parser.add_argument("--pagerduty-delay", type=float, default=0.3)
    parser.add_argument("--aws-delay", type=float, default=0.1)
    parser.add_argument(
        "--steps", type=int, default=5, help="clicks of each kind of step"
    )
    parser.add_argument(
        "--rate-limits",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Slack refuses calls over its published limits (one post a second per channel, tiers)",
    )
    return asyncio.run(run(parser.parse_args(argv)))
