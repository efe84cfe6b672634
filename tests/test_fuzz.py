"""Hypothesis fuzz of every parser of user input, through the real bot where practical.

Slash-command text and declare-modal values go in as signed requests; scenario inputs go through
`validate_input` for every input type and through the runbook inputs modal. Whatever is typed, the
bot answers 200, no listener fails with an unexpected exception (its inbox row would be `failed`),
no traceback reaches Slack, nothing is stored when a form is refused and nothing reaches AWS.
Forms are submitted as the bot opened them, as someone else's, and under forged view ids: the last
two are refused whatever they hold (issue 12).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from bot.errors import UsageError
from bot.models.incidents import Incident
from bot.plan import COMPONENT_IDS
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from bot.scenarios.schema import Input, InputType, validate_input
from handlers import views
from handlers.blocks.runbooks import StepRef
from handlers.commands import discover
from handlers.commands._registry import REGISTRY
from handlers.ids import Action, Callback, Field
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import declare, open_view
from tests.plugins.bot import RunningBot, make_settings
from tests.runbook_support import click, ref, start_runbook

NASTY_SAMPLES = [
    "<!channel>",
    "<!here> <!everyone> &<>",
    "<@UBOB> <#C00000001|incident-response> &amp; &lt;",
    "x" * 3500,
    "\x00\x07\x1b[31m\r\n\t\u202e",
    "$(rm -rf /); `id` | cat && echo $HOME > /tmp/x",
    "'; drop table incidents; --",
    "{{ inputs.snapshot_id }} ${jndi:ldap://x} %s %n",
    "ÆØÅ 🚨 \u0000 \uff46\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \U0001f4a9"
    * 50,
    "SEV1",
    "  ",
]
discover()
SUBCOMMANDS = sorted(REGISTRY)
NASTY = st.one_of(st.text(max_size=4000), st.sampled_from(NASTY_SAMPLES))
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def bot_settings(tmp_path, slack_server):
    """The fuzzer sends every example as one person: the per-person command limit is off."""
    return make_settings(tmp_path / "warroom.db", slack_server, commands_per_minute=0)


def no_traceback_reached_slack(slack: SlackWorkspace) -> None:
    recorded = json.dumps([c.args for c in slack.calls], default=str)
    recorded += json.dumps(slack.response_posts, default=str)
    assert "Traceback" not in recorded
    assert 'File "' not in recorded


async def assert_settled_without_failures(bot: RunningBot) -> None:
    storage = bot.services.storage
    for _ in range(500):
        if not await storage.inbox_pending():
            break
        await asyncio.sleep(0.02)
    failed = await storage._call(  # a read-only query of the journal
        lambda: list(
            storage.db.query("select kind, error from inbox where status = 'failed'")
        )
    )
    assert failed == []


# Whose form is submitted: one the bot opened for the sender (half the time, so the values are
# fuzzed as often as the view ids), one it opened for someone else, or a view id it never opened.
WHOSE = st.sampled_from(["opened", "opened", "someone else's", "forged"])
FORGED_IDS = st.sampled_from(["VFUZZ0001", "", "V00000001"]) | st.text(max_size=40)


def refused(response: Any, slack: SlackWorkspace, told_before: int) -> bool:
    """Whether a form was refused as one the bot did not open for its sender: on the form, or in a
    private message when the submission named no field to show it on."""
    if response.text:
        return set(response.json()["errors"].values()) == {views.REFUSAL}
    return told(slack) > told_before


def told(slack: SlackWorkspace) -> int:
    return sum(views.REFUSAL in str(c.args.get("text")) for c in slack.calls)


async def form_to_submit(
    bot: RunningBot, slack: SlackWorkspace, whose: str, forged: str, opens: Any
) -> str:
    """The view id UALICE submits: opened for her by `opens(user)`, for UBOB, or forged."""
    if whose == "forged":
        assume(forged not in slack.views)
        return forged
    return str(await opens("UALICE" if whose == "opened" else "UBOB"))


@pytest.fixture
async def incident(bot: RunningBot, slack_workspace: SlackWorkspace) -> Incident:
    return await declare(bot, slack_workspace)


@pytest.fixture
def aws_calls(
    aws_proxy: AwsFaultProxy, monkeypatch: pytest.MonkeyPatch
) -> AwsFaultProxy:
    """Every boto3 client of the bot talks through the proxy, whose log counts AWS calls."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_proxy.endpoint_url)
    aws_proxy.calls.clear()
    return aws_proxy


