"""Amazon SNS messages delivered over HTTPS: checking them as AWS documents it, before anything is
recorded.

Owns reading a delivery's JSON (`Type` Notification, SubscriptionConfirmation or
UnsubscribeConfirmation), the string SNS signs for each type, the signature check (SignatureVersion
1: SHA1withRSA, 2: SHA256withRSA, PKCS #1 v1.5) against the certificate at `SigningCertURL`, which
is fetched only over HTTPS from an SNS host (`sns.<region>.amazonaws.com`, or the host a setting
allows, for tests) and cached, and the topics a deployment accepts. Confirming a subscription
fetches its `SubscribeURL`, held to the same host rule. A CloudWatch alarm's notification is read
as an `AlertEvent`. Must not: record, post or act on a message;
trust anything in a message before its signature is checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bot.models.alerts import AlertEvent

# The hosts SNS signs from and sends confirmations from, in every partition.
SNS_HOST = r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
# The keys SNS signs, in the order it signs them (absent optional keys are skipped).
_SIGNED = {
    "Notification": (
        "Message",
        "MessageId",
        "Subject",
        "Timestamp",
        "TopicArn",
        "Type",
    ),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_CERT_BYTES = 16 * 1024


class SnsRejected(Exception):
    """A delivery that is not a genuine SNS message for an accepted topic: nothing is recorded."""


@dataclass(frozen=True)
class SnsMessage:
    """A delivery whose signature was checked."""

    type: str
    message_id: str
    topic_arn: str
    timestamp: str
    message: str
    subject: str | None = None
    subscribe_url: str | None = None


def parse(body: bytes) -> dict[str, Any]:
    """The delivery's JSON object, or SnsRejected saying what is wrong with it."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SnsRejected("the body is not JSON") from None
    if not isinstance(document, dict):
        raise SnsRejected("the body is not a JSON object")
    kind = document.get("Type")
    if kind not in TYPES:
        raise SnsRejected(f"unknown message type {str(kind)[:40]!r}")
    missing = [
        key
        for key in (*_SIGNED[kind], "Signature", "SignatureVersion", "SigningCertURL")
        if key != "Subject" and not isinstance(document.get(key), str)
    ]
    if missing:
        raise SnsRejected(f"missing or not text: {', '.join(missing)}")
    return document


def string_to_sign(document: dict[str, Any]) -> bytes:
    """What SNS signed: each signed key and its value on their own lines, in SNS's order."""
    lines = []
    for key in _SIGNED[document["Type"]]:
        value = document.get(key)
        if key == "Subject" and value is None:
            continue
        lines += [key, str(value)]
    return ("\n".join(lines) + "\n").encode()


def allowed_url(url: str, host_pattern: str) -> bool:
    """An https URL on a host matching `host_pattern` (a regular expression, whole host), no user
    info, default or explicit port."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and not parts.username
        and not parts.password
        and re.fullmatch(host_pattern, parts.hostname or "") is not None
    )


def verify_signature(document: dict[str, Any], certificate: x509.Certificate) -> None:
    """SnsRejected unless the document's signature was made by the certificate's key."""
    algorithm = _HASHES.get(document["SignatureVersion"])
    if algorithm is None:
        raise SnsRejected(
            f"unknown SignatureVersion {document['SignatureVersion'][:8]!r}"
        )
    try:
        signature = base64.b64decode(document["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SnsRejected("the signature is not base64") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsRejected("the signing certificate's key is not RSA")
    try:
        key.verify(signature, string_to_sign(document), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise SnsRejected("the signature does not match the message") from None


def cloudwatch_alarm(message: SnsMessage) -> AlertEvent | None:
    """The alert a CloudWatch alarm's notification reports (ALARM fires it, OK clears it); None
    for anything else on the topic."""
    try:
        alarm = json.loads(message.message)
    except ValueError:
        return None
    if not isinstance(alarm, dict) or not isinstance(alarm.get("AlarmName"), str):
        return None
    state = alarm.get("NewStateValue")
    if state not in ("ALARM", "OK"):
        return None
    changed = str(alarm.get("StateChangeTime") or message.timestamp)
    try:
        at = datetime.strptime(changed, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            at = datetime.fromisoformat(message.timestamp.replace("Z", "+00:00"))
        except ValueError:
            return None
    region = str(alarm.get("Region") or "")
    return AlertEvent(
        source="cloudwatch",
        key=str(alarm.get("AlarmArn") or alarm["AlarmName"]),
        title=str(alarm["AlarmName"]),
        service=str(alarm.get("AlarmDescription") or region)[:200],
        at=at.astimezone(UTC),
        cleared=state == "OK",
    )


class SnsVerifier:
    """Check SNS deliveries: certificate host, signature, topic. Certificates are cached by URL."""

    def __init__(
        self,
        *,
        topics: frozenset[str],
        cert_host: str = SNS_HOST,
        ca_bundle: Path | None = None,
        timeout: float = 10,
    ) -> None:
        self.topics, self.cert_host = topics, cert_host
        self._tls = ssl.create_default_context(
            cafile=str(ca_bundle) if ca_bundle else None
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._certificates: dict[str, x509.Certificate] = {}

    async def verify(self, body: bytes) -> SnsMessage:
        """The checked message, or SnsRejected: unknown topic, a certificate URL that is not an
        SNS host's, a certificate that cannot be fetched, or a signature that does not match."""
        document = parse(body)
        if document["TopicArn"] not in self.topics:
            raise SnsRejected(f"topic {document['TopicArn'][:200]} is not accepted")
        url = document["SigningCertURL"]
        if not allowed_url(url, self.cert_host) or not urlsplit(url).path.endswith(
            ".pem"
        ):
            raise SnsRejected("the signing certificate is not on an SNS host")
        verify_signature(document, await self._certificate(url))
        subscribe = document.get("SubscribeURL")
        if subscribe is not None and not allowed_url(subscribe, self.cert_host):
            raise SnsRejected("the SubscribeURL is not on an SNS host")
        return SnsMessage(
            type=document["Type"],
            message_id=document["MessageId"],
            topic_arn=document["TopicArn"],
            timestamp=document["Timestamp"],
            message=document["Message"],
            subject=document.get("Subject"),
            subscribe_url=subscribe,
        )

    async def confirm(self, message: SnsMessage) -> None:
        """Confirm a checked SubscriptionConfirmation by fetching its SubscribeURL."""
        if message.type != "SubscriptionConfirmation" or not message.subscribe_url:
            raise SnsRejected("not a subscription confirmation")
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(message.subscribe_url, ssl=self._tls) as response,
            ):
                if response.status != 200:
                    raise SnsRejected(
                        f"SNS answered the confirmation with HTTP {response.status}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SnsRejected(f"could not confirm the subscription: {exc}") from None

    async def _certificate(self, url: str) -> x509.Certificate:
        cached = self._certificates.get(url)
        if cached is not None:
            return cached
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(url, ssl=self._tls, allow_redirects=False) as response,
            ):
                if response.status != 200:
                    raise SnsRejected(
                        f"the signing certificate could not be fetched (HTTP {response.status})"
                    )
                pem = await response.content.read(MAX_CERT_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SnsRejected(
                f"the signing certificate could not be fetched: {exc}"
            ) from None
        if len(pem) > MAX_CERT_BYTES:
            raise SnsRejected("the signing certificate is too large")
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SnsRejected(
                "the signing certificate is not a PEM certificate"
            ) from None
        self._certificates[url] = certificate
        return certificate
