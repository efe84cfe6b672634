"""Redaction of secrets from text and from AWS responses, before anything is stored, logged or posted.

Owns the patterns (after gitleaks) and the field names that mark a secret. It must never be bypassed:
the timeline, the step ledger and every Slack post pass what they keep through here.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

_ACCESS_KEY_ID = re.compile(
    r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}\b"
)
_TEXT_PATTERNS: tuple[re.Pattern[str], ...] = (
    # AWS access key ids (long-term and temporary)
    _ACCESS_KEY_ID,
    # a 40-character secret access key shortly after a word that names it
    re.compile(
        r"(?i)(aws_?secret_?access_?key|secret_?access_?key|secretaccesskey)(\W{1,5})[A-Za-z0-9/+=]{40,}"
    ),
    # Slack tokens and webhook URLs
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"),
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
    # PEM private keys
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
        re.DOTALL,
    ),
)

_SECRET_FIELD = re.compile(
    r"(?i)(secret|password|passwd|sessiontoken|session_token|privatekey|private_key|credentials?$)"
)
# Fields whose names look secret but hold only identifiers (an ARN is safe to post).
_SAFE_FIELDS = frozenset({"SecretArn", "ARN", "Arn", "SecretId", "Name", "SecretName"})
# Names of identifiers such as SecretArn, secret_arn or SecretVersionId: an id is not the secret.
_IDENTIFIER_FIELD = re.compile(r"(?i)(arn|_id|versionid|id)$")


def redact_text(text: str) -> str:
    """Replace every secret-looking substring of `text` with a marker."""
    for pattern in _TEXT_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any) -> Any:
    """Return a copy of a JSON-like value with secret fields and secret-looking strings redacted."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if (
                isinstance(key, str)
                and key not in _SAFE_FIELDS
                and not _IDENTIFIER_FIELD.search(key)
                and _SECRET_FIELD.search(key)
            ):
                out[key] = REDACTED
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        # A structured value that is exactly an access key id is kept: the id is shown in the AWS
        # console and CloudTrail and is needed to rotate the key (its secret is what must never
        # leave). In free text the pattern is still redacted; STS `Credentials` stays redacted whole.
        return value if _ACCESS_KEY_ID.fullmatch(value) else redact_text(value)
    return value
