"""The PagerDuty gateway: `PagerDutyGateway` implements the `Pager` protocol off the event loop, with
REST API v2 when an API key is set, else Events API v2. Owns triggering, paging more responders and
resolving (each safe to repeat: the dedup key / incident_key), and saying what Events mode cannot do
(`delivered=False`). Requests, retries and errors are `transport.py`; read-only lookups are
`lookups.py`. Must not run a blocking call on the event loop, put a key in a log record, a
repr or an error message, or know about Slack.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from bot.errors import ExternalServiceError, UsageError
from bot.gateways.pagerduty.lookups import (
    find_open_incidents,
    list_oncall,
    read_status_changes,
    requester_id,
    search_directory,
)
from bot.gateways.pagerduty.pager import (
    OnCall,
    PageResult,
    PdObject,
    PdStatusChange,
    TargetKind,
    Urgency,
    dedup_key_for,
)
from bot.gateways.pagerduty.payloads import (
    incident_request,
    responder_request,
    trigger_event,
)
from bot.gateways.pagerduty.transport import PagerDutyTransport, json_body

logger = logging.getLogger(__name__)


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
        self._http = PagerDutyTransport(
            api_key=api_key,
            routing_key=routing_key,
            from_email=from_email,
            rest_url=rest_url,
            events_url=events_url,
            verify=verify,
            max_attempts=max_attempts,
            backoff=backoff,
            sleep=sleep,
            timeout=timeout,
        )
        self._rest: Any = self._http.rest
        self._events: Any = self._http.events
        self._requester_id: str | None = None

    def describe(self) -> str:
        return self._http.describe()

    def __repr__(self) -> str:
        return f"<PagerDutyGateway {self.describe()}>"

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
        response = self._http.call(
            self._rest, "POST", "/incidents", action, allow={400}, json=body
        )
        if response.status_code == 400:
            # PagerDuty answers 400 when an open incident on this service has this incident_key:
            # our own earlier attempt (or one whose answer got lost), so it was paged already.
            try:
                found = find_open_incidents(self._http, key, service_id=service_id)
            except ExternalServiceError:
                found = []  # the lookup failing must not hide why the create failed
            if not found:
                raise self._http.failure(response, action)
            created, already_open = found[0], True
        else:
            created, already_open = json_body(response)["incident"], False
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

    def _enqueue(self, incident_id: str, event: dict[str, Any]) -> PageResult:
        key, verb = event["dedup_key"], event["event_action"]
        action = f"send the PagerDuty {verb} event"
        self._http.call(self._events, "POST", "/v2/enqueue", action, json=event)
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
        self._http.call(
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
            self._requester_id = requester_id(self._http)
        return self._requester_id

    # --- on call, acknowledgements, resolve -----------------------------------------------------

    async def oncall(self, *, escalation_policy_ids: list[str]) -> list[OnCall]:
        if self._rest is None:
            logger.info(
                "On-call lookup needs a PagerDuty REST API key; only a routing key is set"
            )
            return []
        return await asyncio.to_thread(
            list_oncall, self._http, list(escalation_policy_ids)
        )

    async def directory(self, *, kind: TargetKind, query: str) -> list[PdObject]:
        if self._rest is None:
            return []
        return await asyncio.to_thread(search_directory, self._http, kind, query)

    async def acknowledgements(
        self, *, pd_incident_ids: list[str]
    ) -> list[PdStatusChange]:
        if self._rest is None or not pd_incident_ids:
            return []
        return await asyncio.to_thread(
            read_status_changes, self._http, list(pd_incident_ids)
        )

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
            else [
                i["id"] for i in find_open_incidents(self._http, key, service_id=None)
            ]
        )
        if not ids:
            text = f"No open PagerDuty incident for {incident_id}"
            return PageResult(delivered=False, text=text, mode="rest", dedup_key=key)
        body = {"incident": {"type": "incident_reference", "status": "resolved"}}
        for pd_id in ids:
            action = "resolve the PagerDuty incident"
            response = self._http.call(
                self._rest, "PUT", f"/incidents/{pd_id}", action, allow={400}, json=body
            )
            # "Already resolved" is success: a retry of a resolve that went through, or a human.
            if (
                response.status_code == 400
                and "already resolved" not in response.text.lower()
            ):
                raise self._http.failure(response, action)
        text = f"PagerDuty incident {', '.join(ids)} resolved for {incident_id}"
        logger.info("%s", text)
        return PageResult(
            delivered=True, text=text, mode="rest", dedup_key=key, pd_incident_id=ids[0]
        )

    async def aclose(self) -> None:
        for client in (self._rest, self._events):
            if client is not None:
                await asyncio.to_thread(client.close)
