"""Faults at random moments under load: after them every acknowledged request is done, once.

`warroom run` runs as a subprocess against a local Slack workspace served by this process. One
incident is declared through the real flow; then each trial sends a stream of signed requests
(`/incident note` in the incident channel and message events, a fifth of the events re-sent as Slack
retries), records every request answered 200, kills the process with SIGKILL at a random moment,
restarts it, waits until the inbox has no pending row and the outbox has drained, and checks:

- every acknowledged request's inbox row is done and its note / message is on the timeline;
- nothing is done twice: one timeline row per source, per note and per message ts; one Slack post
  per note in the stand-in's history;
- `PRAGMA integrity_check` is ok and `warroom verify` passes for the incident.

The restarted process carries on as the next trial's victim, so the checks are cumulative.
`tests/test_faults.py` runs a few trials of the same code. `--fault` picks the fault:

- `kill9`: SIGKILL, then a restart.
- `sigterm`: SIGTERM (a 1 s drain); requests during the drain must get 503, not a refused port.
- `full-disk`: each trial's process cannot grow any file more than 64 KB past the largest file of
  the database (RLIMIT_FSIZE, as a full disk: writes fail with EFBIG); after the kill the restart
  has room again.
- `split-brain`: SIGSTOP (frozen, as a paused VM), a second process takes the lease over (2 s
  lease), then SIGCONT: the woken one must acknowledge nothing more and exit with code 3.
- `damaged`: the stopped database is copied and a page of the copy overwritten; `warroom run` on the
  copy must refuse it (one message, a non-zero exit) and leave it byte for byte as it was. No load.

    python -m bench kill9 [--fault kill9|sigterm|full-disk|split-brain|damaged] [--trials 20] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.ack_latency import SECRET, free_port, start_warroom, warroom_env
from bench.ingest import declare
from bot.sandbox import payloads
from bot.sandbox.signing import FORM, JSON, sign
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace, serve


@dataclass
class Trial:
    number: int
    kill_after: float = 0.0
    sent: int = 0
    acked: int = 0
    notes: list[str] = field(default_factory=list)  # acknowledged note texts
    events: list[str] = field(default_factory=list)  # acknowledged message ts
    keys: list[str] = field(default_factory=list)  # inbox keys of acknowledged requests
    recovery_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    double_posts: list[str] = field(default_factory=list)  # notes Slack received twice
    lost: int = 0  # acknowledged requests not done after recovery
    outcome: str = ""  # what the faulted process did (its exit code, a refusal)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.double_posts


FAULTS = ("kill9", "sigterm", "full-disk", "split-brain", "damaged")
FULL_DISK_MARGIN = 64 * 1024
# Settings per fault: a drain long enough to see 503s; a short lease to take over a frozen bot.
FAULT_ENV = {
    "sigterm": {"WARROOM_SHUTDOWN_DRAIN_SECONDS": "1"},
    "split-brain": {"WARROOM_LEASE_SECONDS": "2"},
}


class Victim:
    """The `warroom run` process of the current trial, on a fixed port and database."""

    def __init__(
        self, slack: RunningWorkspace, database: Path, env: dict[str, str] | None = None
    ) -> None:
        self.slack, self.database, self.port = slack, database, free_port()
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def start(self, *, within: float = 60, file_limit: int | None = None) -> None:
        self.process = start_warroom(
            self.port, self.slack, self.database, env=self.env, file_limit=file_limit
        )
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"warroom exited with {self.process.returncode}")
                try:
                    async with http.get(
                        f"http://127.0.0.1:{self.port}/readyz"
                    ) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.02)
        raise RuntimeError("warroom never became ready")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    async def exit_code(self, *, within: float = 60) -> int | None:
        """Wait for the process to end by itself; its exit code, None if it did not."""
        deadline = time.monotonic() + within
        while self.process is not None and self.process.poll() is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)
        return self.process.returncode if self.process else None


async def load(
    url: str, channel: str, trial: Trial, stop: asyncio.Event, *, concurrency: int
) -> None:
    """Send notes and message events (with some Slack retries) until `stop`; record the 200s."""
    gate = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def post(body: str, content_type: str, extra: dict[str, str]) -> bool:
            headers = {"Content-Type": content_type, **sign(SECRET, body), **extra}
            try:
                async with http.post(url, data=body.encode(), headers=headers) as r:
                    await r.read()
                    return r.status == 200
            except (TimeoutError, aiohttp.ClientError):
                return False

        async def note(n: int) -> None:
            text = f"kill9 t{trial.number} n{n}"
            body = payloads.slash_command(
                text=f"note {text}",
                user_id="UBOB",
                user_name="bob",
                channel_id=channel,
                channel_name="inc",
                response_url="http://127.0.0.1:9/none",
            )
            headers = sign(SECRET, body)
            async with gate:
                try:
                    async with http.post(
                        url,
                        data=body.encode(),
                        headers={"Content-Type": FORM, **headers},
                    ) as r:
                        await r.read()
                        ok = r.status == 200
                except (TimeoutError, aiohttp.ClientError):
                    ok = False
            if ok:
                trial.notes.append(text)
                trial.keys.append(f"sig:{headers['X-Slack-Signature']}")

        async def event(n: int) -> None:
            ts = f"{1900000000 + trial.number}.{n:06d}"
            event_id = f"EvK{trial.number:03d}{n:06d}"
            message = {
                "type": "message",
                "channel": channel,
                "user": "UCAROL",
                "text": f"kill9 event {ts}",
                "ts": ts,
                "channel_type": "channel",
            }
            body = payloads.event_callback(message, event_id=event_id)
            acked = False
            # a fifth are re-sent, as Slack retries
            for retry in range(2 if n % 5 == 0 else 1):
                extra = (
                    {
                        "X-Slack-Retry-Num": str(retry),
                        "X-Slack-Retry-Reason": "http_timeout",
                    }
                    if retry
                    else {}
                )
                async with gate:
                    acked |= await post(body, JSON, extra)
            if acked:
                trial.events.append(ts)
                trial.keys.append(f"event:{event_id}")

        n = 0
        while not stop.is_set():
            task = asyncio.create_task(note(n) if n % 2 else event(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            trial.sent += 1
            await asyncio.sleep(0.004)  # about 250 requests/s offered
        await asyncio.gather(*tasks, return_exceptions=True)


def _query(
    database: Path, sql: str, params: tuple[object, ...] = ()
) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database, timeout=30)) as db:
        return db.execute(sql, params).fetchall()


async def settle(database: Path, *, within: float = 60) -> None:
    """Wait until no inbox row is pending and the outbox has nothing pending."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pending = _query(
            database,
            "select (select count(*) from inbox where status = 'pending'),"
            " (select count(*) from outbox where status = 'pending')",
        )[0]
        if pending == (0, 0):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"inbox/outbox never settled (pending: {pending})")


