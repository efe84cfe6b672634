"""What detect-secrets' plugins catch and spare, next to the bot's own patterns: one canary of each
kind `tests/test_canaries.py` plants, a secret-named AWS tag, and identifiers the bot must keep
visible. The plugins are configured as `bench/ingest.py --redaction detect-secrets` runs them.

    python -m bench detectors        (needs `pip install detect-secrets`)
"""

from __future__ import annotations

import json
from collections.abc import Callable

from bot import redaction

# Identifiers an approver, a post-mortem or `warroom verify` must show as they are.
IDENTIFIERS = {
    "secret ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bodyscript/production/db-AbCdEf",
    "snapshot id": "rds:bodyscript-production-2026-12-02-03-00",
    "timeline chain hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "AWS request id": "c0ffee00-1234-4abc-9def-0123456789ab",
    "security group id": "sg-0a1b2c3d4e5f67890",
    "PagerDuty id": "PABC123",
    "Slack message ts": "1733150000.123456",
}
TAG = {"Tags": [{"Key": "db_password", "Value": "hunter2-MARKtag01Zq"}]}


def main(argv: list[str]) -> int:
    try:
        from bench.ingest import detect_secrets_redactor

        plugins = detect_secrets_redactor()
    except ImportError:
        print(
            "detectors: skipped, detect-secrets is not installed (pip install detect-secrets)"
        )
        return 0
    from tests.test_canaries import marker_of, planted

    def caught(redact: Callable[[str], str], secret: str) -> str:
        return (
            "caught"
            if marker_of(secret).decode() not in redact(f"note: {secret}")
            else "MISSED"
        )

    print("secret kind | detect-secrets' plugins | warroom's patterns")
    for kind, secret in planted("zz").items():
        print(
            f"{kind} | {caught(plugins, secret)} | {caught(redaction.redact_text, secret)}"
        )
    tag = json.dumps(TAG)
    print(
        "secret-named AWS tag (JSON) |",
        "caught" if "MARKtag01Zq" not in plugins(tag) else "MISSED",
        "|",
        "caught"
        if "MARKtag01Zq" not in json.dumps(redaction.redact(TAG))
        else "MISSED",
    )
    print("identifier | detect-secrets' plugins | warroom's patterns")
    for name, value in IDENTIFIERS.items():
        text = f"value: {value}"
        kept = [
            "kept" if value in r(text) else "REDACTED"
            for r in (plugins, redaction.redact_text)
        ]
        print(f"{name} | {kept[0]} | {kept[1]}")
    return 0
