"""Redaction: secrets go wherever they appear; identifiers an operator needs (an access key id) stay
in structured values."""

from __future__ import annotations

from bot.redaction import REDACTED, redact, redact_secrets, redact_text

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


def test_identifiers_stay_and_tagged_secrets_go():
    shown = redact(
        {
            "secret_name": "bodyscript/production/api-access-key",
            "SecretId": "bodyscript/production/db",
            "Tags": [
                {"Key": "db_password", "Value": "hunter2-hunter2"},
                {"Key": "team", "Value": "payments"},
            ],
        }
    )
    assert shown["secret_name"] == "bodyscript/production/api-access-key"
    assert shown["SecretId"] == "bodyscript/production/db"
    assert shown["Tags"][0]["Value"] == REDACTED
    assert shown["Tags"][1]["Value"] == "payments"


def test_a_hex_digest_is_not_taken_for_a_bare_secret_key():
    digest = (
        "3ee5054e73441c278aa9897f69e0cf1ec8f56aec"  # 40 hex characters, like a git sha
    )
    assert redact_secrets(f"commit {digest}") == f"commit {digest}"


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def test_a_jwt_goes_whole_and_unsigned_ones_too():
    assert redact_secrets(f"Authorization: Bearer {JWT}.") == (
        f"Authorization: Bearer {REDACTED}."
    )
    unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
    assert redact_secrets(f"token {unsigned} end") == f"token {REDACTED} end"
    # dotted words that are not tokens stay
    assert redact_secrets("warroom 1.2.3 eyJ.x.y") == "warroom 1.2.3 eyJ.x.y"


def test_fields_and_tags_named_after_a_token_or_api_key_go_whatever_their_value():
    shown = redact(
        {
            "Tags": [
                {"Key": "api_token", "Value": "opaque"},
                {"Key": "Api-Key", "Value": "opaque"},
                {"Key": "team", "Value": "payments"},
            ],
            "auth_token": "opaque",
            "TokenName": "deploy-bot",  # an identifier: a name
        }
    )
    assert [t["Value"] for t in shown["Tags"]] == [REDACTED, REDACTED, "payments"]
    assert shown["auth_token"] == REDACTED
    assert shown["TokenName"] == "deploy-bot"