def check(
    database: Path, workspace: SlackWorkspace, channel: str, trials: list[Trial]
) -> tuple[list[str], list[str]]:
    """Every acknowledged request of `trials` done, once. Return (problems, notes posted to Slack twice)."""
    problems: list[str] = []
    notes_of = tuple(f"kill9 t{t.number} " for t in trials)
    events_of = tuple(f"{1900000000 + t.number}." for t in trials)
    number = int(
        str(
            _query(
                database,
                "select number from incidents where channel_id = ?",
                (channel,),
            )[0][0]
        )
    )
    status = {
        str(k): str(v) for k, v in _query(database, "select key, status from inbox")
    }
    notes = Counter(
        str(t)
        for (t,) in _query(
            database,
            "select text from timeline where incident = ? and kind = 'note'",
            (number,),
        )
    )
    messages = Counter(
        str(t)
        for (t,) in _query(
            database,
            "select slack_ts from timeline where incident = ? and kind = 'message'",
            (number,),
        )
    )
    posts = Counter(
        m.text.rsplit(": ", 1)[-1]
        for m in workspace.messages(channel)
        if "Note from" in m.text
    )
    for trial in trials:
        missing = [k for k in trial.keys if status.get(k) != "done"]
        if missing:
            problems.append(
                f"trial {trial.number}: {len(missing)} acknowledged request(s) not done, e.g. {missing[0]}"
            )
        lost = [t for t in trial.notes if notes[t] == 0] + [
            t for t in trial.events if messages[t] == 0
        ]
        trial.lost = max(len(missing), len(lost))
        if lost:
            problems.append(
                f"trial {trial.number}: {len(lost)} acknowledged request(s) not on the timeline, e.g. {lost[0]}"
            )
        unposted = [t for t in trial.notes if posts[t] == 0]
        if unposted:
            problems.append(
                f"trial {trial.number}: {len(unposted)} acknowledged note(s) never posted, e.g. {unposted[0]}"
            )
    twice = [t for t, c in notes.items() if c > 1 and t.startswith(notes_of)]
    twice += [t for t, c in messages.items() if c > 1 and t.startswith(events_of)]
    if twice:
        problems.append(
            f"{len(twice)} note(s)/message(s) on the timeline twice, e.g. {twice[0]}"
        )
    sources = _query(
        database,
        "select source, count(*) from timeline where source is not null group by incident, source having count(*) > 1",
    )
    if sources:
        problems.append(f"{len(sources)} timeline source(s) appended twice")
    integrity = _query(database, "pragma integrity_check")[0][0]
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "verify",
            f"INC-{number}",
            "--database",
            str(database),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if verify.returncode != 0:
        problems.append(
            f"warroom verify exited {verify.returncode}: {verify.stdout.strip()} {verify.stderr.strip()}"
        )
    double_posts = sorted(
        t for t, c in posts.items() if c > 1 and t.startswith(notes_of)
    )
    return problems, double_posts


