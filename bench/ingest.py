"""Timeline ingestion: message events as fast as they can be sent, a fifth of them re-sent as Slack
retries (among new events, `--concurrency` sends after the original); events/s, lost and duplicated
rows, against a raw sqlite3 loop (one row per transaction) measured in the same run. A message's 200
follows the commit of its timeline row, so events/s is both acknowledged and recorded; the rows are
counted once every answer is in. `--synchronous NORMAL FULL` runs warroom once per mode (its writer's
`PRAGMA synchronous`, through `bench.warroom_synchronous`), `--runs` times in turn, each with a fresh
database and Slack workspace, and prints every run, the medians and FULL's cost against NORMAL.
`--backups off on` does the same without and with `warroom run`'s scheduled backups (every 5 s, to a
directory: the copy, its checks and gzip, not a network upload). `--redaction patterns detect-secrets`
does the same for redaction: warroom as built (its patterns,
`bot.redaction`), and warroom whose `redact_secrets` also runs detect-secrets' plugins (AWS, Slack,
private keys, JWTs, high-entropy strings) over every line it redacts, served by this module itself
(`python -m bench.ingest --serve-with-detect-secrets`; detect-secrets must be installed for that).

    python -m bench ingest [--events 20000] [--concurrency 50] [--runs 3]
                           [--synchronous NORMAL FULL | --redaction patterns detect-secrets |
                            --backups off on]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.ack_latency import SECRET, free_port, start_warroom, wait_ready
from bench.warroom_synchronous import MODES
from bot import redaction
from bot.sandbox import payloads
from bot.sandbox.signing import JSON, SlackSender, sign
from bot.sandbox.slack.workspace import SlackWorkspace, serve


async def declare(
    url: str, workspace: SlackWorkspace, slack: object, database: Path
) -> str:
    """Declare an incident through the real flow; return its channel id."""
    async with SlackSender(url, SECRET, slack=slack) as sender:  # type: ignore[arg-type]
        await sender.command("declare Ingestion benchmark")
        call = await workspace.wait_for(
            "views.open", lambda c: c.status == 200, timeout=30
        )
        values = {
            "title": {"value": payloads.plain_text_value("Ingestion benchmark")},
            "severity": {"value": payloads.static_select_value("SEV3")},
        }
        await sender.submit_view(
            callback_id="declare-submit",
            values=values,
            view_id=call.response["view"]["id"],  # type: ignore[index]
        )
    for _ in range(600):
        with closing(sqlite3.connect(database)) as db:
            row = db.execute(
                "select channel_id from incidents where channel_id is not null"
            ).fetchone()
        if row:
            return str(row[0])
        await asyncio.sleep(0.05)
    raise RuntimeError("the incident channel was never created")


async def send_events(
    url: str, channel: str, count: int, concurrency: int
) -> tuple[float, int]:
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    async with aiohttp.ClientSession() as http:

        async def one(n: int, retry: int | None) -> None:
            nonlocal failures
            event = {
                "type": "message",
                "channel": channel,
                "user": "UBOB",
                "text": f"event {n}",
                "ts": f"1800000000.{n:06d}",
                "channel_type": "channel",
            }
            body = payloads.event_callback(event, event_id=f"Ev{n:08d}")
            headers = {"Content-Type": JSON, **sign(SECRET, body)}
            if retry:
                headers |= {
                    "X-Slack-Retry-Num": str(retry),
                    "X-Slack-Retry-Reason": "http_timeout",
                }
            async with (
                gate,
                http.post(url, data=body.encode(), headers=headers) as response,
            ):
                await response.read()
                failures += response.status != 200

        started = time.perf_counter()
        # Each fifth event is re-sent `concurrency` sends after its original, among new events, so
        # a retry may meet its original in flight or in the same commit.
        order: list[tuple[int, int | None]] = []
        for n in range(count + concurrency):
            if n < count:
                order.append((n, None))
            late = n - concurrency
            if 0 <= late < count and late % 5 == 0:
                order.append((late, 1))
        await asyncio.gather(*(one(n, retry) for n, retry in order))
    return time.perf_counter() - started, failures


SERVE_WITH_DETECT_SECRETS = "--serve-with-detect-secrets"
REDACTION_COMMANDS: dict[str, Sequence[str]] = {
    "patterns": ("-m", "bot", "run"),
    "detect-secrets": ("-m", "bench.ingest", SERVE_WITH_DETECT_SECRETS),
}
# detect-secrets' plugins for what warroom redacts, high-entropy limits as its defaults.
DETECT_SECRETS_PLUGINS = [
    {"name": "AWSKeyDetector"},
    {"name": "SlackDetector"},
    {"name": "PrivateKeyDetector"},
    {"name": "JwtTokenDetector"},
    {"name": "Base64HighEntropyString", "limit": 4.5},
    {"name": "HexHighEntropyString", "limit": 3.0},
]


def detect_secrets_redactor() -> Callable[[str], str]:
    """Replace what detect-secrets' plugins find in each line of a text with the redaction marker
    (the high-entropy plugins look at every word, not only quoted strings, as its ad hoc scan does)."""
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
    from detect_secrets.settings import get_plugins, get_settings

    get_settings().configure_plugins(DETECT_SECRETS_PLUGINS)
    plugins = [(p, isinstance(p, HighEntropyStringsPlugin)) for p in get_plugins()]

    def redact(text: str) -> str:
        found: set[str] = set()
        for line in text.splitlines():
            for plugin, entropy in plugins:
                extra = {"enable_eager_search": True} if entropy else {}
                for secret in plugin.analyze_line(
                    filename="warroom", line=line, **extra
                ):
                    value = secret.secret_value
                    if value and not (
                        entropy
                        and plugin.calculate_shannon_entropy(value)
                        <= plugin.entropy_limit
                    ):
                        found.add(value)
        for value in sorted(found, key=len, reverse=True):
            text = text.replace(value, redaction.REDACTED)
        return text

    return redact


def with_detect_secrets() -> Callable[[str], str]:
    """`bot.redaction.redact_secrets` as built, then detect-secrets' plugins on what is left."""
    patterns, plugins = redaction.redact_secrets, detect_secrets_redactor()
    return lambda text: plugins(patterns(text))


