"""AWS operations as botocore models them: existence, parameter shapes, waiters, and their classification.

Owns `is_read_only` (Describe/List/Get/Head minus reads that return secrets or customer data) and
`destructive_reason` (the calls DESIGN.md says must be flagged destructive), and checks literal
parameters against botocore's bundled service models, each loaded once. The runbook service uses the
classification at run time, `scenarios lint` at lint time. It must not create clients or send requests.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StringShape,
    StructureShape,
)

from bot.scenarios.templating import TEMPLATE

_READ_PREFIXES = ("describe", "list", "get", "head")
_READ_EXTRA = frozenset({"cloudtrail:lookupevents", "logs:filterlogevents"})
# Reads that return secrets or customer data: they need approval like a change.
_SECRET_READS = frozenset(
    {
        "secretsmanager:getsecretvalue",
        "secretsmanager:batchgetsecretvalue",
        "secretsmanager:getrandompassword",
        "s3:getobject",
        "s3:getobjecttorrent",
        "kms:decrypt",
        "kms:getparametersforimport",
        "ec2:getpassworddata",
        "ec2:getlaunchtemplatedata",
        "ecr:getauthorizationtoken",
        "ecr:getdownloadurlforlayer",
        "ecr-public:getauthorizationtoken",
        "codeartifact:getauthorizationtoken",
        "sts:getsessiontoken",
        "sts:getfederationtoken",
        "sso:getrolecredentials",
        "redshift:getclustercredentials",
        "lambda:getfunction",
        "lambda:getfunctionconfiguration",
        "glacier:getjoboutput",
        "athena:getqueryresults",
        "kinesis:getrecords",
        "dynamodb:getitem",
        "codecommit:getfile",
        "codecommit:getblob",
    }
)
# ssm reads are read-only only when the call says it does not decrypt.
_DECRYPTING_READS = frozenset(
    {
        "ssm:getparameter",
        "ssm:getparameters",
        "ssm:getparametersbypath",
        "ssm:getparameterhistory",
    }
)


def _norm(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def is_read_only(
    service: str, operation: str, params: Mapping[str, Any] | None = None
) -> bool:
    """Say whether a call only reads and returns no secret or customer data (boto3 or API name)."""
    key = f"{service}:{_norm(operation)}"
    if key in _SECRET_READS or (
        service == "sts"
        and key not in {"sts:getcalleridentity", "sts:getaccesskeyinfo"}
    ):
        return False
    if key in _DECRYPTING_READS:
        return params is not None and params.get("WithDecryption") in (None, False)
    return key in _READ_EXTRA or _norm(operation).startswith(_READ_PREFIXES)


def destructive_reason(
    service: str, operation: str, params: Mapping[str, Any]
) -> str | None:
    """Say why a call must be flagged `destructive: true`, or None if it need not be."""
    op = _norm(operation)
    if op.startswith(("delete", "terminate", "purge")):
        return "it deletes or terminates something"
    if service == "ecs" and op == "updateservice" and params.get("desiredCount") == 0:
        return "it scales the service to zero"
    if service == "route53" and op == "changeresourcerecordsets":
        return "it changes DNS"
    if service == "rds" and op.startswith("restore"):
        return "it restores a database that replaces data"
    return None


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(service: str) -> ServiceModel | None:
    """Return botocore's model of a service, or None if botocore does not know it (loaded once)."""
    try:
        return _session().get_service_model(service)
    except (UnknownServiceError, DataNotFoundError):
        return None


@cache
def operations(service: str) -> dict[str, str]:
    """Map boto3 method names to API operation names for a service ({} if unknown)."""
    model = service_model(service)
    return (
        {}
        if model is None
        else {botocore.xform_name(op): op for op in model.operation_names}
    )


@cache
def waiters(service: str) -> dict[str, str]:
    """Map boto3 waiter names to the API operation each waiter polls ({} if none)."""
    try:
        model = _session().get_waiter_model(service)
    except (UnknownServiceError, DataNotFoundError, ValueError):
        return {}
    return {
        botocore.xform_name(name): model.get_waiter(name).operation
        for name in model.waiter_names
    }


def operation_model(service: str, operation: str) -> OperationModel | None:
    """Return the model of a boto3-named operation, or None if the service or operation is unknown."""
    model, api = service_model(service), operations(service).get(operation)
    return None if model is None or api is None else model.operation_model(api)


def _single_template(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\s*\{\{[^{}]*\}\}\s*", value))


def check_params(shape: Shape | None, value: Any, path: str) -> list[tuple[str, str]]:
    """Check literal parameters against a botocore shape; return (field, message) pairs."""
    if shape is None:
        return [
            (f"{path}.{key}", f"unknown parameter {key!r}: the operation takes none")
            for key in value or {}
        ]
    if _single_template(value):
        return []  # a lone template may hold any type; it is checked when rendered
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [
                (path, f"expected a mapping ({shape.name}), got {type(value).__name__}")
            ]
        found: list[tuple[str, str]] = []
        for key, item in value.items():
            if key not in shape.members:
                close = difflib.get_close_matches(str(key), list(shape.members), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                found.append(
                    (
                        f"{path}.{key}",
                        f"unknown parameter {key!r} for {shape.name}{hint}",
                    )
                )
            else:
                found += check_params(shape.members[key], item, f"{path}.{key}")
        found += [
            (f"{path}.{req}", f"missing required parameter {req!r}")
            for req in shape.required_members
            if req not in value
        ]
        return found
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [(path, f"expected a list, got {type(value).__name__}")]
        return [
            p
            for i, item in enumerate(value)
            for p in check_params(shape.member, item, f"{path}.{i}")
        ]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [(path, f"expected a mapping, got {type(value).__name__}")]
        return [
            p
            for key, item in value.items()
            for p in check_params(shape.value, item, f"{path}.{key}")
        ]
    return _check_scalar(shape, value, path)


def _check_scalar(shape: Shape, value: Any, path: str) -> list[tuple[str, str]]:
    kind = shape.type_name
    expected: tuple[type, ...] = {
        "string": (str,),
        "blob": (str, bytes),
        "integer": (int,),
        "long": (int,),
        "float": (int, float),
        "double": (int, float),
        "boolean": (bool,),
        "timestamp": (str, datetime, date),
    }.get(kind, (object,))
    if (isinstance(value, bool) and bool not in expected) or not isinstance(
        value, expected
    ):
        return [(path, f"expected {kind}, got {type(value).__name__} {value!r}")]
    enum = shape.enum if isinstance(shape, StringShape) else []
    if (
        enum
        and isinstance(value, str)
        and not TEMPLATE.search(value)
        and value not in enum
    ):
        return [(path, f"{value!r} is not one of {', '.join(enum)}")]
    return []