async def run_trials(
    workspace: SlackWorkspace,
    slack: RunningWorkspace,
    database: Path,
    *,
    trials: int,
    seed: int,
    fault: str = "kill9",
    concurrency: int = 20,
    kill_window: tuple[float, float] = (0.2, 1.5),
    report: bool = False,
) -> list[Trial]:
    """Declare an incident, then run `trials` trials of `fault` against one database; return them."""
    rng = random.Random(seed)
    env = FAULT_ENV.get(fault, {})
    victim = Victim(slack, database, env)
    await victim.start()
    done: list[Trial] = []
    try:
        channel = await declare(victim.url, workspace, slack, database)
        await settle(database)
        for number in range(1, trials + 1):
            trial = Trial(number, kill_after=rng.uniform(*kill_window))
            if fault == "damaged":
                victim.stop()
                trial.outcome, trial.problems = _damaged_copy_refused(victim, rng)
                await victim.start()
            else:
                if fault == "full-disk":
                    victim.stop()
                    limit = _largest_file(database) + FULL_DISK_MARGIN
                    await victim.start(file_limit=limit)
                stop = asyncio.Event()
                sender = asyncio.create_task(
                    load(victim.url, channel, trial, stop, concurrency=concurrency)
                )
                await asyncio.sleep(trial.kill_after)
                victim = await _fault(fault, victim, trial, stop, sender)
                trial.acked = len(trial.keys)
                began = time.perf_counter()
                if victim.process is None or victim.process.poll() is not None:
                    await victim.start()
                await settle(database)
                trial.recovery_s = time.perf_counter() - began
                trial.problems, trial.double_posts = check(
                    database, workspace, channel, [trial]
                )
            done.append(trial)
            if report:
                print(_row(trial), flush=True)
    finally:
        victim.stop()
    return done


async def _fault(
    fault: str,
    victim: Victim,
    trial: Trial,
    stop: asyncio.Event,
    sender: asyncio.Task[None],
) -> Victim:
    """Strike `victim` under load; return the process that carries on (a new one after a takeover)."""
    if fault == "split-brain":
        victim.signal(signal.SIGSTOP)  # frozen mid-load, its lease going stale
        stop.set()
        successor = Victim(victim.slack, victim.database, victim.env)
        took_over = False
        for _ in range(120):  # refused while the frozen one's heartbeat is fresh
            try:
                await successor.start()
                took_over = True
                break
            except RuntimeError:
                await asyncio.sleep(0.25)
        victim.signal(
            signal.SIGCONT
        )  # wakes with requests in flight, its lease taken over
        await sender
        trial.outcome = f"woken process exited {await victim.exit_code()}"
        # Frozen inside a write, it still held SQLite's write lock: nobody could take over.
        if not took_over:
            trial.outcome += "; no takeover while it was frozen"
            victim.kill()
            await successor.start()
        victim.kill()
        return successor
    if fault == "sigterm":
        victim.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)  # requests keep coming during the drain
        stop.set()
        await sender
        trial.outcome = f"exited {await victim.exit_code()}"
        return victim
    victim.kill()  # SIGKILL with requests in flight (a full disk: room again at the restart)
    stop.set()
    await sender
    return victim