@FUZZ
@given(
    name=st.sampled_from([*SUBCOMMANDS, "", "nosuch", "DECLARE", "note\n"]),
    text=NASTY,
    in_incident=st.booleans(),
)
async def test_slash_command_text_never_escapes_as_a_traceback(
    aws_calls: AwsFaultProxy,
    bot: RunningBot,
    slack_workspace: SlackWorkspace,
    incident: Incident,
    name: str,
    text: str,
    in_incident: bool,
) -> None:
    channel = incident.channel_id if in_incident else "C00000001"
    assert channel
    response = await bot.sender.command(
        f"{name} {text}", user_id="UALICE", channel_id=channel
    )
    assert response.status == 200, response.text
    assert "Traceback" not in response.text
    await assert_settled_without_failures(bot)
    no_traceback_reached_slack(slack_workspace)
    assert [c.operation for c in aws_calls.calls] == []


SEVERITIES = (
    st.sampled_from(["SEV1", "SEV2", "SEV3", "SEV4", "SEV9", "sev1", ""]) | NASTY
)
COMPONENTS = st.lists(st.sampled_from(sorted(COMPONENT_IDS)) | NASTY, max_size=6)
SCENARIOS = (
    st.sampled_from(["database-failure", "no-such-scenario", "../../etc/passwd"])
    | NASTY
)
# Beyond what a datetimepicker can hold (years 1-9999) too: those must be field errors as well.
EPOCHS = st.integers(min_value=-(10**14), max_value=10**14)


@FUZZ
@given(
    title=st.none() | NASTY,
    severity=st.none() | SEVERITIES,
    components=st.none() | COMPONENTS,
    scenario=st.none() | SCENARIOS,
    impact=st.none() | EPOCHS,
    description=st.none() | NASTY,
    metadata=st.sampled_from(["", '{"drill": true}', "{", "[]", '"x"', "null"]) | NASTY,
    whose=WHOSE,
    forged=FORGED_IDS,
)
async def test_declare_modal_values_give_field_errors_or_an_incident_never_a_500(
    bot: RunningBot,
    slack_workspace: SlackWorkspace,
    title: str | None,
    severity: str | None,
    components: list[str] | None,
    scenario: str | None,
    impact: int | None,
    description: str | None,
    metadata: str,
    whose: str,
    forged: str,
) -> None:
    values: dict[str, dict[str, dict[str, Any]]] = {}
    if title is not None:
        values[Field.TITLE] = {"value": payloads.plain_text_value(title)}
    if severity is not None:
        values[Field.SEVERITY] = {"value": payloads.static_select_value(severity)}
    if components is not None:
        values[Field.COMPONENTS] = {
            "value": payloads.multi_static_select_value(components)
        }
    if scenario is not None:
        values[Field.SCENARIO] = {"value": payloads.static_select_value(scenario)}
    if impact is not None:
        values[Field.IMPACT_STARTED] = {"value": payloads.datetimepicker_value(impact)}
    if description is not None:
        values[Field.DESCRIPTION] = {"value": payloads.plain_text_value(description)}
    view_id = await form_to_submit(
        bot,
        slack_workspace,
        whose,
        forged,
        lambda user: open_view(bot, slack_workspace, "declare", user),
    )
    before, told_before = (
        len(await bot.services.storage.incidents()),
        told(slack_workspace),
    )
    response = await bot.sender.submit_view(
        callback_id=Callback.DECLARE,
        values=values,
        view_id=view_id,
        private_metadata=metadata,
    )
    assert response.status == 200, response.text
    assert "Traceback" not in response.text
    if whose != "opened":
        event("refused")
        await assert_settled_without_failures(bot)
        assert refused(response, slack_workspace, told_before), response.text
        assert len(await bot.services.storage.incidents()) == before
        no_traceback_reached_slack(slack_workspace)
        return
    event("field errors" if response.text else "declared")
    if response.text:
        answer = response.json()
        assert answer["response_action"] == "errors", answer
        assert answer["errors"], answer
        assert set(answer["errors"]) <= {f.value for f in Field}
    await assert_settled_without_failures(bot)
    stored = len(await bot.services.storage.incidents())
    assert stored == before + (0 if response.text else 1)
    no_traceback_reached_slack(slack_workspace)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(InputType)),
    raw=NASTY | st.from_regex(r"[a-z0-9:./+-]{0,40}", fullmatch=True),
    bounds=st.tuples(
        st.none() | st.integers(-(10**6), 10**6),
        st.none() | st.integers(-(10**6), 10**6),
    ),
    pattern=st.sampled_from([None, r"^[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)$", r"^.*$"]),
)
def test_scenario_inputs_of_every_type_raise_only_usage_errors(
    kind: InputType,
    raw: str,
    bounds: tuple[int | None, int | None],
    pattern: str | None,
) -> None:
    spec = Input(
        name="value",
        label="Value",
        type=kind,
        pattern=pattern,
        minimum=bounds[0],
        maximum=bounds[1],
    )
    message = None
    try:
        value = validate_input(spec, raw)
    except UsageError as exc:  # the only exception allowed out
        message = exc.message
    if message is None:
        assert isinstance(value, str | int)
    else:
        assert message
        assert "Traceback" not in message


