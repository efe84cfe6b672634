"""Benchmark: the bot's host is lost under load; restore from S3 on a new host, start, read Slack back.

Each trial starts `warroom run` on a fresh database with scheduled backups to a moto S3 bucket
(`WARROOM_BACKUP_OPEN_SECONDS`, 5 s here), declares an incident and sends messages (posted in the
Slack workspace, then delivered as events) and `/incident note`s at about 100 requests/s. At a
random moment it kills the process and deletes the database, its WAL and its shared memory (the
host is gone), runs `warroom restore` into a new directory, starts `warroom run` there and waits
until it is ready and has read the channel back. Reported per trial: acknowledged messages and
notes, those missing from the restored timeline, and the time from the restore command to /readyz.
Goals: no channel message lost; notes (not in Slack's history) lost at most one backup interval.

    python -m bench host_loss [--trials 10] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import boto3

from bench.ack_latency import SECRET, warroom_env
from bench.ingest import declare
from bench.kill9 import Victim, _query, settle
from bot.sandbox import payloads
from bot.sandbox.estate.moto_server import MotoSandbox
from bot.sandbox.signing import FORM, JSON, sign
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace, serve

BUCKET, REGION, INTERVAL = "warroom-bench-backups", "us-west-2", 5


@dataclass
class Trial:
    number: int
    lost_after: float
    messages: list[str] = field(default_factory=list)  # acknowledged message ts
    notes: list[str] = field(default_factory=list)  # acknowledged note texts
    lost_messages: int = 0
    lost_notes: int = 0
    ready_s: float = 0.0


async def load(
    url: str, workspace: SlackWorkspace, channel: str, trial: Trial, stop: asyncio.Event
) -> None:
    """Messages (in Slack's history, then as events) and notes, alternately, until `stop`."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def post(body: str, content_type: str) -> bool:
            headers = {"Content-Type": content_type, **sign(SECRET, body)}
            try:
                async with http.post(url, data=body.encode(), headers=headers) as r:
                    await r.read()
                    return r.status == 200
            except (TimeoutError, aiohttp.ClientError):
                return False

        async def message(n: int) -> None:
            body = workspace.user_message(
                channel, "UALICE", f"host-loss t{trial.number} m{n}"
            )
            if await post(json.dumps(body), JSON):
                trial.messages.append(str(body["event"]["ts"]))

        async def note(n: int) -> None:
            text = f"host-loss t{trial.number} n{n}"
            body = payloads.slash_command(
                text=f"note {text}",
                user_id="UALICE",
                user_name="alice",
                channel_id=channel,
                channel_name="inc",
                response_url="http://127.0.0.1:9/none",
            )
            if await post(body, FORM):
                trial.notes.append(text)

        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while not stop.is_set():
            task = asyncio.create_task(message(n) if n % 2 else note(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks, return_exceptions=True)


async def trial_run(
    number: int,
    rng: random.Random,
    workspace: SlackWorkspace,
    slack: RunningWorkspace,
    aws: dict[str, str],
    root: Path,
) -> Trial:
    trial = Trial(number, lost_after=rng.uniform(INTERVAL + 2, 3 * INTERVAL))
    url = f"s3://{BUCKET}/t{number}"
    env = {
        **aws,
        "WARROOM_BACKUP_URL": url,
        "WARROOM_BACKUP_REGION": REGION,
        "WARROOM_BACKUP_OPEN_SECONDS": str(INTERVAL),
    }
    host = root / f"t{number}" / "host"
    host.mkdir(parents=True)
    victim = Victim(slack, host / "warroom.db", env)
    await victim.start()
    channel = await declare(victim.url, workspace, slack, victim.database)
    stop = asyncio.Event()
    sender = asyncio.create_task(load(victim.url, workspace, channel, trial, stop))
    await asyncio.sleep(trial.lost_after)
    victim.kill()  # the host is gone, and its disk with it
    stop.set()
    await sender
    for path in host.iterdir():
        path.unlink()
    began = time.perf_counter()
    restored = root / f"t{number}" / "new-host" / "warroom.db"
    restore = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "restore", "--to", str(restored), "--from", url),
        env=warroom_env(0, slack, restored, env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await restore.communicate()
    if restore.returncode != 0:
        raise RuntimeError(f"restore failed: {output.decode()}")
    again = Victim(slack, restored, env)
    await again.start()
    trial.ready_s = time.perf_counter() - began
    try:
        await settle(restored)
        wanted = set(trial.messages)
        for _ in range(600):  # the channel read back in the background after start
            have = {
                str(ts)
                for (ts,) in _query(
                    restored, "select slack_ts from timeline where kind = 'message'"
                )
            }
            if wanted <= have:
                break
            await asyncio.sleep(0.05)
        trial.lost_messages = len(wanted - have)
        notes = {
            str(t)
            for (t,) in _query(
                restored, "select text from timeline where kind = 'note'"
            )
        }
        trial.lost_notes = len(set(trial.notes) - notes)
    finally:
        again.stop()
    return trial


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    with MotoSandbox() as moto, tempfile.TemporaryDirectory() as tmp:
        aws = {
            "AWS_ENDPOINT_URL": moto.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
        os.environ.update(aws)
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        print(
            f"host loss under load: {args.trials} trials, seed {args.seed}, backups every {INTERVAL} s"
        )
        print(
            "trial lost at s  messages acked lost  notes acked lost  restore to ready s"
        )
        trials = []
        for number in range(1, args.trials + 1):
            workspace = (
                SlackWorkspace()
            )  # a fresh one per trial: its forms are the trial's own
            async with serve(workspace) as slack:
                t = await trial_run(number, rng, workspace, slack, aws, Path(tmp))
            trials.append(t)
            print(
                f"{t.number:5} {t.lost_after:9.1f}  {len(t.messages):14} {t.lost_messages:4}"
                f"  {len(t.notes):11} {t.lost_notes:4}  {t.ready_s:18.2f}",
                flush=True,
            )
    messages = sum(len(t.messages) for t in trials)
    lost = sum(t.lost_messages for t in trials)
    notes = sum(len(t.notes) for t in trials)
    lost_notes = sum(t.lost_notes for t in trials)
    # What was lost, in seconds of the trial's own note rate: at most one backup interval.
    window = max(t.lost_notes * t.lost_after / max(len(t.notes), 1) for t in trials)
    ready = [t.ready_s for t in trials]
    print(
        f"channel messages: {lost} of {messages} acknowledged lost; notes: {lost_notes} of {notes}"
        f" lost, at most {window:.1f} s of notes in a trial against a {INTERVAL} s interval;"
        f" restore to ready: median {statistics.median(ready):.2f} s, max {max(ready):.2f} s"
    )
    return 1 if lost or window > INTERVAL else 0


def main(argv: list[str]) -> int:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(prog="python -m bench host_loss")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    return asyncio.run(run(parser.parse_args(argv)))
