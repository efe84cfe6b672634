"""`warroom console` as a person at a terminal uses it (issue 14, items 1, 3, 4 and 9), and the pure
rules under it: reading a typed time, and showing Slack's date tokens.

The session runs `warroom console` in a pseudo-terminal (`pty.fork`, so Ctrl-C is the terminal's
own SIGINT), types into it and reads what it prints; afterwards the database says what happened.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.sandbox.console import parse_moment
from bot.sandbox.render import plain
from bot.storage.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 2, 16, 40, tzinfo=UTC)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-02 16:31 UTC", datetime(2026, 12, 2, 16, 31, tzinfo=UTC)),
        ("2026-12-02 16:31", datetime(2026, 12, 2, 16, 31, tzinfo=UTC)),
        ("  2026-12-02   16:31  utc ", datetime(2026, 12, 2, 16, 31, tzinfo=UTC)),
        ("2026-12-02T16:31:20Z", datetime(2026, 12, 2, 16, 31, 20, tzinfo=UTC)),
        ("2026-12-02T17:31+01:00", datetime(2026, 12, 2, 16, 31, tzinfo=UTC)),
        ("10 minutes ago", NOW - timedelta(minutes=10)),
        ("1 minute ago", NOW - timedelta(minutes=1)),
        ("2 hours ago", NOW - timedelta(hours=2)),
        ("90s ago", NOW - timedelta(seconds=90)),
        ("1 day ago", NOW - timedelta(days=1)),
        ("now", NOW),
    ],
)
def test_parse_moment__the_prompts_format_and_relative_times(typed, expected):
    assert parse_moment(typed, now=NOW) == expected


@pytest.mark.parametrize(
    "typed",
    ["soonish", "10 minutes", "ago", "2026-13-02 16:31 UTC", "16:31", "-5 min ago"],
)
def test_parse_moment__anything_else_says_what_to_type(typed):
    with pytest.raises(
        ValueError, match=r"is not a time: type it as 2026-12-02 16:40 UTC"
    ):
        parse_moment(typed, now=NOW)


def test_plain__date_tokens_read_as_a_slack_client_shows_them():
    stamp = int(datetime(2026, 12, 2, 16, 34, tzinfo=UTC).timestamp())
    card = (
        f"<!date^{stamp}^{{date_short_pretty}} {{time}} ({{ago}})|2026-12-02 16:34 UTC>"
    )
    assert plain(card, now=NOW) == "today 16:34 UTC (6 minutes ago)"
    assert (
        plain(
            f"<!date^{stamp}^{{date_num}} {{date_long}}|x>", now=NOW + timedelta(days=3)
        )
        == "2026-12-02 Wednesday, December 2nd, 2026"
    )
    assert (
        plain(f"<!date^{stamp}^{{ago}}|x>", now=NOW - timedelta(hours=2)) == "in 1 hour"
    )
    assert plain("<!date^soon^{time}|the fallback>") == "the fallback"


class Terminal:
    """A process on a pseudo-terminal: type lines and keys, wait for what it prints."""

    def __init__(self, argv: list[str], *, cwd: Path) -> None:
        env = {**os.environ, "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal is its controlling terminal
            # Started with SIGINT ignored, as from a script's background job (CI may run the
            # suite so): Ctrl-C must work all the same.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        self.output, self.seen = "", 0
        self.status: int | None = None

    def read(self, within: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], within)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # the process ended and closed its side
            return False
        if not chunk:
            return False
        self.output += _ANSI.sub("", chunk.decode("utf-8", "replace")).replace(
            "\r\n", "\n"
        )
        return True

    def expect(self, text: str, *, within: float = 120) -> str:
        """Wait until `text` is printed after what was expected last; return what came between."""
        deadline = _clock() + within
        while text not in self.output[self.seen :]:
            if _clock() > deadline or (not self.read(1.0) and self.exited()):
                raise AssertionError(
                    f"never printed {text!r} (exit status {self.status}); the end of the"
                    f" output:\n{self.output[-3000:]}"
                )
        start = self.output.index(text, self.seen)
        between, self.seen = self.output[self.seen : start], start + len(text)
        return between

    def line(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\r")

    def key(self, raw: bytes) -> None:
        os.write(self.fd, raw)

    def exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def wait(self, within: float = 120) -> int:
        deadline = _clock() + within
        while not self.exited():
            self.read(0.5)
            if _clock() > deadline:
                raise AssertionError(f"still running; output:\n{self.output[-3000:]}")
        while self.read(0.1):
            pass
        assert self.status is not None
        return self.status

    def close(self) -> None:
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def _clock() -> float:
    import time

    return time.monotonic()


@pytest.mark.timeout(300)
def test_console_session_at_a_terminal(tmp_path):
    """Declare with the prompt's own time format, mention @bob, have an approver who is not in the
    incident channel approve (and see what the click changed), mistype, read help, then Ctrl-C."""
    started = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    term = Terminal(
        [sys.executable, "-m", "bot.cli.main", "console", "--dir", str(tmp_path)],
        cwd=ROOT,
    )
    try:
        term.expect(f"working in {tmp_path}")
        term.expect("bob (UBOB)")  # the sandbox's people are named
        term.expect("alice@incident-response> ")
        term.line("/incident declare Checkout errors")
        term.expect("Title [Checkout errors]: ")  # the default is shown; Enter keeps it
        term.line("")
        term.expect("Severity [1=SEV1")
        term.line("SEV9")
        term.expect("'SEV9': not offered")
        term.expect("Severity [1=SEV1")
        term.line("3")
        term.expect("Scenario (optional) [")
        term.line("data-corruption")  # its first AWS step is destructive: two approvers
        term.expect("Affected components (optional) [")
        term.line("")
        term.expect("Impact started (optional) [YYYY-MM-DD HH:MM UTC")
        term.line("soonish")
        term.expect("'soonish' is not a time: type it as ")
        term.expect("Impact started (optional) [")
        term.line(f"{started:%Y-%m-%d %H:%M} UTC")  # exactly as the prompt shows it
        term.expect("Description (optional)")
        term.line("Card payments fail")
        term.expect("Visibility (optional) [1=private; Enter: none]: ")
        term.line("")
        shown = term.expect("alice@incident-response> ")
        channel = re.search(r"#(inc-1-[a-z0-9-]+)", shown)
        assert channel, shown
        term.line(f"go #{channel.group(1)}")
        prompt = f"alice@{channel.group(1)}> "
        term.expect(prompt)
        term.line("/incident assign scribe @bob")
        assert "mention the person" not in term.expect(prompt)
        assert "assigned *scribe* to @bob" in term.output
        term.line(choice_on(term.output, STOP_WRITES, "Request approval"))
        until_shown(term, "approvals 0 of 2", prompt, channel.group(1))
        approve = choice_on(term.output, STOP_WRITES, "Approve")
        term.line("as carol")  # an approver who never joined the incident channel
        carol = f"carol@{channel.group(1)}> "
        term.expect(carol)
        term.line(approve)
        shown = until_shown(term, "approvals 1 of 2: @carol", carol, channel.group(1))
        assert "[carol clicks Approve]" in shown
        # Carol sees what her click changed, on the card she clicked, without joining.
        assert f"--- #{channel.group(1)} ---" in shown, shown
        assert "approvals 1 of 2: @carol" in shown, shown
        assert STOP_WRITES in shown.split("[carol clicks Approve]")[1], shown
        term.line("as alice")
        term.expect(prompt)
        term.line("999")
        shown = term.expect(prompt)
        assert "there is no choice 999: the choices shown are 1 to " in shown
        term.line("as zed")
        assert "no one is called 'zed'; the people are alice, bob, carol, dave" in (
            term.expect(prompt)
        )
        term.line("/incident help")
        shown = term.expect(prompt)
        assert "/incident page <@user|escalation policy|service> [message]" in shown
        term.key(b"\x03")  # Ctrl-C at the prompt
        term.expect("(Ctrl-C) stopping the local world")
        term.expect(f"Database: {tmp_path / 'warroom.db'} (1 incident(s))")
        term.expect("Post-mortem drafts: none yet")
        assert term.wait() == 130
    finally:
        term.close()
    output = term.output
    assert "Traceback" not in output, output[-3000:]
    assert "list index out of range" not in output
    # Each typed line shows once: the terminal echoes it, the console does not print it again.
    assert output.count(f"{prompt}/incident help") == 1
    assert output.count("> /incident declare Checkout errors") == 1
    with Snapshot(tmp_path / "warroom.db") as snap:
        incident = snap.incident(1)
        runs = snap.step_runs(1)
    assert incident.impact_started_at == started
    assert incident.severity == "SEV3"
    assert incident.roles.get("scribe") == "UBOB"
    (run,) = [r for r in runs if r["step"] == "stop-write-operations"]
    assert [(a["user"], a["decision"]) for a in run["approvals"]] == [
        ("UCAROL", "approve")
    ]
    # A destructive step waits for a second approver.
    assert run["state"] == "awaiting-approval"


STOP_WRITES = "Stop write operations (scale the API to zero)"


def until_shown(term: Terminal, text: str, prompt: str, channel: str) -> str:
    """What the console printed up to its next `prompt` once `text` is among it. The bot may still
    be working when the prompt returns: `go` to the same channel shows what changed since."""
    shown = term.expect(prompt)
    for _ in range(30):
        if text in shown:
            return shown
        term.line(f"go #{channel}")
        shown += term.expect(prompt)
    raise AssertionError(f"never shown {text!r}; the console printed:\n{shown[-3000:]}")


def choice_on(output: str, title: str, label: str) -> str:
    """The number of the newest choice `label` printed under a message about `title`."""
    found = None
    for message in re.split(r"\n  \S[^\n]*:\n", output):  # one printed message each
        if title in message.split("\n", 1)[0]:
            found = (
                re.findall(rf"\[(\d+)\] {re.escape(label)}\n", message)[-1:] or found
            )
    assert found, f"no {label!r} on {title!r} in:\n{output[-3000:]}"
    return found[0]
