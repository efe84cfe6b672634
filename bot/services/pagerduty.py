"""The PagerDuty gateway: the `pagerduty` package's REST v2 and Events v2 clients behind the `Pager`
protocol, off the event loop, with one bounded retry policy.

Owns: request shapes, retries (429, 5xx and network errors, always with the same dedup key /
incident_key), translation of failures into `ExternalServiceError`. Must not: run a blocking call on
the event loop, let the client retry on its own (it retries 429 forever by default), or put a key in
a log record, a repr or an error message. Knows nothing of Slack.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Collection
from typing import Any, cast

import pagerduty
from httpx2 import Response
from pydantic import SecretStr

from bot import metrics
from bot.errors import ConfigError, ExternalServiceError, UsageError
from bot.services.paging import (
    OnCall,
    PageResult,
    PdObject,
    PdStatusChange,
    TargetKind,
    Urgency,
    dedup_key_for,
    incident_request,
    oncall_from_entry,
    responder_request,
    status_changes,
    trigger_event,
)

logger = logging.getLogger(__name__)
# The client logs each non-2xx answer as an error ("exceeded maximum number of attempts (-1)"),
# which misleads once our loop does the retrying and logs every attempt itself. A logger outside the
# hierarchy silences it without changing anyone's logging configuration.
_SILENT = logging.Logger("pagerduty.client.silenced", level=logging.CRITICAL)

SERVICE = "pagerduty"
MAX_PAGES = 50  # bound on pagination, in case a server keeps answering `more: true`
OPEN = ["triggered", "acknowledged"]


def default_backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1-based): 2, 10, then 30, loosely after
    PagerDuty's advice to retry 429s and 5xx a few times, tens of seconds apart."""
    return (2.0, 10.0, 30.0)[min(attempt, 3) - 1]


def _one_request_per_call(client: Any, timeout: float) -> Any:
    # Our loop does the retrying, so the client must make exactly one HTTP request per call. A 0 in
    # `retry` would mean "retry 429 forever" (the client's default branch), so each status gets a
    # positive limit that `max_http_attempts = -1` always exceeds: the first 429/5xx is returned.
    client.retry = {429: 1, 500: 1, 502: 1, 503: 1, 504: 1}
    client.max_http_attempts = -1
    client.max_network_attempts = 0
    client.sleep_timer = 0.0
    client.timeout = timeout
    client.log = _SILENT
    return client


