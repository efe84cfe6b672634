"""Tests of the local Slack workspace itself, driven through a real slack_sdk `AsyncWebClient`.

Each test asserts on the stand-in's answers and on its state, so the end-to-end tests of the bot
can trust that it answers like Slack (shapes, error strings, limits, rate limiting, signing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable
from urllib.parse import parse_qs

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import (
    BackoffRetryIntervalCalculator,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.sandbox import payloads
from bot.sandbox.signing import SlackSender, sign
from bot.sandbox.slack.limits import RateLimits
from bot.sandbox.slack.state import run_tag
from bot.sandbox.slack.workspace import (
    BOT_USER_ID,
    INCIDENT_RESPONSE_CHANNEL_ID,
    RunningWorkspace,
    SlackWorkspace,
)
from tests.plugins.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(
    title: str = "Declare",
    blocks: list[dict[str, object]] | None = None,
    **extra: object,
) -> dict[str, object]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": blocks or [section("hi")],
        **extra,
    }


async def error_of(call: Awaitable[object]) -> str:
    """Await a Web API call that must fail; return Slack's error string."""
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


async def test_auth_test_returns_bot_identity(slack_client: AsyncWebClient) -> None:
    identity = await slack_client.auth_test()
    assert (identity["team_id"], identity["user_id"], identity["bot_id"]) == (
        "T0WARROOM",
        "UWARROOM",
        "BWARROOM",
    )


@pytest.mark.parametrize(
    ("headers", "error"),
    [({}, "not_authed"), ({"Authorization": "Bearer not-a-token"}, "invalid_auth")],
)
async def test_api_token_check__missing_or_bad(
    slack_server: RunningWorkspace, headers: dict[str, str], error: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{slack_server.api_url}auth.test", headers=headers) as response,
    ):
        assert response.status == 200
        assert await response.json() == {"ok": False, "error": error}


async def test_unknown_method(slack_client: AsyncWebClient) -> None:
    assert (
        await error_of(slack_client.api_call("chat.doesNotExist")) == "unknown_method"
    )


async def test_post_update_ephemeral_and_thread(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    posted = await slack_client.chat_postMessage(
        channel="#incident-response",
        text="SEV1 declared",
        blocks=[section("*SEV1*")],
        team_id="T0WARROOM",
    )
    assert posted["channel"] == INCIDENT_RESPONSE_CHANNEL_ID
    assert posted["message"]["bot_id"] == "BWARROOM"
    reply = await slack_client.chat_postMessage(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, text="update", thread_ts=posted["ts"]
    )
    assert float(reply["ts"]) > float(posted["ts"])

    updated = await slack_client.chat_update(
        channel=posted["channel"], ts=posted["ts"], text="SEV1 mitigated"
    )
    assert updated["message"]["edited"]["user"] == BOT_USER_ID
    ephemeral = await slack_client.chat_postEphemeral(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, user="UBOB", text="only you"
    )

    messages = slack_workspace.messages("incident-response")
    assert [(m.text, m.thread_ts) for m in messages] == [
        ("SEV1 mitigated", None),
        ("update", posted["ts"]),
    ]
    assert [(e.user, e.text, e.ts) for e in slack_workspace.ephemerals_for("UBOB")] == [
        ("UBOB", "only you", ephemeral["message_ts"])
    ]
    replies = await slack_client.conversations_replies(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, ts=posted["ts"]
    )
    assert [m["text"] for m in replies["messages"]] == ["SEV1 mitigated", "update"]
    assert replies["messages"][0]["reply_count"] == 1
    history = await slack_client.conversations_history(
        channel=INCIDENT_RESPONSE_CHANNEL_ID
    )
    assert [m["text"] for m in history["messages"]] == ["SEV1 mitigated"]
    link = await slack_client.chat_getPermalink(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, message_ts=posted["ts"]
    )
    assert (
        link["permalink"]
        == f"https://sandbox.slack.test/archives/{INCIDENT_RESPONSE_CHANNEL_ID}/p{posted['ts'].replace('.', '')}"
    )


async def test_post_errors__channel_missing_private_archived(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    assert (
        await error_of(slack_client.chat_postMessage(channel="C404", text="x"))
        == "channel_not_found"
    )
    hidden = slack_workspace.add_channel("secret", is_private=True, creator="UALICE")
    assert (
        await error_of(slack_client.chat_postMessage(channel=hidden.id, text="x"))
        == "not_in_channel"
    )
    archived = slack_workspace.add_channel("old")
    archived.archived = True
    assert (
        await error_of(slack_client.chat_postMessage(channel=archived.id, text="x"))
        == "is_archived"
    )
    assert (
        await error_of(
            slack_client.chat_update(
                channel=INCIDENT_RESPONSE_CHANNEL_ID, ts="1.000001", text="x"
            )
        )
        == "message_not_found"
    )
    assert slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID) == []


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("Inc-DB", "invalid_name_specials"),
        ("inc db", "invalid_name_specials"),
        ("a" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
        ("incident-response", "name_taken"),
    ],
)
async def test_conversations_create__invalid_names(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace, name: str, error: str
) -> None:
    assert await error_of(slack_client.conversations_create(name=name)) == error
    assert len(slack_workspace.channels) == 1