async def test_declare_modal_empty_severity_is_a_field_error(
    bot: RunningBot, slack_workspace: SlackWorkspace
) -> None:
    values = {
        Field.TITLE: {"value": payloads.plain_text_value("Disk full")},
        Field.SEVERITY: {"value": payloads.static_select_value("")},
    }
    response = await bot.sender.submit_view(
        callback_id=Callback.DECLARE,
        values=values,
        view_id=await open_view(bot, slack_workspace, "declare"),
    )
    assert response.status == 200
    assert response.json()["errors"][Field.SEVERITY]


async def test_declare_modal_impact_time_out_of_range_is_a_field_error(
    bot: RunningBot, slack_workspace: SlackWorkspace
) -> None:
    values = {
        Field.TITLE: {"value": payloads.plain_text_value("Disk full")},
        Field.SEVERITY: {"value": payloads.static_select_value("SEV2")},
        Field.IMPACT_STARTED: {"value": payloads.datetimepicker_value(10**13)},
    }
    response = await bot.sender.submit_view(
        callback_id=Callback.DECLARE,
        values=values,
        view_id=await open_view(bot, slack_workspace, "declare"),
    )
    assert response.status == 200
    await assert_settled_without_failures(bot)
    assert response.json()["errors"][Field.IMPACT_STARTED]


@pytest.fixture
async def runbook(
    rbot: RunningBot, slack_workspace: SlackWorkspace
) -> tuple[Incident, int]:
    return await start_runbook(rbot, slack_workspace, "database-failure")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fuzzed=st.sampled_from(["", "snapshot_id", "restored_instance_id", "region"]),
    text=NASTY | st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,30}", fullmatch=True),
    then=st.sampled_from(["request", "run", "", "execute"]),
    step=st.sampled_from(
        ["restore-from-snapshot", "restore-from-snapshot", "no-such-step", ""]
    ),
    metadata=st.none() | NASTY,
    whose=WHOSE,
    forged=FORGED_IDS,
)
async def test_runbook_input_values_give_field_errors_and_never_reach_aws(
    aws_via_proxy: AwsFaultProxy,
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    runbook: tuple[Incident, int],
    fuzzed: str,
    text: str,
    then: str,
    step: str,
    metadata: str | None,
    whose: str,
    forged: str,
) -> None:
    incident, rb = runbook

    async def inputs_form(user: str) -> str:
        """Click the step's Inputs… button as `user`; the id of the modal it opened."""
        opened = len(slack_workspace.calls_to("views.open"))
        await click(
            rbot, incident, rb, "restore-from-snapshot", Action.RUNBOOK_INPUTS, user
        )
        call = await slack_workspace.wait_for(
            "views.open", lambda c: len(slack_workspace.calls_to("views.open")) > opened
        )
        assert call.response is not None
        assert call.response["ok"], call.response
        return str(call.response["view"]["id"])

    view_id = await form_to_submit(rbot, slack_workspace, whose, forged, inputs_form)
    if metadata is None:
        attempt = (await ref(rbot, rb, "restore-from-snapshot")).attempt
        metadata = StepRef(
            rb=rb, step=step, attempt=attempt, then=then
        ).model_dump_json()
    raw = {
        "snapshot_id": "bodyscript-production-snapshot-20240924",
        "region": "us-east-1",
        "restored_instance_id": "bodyscript-production-restored",
    } | ({fuzzed: text} if fuzzed else {})
    values = {name: {"value": payloads.plain_text_value(v)} for name, v in raw.items()}
    before, told_before = len(aws_via_proxy.calls), told(slack_workspace)
    stored = await rbot.services.storage.inputs(rb)
    response = await rbot.sender.submit_view(
        callback_id=Callback.RUNBOOK_INPUTS,
        values=values,
        view_id=view_id,
        private_metadata=metadata,
    )
    assert response.status == 200, response.text
    if whose != "opened":
        event("refused")
        await assert_settled_without_failures(rbot)
        assert refused(response, slack_workspace, told_before), response.text
        assert await rbot.services.storage.inputs(rb) == stored
        assert aws_via_proxy.calls[before:] == []
        return
    event("field errors" if response.text else "accepted")
    if response.text:
        assert response.json()["response_action"] == "errors", response.text
    await assert_settled_without_failures(rbot)
    no_traceback_reached_slack(slack_workspace)
    # Refused input reaches nothing; an accepted request is only planned, never run: at most its
    # guards read the current state (a Describe call).
    sent = [c.operation for c in aws_via_proxy.calls[before:]]
    if response.text:
        assert sent == []
    assert all(op.startswith("Describe") for op in sent), sent