def serve_with_detect_secrets() -> int:
    """`warroom run` whose `redact_secrets` also runs detect-secrets' plugins. Everything that
    redacts through `bot.redaction`'s own functions uses it: the inbox bodies and the timeline
    text and data that ingestion writes (modules that imported `redact_secrets` by name do not)."""
    from bot.cli.main import main as warroom

    redaction.redact_secrets = with_detect_secrets()
    return warroom(["run"])


def redaction_cost(count: int) -> str:
    """CPU time per ingested event of the redaction it goes through (its raw body for the inbox,
    its text for the timeline), with the patterns alone and with detect-secrets too, in this process."""
    events = []
    for n in range(count):
        text = f"event {n}"
        event = {"type": "message", "channel": "C1", "user": "UBOB", "text": text}
        events.append((payloads.event_callback(event, event_id=f"Ev{n:08d}"), text))
    timings = {}
    built = redaction.redact_secrets
    for label, redact_secrets in (
        ("patterns", built),
        ("patterns + detect-secrets", with_detect_secrets()),
    ):
        redaction.redact_secrets = redact_secrets
        try:
            started = time.perf_counter()
            for body, text in events:
                redaction.redact_request(body)
                redaction.redact_text(text)
            timings[label] = (time.perf_counter() - started) / count * 1e6
        finally:
            redaction.redact_secrets = built
    return "redaction CPU per event (inbox body + timeline text): " + ", ".join(
        f"{label} {us:,.1f} µs" for label, us in timings.items()
    )


def raw_sqlite_baseline(path: Path, count: int, synchronous: str = "NORMAL") -> float:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("pragma journal_mode=wal")
        db.execute(f"pragma synchronous={synchronous}")
        db.execute(
            "create table t (id integer primary key, event_id text unique, body text)"
        )
        started = time.perf_counter()
        for n in range(count):
            db.execute("begin")
            db.execute(
                "insert into t (event_id, body) values (?, ?)",
                [f"Ev{n}", json.dumps({"text": f"event {n}"})],
            )
            db.execute("commit")
        return time.perf_counter() - started


@dataclass(frozen=True)
class Measured:
    """One warroom process ingesting the load into a fresh database."""

    label: str
    elapsed: float
    failures: int
    rows: int
    distinct: int


async def measure(
    args: argparse.Namespace, label: str, command: Sequence[str]
) -> Measured:
    workspace = SlackWorkspace()
    async with serve(workspace) as slack:
        with tempfile.TemporaryDirectory() as tmp:
            database, port = Path(tmp) / "bench.db", free_port()
            env = (
                {
                    "WARROOM_BACKUP_URL": f"{tmp}/backups",
                    "WARROOM_BACKUP_OPEN_SECONDS": "5",
                }
                if label == "warroom backups=on"
                else {}
            )
            warroom = start_warroom(port, slack, database, command, env=env)
            url = f"http://127.0.0.1:{port}/slack/events"
            try:
                await wait_ready(f"http://127.0.0.1:{port}/readyz", warroom)
                channel = await declare(url, workspace, slack, database)
                elapsed, failures = await send_events(
                    url, channel, args.events, args.concurrency
                )
                # Counted at once, without waiting: every 200 followed its row's commit.
                with closing(sqlite3.connect(database)) as db:
                    rows, distinct = db.execute(
                        "select count(*), count(distinct slack_ts) from timeline where kind = 'message'"
                    ).fetchone()
            finally:
                warroom.terminate()
                warroom.wait(timeout=30)
    return Measured(label, elapsed, failures, rows, distinct)