async def test_conversations_create_and_invite_semantics(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    created = await slack_client.conversations_create(
        name="inc-42_db-down", is_private=True
    )
    channel_id = created["channel"]["id"]
    assert created["channel"]["is_private"] is True
    assert slack_workspace.channels[channel_id].members == [BOT_USER_ID]

    await slack_client.conversations_invite(channel=channel_id, users=["UALICE"])
    # one new: ok
    partly = await slack_client.conversations_invite(
        channel=channel_id, users="UALICE,UBOB"
    )
    assert partly["channel"]["num_members"] == 3
    assert (
        await error_of(
            slack_client.conversations_invite(
                channel=channel_id, users=["UALICE", "UBOB"]
            )
        )
        == "already_in_channel"
    )
    assert (
        await error_of(
            slack_client.conversations_invite(channel=channel_id, users=["UNOBODY"])
        )
        == "user_not_found"
    )
    assert (
        await error_of(
            slack_client.conversations_invite(channel=channel_id, users=[BOT_USER_ID])
        )
        == "cant_invite_self"
    )
    assert slack_workspace.channels[channel_id].members == [
        BOT_USER_ID,
        "UALICE",
        "UBOB",
    ]

    await slack_client.conversations_setTopic(
        channel=channel_id, topic="SEV1 | IC: alice"
    )
    info = await slack_client.conversations_info(channel=channel_id)
    assert info["channel"]["topic"]["value"] == "SEV1 | IC: alice"
    await slack_client.conversations_archive(channel=channel_id)
    assert (
        await error_of(slack_client.chat_postMessage(channel=channel_id, text="x"))
        == "is_archived"
    )


async def test_pins_and_reactions_errors(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    posted = await slack_client.chat_postMessage(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, text="pin me"
    )
    await slack_client.pins_add(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, timestamp=posted["ts"]
    )
    assert (
        await error_of(
            slack_client.pins_add(
                channel=INCIDENT_RESPONSE_CHANNEL_ID, timestamp=posted["ts"]
            )
        )
        == "already_pinned"
    )
    pins = await slack_client.pins_list(channel=INCIDENT_RESPONSE_CHANNEL_ID)
    assert [item["message"]["text"] for item in pins["items"]] == ["pin me"]
    await slack_client.pins_remove(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, timestamp=posted["ts"]
    )
    assert (
        await error_of(
            slack_client.pins_remove(
                channel=INCIDENT_RESPONSE_CHANNEL_ID, timestamp=posted["ts"]
            )
        )
        == "not_pinned"
    )

    await slack_client.reactions_add(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, timestamp=posted["ts"], name="eyes"
    )
    assert (
        await error_of(
            slack_client.reactions_add(
                channel=INCIDENT_RESPONSE_CHANNEL_ID,
                timestamp=posted["ts"],
                name="eyes",
            )
        )
        == "already_reacted"
    )
    assert slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)[0].reactions == [
        {"name": "eyes", "users": [BOT_USER_ID], "count": 1}
    ]


async def test_users_lookup_and_usergroups(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    found = await slack_client.users_lookupByEmail(email="alice@example.com")
    assert (found["user"]["id"], found["user"]["real_name"]) == (
        "UALICE",
        "Alice Brown",
    )
    assert (
        await error_of(slack_client.users_lookupByEmail(email="nobody@example.com"))
        == "users_not_found"
    )
    assert await error_of(slack_client.users_info(user="UNOBODY")) == "user_not_found"
    slack_workspace.add_usergroup("S0ONCALL", "oncall", ["UBOB", "UCAROL"])
    group = await slack_client.usergroups_users_list(usergroup="S0ONCALL")
    assert group["users"] == ["UBOB", "UCAROL"]


async def test_views_open_update_push_publish(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    trigger = payloads.new_trigger_id(slack_workspace, "UALICE")
    opened = await slack_client.views_open(
        trigger_id=trigger,
        view=modal(external_id="declare-1", private_metadata='{"a":1}'),
    )
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["private_metadata"] == '{"a":1}'

    updated = await slack_client.views_update(
        external_id="declare-1", hash=view["hash"], view=modal("Declared")
    )
    assert updated["view"]["title"]["text"] == "Declared"
    assert (
        await error_of(
            slack_client.views_update(
                view_id=view["id"], hash=view["hash"], view=modal()
            )
        )
        == "hash_conflict"
    )
    assert (
        await error_of(slack_client.views_update(view_id="V404", view=modal()))
        == "not_found"
    )
    pushed = await slack_client.views_push(
        trigger_id=payloads.new_trigger_id(slack_workspace, "UALICE"),
        view=modal("Step"),
    )
    assert pushed["view"]["previous_view_id"] == view["id"]

    home = {"type": "home", "blocks": [section("Open incidents: 0")]}
    await slack_client.views_publish(user_id="UBOB", view=home)
    assert slack_workspace.home_views["UBOB"].payload["blocks"] == home["blocks"]


async def test_views_open__trigger_ids_checked(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    now = [100.0]
    slack_workspace.clock = lambda: now[0]
    assert (
        await error_of(slack_client.views_open(trigger_id="1.2.unknown", view=modal()))
        == "invalid_trigger_id"
    )
    trigger = payloads.new_trigger_id(slack_workspace, "UALICE")
    now[0] += 3.5
    assert (
        await error_of(slack_client.views_open(trigger_id=trigger, view=modal()))
        == "expired_trigger_id"
    )
    assert slack_workspace.views == {}


@pytest.mark.parametrize(
    ("view", "problem"),
    [
        (modal("A title longer than 24 chars"), "/view/title/text"),
        (modal(blocks=[section(str(i)) for i in range(101)]), "/view/blocks"),
        (modal(private_metadata="x" * 3001), "/view/private_metadata"),
    ],
)
async def test_views_open__limits(
    slack_client: AsyncWebClient,
    slack_workspace: SlackWorkspace,
    view: dict[str, object],
    problem: str,
) -> None:
    with pytest.raises(SlackApiError) as caught:
        await slack_client.views_open(
            trigger_id=payloads.new_trigger_id(slack_workspace), view=view
        )
    assert caught.value.response["error"] == "invalid_arguments"
    assert problem in caught.value.response["response_metadata"]["messages"][0]


def _button(value: str) -> dict[str, object]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "run",
                "text": {"type": "plain_text", "text": "Run"},
                "value": value,
            }
        ],
    }


@pytest.mark.parametrize(
    ("text", "blocks", "error"),
    [
        ("x", [section(str(i)) for i in range(51)], "invalid_blocks"),
        ("x", [section("a" * 3001)], "invalid_blocks"),
        (
            "x",
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "invalid_blocks",
        ),
        ("x", [_button("v" * 2001)], "invalid_blocks"),
        ("x", [section("")], "invalid_blocks"),
        ("x" * 40_001, None, "msg_too_long"),
    ],
)
async def test_post_message__block_kit_limits(
    slack_client: AsyncWebClient,
    slack_workspace: SlackWorkspace,
    text: str,
    blocks: list[dict[str, object]] | None,
    error: str,
) -> None:
    assert (
        await error_of(
            slack_client.chat_postMessage(
                channel=INCIDENT_RESPONSE_CHANNEL_ID, text=text, blocks=blocks
            )
        )
        == error
    )
    assert slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID) == []


