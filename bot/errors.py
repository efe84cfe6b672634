"""The one exception tree of warroom. Every `BotError` carries a message that is safe to show a user.

    BotError
    ├── UsageError               bad arguments or modal values; `field` names the modal block, if any
    ├── NotFound                 an incident, step or scenario that does not exist
    ├── PermissionDenied         the user may not do this (approver rules, responder-only commands)
    ├── ConflictError            the thing already happened or the state forbids it (double approval...)
    ├── ScenarioError            a scenario file is broken (file, step and field in the message)
    │   └── ScenarioFileError    every problem of a file that failed to load     bot/scenarios/source.py
    ├── ConfigError              settings are missing or invalid (every problem listed)
    ├── DatabaseUnusable         the database file is damaged or was written by a newer warroom
    ├── LeaseLost                another warroom took the database over; this one may write nothing
    └── ExternalServiceError     Slack, PagerDuty or AWS failed; `service`, `code`, `retryable`
        ├── SlackCallFailed      one Web API call failed (error, HTTP status)     bot/gateways/slack/outbox.py
        └── AwsCallError         one AWS call failed; `proves_not_run`            bot/gateways/aws/failures.py
            ├── AwsWaitError     a waiter failed or ran out of attempts
            └── OrphanKeyError   a new access key whose secret could not be stored

Gateways translate library exceptions into `ExternalServiceError` subclasses at the boundary;
services raise the others. Anything else that escapes is a bug (a `RuntimeError` for misuse, say),
reported as such. The stand-ins' own failures (`DemoFailed`, `DrillFailed`, the Slack stand-in's
`SlackError`) belong to the sandbox, not the bot. Nothing here may hold a secret: messages are shown
in Slack and written to logs.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose; `message` is user-safe."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(BotError):
    """Bad arguments or input values. `field` names the modal block the error belongs to."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(BotError):
    """The incident, step, scenario or user does not exist."""


class PermissionDenied(BotError):
    """The acting user is not allowed to do this."""


class ConflictError(BotError):
    """The request clashes with the current state (already resolved, already approved...)."""


class ScenarioError(BotError):
    """A scenario file does not validate."""


class ConfigError(BotError):
    """Settings are missing or invalid; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "Invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems)
        )
        self.problems = problems


class DatabaseUnusable(BotError):
    """The database file cannot be used as it is: damaged, or newer than this version. Refused at
    start-up before anything is written to it; the message says what to do."""


class LeaseLost(BotError):
    """Another process holds the run lease now (this one was frozen past the lease time, or its
    heartbeat failed that long): the write or send was refused and this process must stop."""


class ExternalServiceError(BotError):
    """Slack, PagerDuty or AWS failed after bounded retries."""

    def __init__(
        self, message: str, *, service: str, code: str = "", retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.service = service
        self.code = code
        self.retryable = retryable
