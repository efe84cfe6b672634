"""The authorisation matrix (issue 12): every entry of the registered table by every role, driven
through signed HTTP against the running bot and the Slack stand-in.

The entries are generated from what the bot registers and the identifiers it knows: every
`/incident` subcommand in REGISTRY (sent with its own help example, a mention in it escaped as
Slack escapes it, naming a member of the workspace), and one request for every
action id and view callback id of `handlers.ids` and every event of the manifest. Bolt itself says
which journaled listener takes each request, and that listener's `allow` is the rule under test;
a new subcommand, action or form appears here by itself. A registered listener that none of these
requests reaches (a shortcut, say) fails `test_matrix_every_registered_listener_has_a_payload_builder`
until a builder is added to the tables below, and an identifier that no listener takes fails the
matrix itself.

Roles: UDAVE is a member of the workspace and no responder; UCAROL is a responder; UBOB is a
responder and the approver. For every RESPONDER entry UDAVE is refused ("Only responders may ...")
and nothing changes: no SQLite row (bar the journal row of the request and the handle seen with it)
and no Slack call but the refusal. A responder is refused by no entry of the table (what the
listener then makes of the request is its own business). Approve and reject also want an approver
who did not ask: a responder who is none, and the requester, are refused, and the approver decides.

A form is submitted under a view recorded for the submitter (`view_record`), as if it had been
opened while they were a responder: a view the bot never opened for them is refused before the
table is read (tests/test_views.py), and the table is what this module tests.

One bot and one world (an incident with its data-corruption runbook) serve the whole module.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.app import build_services, create_app
from bot.config import Settings
from bot.models.incidents import Incident
from bot.models.runbooks import StepState
from bot.sandbox import payloads
from bot.sandbox.estate.moto_server import MotoSandbox, seed_estate
from bot.sandbox.signing import FORM, JSON, SentResponse
from bot.sandbox.slack.workspace import SlackWorkspace, serve
from handlers.access import Allow
from handlers.blocks.paging import ReminderButton
from handlers.blocks.runbooks import StepRef
from handlers.commands import discover
from handlers.commands._registry import REGISTRY
from handlers.ids import Action, Callback
from tests.flows import eventually
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET
from tests.runbook_support import click, ref, start_runbook, until_state

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())
MEMBER, RESPONDER, APPROVER, REQUESTER = "UDAVE", "UCAROL", "UBOB", "UALICE"
REFUSED = "Only responders may"
MANUAL_STEP = (
    "check-database-integrity"  # the generic runbook click names a manual step
)
DECIDED_STEP = "stop-write-operations"  # a mutating step, for approve and reject


@dataclass(frozen=True)
class Entry:
    kind: str  # command | action | view | event
    key: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


discover()
EVENTS = sorted(
    {e.split(".")[0] for e in MANIFEST["settings"]["event_subscriptions"]["bot_events"]}
)
ENTRIES = [
    *(Entry("command", name) for name in sorted(REGISTRY)),
    *(Entry("action", action.value) for action in Action),
    *(Entry("view", callback.value) for callback in Callback),
    *(Entry("event", event) for event in EVENTS),
]


@dataclass
class World:
    """Where requests are sent from: the workspace, the incident channel and its runbook."""

    slack: SlackWorkspace
    channel: str
    incident: int
    rb: int
    response_url: Callable[[str], str]
    views: dict[tuple[str, str], str] = field(default_factory=dict)


# -- payload builders: generic per kind, with the few values each family of buttons carries ----


# `@dana` in a help example is typed by a person; Slack sends it escaped, naming a member.
MENTION = re.compile(r"(?<![<\w])@[a-z][\w.-]*")


def _command(world: World, name: str, user: str) -> tuple[str, str]:
    body = payloads.slash_command(
        text=MENTION.sub(f"<@{APPROVER}|bob>", REGISTRY[name].example),
        user_id=user,
        user_name=payloads.handle(user, world.slack),
        channel_id=world.channel,
        channel_name=world.slack.channels[world.channel].name,
        response_url=world.response_url(user),
        workspace=world.slack,
    )
    return body, FORM


def _action(world: World, action: str, user: str) -> tuple[str, str]:
    kind, value, block = "button", "", "actions"
    if action.startswith("runbook-"):
        value = StepRef(rb=world.rb, step=MANUAL_STEP, attempt=1).model_dump_json()
        block = f"step-{world.rb}-{MANUAL_STEP}"
        if action in (
            Action.RUNBOOK_MANUAL_DONE,
            Action.RUNBOOK_MANUAL_SKIP,
            Action.RUNBOOK_ACT,
        ):
            kind, value, block = "static_select", MANUAL_STEP, f"runbook-{world.rb}"
    elif action.startswith(("card-", "announcement-")):
        value, block = str(world.incident), f"card-{world.incident}"
        if action == Action.CARD_STATUS:
            kind, value = "static_select", "identified"
    elif action.startswith("reminder-"):
        value = ReminderButton(incident=world.incident, minutes=30).model_dump_json()
    body = payloads.block_actions(
        user_id=user,
        action_id=action,
        value=value,
        block_id=block,
        action_type=kind,
        channel_id=world.channel,
        response_url=world.response_url(user),
        workspace=world.slack,
    )
    return body, FORM


def _view(world: World, callback: str, user: str) -> tuple[str, str]:
    body = payloads.view_submission(
        user_id=user,
        callback_id=callback,
        values={},
        view_id=world.views.get((user, callback), "V0MATRIX"),
        workspace=world.slack,
    )
    return body, FORM


def _fresh_message(world: World) -> str:
    """A message of Alice's in the incident channel (in the stand-in only), to pin or react to."""
    said = world.slack.user_message(world.channel, REQUESTER, "something to act on")
    return str(said["event"]["ts"])