async def test_post_message__limits_at_the_edge_pass(
    slack_client: AsyncWebClient,
) -> None:
    blocks = [
        section("a" * 3000),
        _button("v" * 2000),
        *[section(str(i)) for i in range(48)],
    ]
    posted = await slack_client.chat_postMessage(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, text="x" * 40_000, blocks=blocks
    )
    assert len(posted["message"]["blocks"]) == 50


async def test_files_upload_v2_round_trip(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    result = await slack_client.files_upload_v2(
        channel=INCIDENT_RESPONSE_CHANNEL_ID,
        content="# Post-mortem\n",
        filename="postmortem.md",
        title="Post-mortem",
        initial_comment="Draft attached",
    )
    file = slack_workspace.files[result["file"]["id"]]
    assert (file.content, file.title, file.channels) == (
        b"# Post-mortem\n",
        "Post-mortem",
        [INCIDENT_RESPONSE_CHANNEL_ID],
    )
    shared = slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)[-1]
    assert (shared.text, shared.files[0]["name"]) == ("Draft attached", "postmortem.md")
    assert [c.method for c in slack_workspace.calls] == [
        "files.getUploadURLExternal",
        "file_upload",
        "files.completeUploadExternal",
    ]


async def test_fault_ratelimited__retry_after_honoured(
    slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
) -> None:
    slack_workspace.fail("chat.postMessage", times=1, retry_after=1)
    client = AsyncWebClient(
        token=FAKE_BOT_TOKEN,
        base_url=slack_server.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    await client.chat_postMessage(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, text="after the limit"
    )
    first, second = slack_workspace.calls_to("chat.postMessage")
    assert (first.status, first.error, second.status) == (429, "ratelimited", 200)
    assert second.at - first.at >= 1.0
    assert [m.text for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)] == [
        "after the limit"
    ]


