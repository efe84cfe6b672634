"""`warroom console` at a terminal: one person's session in front of the local world.

Owns the session around `bot.sandbox.console.Console`: the world (the Slack stand-in, moto and the
bot) runs on an event loop in a thread of its own, and only the main thread reads the keyboard, the
commands and every form prompt alike, a line at a time as the terminal edits it (`read_line`), and
a Ctrl-C reaches the main thread at once: it cancels what the console was doing, stops the world cleanly and says
where the database and the post-mortem drafts are, as `quit` and Ctrl-D do. A second Ctrl-C while
the world stops exits at once (the bot is built to survive that: what was in flight resumes at its
next start). It sends nothing itself; every request goes through the console.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import select
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.sandbox.console import HELP, Console
from bot.sandbox.local import World, local_world
from bot.sandbox.slack.records import SEED_USERS

QUIT = ("quit", "exit")


@dataclass
class _Question:
    """A prompt the console asks from the world's thread; the main thread answers it."""

    prompt: str
    answer: asyncio.Future[str]


class _Finished:
    """Put on the inbox when the console's current work is over."""


def seed_user(name: str) -> str | None:
    """The sandbox person `name` (a handle or an id, `@` optional) names, or None."""
    wanted = name.lstrip("@").lower()
    for user_id, handle, *_ in SEED_USERS:
        if wanted in (user_id.lower(), handle):
            return handle
    return None


class Session:
    """Run the console against a local world in `directory` until quit, Ctrl-D or Ctrl-C."""

    def __init__(
        self,
        directory: Path,
        *,
        user: str = "alice",
        out: Callable[[str], None] = print,
        read: Callable[[str], str] | None = None,
    ) -> None:
        self.directory, self.user, self.out = directory, user, out
        self.read = read or (read_line if sys.stdin.isatty() else input)
        self._inbox: queue.Queue[_Question | _Finished] = queue.Queue()
        self._loop: concurrent.futures.Future[asyncio.AbstractEventLoop] = (
            concurrent.futures.Future()
        )
        self._console: concurrent.futures.Future[Console] = concurrent.futures.Future()
        self._stop = asyncio.Event()
        self._where: list[str] = []
        self._failure: Exception | None = None

    # -- the main thread ----------------------------------------------------------------------
    def run(self) -> int:
        """Start the world, read lines until the person leaves, stop the world; the exit code."""
        self.out(
            f"warroom console: a local Slack workspace, moto with BodyScript's estate and the bot,"
            f" working in {self.directory} (starting…)"
        )
        # Ctrl-C works even when this was started with SIGINT ignored, as a script's background
        # job or under nohup is: Python then leaves SIGINT ignored, and the first Ctrl-C did nothing.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            if self.read is read_line:
                _watch_signals()
        world = threading.Thread(target=self._world_thread, name="warroom-world")
        world.daemon = True  # a second Ctrl-C must not wait for it
        world.start()
        code = 0
        try:
            console = self._console.result()
            self.out(f"{HELP}\nCtrl-C, Ctrl-D or `quit` ends the session.")
            self._serve(console)
        except KeyboardInterrupt:
            self.out("\n(Ctrl-C) stopping the local world…")
            code = 130
        except EOFError:
            self.out("")
        except LookupError as exc:  # the world could not start for this person
            self.out(f"  {exc}")
            code = 2
        finally:
            self._shut_down(world)
        for line in self._where:
            self.out(line)
        if self._failure is not None and code == 0:
            raise self._failure  # the world failed while stopping: not the person's doing
        return code

    def _serve(self, console: Console) -> None:
        while True:
            line = self.read(f"{console.name(console.user)}@{console.channel_name()}> ")
            if line.strip() in QUIT:
                return
            if not line.strip():
                continue
            # A choice, person or channel that does not exist: say so, change nothing.
            try:
                self._work(console.type(line))
            except LookupError as exc:
                self.out(f"  {exc}")

    def _work(self, work: Coroutine[Any, Any, None]) -> None:
        """Run the console's coroutine on the world's loop, answering its prompts from here."""
        loop = self._loop.result()
        done = asyncio.run_coroutine_threadsafe(work, loop)
        done.add_done_callback(lambda _: self._inbox.put(_Finished()))
        try:
            while not isinstance(item := self._inbox.get(), _Finished):
                answer = self.read(item.prompt)
                loop.call_soon_threadsafe(_answer, item.answer, answer)
        except BaseException:
            done.cancel()  # Ctrl-C or Ctrl-D at a prompt: drop what the console was doing
            raise
        done.result()

    def _shut_down(self, world: threading.Thread) -> None:
        try:
            loop = self._loop.result()
            # Closed already when the world stopped by itself (it failed).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._stop.set)
            world.join()
        except KeyboardInterrupt:
            self.out(
                "(Ctrl-C again) stopped at once; unfinished work resumes at the next start."
            )
            sys.stdout.flush()
            os._exit(130)

    # -- the world's thread -------------------------------------------------------------------
    def _world_thread(self) -> None:
        # Ctrl-C's SIGINT must reach the main thread: the kernel may hand a process's signal to any
        # thread that does not block it, and then the main thread's `input()` would go on waiting.
        # Every thread the world starts (the bot's writer, `to_thread` workers) inherits the block.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        with asyncio.Runner() as runner:
            self._loop.set_result(runner.get_loop())
            try:
                runner.run(self._world())
            # The thread's boundary: the main thread reports what stopped the world.
            except Exception as exc:
                if self._console.done():
                    self._failure = exc
                else:
                    self._console.set_exception(exc)

    async def _world(self) -> None:
        async with (
            local_world(self.directory) as world,
            world.console(ask=self._ask, out=self.out, echo=False) as console,
        ):
            console.user = console.user_id(self.user)
            self._console.set_result(console)
            await self._stop.wait()
            self._where = await where(world)

    async def _ask(self, prompt: str) -> str:
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inbox.put(_Question(prompt, answer))
        return (await answer).strip()


