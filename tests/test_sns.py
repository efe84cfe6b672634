"""SNS deliveries checked as AWS documents it: a local certificate authority serves the signing
certificate over HTTPS from 127.0.0.1 (the host a setting allows in tests), messages are signed
with SignatureVersion 1 and 2, and every forgery is refused before anything is fetched or kept."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bot.gateways.aws.sns import SnsRejected, SnsVerifier, string_to_sign
from tests.plugins.sns import LOCAL, TOPIC, SnsHost, signing_pair


def verifier(host: SnsHost, cert_host: str = LOCAL) -> SnsVerifier:
    return SnsVerifier(
        topics=frozenset({TOPIC}), cert_host=cert_host, ca_bundle=host.ca_bundle
    )


def alarm(**extra: Any) -> dict[str, Any]:
    message = {
        "AlarmName": "bodyscript-api-5xx",
        "NewStateValue": "ALARM",
        "StateChangeTime": "2026-12-04T03:00:00.000+0000",
    }
    return {
        "Type": "Notification",
        "MessageId": "6d1a4b3e-0000-4000-8000-000000000001",
        "TopicArn": TOPIC,
        "Subject": 'ALARM: "bodyscript-api-5xx" in US East (N. Virginia)',
        "Message": json.dumps(message),
        "Timestamp": "2026-12-04T03:00:01.000Z",
        **extra,
    }


def body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize("version", ["1", "2"])
async def test_sns_a_signed_notification_is_accepted(sns_host: SnsHost, version: str):
    checked = await verifier(sns_host).verify(body(sns_host.sign(alarm(), version)))
    assert checked.type == "Notification"
    assert checked.topic_arn == TOPIC
    assert json.loads(checked.message)["AlarmName"] == "bodyscript-api-5xx"


async def test_sns_a_notification_without_a_subject_is_signed_without_it(
    sns_host: SnsHost,
):
    document = alarm()
    del document["Subject"]
    checked = await verifier(sns_host).verify(body(sns_host.sign(document)))
    assert checked.subject is None


async def test_sns_the_certificate_is_fetched_once(sns_host: SnsHost):
    check = verifier(sns_host)
    for n in range(3):
        await check.verify(body(sns_host.sign(alarm(MessageId=f"m-{n}"))))
    assert sns_host.hits == ["/SimpleNotificationService-test.pem"]


@pytest.mark.parametrize(
    "field_name", ["Message", "TopicArn", "Timestamp", "MessageId", "Subject"]
)
async def test_sns_a_changed_signed_field_is_refused(
    sns_host: SnsHost, field_name: str
):
    document = sns_host.sign(alarm())
    document[field_name] = (
        TOPIC if field_name == "TopicArn" else document[field_name] + " "
    )
    if field_name == "TopicArn":  # still an accepted topic: only the signature can tell
        document["Message"] = document["Message"].replace("ALARM", "OK")
    with pytest.raises(SnsRejected, match="signature does not match"):
        await verifier(sns_host).verify(body(document))


async def test_sns_a_signature_by_another_key_is_refused(sns_host: SnsHost):
    forger, _ = signing_pair()
    document = sns_host.sign(alarm())
    forged = forger.sign(string_to_sign(document), padding.PKCS1v15(), hashes.SHA256())
    document["Signature"] = base64.b64encode(forged).decode()
    with pytest.raises(SnsRejected, match="signature does not match"):
        await verifier(sns_host).verify(body(document))


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.evil.example/SimpleNotificationService-test.pem",
        "http://127.0.0.1/SimpleNotificationService-test.pem",
        "https://user@127.0.0.1/SimpleNotificationService-test.pem",
        "https://127.0.0.1/not-a-certificate.txt",
    ],
)
async def test_sns_a_certificate_off_an_sns_host_is_never_fetched(
    sns_host: SnsHost, url: str
):
    document = sns_host.sign(alarm(SigningCertURL=url))
    with pytest.raises(SnsRejected, match="not on an SNS host"):
        await verifier(sns_host).verify(body(document))
    assert sns_host.hits == []


async def test_sns_the_default_host_rule_accepts_only_sns_hosts(sns_host: SnsHost):
    # Without the test setting, 127.0.0.1 is not an SNS host.
    with pytest.raises(SnsRejected, match="not on an SNS host"):
        await SnsVerifier(topics=frozenset({TOPIC})).verify(
            body(sns_host.sign(alarm()))
        )
    assert sns_host.hits == []


async def test_sns_an_unaccepted_topic_is_refused_before_any_fetch(sns_host: SnsHost):
    document = sns_host.sign(alarm(TopicArn=TOPIC.replace("alarms", "other")))
    with pytest.raises(SnsRejected, match="is not accepted"):
        await verifier(sns_host).verify(body(document))
    assert sns_host.hits == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"Type": "Other"}', "unknown message type"),
        (json.dumps({"Type": "Notification"}).encode(), "missing or not text"),
    ],
)
async def test_sns_a_malformed_delivery_is_refused(
    sns_host: SnsHost, raw: bytes, reason: str
):
    with pytest.raises(SnsRejected, match=reason):
        await verifier(sns_host).verify(raw)


async def test_sns_an_unknown_signature_version_is_refused(sns_host: SnsHost):
    document = {**sns_host.sign(alarm()), "SignatureVersion": "3"}
    with pytest.raises(SnsRejected, match="SignatureVersion"):
        await verifier(sns_host).verify(body(document))


async def test_sns_a_subscription_is_confirmed_at_its_sns_host_only(sns_host: SnsHost):
    confirmation = sns_host.confirmation()
    check = verifier(sns_host)
    checked = await check.verify(body(sns_host.sign(confirmation)))
    await check.confirm(checked)
    assert sns_host.hits[-1] == sns_host.CONFIRM_PATH
    elsewhere = {
        **confirmation,
        "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription",
    }
    with pytest.raises(SnsRejected, match="SubscribeURL is not on an SNS host"):
        await check.verify(body(sns_host.sign(elsewhere)))
    assert len(sns_host.hits) == 2  # the certificate once, the confirmation once