async def test_fault_ratelimited__header_seen_without_retry(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    slack_workspace.fail("conversations.create", retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        await slack_client.conversations_create(name="inc-1")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"


async def test_fault_server_error_then_recovers(
    slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
) -> None:
    slack_workspace.fail("chat.postMessage", status=503, times=2)
    plain = AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=slack_server.api_url)
    with pytest.raises(SlackApiError) as caught:
        await plain.chat_postMessage(channel=INCIDENT_RESPONSE_CHANNEL_ID, text="x")
    assert caught.value.response.status_code == 503
    retrying = AsyncWebClient(
        token=FAKE_BOT_TOKEN,
        base_url=slack_server.api_url,
        retry_handlers=[
            AsyncServerErrorRetryHandler(
                max_retry_count=2,
                interval_calculator=BackoffRetryIntervalCalculator(backoff_factor=0.01),
            )
        ],
    )
    await retrying.chat_postMessage(channel=INCIDENT_RESPONSE_CHANNEL_ID, text="x")
    assert [c.status for c in slack_workspace.calls_to("chat.postMessage")] == [
        503,
        503,
        200,
    ]


async def test_fault_error_string_and_clear(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    slack_workspace.fail("chat.postMessage", "channel_not_found", times=2)
    for _ in range(2):
        assert (
            await error_of(
                slack_client.chat_postMessage(
                    channel=INCIDENT_RESPONSE_CHANNEL_ID, text="x"
                )
            )
            == "channel_not_found"
        )
    await slack_client.chat_postMessage(channel=INCIDENT_RESPONSE_CHANNEL_ID, text="x")
    slack_workspace.fail("*", "fatal_error")
    slack_workspace.clear_faults()
    await slack_client.auth_test()
    assert [c.status for c in slack_workspace.calls] == [200, 200, 200, 200]


async def test_delay_slows_calls(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    slack_workspace.delay("*", 0.3)
    started = time.monotonic()
    await slack_client.auth_test()
    assert time.monotonic() - started >= 0.3


async def test_wait_for__reports_what_was_seen(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    await slack_client.chat_postMessage(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, text="first"
    )
    call = await slack_workspace.wait_for(
        "chat.postMessage", lambda c: c.args["text"] == "first"
    )
    assert call.response is not None
    assert call.response["channel"] == INCIDENT_RESPONSE_CHANNEL_ID
    with pytest.raises(AssertionError, match="first"):
        await slack_workspace.wait_for(
            "chat.postMessage", lambda c: c.args["text"] == "second", timeout=0.1
        )


async def test_response_url_posts_recorded_and_applied(
    slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
) -> None:
    url = slack_server.response_url(
        "cmd-1", channel_id=INCIDENT_RESPONSE_CHANNEL_ID, user_id="UALICE"
    )
    await AsyncWebhookClient(url).send(text="Only you see this")
    await AsyncWebhookClient(url).send(
        text="Everyone sees this", response_type="in_channel"
    )
    calls = slack_workspace.calls_to("response_url")
    assert [c.args["text"] for c in calls] == [
        "Only you see this",
        "Everyone sees this",
    ]
    assert [e.text for e in slack_workspace.ephemerals_for("UALICE")] == [
        "Only you see this"
    ]
    assert [m.text for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)] == [
        "Everyone sees this"
    ]


def test_user_actions_return_event_bodies(slack_workspace: SlackWorkspace) -> None:
    posted = slack_workspace.user_message("incident-response", "UALICE", "db is down")
    event = posted["event"]
    assert (
        posted["type"],
        posted["team_id"],
        event["type"],
        event["user"],
        event["channel_type"],
    ) == ("event_callback", "T0WARROOM", "message", "UALICE", "channel")
    assert posted["authorizations"][0]["user_id"] == BOT_USER_ID
    ts = event["ts"]
    reply = slack_workspace.user_message(
        INCIDENT_RESPONSE_CHANNEL_ID, "UBOB", "on it", thread_ts=ts
    )["event"]
    assert (reply["thread_ts"], reply["parent_user_id"]) == (ts, "UALICE")

    edited = slack_workspace.user_edit(
        INCIDENT_RESPONSE_CHANNEL_ID, ts, "UALICE", "db is down (eu-west-1)"
    )["event"]
    assert (
        edited["subtype"],
        edited["message"]["text"],
        edited["previous_message"]["text"],
    ) == ("message_changed", "db is down (eu-west-1)", "db is down")
    pinned = slack_workspace.user_pin(INCIDENT_RESPONSE_CHANNEL_ID, ts, "UCAROL")[
        "event"
    ]
    assert (pinned["type"], pinned["item"]["message"]["ts"], pinned["channel_id"]) == (
        "pin_added",
        ts,
        INCIDENT_RESPONSE_CHANNEL_ID,
    )
    reacted = slack_workspace.user_react(
        INCIDENT_RESPONSE_CHANNEL_ID, ts, "UDAVE", ":eyes:"
    )["event"]
    assert (reacted["type"], reacted["reaction"], reacted["item"]["ts"]) == (
        "reaction_added",
        "eyes",
        ts,
    )
    deleted = slack_workspace.user_delete(INCIDENT_RESPONSE_CHANNEL_ID, ts)
    assert (deleted["event"]["subtype"], deleted["event"]["deleted_ts"]) == (
        "message_deleted",
        ts,
    )
    assert [m.text for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)] == [
        "on it"
    ]
    assert len({posted["event_id"], deleted["event_id"]}) == 2
    with pytest.raises(ValueError, match="own"):
        slack_workspace.user_message(INCIDENT_RESPONSE_CHANNEL_ID, BOT_USER_ID, "echo")


async def test_app_home_opened_carries_published_view(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    assert "view" not in slack_workspace.app_home_opened("UALICE")["event"]
    await slack_client.views_publish(
        user_id="UALICE", view={"type": "home", "blocks": [section("hello")]}
    )
    event = slack_workspace.app_home_opened("UALICE")["event"]
    assert (
        event["type"],
        event["tab"],
        event["view"]["blocks"][0]["text"]["text"],
    ) == ("app_home_opened", "home", "hello")


def test_payloads_shapes(slack_workspace: SlackWorkspace) -> None:
    command = parse_qs(
        payloads.slash_command(
            text="declare db down",
            user_id="UALICE",
            user_name="alice",
            channel_id=INCIDENT_RESPONSE_CHANNEL_ID,
            channel_name="incident-response",
            response_url="http://127.0.0.1/hooks/x",
            workspace=slack_workspace,
        )
    )
    assert (command["command"], command["text"], command["team_id"]) == (
        ["/incident"],
        ["declare db down"],
        ["T0WARROOM"],
    )
    assert command["trigger_id"][0] in slack_workspace.triggers
    values = {
        "title": {"title": payloads.plain_text_value("DB down")},
        "sev": {"sev": payloads.static_select_value("SEV1")},
        "who": {"who": payloads.users_select_value("UBOB")},
        "comps": {"comps": payloads.multi_static_select_value(["rds", "ecs"])},
        "start": {"start": payloads.datetimepicker_value(1764090000)},
    }
    body = parse_qs(
        payloads.view_submission(
            user_id="UALICE", callback_id="declare", values=values, view_id="V1"
        )
    )
    submission = json.loads(body["payload"][0])
    assert submission["type"] == "view_submission"
    assert (
        submission["view"]["state"]["values"]["sev"]["sev"]["selected_option"]["value"]
        == "SEV1"
    )
    action = json.loads(
        parse_qs(
            payloads.block_actions(
                user_id="UBOB", action_id="run-step", value="s1", trigger_id="1.2.3"
            )
        )["payload"][0]
    )
    assert (
        action["actions"][0]["action_id"],
        action["trigger_id"],
        action["container"]["type"],
    ) == ("run-step", "1.2.3", "message")


def test_payloads_name_people_by_their_handles(slack_workspace: SlackWorkspace) -> None:
    # Issue 14: approvers in the demo's post-mortem were `@ubob` and `@ucarol`.
    def person(body: str) -> dict[str, str]:
        return dict(json.loads(parse_qs(body)["payload"][0])["user"])

    click = payloads.block_actions(
        user_id="UCAROL", action_id="a", workspace=slack_workspace
    )
    assert person(click)["username"] == person(click)["name"] == "carol"
    slack_workspace.add_user("UERIN", "erin.w", "Erin White", "erin@example.com")
    form = payloads.view_submission(
        user_id="UERIN",
        callback_id="c",
        values={},
        view_id="V1",
        workspace=slack_workspace,
    )
    assert person(form)["name"] == "erin.w"
    # Without a workspace, the seeded people still have their handles.
    assert (
        person(payloads.block_actions(user_id="UBOB", action_id="a"))["name"] == "bob"
    )


def test_workspaces_with_run_tags_never_repeat_ids() -> None:
    # Issue 14: a second `warroom demo --dir D` got incident 1's channel id for incident 2.
    first, second = SlackWorkspace(run=run_tag()), SlackWorkspace(run=run_tag())
    made = [
        ws.add_channel(name).id
        for ws in (first, second)
        for name in ("inc-1-a", "inc-2-b")
    ]
    made += [first.dm_channel("UBOB").id, second.dm_channel("UBOB").id]
    assert len(set(made)) == len(made)
    for ws in (first, second):
        assert ws.channel("incident-response").id == INCIDENT_RESPONSE_CHANNEL_ID
    # Without a tag (the tests' workspaces) ids are the same in every run.
    assert SlackWorkspace().add_channel("x").id == "C00000002"


def test_sign_matches_slack_verifier() -> None:
    body = payloads.slash_command(
        text="help",
        user_id="UALICE",
        user_name="alice",
        channel_id="C1",
        channel_name="x",
        response_url="http://h/",
    )
    headers = sign(FAKE_SIGNING_SECRET, body)
    verifier = SignatureVerifier(FAKE_SIGNING_SECRET)
    assert verifier.is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not verifier.is_valid(
        body.replace("help", "resolve"),
        headers["X-Slack-Request-Timestamp"],
        headers["X-Slack-Signature"],
    )
    assert not verifier.is_valid(
        body,
        str(int(time.time()) - 301),
        sign(FAKE_SIGNING_SECRET, body, int(time.time()) - 301)["X-Slack-Signature"],
    )


# type: ignore[no-untyped-def]
async def test_sender_drives_bolt_against_the_workspace(
    aiohttp_server, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
) -> None:
    bolt = AsyncApp(
        client=AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=slack_server.api_url),
        signing_secret=FAKE_SIGNING_SECRET,
    )

    @bolt.command("/incident")
    async def declare(ack, command, client, respond):  # type: ignore[no-untyped-def]
        await ack()
        await client.views_open(trigger_id=command["trigger_id"], view=modal())
        await respond("Opening the form")

    @bolt.event("message")
    async def on_message(event, client):  # type: ignore[no-untyped-def]
        await client.reactions_add(
            channel=event["channel"], timestamp=event["ts"], name="eyes"
        )

    bot = await aiohttp_server(bolt.web_app(path="/slack/events"))
    async with SlackSender(
        str(bot.make_url("/slack/events")), FAKE_SIGNING_SECRET, slack=slack_server
    ) as sender:
        answer = await sender.command("declare")
        assert answer.status == 200
        await slack_workspace.wait_for("views.open", lambda c: c.ok)
        await slack_workspace.wait_for("response_url")
        assert [e.text for e in slack_workspace.ephemerals_for("UALICE")] == [
            "Opening the form"
        ]

        event = slack_workspace.user_message(
            INCIDENT_RESPONSE_CHANNEL_ID, "UBOB", "what's the status?"
        )
        assert (await sender.event(event, retry_num=1)).status == 200
        await slack_workspace.wait_for("reactions.add", lambda c: c.ok)
        forged = await sender.send(
            payloads.event_callback(event),
            content_type="application/json",
            signature="v0=" + "0" * 64,
        )
        assert forged.status == 401


async def test_thread_ts__malformed_rejected_unknown_orphaned(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    bad = slack_client.chat_postMessage(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, text="x", thread_ts="0"
    )
    assert await error_of(bad) == "invalid_thread_ts"
    # Slack accepts a well-formed ts it cannot find; the reply is invisible in the channel.
    await slack_client.chat_postMessage(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, text="lost", thread_ts="1600000000.000100"
    )
    history = await slack_client.conversations_history(
        channel=INCIDENT_RESPONSE_CHANNEL_ID
    )
    assert history["messages"] == []
    assert [m.text for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)] == [
        "lost"
    ]


async def test_conversations_join_members_purpose_and_private_visibility(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    public = slack_workspace.add_channel("ops", creator="UALICE")
    assert (
        await error_of(
            slack_client.conversations_setPurpose(channel=public.id, purpose="x")
        )
        == "not_in_channel"
    )
    joined = await slack_client.conversations_join(channel=public.id)
    assert joined["channel"]["is_member"] is True
    await slack_client.conversations_setPurpose(
        channel=public.id, purpose="Ops chatter"
    )
    assert slack_workspace.channels[public.id].purpose == "Ops chatter"
    members = await slack_client.conversations_members(channel=public.id)
    assert members["members"] == ["UALICE", BOT_USER_ID]

    private = slack_workspace.add_channel("hr", is_private=True, creator="UALICE")
    assert (
        await error_of(slack_client.conversations_info(channel=private.id))
        == "channel_not_found"
    )
    assert (
        await error_of(slack_client.conversations_join(channel=private.id))
        == "channel_not_found"
    )


async def test_response_url_replace_and_delete_original(
    slack_client: AsyncWebClient,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
) -> None:
    card = await slack_client.chat_postMessage(
        channel=INCIDENT_RESPONSE_CHANNEL_ID, text="Step 1: pending"
    )
    url = slack_server.response_url(
        "click-1",
        channel_id=INCIDENT_RESPONSE_CHANNEL_ID,
        user_id="UBOB",
        message_ts=card["ts"],
    )
    await AsyncWebhookClient(url).send(text="Step 1: approved", replace_original=True)
    assert [m.text for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)] == [
        "Step 1: approved"
    ]
    await AsyncWebhookClient(url).send(delete_original=True)
    assert slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID) == []
    assert [name for name, _ in slack_workspace.response_posts] == [
        "click-1",
        "click-1",
    ]


async def test_args_in_form_body_with_json_text(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    blocks = [section("from a form body")]
    posted = await slack_client.api_call(
        "chat.postMessage",
        data={
            "channel": "incident-response",
            "text": "x",
            "blocks": json.dumps(blocks),
        },
    )
    assert posted["message"]["blocks"] == blocks
    assert slack_workspace.calls_to("chat.postMessage")[0].args["blocks"] == blocks
    trigger = payloads.new_trigger_id(slack_workspace, "UALICE")
    opened = await slack_client.api_call(
        "views.open", data={"trigger_id": trigger, "view": json.dumps(modal())}
    )
    assert opened["view"]["title"]["text"] == "Declare"


async def test_users_conversations__the_bots_channels_by_type_a_page_at_a_time(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    names = [f"inc-{n}" for n in range(5)]
    for name in names:
        await slack_client.conversations_create(name=name)
    secret = await slack_client.conversations_create(
        name="inc-private", is_private=True
    )
    await slack_client.conversations_archive(
        channel=(await slack_client.conversations_create(name="old"))["channel"]["id"]
    )
    slack_workspace.add_channel("not-ours", creator="UALICE")

    seen, cursor = [], ""
    while True:
        page = await slack_client.users_conversations(
            types="public_channel,private_channel",
            exclude_archived=True,
            limit=2,
            cursor=cursor,
        )
        assert len(page["channels"]) <= 2
        seen += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break

    # the bot's channels, #incident-response included; not the archived one, not one it is not in
    assert sorted(seen) == sorted([*names, "inc-private", "incident-response"])
    public_only = await slack_client.users_conversations(limit=100)
    assert "inc-private" not in [c["name"] for c in public_only["channels"]]
    assert secret["channel"]["creator"] == BOT_USER_ID
    assert (
        await error_of(slack_client.users_conversations(types="rooms"))
        == "invalid_types"
    )


async def test_published_rate_limits__one_post_a_second_per_channel_and_tiers(
    slack_client: AsyncWebClient, slack_workspace: SlackWorkspace
) -> None:
    now = [1000.0]
    slack_workspace.rate_limits = RateLimits(lambda: now[0])
    await slack_client.chat_postMessage(channel=INCIDENT_RESPONSE_CHANNEL_ID, text="a")
    with pytest.raises(SlackApiError) as caught:  # by name: the same channel
        await slack_client.chat_postMessage(channel="incident-response", text="b")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert caught.value.response.headers["Retry-After"] == "1"
    other = (await slack_client.conversations_create(name="inc-1"))["channel"]["id"]
    await slack_client.chat_postMessage(channel=other, text="another channel")
    now[0] += 1.0
    await slack_client.chat_postMessage(channel=INCIDENT_RESPONSE_CHANNEL_ID, text="c")
    assert [m.text for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)] == [
        "a",
        "c",
    ]
    # conversations.create is Tier 2: twenty a minute.
    for n in range(2, 21):
        await slack_client.conversations_create(name=f"inc-{n}")
        now[0] += 1.0
    with pytest.raises(SlackApiError) as caught:
        await slack_client.conversations_create(name="inc-21")
    assert caught.value.response.headers["Retry-After"] == "40"
    assert "inc-21" not in [c.name for c in slack_workspace.channels.values()]
    now[0] += 40.0
    await slack_client.conversations_create(name="inc-21")
    # Methods of Tier 4 and the unlisted ones are not held to Tier 2's limit.
    for _ in range(25):
        await slack_client.chat_postEphemeral(
            channel=INCIDENT_RESPONSE_CHANNEL_ID, user="UALICE", text="x"
        )