# Events are what people do in Slack: each is made by the stand-in acting as `user`.
EVENT_BUILDERS: dict[str, Callable[[World, str], dict[str, Any]]] = {
    "app_home_opened": lambda w, user: w.slack.app_home_opened(user),
    "message": lambda w, user: w.slack.user_message(w.channel, user, "matrix check"),
    "pin_added": lambda w, user: w.slack.user_pin(w.channel, _fresh_message(w), user),
    "reaction_added": lambda w, user: w.slack.user_react(
        w.channel, _fresh_message(w), user, "eyes"
    ),
}


def _event(world: World, event: str, user: str) -> tuple[str, str]:
    builder = EVENT_BUILDERS.get(event)
    if builder is None:
        raise LookupError(f"no payload builder for the event {event!r}: add one")
    return payloads.event_callback(builder(world, user)), JSON


BUILDERS: dict[str, Callable[[World, str, str], tuple[str, str]]] = {
    "command": _command,
    "action": _action,
    "view": _view,
    "event": _event,
}


def build(world: World, entry: Entry, user: str) -> tuple[str, str]:
    return BUILDERS[entry.kind](world, entry.key, user)


def _bolt_request(body: str, content_type: str) -> AsyncBoltRequest:
    return AsyncBoltRequest(body=body, headers={"content-type": [content_type]})


async def _listeners_for(
    settings: Settings, world: World
) -> tuple[list[Any], dict[Entry, Any]]:
    """The app's listeners, and the one Bolt gives each entry's request to (first match wins)."""
    app = create_app(settings, build_services(settings))
    listeners = list(app._async_listeners)
    taken: dict[Entry, Any] = {}
    for entry in ENTRIES:
        try:
            request = _bolt_request(*build(world, entry, REQUESTER))
        except LookupError:  # no builder: its listener shows up as unreached
            continue
        for listener in listeners:
            if await listener.async_matches(req=request, resp=BoltResponse(status=200)):
                taken[entry] = listener
                break
    return listeners, taken


def rule_of(entry: Entry, listener: Any) -> Allow | None:
    """The table's rule for an entry: a subcommand's own, else its listener's; None: no listener."""
    if entry.kind == "command":
        return REGISTRY[entry.key].allow
    return None if listener is None else listener.ack_function.__dict__["allow"]


def _offline_world() -> World:
    return World(
        slack=SlackWorkspace(),
        channel="C00000001",
        incident=1,
        rb=1,
        response_url=lambda user: "https://hooks.slack.test/commands/T0/1/matrix",
    )


def _offline_settings(tmp_path: Path) -> Settings:
    """Settings for an app that is only built, never started: no request leaves it."""
    return Settings(
        slack_bot_token=SecretStr(FAKE_BOT_TOKEN),
        slack_signing_secret=SecretStr(FAKE_SIGNING_SECRET),
        slack_api_url="http://127.0.0.1:9/api/",
        database_path=tmp_path / "unopened.db",
    )


# What the table lets anyone use: reads, and what Slack itself reports. Loosening a rule is a
# deliberate edit here as well as in the registration.
OPEN_TO_ANYONE = {
    "command:help",
    "command:list",
    "command:oncall",
    "command:stats",
    "command:timeline",
    "command:catchup",
    "command:subscribe",  # oneself: others only by the commander (the service)
    "command:unsubscribe",
    "action:card-timeline",
    "action:announcement-subscribe",  # oneself, to a public incident
    "action:card-war-room",
    *(f"event:{event}" for event in EVENTS),
}