async def run(args: argparse.Namespace) -> int:
    commands: list[tuple[str, Sequence[str]]] = [("warroom", ("-m", "bot", "run"))]
    if args.synchronous:
        commands = [
            (f"warroom synchronous={mode}", ("-m", "bench.warroom_synchronous", mode))
            for mode in args.synchronous
        ]
    if args.redaction:
        commands = [
            (f"warroom redaction={mode}", REDACTION_COMMANDS[mode])
            for mode in args.redaction
        ]
    if args.backups:
        commands = [
            (f"warroom backups={mode}", ("-m", "bot", "run")) for mode in args.backups
        ]
    measured = [
        await measure(args, label, command)
        for _ in range(args.runs)
        for label, command in commands  # in turn, so drift in the machine's load hits each
    ]
    with tempfile.TemporaryDirectory() as tmp:
        baseline = raw_sqlite_baseline(Path(tmp) / "raw.db", args.events)
        # what one commit's fsync costs by itself (NORMAL does not sync the WAL at commit)
        raw_full = (
            raw_sqlite_baseline(Path(tmp) / "raw-full.db", args.events, "FULL")
            if args.synchronous
            else None
        )
    sent = args.events + len(range(0, args.events, 5))
    print(
        f"timeline ingestion: {args.events} distinct message events + {sent - args.events} retries, "
        f"{args.concurrency} in flight"
    )
    for m in measured:
        print(
            f"{m.label}: {args.events / m.elapsed:,.0f} events/s recorded and acknowledged ({sent / m.elapsed:,.0f} deliveries/s), "
            f"non-200 answers {m.failures}; rows {m.rows}, lost {args.events - m.distinct}, duplicated {m.rows - m.distinct}"
        )
    rates = {
        label: [args.events / m.elapsed for m in measured if m.label == label]
        for label, _ in commands
    }
    medians = {label: statistics.median(r) for label, r in rates.items()}
    if args.runs > 1:
        for label, median in medians.items():
            runs = ", ".join(f"{r:,.0f}" for r in rates[label])
            print(f"{label}: median {median:,.0f} events/s (runs {runs})")
    if args.synchronous and {"NORMAL", "FULL"} <= set(args.synchronous):
        full, normal = (medians[f"warroom synchronous={m}"] for m in ("FULL", "NORMAL"))
        print(
            f"FULL / NORMAL: {full / normal:.3f} (FULL costs {1 - full / normal:.1%})"
        )
    print(f"raw sqlite3, one row per transaction: {args.events / baseline:,.0f} rows/s")
    if raw_full is not None:
        print(
            f"raw sqlite3, one row per transaction, synchronous=FULL: {args.events / raw_full:,.0f} rows/s"
            f" ({(raw_full - baseline) / args.events * 1e3:.3f} ms more per commit)"
        )
    if args.backups and {"off", "on"} <= set(args.backups):
        on, off = (medians[f"warroom backups={m}"] for m in ("on", "off"))
        print(f"events/s with backups every 5 s / without: {on / off:.3f}")
    if args.redaction and set(REDACTION_COMMANDS) <= set(args.redaction):
        ours, theirs = (medians[f"warroom redaction={m}"] for m in REDACTION_COMMANDS)
        print(
            f"events/s with detect-secrets / with the patterns alone: {theirs / ours:.3f}"
        )
        print(redaction_cost(args.events))
    for label, median in medians.items():
        print(f"ratio {label} / raw sqlite3: {median / (args.events / baseline):.3f}")
    ok = all(m.rows == m.distinct == args.events and m.failures == 0 for m in measured)
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--synchronous",
        nargs="+",
        choices=MODES,
        help="run warroom once per mode of its writer's PRAGMA synchronous (default: as built, FULL)",
    )
    parser.add_argument(
        "--redaction",
        nargs="+",
        choices=tuple(REDACTION_COMMANDS),
        help="run warroom once per redaction: its patterns, and with detect-secrets' plugins too",
    )
    parser.add_argument(
        "--backups",
        nargs="+",
        choices=("off", "on"),
        help="run warroom without and with scheduled backups (every 5 s, to a directory)",
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="measurements per warroom, taken in turn"
    )
    args = parser.parse_args(argv)
    if sum(bool(x) for x in (args.synchronous, args.redaction, args.backups)) > 1:
        parser.error(
            "--synchronous, --redaction and --backups measure one thing each: pick one"
        )
    return asyncio.run(run(args))


if __name__ == "__main__":
    if sys.argv[1:] == [SERVE_WITH_DETECT_SECRETS]:
        sys.exit(serve_with_detect_secrets())
    sys.exit(main(sys.argv[1:]))