def _json(response: Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class PagerDutyGateway:
    """Pages through PagerDuty: REST API v2 when an API key is set, else Events API v2."""

    def __init__(
        self,
        *,
        api_key: SecretStr | None,
        routing_key: SecretStr | None,
        from_email: str | None,
        rest_url: str = "https://api.pagerduty.com",
        events_url: str = "https://events.pagerduty.com",
        verify: ssl.SSLContext | bool = True,
        max_attempts: int = 4,
        backoff: Callable[[int], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 10.0,
    ) -> None:
        problems = []
        if api_key is None and routing_key is None:
            problems.append(
                "PagerDuty needs an API key or an Events API v2 routing key"
            )
        if api_key is not None and not from_email:
            problems.append("a PagerDuty API key needs a From email (a PagerDuty user)")
        for name, url in (("REST", rest_url), ("Events", events_url)):
            if not url.startswith("https://"):
                problems.append(f"the PagerDuty {name} URL must start with https://")
        if problems:
            raise ConfigError(problems)
        self._secrets = [s.get_secret_value() for s in (api_key, routing_key) if s]
        self._rest: Any = None
        self._events: Any = None
        if api_key is not None:
            rest = pagerduty.RestApiV2Client(
                api_key.get_secret_value(),
                default_from=from_email,
                base_url=rest_url,
                verify=verify,
            )
            self._rest = _one_request_per_call(rest, timeout)
        if routing_key is not None:
            events = pagerduty.EventsApiV2Client(
                routing_key.get_secret_value(), base_url=events_url, verify=verify
            )
            self._events = _one_request_per_call(events, timeout)
        self._from_email = from_email
        self._urls = (rest_url, events_url)
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff or default_backoff
        self._sleep = sleep
        self._requester_id: str | None = None

    def describe(self) -> str:
        if self._rest is not None:
            return f"PagerDuty REST API v2 at {self._urls[0]} (From {self._from_email})"
        return f"PagerDuty Events API v2 at {self._urls[1]} (routing key set)"

    def __repr__(self) -> str:
        return f"<PagerDutyGateway {self.describe()}>"

    # --- one request, bounded retries ---------------------------------------------------------

    def _call(
        self,
        client: Any,
        method: str,
        path: str,
        action: str,
        *,
        allow: Collection[int] = (),
        **kwargs: Any,
    ) -> Response:
        """Send one request (blocking), retrying 429, 5xx and network errors with the same body.

        Returns a 2xx response or one whose status is in `allow`; anything else raises
        `ExternalServiceError` (retryable once the attempts are used up, permanent for 4xx).
        """
        last = ""
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                self._sleep(self._backoff(attempt - 1))
            try:
                response: Response = client.request(method, path, **kwargs)
            except pagerduty.HttpError as exc:  # raised by the client for 401 only
                raise self._failure(cast(Response, exc.response), action) from None
            except pagerduty.Error as exc:  # connection refused or reset, timeout, TLS
                last, problem = "network", type(exc.__cause__ or exc).__name__
                metrics.PAGERDUTY_CALLS.labels("network").inc()
            else:
                status = response.status_code
                metrics.PAGERDUTY_CALLS.labels(
                    f"{status // 100}xx" if status != 429 else "429"
                ).inc()
                if status != 429 and status < 500:
                    if response.is_success or status in allow:
                        return response
                    raise self._failure(response, action)
                last = problem = f"HTTP {status}"
            attempts = f"attempt {attempt} of {self._max_attempts}"
            logger.warning("PagerDuty %s %s: %s (%s)", method, path, problem, attempts)
        what = "could not be reached" if last == "network" else f"kept failing ({last})"
        message = f"PagerDuty {what}; tried {self._max_attempts} times to {action}."
        logger.error("%s", message)
        code = last.removeprefix("HTTP ")
        raise ExternalServiceError(message, service=SERVICE, code=code, retryable=True)

    def _failure(self, response: Response, action: str) -> ExternalServiceError:
        status, body = response.status_code, _json(response)
        error: dict[str, Any] = (
            body["error"] if isinstance(body.get("error"), dict) else body
        )
        parts = [str(error.get("message") or "")] + [
            str(e) for e in error.get("errors") or []
        ]
        detail = "; ".join(p for p in parts if p)[:300]
        message = f"PagerDuty refused to {action} (HTTP {status}{': ' + detail if detail else ''})."
        if status in (401, 403):
            message += " Check the PagerDuty API key setting and its permissions."
        for secret in self._secrets:  # PagerDuty never echoes keys, but make sure
            message = message.replace(secret, "[redacted]")
        logger.error("%s", message)
        return ExternalServiceError(message, service=SERVICE, code=str(status))

    # --- trigger ------------------------------------------------------------------------------

    async def trigger(
        self,
        *,
        incident_id: str,
        title: str,
        severity: str,
        details: str,
        urgency: Urgency,
        service_id: str | None,
        escalation_policy_id: str | None,
    ) -> PageResult:
        key, summary = (
            dedup_key_for(incident_id),
            f"{incident_id} ({severity}): {title}",
        )
        if self._rest is None or (not service_id and self._events is not None):
            event = trigger_event(
                incident_id=incident_id,
                summary=summary,
                severity=severity,
                details=details,
                urgency=urgency,
                key=key,
            )
            return await asyncio.to_thread(self._enqueue, incident_id, event)
        if not service_id:
            raise UsageError("A PagerDuty service id is needed to create an incident.")
        body = incident_request(
            title=summary,
            details=details,
            urgency=urgency,
            service_id=service_id,
            policy_id=escalation_policy_id,
            key=key,
        )
        return await asyncio.to_thread(self._create, incident_id, body)

    def _create(self, incident_id: str, body: dict[str, Any]) -> PageResult:
        key, service_id = (
            body["incident"]["incident_key"],
            body["incident"]["service"]["id"],
        )
        action = "create the PagerDuty incident"
        response = self._call(
            self._rest, "POST", "/incidents", action, allow={400}, json=body
        )
        if response.status_code == 400:
            # PagerDuty answers 400 when an open incident on this service has this incident_key:
            # our own earlier attempt (or one whose answer got lost), so it was paged already.
            try:
                found = self._find_open(key, service_id=service_id)
            except ExternalServiceError:
                found = []  # the lookup failing must not hide why the create failed
            if not found:
                raise self._failure(response, action)
            created, already_open = found[0], True
        else:
            created, already_open = _json(response)["incident"], False
        verb = "was already open" if already_open else "created"
        text = f"PagerDuty incident #{created.get('incident_number', created['id'])} {verb} for {incident_id}"
        logger.info("%s (incident_key %s)", text, key)
        return PageResult(
            delivered=True,
            text=text,
            mode="rest",
            dedup_key=key,
            pd_incident_id=created["id"],
            html_url=created.get("html_url"),
            already_open=already_open,
        )

    def _find_open(self, key: str, *, service_id: str | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"incident_key": key, "statuses[]": OPEN}
        if service_id:
            params["service_ids[]"] = [service_id]
        action = "look up the PagerDuty incident"
        body = _json(self._call(self._rest, "GET", "/incidents", action, params=params))
        # Filter again: an ignored incident_key filter would return every open incident.
        return [i for i in body.get("incidents", []) if i.get("incident_key") == key]

    def _enqueue(self, incident_id: str, event: dict[str, Any]) -> PageResult:
        key, verb = event["dedup_key"], event["event_action"]
        action = f"send the PagerDuty {verb} event"
        self._call(self._events, "POST", "/v2/enqueue", action, json=event)
        text = f"PagerDuty alert {key} {verb}{'d' if verb == 'resolve' else 'ed'} for {incident_id}"
        logger.info("%s", text)
        return PageResult(delivered=True, text=text, mode="events", dedup_key=key)

    # --- page more responders -----------------------------------------------------------------

    async def page(
        self,
        *,
        incident_id: str,
        pd_incident_id: str | None,
        target_kind: TargetKind,
        target_id: str,
        message: str,
    ) -> PageResult:
        if self._rest is None:
            text = (
                f"Cannot page {target_id} for {incident_id}: only an Events API routing key is "
                "configured, and adding responders needs a PagerDuty REST API key."
            )
            logger.warning("%s", text)
            return PageResult(
                delivered=False,
                text=text,
                mode="events",
                dedup_key=dedup_key_for(incident_id),
            )
        if target_kind == "service":
            body = incident_request(
                title=f"{incident_id}: {message or 'responders needed'}",
                details=message,
                urgency="high",
                service_id=target_id,
                policy_id=None,
                key=dedup_key_for(incident_id),
            )
            return await asyncio.to_thread(self._create, incident_id, body)
        if not pd_incident_id:
            raise UsageError(
                f"{incident_id} has no PagerDuty incident yet, so responders cannot be added; page a service instead."
            )
        return await asyncio.to_thread(
            self._add_responder,
            incident_id,
            pd_incident_id,
            target_kind,
            target_id,
            message,
        )

    def _add_responder(
        self, incident_id: str, pd_id: str, kind: str, target_id: str, message: str
    ) -> PageResult:
        body = responder_request(
            requester_id=self._requester(),
            kind=kind,
            target_id=target_id,
            message=message or f"Please join {incident_id}",
        )
        path = f"/incidents/{pd_id}/responder_requests"
        self._call(
            self._rest,
            "POST",
            path,
            "add a responder to the PagerDuty incident",
            json=body,
        )
        text = f"Paged {kind.replace('_', ' ')} {target_id} on PagerDuty incident {pd_id} for {incident_id}"
        logger.info("%s", text)
        key = dedup_key_for(incident_id)
        return PageResult(
            delivered=True, text=text, mode="rest", dedup_key=key, pd_incident_id=pd_id
        )

    def _requester(self) -> str:
        """The PagerDuty user id of the From address (responder requests need a requester)."""
        if self._requester_id is None:
            action = "look up the PagerDuty user of the From address"
            params = {"query": self._from_email}
            users = _json(
                self._call(self._rest, "GET", "/users", action, params=params)
            ).get("users", [])
            wanted = (self._from_email or "").lower()
            matches = [u for u in users if str(u.get("email", "")).lower() == wanted]
            if not matches:
                raise ExternalServiceError(
                    f"The From address {self._from_email} is not a user of the PagerDuty account.",
                    service=SERVICE,
                    code="requester_not_found",
                )
            self._requester_id = str(matches[0]["id"])
        return self._requester_id

    # --- on call, acknowledgements, resolve -----------------------------------------------------

    async def oncall(self, *, escalation_policy_ids: list[str]) -> list[OnCall]:
        if self._rest is None:
            logger.info(
                "On-call lookup needs a PagerDuty REST API key; only a routing key is set"
            )
            return []
        return await asyncio.to_thread(self._oncall, list(escalation_policy_ids))

    def _oncall(self, policy_ids: list[str]) -> list[OnCall]:
        result: list[OnCall] = []
        params: dict[str, Any] = {
            "include[]": ["users"],
            "earliest": "true",
            "limit": 100,
            "offset": 0,
        }
        if policy_ids:
            params["escalation_policy_ids[]"] = policy_ids
        for _ in range(MAX_PAGES):
            body = _json(
                self._call(
                    self._rest, "GET", "/oncalls", "list who is on call", params=params
                )
            )
            entries = body.get("oncalls", [])
            result += [oncall_from_entry(entry) for entry in entries]
            if not body.get("more") or not entries:
                break
            params = {
                **params,
                "offset": int(body.get("offset") or params["offset"]) + len(entries),
            }
        return sorted(result, key=lambda o: (o.policy_name, o.escalation_level, o.name))

    async def directory(self, *, kind: TargetKind, query: str) -> list[PdObject]:
        if self._rest is None:
            return []
        return await asyncio.to_thread(self._directory, kind, query)

    def _directory(self, kind: TargetKind, query: str) -> list[PdObject]:
        path = {
            "user": "/users",
            "escalation_policy": "/escalation_policies",
            "service": "/services",
        }[kind]
        plural = path.lstrip("/")
        found: list[PdObject] = []
        params: dict[str, Any] = {"query": query, "limit": 100, "offset": 0}
        for _ in range(MAX_PAGES):
            action = f"look up PagerDuty {plural.replace('_', ' ')}"
            body = _json(self._call(self._rest, "GET", path, action, params=params))
            items = body.get(plural, [])
            found += [
                PdObject(kind=kind, id=str(i["id"]), name=str(i.get("name") or i.get("summary") or i["id"]),
                         email=i.get("email"))
                for i in items if isinstance(i, dict) and i.get("id")
            ]  # fmt: skip
            if not body.get("more") or not items:
                break
            params = {**params, "offset": int(params["offset"]) + len(items)}
        return found

    async def acknowledgements(
        self, *, pd_incident_ids: list[str]
    ) -> list[PdStatusChange]:
        if self._rest is None or not pd_incident_ids:
            return []
        return await asyncio.to_thread(self._acknowledgements, list(pd_incident_ids))

    def _acknowledgements(self, ids: list[str]) -> list[PdStatusChange]:
        changes: list[PdStatusChange] = []
        for pd_id in ids:
            action = "read the PagerDuty incident"
            response = self._call(
                self._rest, "GET", f"/incidents/{pd_id}", action, allow={404}
            )
            if response.status_code == 404:
                logger.warning("PagerDuty incident %s does not exist (any more)", pd_id)
                continue
            incident = _json(response)["incident"]
            if incident.get("status") not in ("acknowledged", "resolved"):
                continue
            action, path = (
                "read the PagerDuty incident log",
                f"/incidents/{pd_id}/log_entries",
            )
            entries = _json(
                self._call(self._rest, "GET", path, action, params={"limit": 100})
            )
            changes += status_changes(incident, entries.get("log_entries", []))
        return changes

    async def resolve(
        self, *, incident_id: str, pd_incident_id: str | None
    ) -> PageResult:
        if self._rest is None:
            event = {"event_action": "resolve", "dedup_key": dedup_key_for(incident_id)}
            return await asyncio.to_thread(self._enqueue, incident_id, event)
        return await asyncio.to_thread(self._resolve, incident_id, pd_incident_id)

    def _resolve(self, incident_id: str, pd_incident_id: str | None) -> PageResult:
        key = dedup_key_for(incident_id)
        ids = (
            [pd_incident_id]
            if pd_incident_id
            else [i["id"] for i in self._find_open(key, service_id=None)]
        )
        if not ids:
            text = f"No open PagerDuty incident for {incident_id}"
            return PageResult(delivered=False, text=text, mode="rest", dedup_key=key)
        body = {"incident": {"type": "incident_reference", "status": "resolved"}}
        for pd_id in ids:
            action = "resolve the PagerDuty incident"
            response = self._call(
                self._rest, "PUT", f"/incidents/{pd_id}", action, allow={400}, json=body
            )
            # "Already resolved" is success: a retry of a resolve that went through, or a human.
            if (
                response.status_code == 400
                and "already resolved" not in response.text.lower()
            ):
                raise self._failure(response, action)
        text = f"PagerDuty incident {', '.join(ids)} resolved for {incident_id}"
        logger.info("%s", text)
        return PageResult(
            delivered=True, text=text, mode="rest", dedup_key=key, pd_incident_id=ids[0]
        )

    async def aclose(self) -> None:
        for client in (self._rest, self._events):
            if client is not None:
                await asyncio.to_thread(client.close)
