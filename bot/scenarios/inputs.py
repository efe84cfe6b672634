"""Scenario inputs: the values a responder is asked for, their types and how a raw value is checked.

Owns `Input`, the built-in pattern of every input type and `validate_input`, which turns a raw modal
value into a typed one or raises `UsageError` naming the field. It must not talk to AWS, Slack or
storage, and it knows nothing of steps.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import UsageError

_NAME = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputType(StrEnum):
    """Value types a responder can be asked for; each has a built-in check (`validate_input`)."""

    STRING = "string"
    INTEGER = "integer"
    SNAPSHOT_ID = "snapshot_id"
    ISO_DATETIME = "iso_datetime"
    CIDR = "cidr"
    TASK_DEFINITION = "task_definition"
    REGION = "region"
    ACCESS_KEY_ID = "access_key_id"
    ARN = "arn"
    HOSTED_ZONE_ID = "hosted_zone_id"
    DNS_NAME = "dns_name"
    NETWORK_ACL_ID = "network_acl_id"
    SECURITY_GROUP_ID = "security_group_id"


# (pattern, what a valid value looks like) per type; `cidr`, `iso_datetime` and `integer` are parsed too.
BUILTIN_PATTERNS: dict[InputType, tuple[str, str]] = {
    InputType.STRING: (r"^.+$", "some text"),
    InputType.INTEGER: (r"^[+-]?\d+$", "a whole number"),
    InputType.SNAPSHOT_ID: (
        r"^(rds:)?[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$|^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:snapshot:.+$",
        "an RDS snapshot identifier: a letter, then letters, digits and single hyphens (e.g. bodyscript-production-snapshot-20240924)",
    ),
    InputType.ISO_DATETIME: (
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$",
        "an ISO 8601 time with a time zone, e.g. 2024-09-24T10:00:00Z",
    ),
    InputType.CIDR: (r"^[0-9A-Fa-f:.]+/\d{1,3}$", "a CIDR block, e.g. 203.0.113.0/24"),
    InputType.TASK_DEFINITION: (
        r"^(arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/)?[A-Za-z0-9_-]{1,255}(:\d+)?$",
        "a task definition family:revision or ARN, e.g. bodyscript-api:42",
    ),
    InputType.REGION: (
        r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
        "an AWS region name, e.g. us-west-2",
    ),
    InputType.ACCESS_KEY_ID: (
        r"^(AKIA|ASIA)[A-Z0-9]{16}$",
        "an access key id: AKIA and 16 capitals or digits",
    ),
    InputType.ARN: (
        r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+$",
        "an ARN, e.g. arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/bodyscript-api/0123456789abcdef",
    ),
    # AWS's own ids start with Z, but the API documents only "up to 32 characters"; moto's do not.
    InputType.HOSTED_ZONE_ID: (
        r"^(/hostedzone/)?[A-Z0-9]{5,32}$",
        "a Route 53 hosted zone id, e.g. Z123456",
    ),
    InputType.DNS_NAME: (
        r"^(?=.{1,253}\.?$)([A-Za-z0-9_](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?$",
        "a DNS name, e.g. api.bodyscript.com",
    ),
    InputType.NETWORK_ACL_ID: (
        r"^acl-[0-9a-f]{8,17}$",
        "a network ACL id, e.g. acl-0123456789abcdef0",
    ),
    InputType.SECURITY_GROUP_ID: (
        r"^sg-[0-9a-f]{8,17}$",
        "a security group id, e.g. sg-12345678",
    ),
}


class Input(_Strict):
    """A value asked of the responder (in a modal) before a step that uses it runs."""

    name: str = Field(pattern=_NAME)
    label: str
    type: InputType = InputType.STRING
    pattern: str | None = Field(
        None,
        description="An extra regex the value must match, on top of the type's own check.",
    )
    default: str | int | None = None
    default_from: str | None = Field(
        None,
        pattern=r"^steps\.[a-z0-9-]+\.[A-Za-z_][A-Za-z0-9_]*$",
        description="steps.<step-id>.<capture>",
    )
    help: str = ""
    minimum: int | None = None
    maximum: int | None = None


def validate_input(spec: Input, raw: str) -> str | int:
    """Check a responder's raw value against the input's type and pattern; return the typed value."""
    value = raw.strip()
    label = spec.label
    if not value:
        raise UsageError(f"{label} is required.", field=spec.name)
    pattern, shape = BUILTIN_PATTERNS[spec.type]
    if not re.fullmatch(pattern, value):
        raise UsageError(f"{label}: {value!r} is not {shape}.", field=spec.name)
    result: str | int = value
    if spec.type is InputType.CIDR:
        result = _cidr(spec, value)
    elif spec.type is InputType.ISO_DATETIME:
        result = _datetime(spec, value)
    elif spec.type is InputType.INTEGER:
        result = _integer(spec, int(value))
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        rule = spec.help or f"it must match {spec.pattern}"
        raise UsageError(f"{label}: {value!r} does not match: {rule}.", field=spec.name)
    return result


def _cidr(spec: Input, value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        if "host bits set" in str(exc):
            near = ipaddress.ip_network(value, strict=False)
            raise UsageError(
                f"{spec.label}: {value} has host bits set; did you mean {near}?",
                field=spec.name,
            ) from None
        raise UsageError(
            f"{spec.label}: {value} is not a valid IPv4 or IPv6 CIDR block ({exc}).",
            field=spec.name,
        ) from None


def _datetime(spec: Input, value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{spec.label}: {value} is not a real date and time (e.g. 2024-09-24T10:00:00Z).",
            field=spec.name,
        ) from None
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _integer(spec: Input, number: int) -> int:
    if spec.minimum is not None and number < spec.minimum:
        raise UsageError(
            f"{spec.label}: {number} is below the minimum of {spec.minimum}.",
            field=spec.name,
        )
    if spec.maximum is not None and number > spec.maximum:
        raise UsageError(
            f"{spec.label}: {number} is above the maximum of {spec.maximum}.",
            field=spec.name,
        )
    return number
