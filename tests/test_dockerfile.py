"""The Dockerfile's rules that can be checked without a Docker engine (issue 14, item 11).

Its health check is run for real against the bot on a port other than 3000; the rest is read from
the Dockerfile's instructions: dependencies are installed before the code is copied, the drain ends
within Docker's default stop grace, and the base image is pinned by digest. hadolint (`make lint`)
checks the file's style.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
from pathlib import Path

from tests.plugins.bot import RunningBot

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"
DOCKER_STOP_GRACE_S = 10  # `docker stop`'s default
DRAIN_PHASES = (
    3  # bot/web.py's lifecycle: post-mortem drafts, runbook steps, inbox and outbox
)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def index(kind: str, pattern: str, start: int = 0) -> int:
    steps = instructions()
    return next(
        n
        for n in range(start, len(steps))
        if steps[n][0] == kind and re.search(pattern, steps[n][1])
    )


async def _healthcheck(port: int) -> int:
    arguments = next(a for k, a in instructions() if k == "HEALTHCHECK")
    command = json.loads(arguments.split("CMD", 1)[1])
    assert command[0] == "python"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command[1:],
        env={"WARROOM_HTTP_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait()


async def test_healthcheck_asks_the_port_the_bot_serves(bot: RunningBot):
    port = int(bot.base_url.rsplit(":", 1)[1])
    assert port != 3000
    assert await _healthcheck(port) == 0
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unused = closed.getsockname()[1]
    assert await _healthcheck(unused) != 0


def test_dependencies_are_installed_before_the_code_is_copied():
    build = index("FROM", r"AS build")
    wheels = index("RUN", r"pip wheel .*-r requirements\.txt", build)
    assert index("COPY", r"^pyproject\.toml ", build) < wheels
    assert wheels < index("COPY", r"^bot ", build)
    runtime = index("FROM", r"^\$\{PYTHON_IMAGE\}$", wheels)
    installed = index("RUN", r"pip install .*/deps/", runtime)
    assert installed < index("COPY", r"--from=build /app ", runtime)


def test_the_drain_ends_within_dockers_default_stop_grace():
    env = " ".join(a for k, a in instructions() if k == "ENV")
    drain = float(re.search(r"WARROOM_SHUTDOWN_DRAIN_SECONDS=(\d+)", env).group(1))
    assert DRAIN_PHASES * drain < DOCKER_STOP_GRACE_S
    assert ("STOPSIGNAL", "SIGTERM") in instructions()


def test_base_images_are_pinned_by_digest():
    arguments = dict(
        a.split("=", 1) for k, a in instructions() if k == "ARG" and "=" in a
    )
    for kind, rest in instructions():
        if kind == "FROM":
            image = rest.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], image)
            assert re.search(r"@sha256:[0-9a-f]{64}$", image), image
