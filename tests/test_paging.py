"""Paging through PagerDuty: the gateway against the HTTPS stand-in, the log-only pager, webhooks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from bot.errors import ConfigError, ExternalServiceError, UsageError
from bot.gateways.pagerduty.gateway import PagerDutyGateway
from bot.gateways.pagerduty.pager import (
    LogOnlyPager,
    PdStatusChange,
    dedup_key_for,
    fallback_message,
)
from bot.gateways.pagerduty.transport import default_backoff
from bot.gateways.pagerduty.webhooks import parse_webhook, verify_webhook_signature
from bot.plan import FALLBACK_CONTACTS
from tests.pagerduty_standin import API_KEY, FROM_EMAIL, ROUTING_KEY
from tests.plugins.pagerduty import make_gateway

pytestmark = pytest.mark.timeout(10)

SECRET = "whsec-standin-0001"


async def _trigger(
    pager: PagerDutyGateway, incident_id: str = "INC-42", **overrides: object
):
    args: dict[str, object] = {
        "incident_id": incident_id,
        "title": "API returns 502 for every upload",
        "severity": "SEV1",
        "details": "Declared from Slack #inc-42",
        "urgency": "high",
        "service_id": "PSVCAPI",
        "escalation_policy_id": "PEPDEVO",
    }
    args.update(overrides)
    return await pager.trigger(**args)  # type: ignore[arg-type]


def _keys(requests) -> list[str]:
    return [r.json["incident"]["incident_key"] for r in requests]


# --- trigger (REST) ---------------------------------------------------------------------------


async def test_trigger_creates_one_incident_with_incident_key_and_from(
    pager, pagerduty_standin
):
    result = await _trigger(pager)

    assert result.delivered
    assert result.mode == "rest"
    assert not result.already_open
    assert result.dedup_key == "warroom-INC-42"
    [incident] = pagerduty_standin.state.incidents.values()
    assert result.pd_incident_id == incident["id"]
    assert incident["incident_key"] == "warroom-INC-42"
    assert incident["escalation_policy"]["id"] == "PEPDEVO"
    assert incident["urgency"] == "high"
    [request] = pagerduty_standin.requests_to("POST", "/incidents")
    assert request.headers["From"] == FROM_EMAIL
    assert request.headers["Authorization"] == f"Token token={API_KEY}"
    assert request.json["incident"]["type"] == "incident"
    assert request.json["incident"]["service"] == {
        "id": "PSVCAPI",
        "type": "service_reference",
    }
    assert request.json["incident"]["body"]["type"] == "incident_body"


async def test_trigger__retried_after_500_then_429_creates_exactly_one_incident(
    pagerduty_standin,
):
    waits: list[int] = []
    pager = make_gateway(
        pagerduty_standin, backoff=lambda attempt: waits.append(attempt) or 0.0
    )
    pagerduty_standin.fail("POST /incidents", 500)
    pagerduty_standin.fail("POST /incidents", 429)
    try:
        result = await _trigger(pager)
    finally:
        await pager.aclose()

    posts = pagerduty_standin.requests_to("POST", "/incidents")
    assert len(posts) == 3
    assert _keys(posts) == ["warroom-INC-42"] * 3
    assert len(pagerduty_standin.state.incidents) == 1
    assert result.delivered
    assert not result.already_open
    assert waits == [1, 2]


async def test_trigger__400_is_tried_once_and_raises(pager, pagerduty_standin):
    with pytest.raises(ExternalServiceError) as caught:
        await _trigger(pager, service_id="PNOSUCH")

    assert len(pagerduty_standin.requests_to("POST", "/incidents")) == 1
    assert caught.value.code == "400"
    assert not caught.value.retryable
    assert caught.value.service == "pagerduty"
    assert "Service not found" in caught.value.message
    assert not pagerduty_standin.state.incidents


async def test_trigger__401_is_not_retried(pagerduty_standin):
    pager = make_gateway(pagerduty_standin, api_key=SecretStr("u+WrongKeyWrongKey01"))
    try:
        with pytest.raises(ExternalServiceError) as caught:
            await _trigger(pager)
    finally:
        await pager.aclose()

    assert len(pagerduty_standin.requests_to("POST", "/incidents")) == 1
    assert caught.value.code == "401"
    assert not caught.value.retryable
    assert "API key" in caught.value.message


async def test_trigger__403_is_not_retried(pager, pagerduty_standin):
    pagerduty_standin.fail("POST /incidents", 403, times=5)
    with pytest.raises(ExternalServiceError) as caught:
        await _trigger(pager)
    assert len(pagerduty_standin.requests_to("POST", "/incidents")) == 1
    assert caught.value.code == "403"
    assert not caught.value.retryable


async def test_trigger__exhausted_503_raises_retryable(pager, pagerduty_standin):
    pagerduty_standin.fail("POST /incidents", 503, times=10)
    with pytest.raises(ExternalServiceError) as caught:
        await _trigger(pager)

    assert caught.value.retryable
    assert caught.value.code == "503"
    posts = pagerduty_standin.requests_to("POST", "/incidents")
    assert len(posts) == 4
    assert set(_keys(posts)) == {"warroom-INC-42"}
    assert "tried 4 times" in caught.value.message


async def test_trigger__network_drop_is_retried(pager, pagerduty_standin):
    pagerduty_standin.drop_connection(times=1)
    result = await _trigger(pager)

    assert result.delivered
    assert len(pagerduty_standin.requests_to("POST", "/incidents")) == 2
    assert len(pagerduty_standin.state.incidents) == 1


async def test_trigger__network_down_raises_retryable(pagerduty_standin):
    pager = make_gateway(
        pagerduty_standin, rest_url="https://127.0.0.1:9", max_attempts=2
    )
    try:
        with pytest.raises(ExternalServiceError) as caught:
            await _trigger(pager)
    finally:
        await pager.aclose()
    assert caught.value.retryable
    assert caught.value.code == "network"


async def test_trigger__duplicate_incident_key_returns_the_open_incident(
    pager, pagerduty_standin
):
    first = await _trigger(pager)
    second = await _trigger(pager)

    assert second.already_open
    assert second.delivered
    assert second.pd_incident_id == first.pd_incident_id
    assert len(pagerduty_standin.state.incidents) == 1
    [lookup] = pagerduty_standin.requests_to("GET", "/incidents")
    assert lookup.query["incident_key"] == ["warroom-INC-42"]
    assert lookup.query["service_ids[]"] == ["PSVCAPI"]


async def test_trigger__lost_answer_then_retry_does_not_page_twice(
    pager, pagerduty_standin
):
    pagerduty_standin.fail("POST /incidents", 502, after_processing=True)
    result = await _trigger(pager)

    assert len(pagerduty_standin.requests_to("POST", "/incidents")) == 2
    assert len(pagerduty_standin.state.incidents) == 1
    assert result.already_open
    assert result.pd_incident_id in pagerduty_standin.state.incidents


async def test_trigger__after_resolve_opens_a_new_incident(pager, pagerduty_standin):
    first = await _trigger(pager)
    await pager.resolve(incident_id="INC-42", pd_incident_id=first.pd_incident_id)
    second = await _trigger(pager)
    assert second.pd_incident_id != first.pd_incident_id
    assert not second.already_open


async def test_trigger__rest_without_service_is_a_usage_error(pager):
    with pytest.raises(UsageError):
        await _trigger(pager, service_id=None)


# --- Events API v2 ----------------------------------------------------------------------------


async def test_events_trigger_and_resolve_use_the_same_dedup_key(
    events_pager, pagerduty_standin
):
    pagerduty_standin.fail("/v2/enqueue", 429)
    triggered = await _trigger(events_pager, service_id=None, escalation_policy_id=None)
    again = await _trigger(events_pager, service_id=None, escalation_policy_id=None)
    resolved = await events_pager.resolve(incident_id="INC-42", pd_incident_id=None)

    assert triggered.mode == "events"
    assert triggered.delivered
    assert (
        triggered.dedup_key == again.dedup_key == resolved.dedup_key == "warroom-INC-42"
    )
    events = pagerduty_standin.requests_to("POST", "/v2/enqueue")
    assert [e.json["event_action"] for e in events] == ["trigger"] * 3 + ["resolve"]
    assert {e.json["dedup_key"] for e in events} == {"warroom-INC-42"}
    assert {e.json["routing_key"] for e in events} == {ROUTING_KEY}
    trigger = events[0].json
    assert trigger["payload"]["severity"] == "critical"
    assert datetime.fromisoformat(trigger["payload"]["timestamp"]).tzinfo is not None
    assert events[0].json == events[1].json  # the retry sent the very same event
    [incident] = pagerduty_standin.state.incidents.values()  # the second trigger merged
    assert incident["incident_key"] == "warroom-INC-42"
    assert incident["status"] == "resolved"


async def test_events_mode_cannot_add_responders_and_says_so(
    events_pager, pagerduty_standin
):
    result = await events_pager.page(
        incident_id="INC-42",
        pd_incident_id=None,
        target_kind="user",
        target_id="PALICEB",
        message="",
    )
    assert not result.delivered
    assert "REST API key" in result.text
    assert await events_pager.oncall(escalation_policy_ids=["PEPDEVO"]) == []
    assert not pagerduty_standin.requests


async def test_events_invalid_event_is_not_retried(pagerduty_standin):
    pager = make_gateway(
        pagerduty_standin,
        api_key=None,
        routing_key=SecretStr("x" * 32),
        from_email=None,
    )
    try:
        with pytest.raises(ExternalServiceError) as caught:
            await _trigger(pager, service_id=None)
    finally:
        await pager.aclose()
    assert caught.value.code == "400"
    assert "Invalid routing key" in caught.value.message
    assert len(pagerduty_standin.requests) == 1


# --- on call, responders ----------------------------------------------------------------------


async def test_oncall_follows_pages(pager, pagerduty_standin):
    pagerduty_standin.standin.max_limit = 2
    oncall = await pager.oncall(escalation_policy_ids=["PEPDEVO", "PEPSECU"])

    assert [(o.policy_name, o.escalation_level, o.name) for o in oncall] == [
        ("DevOps", 1, "John Doe"),
        ("DevOps", 2, "Jane Smith"),
        ("Security", 1, "Bob Wilson"),
        ("Security", 2, "Alice Brown"),
    ]
    john = oncall[0]
    assert john.email == "john@example.com"
    assert john.user_id == "PJOHNDO"
    assert john.policy_id == "PEPDEVO"
    assert john.schedule_name == "DevOps Primary"
    assert john.start is not None
    assert john.end is not None
    assert john.start < datetime.now(UTC) < john.end
    assert oncall[1].start is None
    assert oncall[1].schedule_name is None
    calls = pagerduty_standin.requests_to("GET", "/oncalls")
    assert [c.query["offset"] for c in calls] == [["0"], ["2"]]
    assert calls[0].query["include[]"] == ["users"]
    assert calls[0].query["earliest"] == ["true"]
    assert calls[0].query["escalation_policy_ids[]"] == ["PEPDEVO", "PEPSECU"]


async def test_page_adds_a_user_and_a_policy_as_responders(pager, pagerduty_standin):
    triggered = await _trigger(pager)
    for kind, target in (("user", "PALICEB"), ("escalation_policy", "PEPSECU")):
        result = await pager.page(
            incident_id="INC-42",
            pd_incident_id=triggered.pd_incident_id,
            target_kind=kind,
            target_id=target,
            message="DB restore needs a second approver",
        )
        assert result.delivered
        assert result.pd_incident_id == triggered.pd_incident_id

    requests = pagerduty_standin.requests_to(
        "POST", f"/incidents/{triggered.pd_incident_id}/responder_requests"
    )
    assert [
        r.json["responder_request_targets"][0]["responder_request_target"]
        for r in requests
    ] == [
        {"id": "PALICEB", "type": "user_reference"},
        {"id": "PEPSECU", "type": "escalation_policy_reference"},
    ]
    assert {r.json["requester_id"] for r in requests} == {"PBOTUSR"}
    assert len(pagerduty_standin.state.responder_requests) == 2
    # the requester id is cached
    assert len(pagerduty_standin.requests_to("GET", "/users")) == 1


async def test_page__a_service_opens_an_incident_there(pager, pagerduty_standin):
    await _trigger(pager)
    result = await pager.page(
        incident_id="INC-42",
        pd_incident_id=None,
        target_kind="service",
        target_id="PSVCDB1",
        message="DB help",
    )
    assert result.delivered
    assert (
        pagerduty_standin.state.incidents[result.pd_incident_id]["service"]["id"]
        == "PSVCDB1"
    )
    assert len(pagerduty_standin.state.incidents) == 2


async def test_page__a_user_without_pd_incident_is_a_usage_error(pager):
    with pytest.raises(UsageError):
        await pager.page(
            incident_id="INC-42",
            pd_incident_id=None,
            target_kind="user",
            target_id="PALICEB",
            message="",
        )


# --- acknowledgements, resolve ----------------------------------------------------------------


async def test_acknowledgements_see_an_acknowledgement_made_in_pagerduty(
    pager, pagerduty_standin
):
    triggered = await _trigger(pager)
    pd_id = triggered.pd_incident_id
    assert await pager.acknowledgements(pd_incident_ids=[pd_id]) == []

    acked_at = datetime(2026, 11, 25, 17, 31, 5, tzinfo=UTC)
    pagerduty_standin.acknowledge(pd_id, "alice@example.com", at=acked_at)
    changes = await pager.acknowledgements(pd_incident_ids=[pd_id])

    assert changes == [
        PdStatusChange(
            pd_incident_id=pd_id,
            status="acknowledged",
            at=acked_at,
            by_user_id="PALICEB",
            by_name="Alice Brown",
            incident_key="warroom-INC-42",
        )
    ]
    resolved_at = datetime(2026, 11, 25, 18, 2, 0, tzinfo=UTC)
    pagerduty_standin.acknowledge(
        pd_id, "bob@example.com", at=datetime(2026, 11, 25, 17, 40, tzinfo=UTC)
    )
    pagerduty_standin.resolve(pd_id, "jane@example.com", at=resolved_at)
    changes = await pager.acknowledgements(pd_incident_ids=[pd_id, "PNOSUCH"])
    assert [(c.status, c.at, c.by_name) for c in changes] == [
        ("acknowledged", acked_at, "Alice Brown"),  # the first acknowledgement counts
        ("resolved", resolved_at, "Jane Smith"),
    ]


async def test_resolve_puts_resolved_and_is_idempotent(pager, pagerduty_standin):
    triggered = await _trigger(pager)
    result = await pager.resolve(
        incident_id="INC-42", pd_incident_id=triggered.pd_incident_id
    )
    again = await pager.resolve(
        incident_id="INC-42", pd_incident_id=triggered.pd_incident_id
    )

    assert result.delivered
    assert again.delivered
    assert (
        pagerduty_standin.state.incidents[triggered.pd_incident_id]["status"]
        == "resolved"
    )
    put = pagerduty_standin.requests_to(
        "PUT", f"/incidents/{triggered.pd_incident_id}"
    )[0]
    assert put.json == {
        "incident": {"type": "incident_reference", "status": "resolved"}
    }
    assert put.headers["From"] == FROM_EMAIL


async def test_resolve_without_pd_id_finds_the_incident_by_key(
    pager, pagerduty_standin
):
    triggered = await _trigger(pager)
    result = await pager.resolve(incident_id="INC-42", pd_incident_id=None)
    assert result.pd_incident_id == triggered.pd_incident_id
    assert (
        pagerduty_standin.state.incidents[triggered.pd_incident_id]["status"]
        == "resolved"
    )
    nothing = await pager.resolve(incident_id="INC-42", pd_incident_id=None)
    assert not nothing.delivered


# --- webhooks ---------------------------------------------------------------------------------


async def test_webhook_signature_accepted_and_parsed(pager, pagerduty_standin):
    triggered = await _trigger(pager)
    at = datetime(2026, 11, 25, 17, 45, tzinfo=UTC)
    body = pagerduty_standin.webhook_body(
        triggered.pd_incident_id, "incident.acknowledged", by_user="PALICEB", at=at
    )
    header = pagerduty_standin.sign_webhook(SECRET, body)

    assert verify_webhook_signature(secret=SECRET, body=body, header=header)
    change = parse_webhook(body)
    assert change == PdStatusChange(
        pd_incident_id=triggered.pd_incident_id,
        status="acknowledged",
        at=at,
        by_user_id="PALICEB",
        by_name="Alice Brown",
        incident_key="warroom-INC-42",
    )


@pytest.mark.parametrize(
    "header",
    [None, "", "v1=" + "0" * 64, "v0=abc", "garbage"],
    ids=["missing", "empty", "forged", "wrong-version", "garbage"],
)
def test_webhook_signature__rejected(header):
    body = b'{"event": {}}'
    assert not verify_webhook_signature(secret=SECRET, body=body, header=header)


def test_webhook_signature__tampered_body_rejected():
    from tests.pagerduty_standin import sign_webhook

    header = sign_webhook(SECRET, b'{"a": 1}')
    assert not verify_webhook_signature(secret=SECRET, body=b'{"a": 2}', header=header)


def test_webhook_signature__any_of_several_matches():
    from tests.pagerduty_standin import sign_webhook

    body = b'{"event": {"event_type": "incident.resolved"}}'
    header = f"{sign_webhook('old-secret', body)}, {sign_webhook(SECRET, body)}"
    assert verify_webhook_signature(secret=SECRET, body=body, header=header)
    assert not verify_webhook_signature(secret="third", body=body, header=header)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"event": {"event_type": "incident.triggered"}}).encode(),
    ],
)
def test_parse_webhook__ignores_other_events(body):
    assert parse_webhook(body) is None


# --- secrets ----------------------------------------------------------------------------------


async def test_keys_never_appear_in_errors_reprs_or_logs(pagerduty_standin, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "u+WrongKeyWrongKey01"
    errors: list[ExternalServiceError] = []
    bad = make_gateway(pagerduty_standin, api_key=SecretStr(wrong))
    good = make_gateway(pagerduty_standin, routing_key=SecretStr(ROUTING_KEY))
    try:
        with pytest.raises(ExternalServiceError) as caught:
            await _trigger(bad)
        errors.append(caught.value)
        pagerduty_standin.fail("POST /incidents", 503, times=4)
        with pytest.raises(ExternalServiceError) as caught:
            await _trigger(good)
        errors.append(caught.value)
        with pytest.raises(ExternalServiceError) as caught:
            await _trigger(good, service_id="PNOSUCH")
        errors.append(caught.value)
        texts = (
            [str(e) for e in errors]
            + [repr(e) for e in errors]
            + [repr(bad), repr(good), good.describe()]
        )
    finally:
        await bad.aclose()
        await good.aclose()

    texts += [r.getMessage() for r in caplog.records]
    for secret in (wrong, API_KEY, ROUTING_KEY, wrong[-4:], API_KEY[-8:]):
        assert not [t for t in texts if secret in t], secret


# --- log-only pager, fallback, configuration --------------------------------------------------


async def test_log_only_pager_says_what_it_would_have_paged(caplog):
    caplog.set_level(logging.INFO)
    pager = LogOnlyPager()
    result = await pager.trigger(
        incident_id="INC-42",
        title="Down",
        severity="SEV1",
        details="",
        urgency="high",
        service_id=None,
        escalation_policy_id="PEP1",
    )

    expected = "PagerDuty is not configured: would page escalation policy PEP1 for INC-42 (SEV1)"
    assert result.text == expected
    assert not result.delivered
    assert result.mode == "log-only"
    assert expected in caplog.text
    assert await pager.oncall(escalation_policy_ids=["PEP1"]) == []
    assert "not configured" in caplog.text
    paged = await pager.page(
        incident_id="INC-42",
        pd_incident_id=None,
        target_kind="user",
        target_id="PALICEB",
        message="help",
    )
    assert not paged.delivered
    assert "would page user PALICEB" in paged.text
    assert await pager.acknowledgements(pd_incident_ids=["P1"]) == []
    assert "log-only" in pager.describe()


def test_fallback_message_lists_the_contacts():
    error = ExternalServiceError(
        "PagerDuty could not be reached", service="pagerduty", retryable=True
    )
    text = fallback_message(FALLBACK_CONTACTS, error)
    assert text.startswith(
        ":rotating_light: Paging failed: PagerDuty could not be reached"
    )
    assert "Call these people directly:" in text
    assert all(contact in text for contact in FALLBACK_CONTACTS)


def test_dedup_key_is_stable_and_bounded():
    assert dedup_key_for("INC-42") == dedup_key_for("INC-42") == "warroom-INC-42"
    long_a, long_b = dedup_key_for("X" * 400 + "a"), dedup_key_for("X" * 400 + "b")
    assert len(long_a) <= 255
    assert long_a != long_b
    assert long_a == dedup_key_for("X" * 400 + "a")


def test_default_backoff_is_bounded():
    assert [default_backoff(n) for n in (1, 2, 3, 4, 9)] == [
        2.0,
        10.0,
        30.0,
        30.0,
        30.0,
    ]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"api_key": None, "routing_key": None, "from_email": None},
            "API key or an Events",
        ),
        (
            {"api_key": SecretStr(API_KEY), "routing_key": None, "from_email": None},
            "From email",
        ),
        (
            {
                "api_key": SecretStr(API_KEY),
                "routing_key": None,
                "from_email": FROM_EMAIL,
                "rest_url": "http://api.pagerduty.com",
            },
            "https://",
        ),
    ],
    ids=["nothing", "no-from", "http"],
)
def test_gateway_configuration_problems(options, problem):
    with pytest.raises(ConfigError) as caught:
        PagerDutyGateway(**options)
    assert problem in caught.value.message


def test_describe_names_the_mode_never_the_key():
    gateway = PagerDutyGateway(
        api_key=SecretStr(API_KEY), routing_key=None, from_email=FROM_EMAIL
    )
    try:
        assert "REST" in gateway.describe()
        assert API_KEY not in gateway.describe()
    finally:
        gateway._rest.close()
