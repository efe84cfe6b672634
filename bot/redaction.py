"""Redaction of secrets, at the one boundary every byte crosses before it is stored, posted or logged.

Owns the patterns (after gitleaks) and the field names that mark a secret, and what each sink gets:

    redact_secrets(text)    secrets only: tokens, secret keys, private keys (posts, stored text)
    redact_text(text)       secrets, and access key ids in free text (the timeline's messages)
    redact(value)           a JSON-like value: secret fields whatever their value, strings as text,
                            but a value that is exactly an identifier (an access key id) kept
    redact_posted(value)    every string of a Slack call's arguments (the outbox), identifiers kept
    redact_request(body)    a raw Slack request body (the inbox), in its own encoding

Logs go through `bot.cli.main.RedactingFilter`, on every handler the CLI installs.
Identifiers stay visible (secret names, key ids, ARNs): approvers must see what they approve.
It must never be bypassed: storage, the outbox and the logs pass what they keep through here.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[REDACTED]"

_ACCESS_KEY_ID = re.compile(
    r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}\b"
)
# Secrets; access key ids (above) are identifiers, redacted only in free text.
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # a 40-character secret access key shortly after a word that names it
    re.compile(
        r"(?i)(aws_?secret_?access_?key|secret_?access_?key|secretaccesskey)(\W{1,5})[A-Za-z0-9/+=]{40,}"
    ),
    # a session token shortly after a word that names it
    re.compile(
        r"(?i)(session_?token|security_?token|x-amz-security-token)(\W{1,5})[A-Za-z0-9/+=]{16,}"
    ),
    # a bare 40-character secret access key: mixed case and a digit (a hex digest is not one)
    re.compile(
        r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])"
        r"(?=[A-Za-z0-9/+]*[0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    ),
    # Slack tokens (refresh tokens too: xoxe.xoxp-..., xoxe-...) and webhook URLs
    re.compile(r"\bxox[a-z](?:\.xox[a-z])?-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"),
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
    # JSON Web Tokens: a base64url header and payload (both JSON objects, so `eyJ`), a signature
    re.compile(
        r"\beyJ[A-Za-z0-9_-]{10,}={0,2}\.eyJ[A-Za-z0-9_-]{2,}={0,2}\.[A-Za-z0-9_-]*={0,2}"
    ),
    # PEM and PGP private keys, to their END line or, cut short, to the end of the text
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        re.DOTALL,
    ),
)

# Fields and tag keys whose value is a secret whatever it looks like (a token: session, API, auth).
_SECRET_FIELD = re.compile(
    r"(?i)(secret|password|passwd|token|api[_-]?key|private[_-]?key|credentials?$)"
)
# Names of identifiers such as SecretArn, secret_arn, SecretVersionId or secret_name: not the secret.
_IDENTIFIER_FIELD = re.compile(r"(?i)(arn|_id|versionid|id|name)$")


def _secret_field(key: object) -> bool:
    return (
        isinstance(key, str)
        and not _IDENTIFIER_FIELD.search(key)
        and bool(_SECRET_FIELD.search(key))
    )


def redact_secrets(text: str) -> str:
    """Replace every secret in `text` with a marker; identifiers (access key ids) stay."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact_text(text: str) -> str:
    """Replace every secret-looking substring of free text, access key ids included, with a marker."""
    return _ACCESS_KEY_ID.sub(REDACTED, redact_secrets(text))


def redact_posted(value: Any) -> Any:
    """Every string of a JSON-like value with its secrets replaced; the structure is kept."""
    if isinstance(value, dict):
        return {key: redact_posted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_posted(item) for item in value]
    return redact_secrets(value) if isinstance(value, str) else value


def redact_request(body: str) -> str:
    """A raw Slack request body with its secrets replaced, in the encoding it came in (JSON, or a
    form whose `payload` field is JSON): each string is redacted as itself, not as escaped text."""
    if body.startswith("{"):
        return _redact_json(body)
    pairs = parse_qsl(body, keep_blank_values=True)
    return urlencode([(k, _redact_json(v)) for k, v in pairs])


def _redact_json(text: str) -> str:
    if text.startswith(("{", "[")):
        try:
            return json.dumps(redact_posted(json.loads(text)), separators=(",", ":"))
        except ValueError:
            pass
    return redact_secrets(text)


def redact(value: Any) -> Any:
    """Return a copy of a JSON-like value with secret fields and secret-looking strings redacted."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if _secret_field(key):
                out[key] = REDACTED
            else:
                out[key] = redact(item)
        # AWS tags and similar pairs: {"Key": "db_password", "Value": "..."}
        name = value.get("Key", value.get("key"))
        for field in ("Value", "value"):
            if field in out and isinstance(name, str) and _secret_field(name):
                out[field] = REDACTED
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        # A structured value that is exactly an access key id is kept: the id is shown in the AWS
        # console and CloudTrail and is needed to rotate the key (its secret is what must never
        # leave). In free text the pattern is still redacted; STS `Credentials` stays redacted whole.
        return value if _ACCESS_KEY_ID.fullmatch(value) else redact_text(value)
    return value
