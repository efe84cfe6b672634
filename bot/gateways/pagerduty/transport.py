"""One request at a time to PagerDuty: the `pagerduty` package's REST v2 and Events v2 clients, set up
to send exactly one HTTP request per call, our bounded retry loop around them (429, 5xx and network
errors, always resending the same body, so the same dedup key / incident_key) and the translation of
failures into `ExternalServiceError`; the PagerDuty settings are checked when it is built. Blocking:
callers run it off the event loop. Must not let the client retry on its own (it retries 429 forever
by default) or put a key in a log record, a repr or an error message.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Collection
from typing import Any, cast

import pagerduty
from httpx2 import Response
from pydantic import SecretStr

from bot import metrics
from bot.errors import ConfigError, ExternalServiceError

logger = logging.getLogger(__name__)
# The client logs each non-2xx answer as an error ("exceeded maximum number of attempts (-1)"),
# which misleads once our loop does the retrying and logs every attempt itself. A logger outside the
# hierarchy silences it without changing anyone's logging configuration.
_SILENT = logging.Logger("pagerduty.client.silenced", level=logging.CRITICAL)

SERVICE = "pagerduty"


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


def json_body(response: Response) -> dict[str, Any]:
    """Return the JSON object a response holds; {} for no body, other JSON or not JSON at all."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class PagerDutyTransport:
    """The REST client (None without an API key), the Events client (None without a routing key)
    and one bounded retry policy for both."""

    def __init__(
        self,
        *,
        api_key: SecretStr | None,
        routing_key: SecretStr | None,
        from_email: str | None,
        rest_url: str,
        events_url: str,
        verify: ssl.SSLContext | bool,
        max_attempts: int,
        backoff: Callable[[int], float] | None,
        sleep: Callable[[float], None],
        timeout: float,
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
        self.rest: Any = None
        self.events: Any = None
        if api_key is not None:
            rest = pagerduty.RestApiV2Client(
                api_key.get_secret_value(),
                default_from=from_email,
                base_url=rest_url,
                verify=verify,
            )
            self.rest = _one_request_per_call(rest, timeout)
        if routing_key is not None:
            events = pagerduty.EventsApiV2Client(
                routing_key.get_secret_value(), base_url=events_url, verify=verify
            )
            self.events = _one_request_per_call(events, timeout)
        self.from_email = from_email
        self._urls = (rest_url, events_url)
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff or default_backoff
        self._sleep = sleep

    def describe(self) -> str:
        """Say which API and endpoint are in use (for readiness and logs); never a key."""
        if self.rest is not None:
            return f"PagerDuty REST API v2 at {self._urls[0]} (From {self.from_email})"
        return f"PagerDuty Events API v2 at {self._urls[1]} (routing key set)"

    def call(
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
                raise self.failure(cast(Response, exc.response), action) from None
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
                    raise self.failure(response, action)
                last = problem = f"HTTP {status}"
            attempts = f"attempt {attempt} of {self._max_attempts}"
            logger.warning("PagerDuty %s %s: %s (%s)", method, path, problem, attempts)
        what = "could not be reached" if last == "network" else f"kept failing ({last})"
        message = f"PagerDuty {what}; tried {self._max_attempts} times to {action}."
        logger.error("%s", message)
        code = last.removeprefix("HTTP ")
        raise ExternalServiceError(message, service=SERVICE, code=code, retryable=True)

    def failure(self, response: Response, action: str) -> ExternalServiceError:
        status, body = response.status_code, json_body(response)
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