async def test_matrix_only_reads_and_what_slack_reports_are_open_to_anyone(tmp_path):
    _, taken = await _listeners_for(_offline_settings(tmp_path), _offline_world())
    rules = {str(e): rule_of(e, taken.get(e)) for e in ENTRIES}
    assert {e for e, rule in rules.items() if rule is Allow.ANYONE} == OPEN_TO_ANYONE


async def test_matrix_every_registered_listener_has_a_payload_builder(tmp_path):
    listeners, taken = await _listeners_for(
        _offline_settings(tmp_path), _offline_world()
    )
    reached = {id(listener) for listener in taken.values()}
    unreached = [
        getattr(lst.ack_function, "__name__", repr(lst.ack_function))
        for lst in listeners
        if id(lst) not in reached
    ]
    assert len(listeners) >= 20
    assert unreached == [], (
        "registered listeners the matrix cannot drive: add a payload builder for them"
    )
    assert all(entry in taken for entry in ENTRIES if entry.kind != "command"), [
        str(e) for e in ENTRIES if e not in taken
    ]


# -- the world: one bot for the module --------------------------------------------------------


@dataclass
class Matrix:
    bot: RunningBot
    world: World
    incident: Incident
    rules: dict[Entry, Allow | None]

    @property
    def slack(self) -> SlackWorkspace:
        return self.world.slack

    async def prepare(self, entry: Entry, user: str) -> None:
        """Record a form as opened for `user` (see the module docstring); other entries need nothing."""
        if entry.kind != "view" or (user, entry.key) in self.world.views:
            return
        view_id = f"V0MX{entry.key[:12]}{user}"
        await self.bot.services.storage.view_record(
            view_id=view_id,
            user_id=user,
            callback_id=entry.key,
            source=f"matrix:{view_id}",
            now=self.bot.services.clock(),
        )
        self.world.views[(user, entry.key)] = view_id

    async def send(self, entry: Entry, user: str) -> SentResponse:
        await self.prepare(entry, user)
        body, content_type = build(self.world, entry, user)
        response = await self.bot.sender.send(body, content_type=content_type)
        assert response.status == 200, response.text
        return response

    async def settled(self) -> None:
        """Wait until no request is in flight and no Slack call is queued."""
        storage = self.bot.services.storage

        async def idle() -> bool:
            pending = (await storage.outbox_counts()).get("pending")
            return not pending and not await storage.inbox_pending()

        await eventually(idle)

    def refusals(self, user: str, since: int, response: SentResponse) -> list[str]:
        """The table's refusals `user` was shown: on a form, privately in a channel, or by DM."""
        found = [response.text] if REFUSED in response.text else []
        for call in self.slack.calls[since:]:
            to = call.args.get(
                "user" if call.method == "chat.postEphemeral" else "channel"
            )
            text = str(call.args.get("text"))
            if call.method.startswith("chat.post") and to == user and REFUSED in text:
                found.append(text)
        return found

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row the bot keeps, bar the journal of requests and the handles seen with them."""
        skip = {"inbox", "people", "leases", "_sqlite_migrations"}
        with closing(sqlite3.connect(self.bot.settings.database_path)) as db:
            tables = [
                r[0]
                for r in db.execute(
                    "select name from sqlite_master where type = 'table'"
                    " and name not like 'sqlite_%'"
                )
            ]
            return {
                t: db.execute(f'select * from "{t}" order by 1').fetchall()
                for t in tables
                if t not in skip
            }


_AWS_VARIABLES = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_DROPPED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix(
    tmp_path_factory: pytest.TempPathFactory, moto_server: MotoSandbox
) -> AsyncIterator[Matrix]:
    """The bot (responders Alice, Bob and Carol; approver Bob) with an incident and its runbook,
    AWS on moto with the seeded estate."""
    with pytest.MonkeyPatch.context() as env:
        for name in _DROPPED:
            env.delenv(name, raising=False)
        for name, value in _AWS_VARIABLES.items():
            env.setenv(name, value)
        env.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
        moto_server.reset()
        seed_estate(endpoint_url=moto_server.endpoint_url)
        slack = SlackWorkspace()
        async with serve(slack) as server:
            settings = make_settings(
                tmp_path_factory.mktemp("matrix") / "warroom.db",
                server,
                responders=[REQUESTER, APPROVER, RESPONDER],
                approvers=[APPROVER],
                commands_per_minute=0,
                shutdown_drain_seconds=0.5,
            )
            async with run_bot(settings, server) as bot:
                incident, rb = await start_runbook(bot, slack, "data-corruption")
                assert incident.channel_id
                hooks = iter(range(1, 10**6))
                world = World(
                    slack=slack,
                    channel=incident.channel_id,
                    incident=incident.number,
                    rb=rb,
                    response_url=lambda user: server.response_url(
                        f"matrix{next(hooks)}",
                        channel_id=incident.channel_id,
                        user_id=user,
                    ),
                )
                _, taken = await _listeners_for(settings, world)
                rules = {e: rule_of(e, taken.get(e)) for e in ENTRIES}
                matrix = Matrix(bot, world, incident, rules)
                await matrix.settled()
                yield matrix


# -- the matrix ----------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
async def test_matrix_a_member_who_is_no_responder_is_refused_and_changes_nothing(
    matrix: Matrix, entry: Entry
):
    rule = matrix.rules[entry]
    if rule is Allow.ANYONE:
        since = len(matrix.slack.calls)
        response = await matrix.send(entry, MEMBER)
        await matrix.settled()
        assert matrix.refusals(MEMBER, since, response) == []
        return
    assert rule is Allow.RESPONDER, f"{entry} reaches no listener"
    await matrix.prepare(entry, MEMBER)
    await matrix.settled()
    rows, since = matrix.rows(), len(matrix.slack.calls)
    posts = len(matrix.slack.response_posts)
    response = await matrix.send(entry, MEMBER)
    await matrix.settled()

    assert len(matrix.refusals(MEMBER, since, response)) == 1, entry
    assert matrix.rows() == rows
    other_calls = [
        (c.method, c.args.get("channel"))
        for c in matrix.slack.calls[since:]
        if REFUSED not in str(c.args.get("text"))
    ]
    assert other_calls == []
    assert len(matrix.slack.response_posts) == posts


@pytest.mark.parametrize(
    "decision", [Action.RUNBOOK_REJECT, Action.RUNBOOK_APPROVE], ids=str
)
async def test_matrix_only_an_approver_who_did_not_ask_decides(
    matrix: Matrix, decision: Action
):
    bot, incident, rb = matrix.bot, matrix.incident, matrix.world.rb
    await click(bot, incident, rb, DECIDED_STEP, Action.RUNBOOK_REQUEST, REQUESTER)
    await until_state(bot, rb, DECIDED_STEP, StepState.AWAITING_APPROVAL)
    asked = await ref(bot, rb, DECIDED_STEP)
    await matrix.settled()
    rows = matrix.rows()
    for user, refusal in (
        (MEMBER, REFUSED),
        (RESPONDER, "Only approvers may approve or reject AWS steps."),
        (REQUESTER, "You requested this step, so you cannot approve it"),
    ):
        since = len(matrix.slack.calls)
        await click(bot, incident, rb, DECIDED_STEP, decision, user, asked)
        await matrix.settled()
        told = [
            c.args.get("text")
            for c in matrix.slack.calls[since:]
            if c.args.get("user") == user and refusal in str(c.args.get("text"))
        ]
        assert told, (user, [c.args for c in matrix.slack.calls[since:]])
    assert matrix.rows() == rows

    await click(bot, incident, rb, DECIDED_STEP, decision, APPROVER, asked)

    async def decided() -> list[tuple[str, str]]:
        return [
            (a.user, a.decision)
            for a in await bot.services.storage.approvals(asked.run)
        ]

    expected = "approve" if decision is Action.RUNBOOK_APPROVE else "reject"
    assert await eventually(decided) == [(APPROVER, expected)]
    finished = {
        StepState.CANCELLED,
        StepState.SUCCEEDED,
        StepState.FAILED,
        StepState.OUTCOME_UNKNOWN,
    }

    async def over() -> bool:
        """The decision took effect: the run ended, or it waits for a second approver."""
        run = await bot.services.storage.step_run(asked.run)
        assert run is not None
        return run.state in finished or (
            run.state is StepState.AWAITING_APPROVAL and run.required_approvals > 1
        )

    await eventually(over)
    await matrix.settled()


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
async def test_matrix_a_responder_is_refused_by_no_entry_of_the_table(
    matrix: Matrix, entry: Entry
):
    assert matrix.rules[entry] is not None, f"{entry} reaches no listener"
    since = len(matrix.slack.calls)
    response = await matrix.send(entry, RESPONDER)
    await matrix.settled()
    assert matrix.refusals(RESPONDER, since, response) == []
