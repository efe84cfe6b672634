"""The calls an AWS step of a scenario makes around its own: `preview` and `guards` before it, `wait`
and `verify` after.

Owns `Call`, `Preview`, `Verify`, `Guard` and `Wait`, strict (`extra="forbid"`) like every scenario model; the
step that holds them is `bot.scenarios.schema.AwsStep`. It checks nothing against botocore: that is
`bot.scenarios.checks`' job.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Call(_Strict):
    """A read-only call made around a step: `service` defaults to the step's own service."""

    service: str | None = None
    operation: str = Field(pattern=r"^[a-z0-9_]+$")
    params: dict[str, Any] = Field(default_factory=dict)


class Preview(Call):
    """Shows the current value (`capture` over the response) beside the `proposed` one."""

    capture: str
    proposed: str


class Verify(Call):
    """Confirms a step's effect: `query` (JMESPath) over the response compared with `expected`
    (`at_least` / `at_most` compare numbers)."""

    query: str
    expected: Any
    condition: Literal["equals", "contains", "not_contains", "at_least", "at_most"] = (
        "equals"
    )


class Guard(Verify):
    """A pre-flight check of a step that changes something: read just before the call is sent
    (after approval); when it does not hold, the call is not sent and `why` says what it prevented."""

    why: str = Field(min_length=1, max_length=200)


class Wait(_Strict):
    """A boto3 waiter of the step's service, e.g. `db_instance_available`."""

    waiter: str = Field(pattern=r"^[a-z0-9_]+$")
    params: dict[str, Any] = Field(default_factory=dict)
    delay: int = Field(30, ge=1, le=600)
    max_attempts: int = Field(60, ge=1, le=1000)
