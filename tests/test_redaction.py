"""Redaction: secrets go wherever they appear; identifiers an operator needs (an access key id) stay
in structured values."""

from __future__ import annotations

from bot.redaction import REDACTED, redact, redact_text

KEY_ID = "AKIAEXAMPLE000000042"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # 40 characters, as AWS issues them


def test_structured_values_keep_access_key_ids_and_drop_secret_fields():
    response = {
        "AccessKey": {
            "AccessKeyId": KEY_ID,
            "SecretAccessKey": SECRET,
            "UserName": "api",
        },
        "AccessKeyMetadata": [{"AccessKeyId": KEY_ID, "Status": "Active"}],
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLE000000042",
            "SessionToken": "x" * 50,
        },
        "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:api",
    }

    redacted = redact(response)

    assert redacted["AccessKey"] == {
        "AccessKeyId": KEY_ID,
        "SecretAccessKey": REDACTED,
        "UserName": "api",
    }
    assert redacted["AccessKeyMetadata"][0]["AccessKeyId"] == KEY_ID
    assert redacted["Credentials"] == REDACTED
    assert redacted["SecretArn"] == response["SecretArn"]
    assert redact([KEY_ID, "other"]) == [
        KEY_ID,
        "other",
    ]  # a preview listing a user's keys


def test_free_text_loses_key_ids_secrets_and_tokens_whole():
    text = (
        f"key {KEY_ID} secret_access_key={SECRET}EXTRA token xoxb-123456789-abcdefghij"
    )

    redacted = redact_text(text)

    assert KEY_ID not in redacted
    assert SECRET not in redacted
    # a longer token goes whole, not its first 40 characters
    assert "EXTRA" not in redacted
    assert "xoxb-123456789" not in redacted
    assert redact({"message": text})["message"] == redacted