def _largest_file(database: Path) -> int:
    files = [database, Path(f"{database}-wal")]
    return max(f.stat().st_size for f in files if f.exists())


def _damaged_copy_refused(victim: Victim, rng: random.Random) -> tuple[str, list[str]]:
    """Overwrite a random page of a copy of the stopped database; `warroom run` must refuse the
    copy with one message and a non-zero exit, having written nothing to it."""
    copy = victim.database.with_name("damaged.db")
    shutil.copyfile(victim.database, copy)
    for suffix in ("-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    with closing(sqlite3.connect(copy)) as db:
        size = int(db.execute("pragma page_size").fetchone()[0])
        pages = int(db.execute("pragma page_count").fetchone()[0])
    data = bytearray(copy.read_bytes())
    page = rng.randrange(1, pages)  # any page but the header's
    data[page * size : (page + 1) * size] = rng.randbytes(size)
    copy.write_bytes(bytes(data))
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    run = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=warroom_env(free_port(), victim.slack, copy, victim.env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = []
    if run.returncode == 0 or "is damaged" not in run.stderr + run.stdout:
        problems.append(f"not refused: exit {run.returncode}: {run.stderr[-300:]}")
    if "Traceback" in run.stderr:
        problems.append("a traceback instead of one message")
    if hashlib.sha256(copy.read_bytes()).hexdigest() != before:
        problems.append("the damaged file was written to")
    return f"page {page} of {pages}: exit {run.returncode}", problems


HEADER = f"{'trial':>5} {'fault at s':>10} {'sent':>5} {'acked':>5} {'lost':>4} {'twice':>5} {'recovery s':>10}  result"


def _row(t: Trial) -> str:
    found = t.problems + (
        [f"posted to Slack twice: {', '.join(t.double_posts)}"]
        if t.double_posts
        else []
    )
    result = "; ".join(found) or "ok"
    if t.outcome:
        result = f"{result} ({t.outcome})"
    return f"{t.number:5} {t.kill_after:10.2f} {t.sent:5} {t.acked:5} {t.lost:4} {len(t.double_posts):5} {t.recovery_s:10.2f}  {result}"


async def run(args: argparse.Namespace) -> int:
    workspace = SlackWorkspace()
    async with serve(workspace) as slack:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"{args.fault} under load: {args.trials} trials, seed {args.seed}")
            print(HEADER, flush=True)
            database = Path(tmp) / "kill9.db"
            trials = await run_trials(
                workspace,
                slack,
                database,
                trials=args.trials,
                seed=args.seed,
                fault=args.fault,
                report=True,
            )
            channel = str(_query(database, "select channel_id from incidents")[0][0])
            # nothing redone by later restarts
            final, _ = check(database, workspace, channel, trials)
    failed = [t for t in trials if not t.ok]
    acked = sum(t.acked for t in trials)
    doubled = sum(len(t.double_posts) for t in trials)
    print(
        f"{len(trials) - len(failed)}/{len(trials)} trials ok; {acked} acknowledged requests across all trials, "
        f"median recovery {sorted(t.recovery_s for t in trials)[len(trials) // 2]:.2f} s"
    )
    print(
        f"all trials at the end: {'; '.join(final) or 'every acknowledged request done once, database and chain ok'}; "
        f"notes posted to Slack twice: {doubled}"
    )
    return 1 if failed or final else 0


def main(argv: list[str]) -> int:
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(prog="python -m bench kill9")
    parser.add_argument("--fault", choices=FAULTS, default="kill9")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
