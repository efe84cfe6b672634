"""The SNS host as tests see it: a local certificate authority serves SNS's signing certificate and
its subscription confirmations over HTTPS on 127.0.0.1, and `SnsHost.sign` signs messages as SNS
does (SignatureVersion 1 or 2). Test code only."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bot.gateways.aws.sns import string_to_sign

TOPIC = "arn:aws:sns:us-east-1:123456789012:bodyscript-alarms"
LOCAL = r"127\.0\.0\.1"  # the certificate host the tests' setting allows


def signing_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    """An RSA key and a self-signed certificate for it, as SNS's signing certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class SnsHost:
    """The stand-in SNS host: its signing certificate and its confirmation URL, over HTTPS."""

    url: str
    ca_bundle: Path
    key: rsa.RSAPrivateKey
    hits: list[str] = field(default_factory=list)

    CONFIRM_PATH = "/?Action=ConfirmSubscription&Token=2336412f37"

    def confirmation(self) -> dict[str, Any]:
        """An unsigned SubscriptionConfirmation of TOPIC, to be confirmed at this host."""
        return {
            "Type": "SubscriptionConfirmation",
            "MessageId": "c-1",
            "Token": "2336412f37",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": f"{self.url}{self.CONFIRM_PATH}",
            "Timestamp": "2026-12-04T02:59:00.000Z",
        }

    def sign(self, document: dict[str, Any], version: str = "2") -> dict[str, Any]:
        signed = {
            **document,
            "SignatureVersion": version,
            "SigningCertURL": document.get(
                "SigningCertURL", f"{self.url}/SimpleNotificationService-test.pem"
            ),
        }
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
        return {**signed, "Signature": base64.b64encode(signature).decode()}


@pytest.fixture
async def sns_host(tmp_path: Path) -> AsyncIterator[SnsHost]:
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    key, pem = signing_pair()
    host = SnsHost("", bundle, key)

    async def certificate(request: web.Request) -> web.Response:
        host.hits.append(request.path)
        return web.Response(body=pem, content_type="application/x-pem-file")

    async def confirm(request: web.Request) -> web.Response:
        host.hits.append(f"{request.path}?{request.query_string}")
        return web.Response(text="<ConfirmSubscriptionResponse/>")

    app = web.Application()
    app.router.add_get("/SimpleNotificationService-test.pem", certificate)
    app.router.add_get("/", confirm)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    host.url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    yield host
    await runner.cleanup()