def _answer(future: asyncio.Future[str], text: str) -> None:
    if not future.done():
        future.set_result(text)


async def where(world: World) -> list[str]:
    """Where the session left its database and post-mortem drafts, as the bot recorded them."""
    storage = world.services.storage
    incidents = await storage.incidents()
    drafts = [
        draft.path
        for incident in reversed(incidents)
        for draft in await storage.postmortems_of(incident.number)
    ]
    lines = [f"Database: {world.settings.database_path} ({len(incidents)} incident(s))"]
    if drafts:
        lines += ["Post-mortem drafts:", *(f"  {path}" for path in drafts)]
    else:
        lines.append(
            "Post-mortem drafts: none yet (resolving an incident, or /incident postmortem, writes one)"
        )
    return lines


# The read end of the pipe Python's signal handler writes to (`signal.set_wakeup_fd`).
_WAKE: list[int] = []


def _watch_signals() -> None:
    """Have every signal's arrival written to a pipe `read_line` waits on, with the keyboard."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    _WAKE[:] = [wake_r]


def read_line(prompt: str) -> str:
    """`input()` for a terminal that a Ctrl-C always interrupts. `input()` blocks in `read()`, and
    a Ctrl-C that lands between the prompt and that `read()` is noted by Python but only acted on
    once a line comes: the first Ctrl-C then seemed to do nothing. Here the wait is a `select` on
    the keyboard and on the signal pipe, so a Ctrl-C that came before it still ends it. The
    terminal edits the line itself (canonical mode): a `read` returns one line; none is Ctrl-D."""
    sys.stdout.write(prompt)
    sys.stdout.flush()
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([stdin, *_WAKE], [], [])
        for fd in ready:
            if fd != stdin:
                os.read(
                    fd, 512
                )  # a signal came; its Python handler runs on return from here
        if stdin in ready:
            data = os.read(stdin, 65536)
            if not data:
                raise EOFError
            return data.decode("utf-8", "replace").rstrip("\n")
