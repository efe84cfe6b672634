"""AWS failures, classified: did AWS prove the call did not run, may it be retried, what to do next.

Owns the error classes raised by the gateway and the translation of botocore exceptions into them.
Messages are redacted; nothing here calls AWS.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from bot.errors import ExternalServiceError
from bot.redaction import redact_text


def _codes(names: str) -> frozenset[str]:
    return frozenset(names.split())


# botocore's own list of throttling codes (botocore.retries.standard._THROTTLED_ERROR_CODES).
THROTTLING_CODES = _codes(
    "Throttling ThrottlingException ThrottledException RequestThrottledException"
    " TooManyRequestsException ProvisionedThroughputExceededException RequestLimitExceeded"
    " TransactionInProgressException BandwidthLimitExceeded LimitExceededException"
    " RequestThrottled SlowDown PriorRequestNotComplete EC2ThrottledException"
)
DENIED_CODES = _codes(
    "AccessDenied AccessDeniedException UnauthorizedOperation UnauthorizedAccess"
)
AUTH_CODES = _codes(
    "InvalidClientTokenId UnrecognizedClientException ExpiredToken ExpiredTokenException"
    " AuthFailure SignatureDoesNotMatch InvalidSignatureException InvalidAccessKeyId"
    " MissingAuthenticationToken"
)
VALIDATION_CODES = _codes(
    "ValidationError ValidationException InvalidParameterValue InvalidParameterValueException"
    " InvalidParameter InvalidParameterException InvalidParameterCombination MissingParameter"
    " InvalidInput InvalidArgument InvalidRequest ParamValidation"
)
_REFUSALS = DENIED_CODES | AUTH_CODES | VALIDATION_CODES
# boto3 service name -> IAM action prefix, where they differ.
_IAM_PREFIX = {"elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing"}
# Failures botocore raises before anything is sent.
_NOT_SENT = (
    ParamValidationError,
    NoCredentialsError,
    PartialCredentialsError,
    NoRegionError,
)
# botocore's parameter errors quote the value, which may be a secret.
_QUOTED_VALUE = re.compile(r"value: .*?(?=, (?:type|valid)|$)", re.MULTILINE)


class AwsCallError(ExternalServiceError):
    """An AWS call failed. `proves_not_run` is True only when AWS answered and refused it."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        operation: str,
        region: str,
        code: str,
        aws_message: str = "",
        request_id: str = "",
        http_status: int = 0,
        proves_not_run: bool,
        retryable: bool,
        next_step: str = "",
    ) -> None:
        super().__init__(
            redact_text(message), service=service, code=code, retryable=retryable
        )
        self.operation = operation
        self.region = region
        self.aws_message = redact_text(aws_message)
        self.request_id = request_id
        self.http_status = http_status
        self.proves_not_run = proves_not_run
        self.next_step = next_step


class OrphanKeyError(AwsCallError):
    """A new access key was created but its secret could not be stored: the key is an orphan."""

    def __init__(self, message: str, *, access_key_id: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.access_key_id = access_key_id


class AwsWaitError(AwsCallError):
    """A waiter failed (terminal state or an error) or ran out of attempts (`timed_out`)."""

    def __init__(self, message: str, *, timed_out: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.timed_out = timed_out


def _translate(
    exc: ClientError | BotoCoreError,
    service: str,
    operation: str,
    region: str,
    *,
    mutating: bool,
    api: str | None = None,
    not_sent: bool = False,
) -> AwsCallError:
    """Classify a botocore failure: did AWS prove the call did not run, and what to do next."""
    api = api or "".join(part.title() for part in operation.split("_"))
    action = f"{_IAM_PREFIX.get(service, service)}:{api}"
    where = f"AWS {action} in {region}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        status = int(meta.get("HTTPStatusCode", 0) or 0)
        throttled = code in THROTTLING_CODES or status == 429
        refused = throttled or 400 <= status < 500 or code == "DryRunOperation"
        refused = refused or (status == 0 and code in _REFUSALS)
        return AwsCallError(
            f"{where} failed: {code}: {message}",
            service=service,
            operation=operation,
            region=region,
            code=code,
            aws_message=message,
            request_id=str(meta.get("RequestId", "")),
            http_status=status,
            proves_not_run=refused or not_sent,
            retryable=throttled or status >= 500,
            next_step=_advice(
                code, status, action, region, mutating, refused or not_sent
            ),
        )
    if isinstance(exc, _NOT_SENT):
        bad_params = isinstance(exc, ParamValidationError)
        advice = "the bot has no usable AWS credentials; check its role or environment"
        return AwsCallError(
            f"{where} was not sent: {_QUOTED_VALUE.sub('value: [hidden]', str(exc))}",
            service=service,
            operation=operation,
            region=region,
            proves_not_run=True,
            code="ParamValidation" if bad_params else "NoCredentials",
            retryable=False,
            next_step="fix the step's parameters" if bad_params else advice,
        )
    # Timeouts, refused or dropped connections, unparseable answers: AWS may have acted.
    transport = isinstance(exc, BotoConnectionError | HTTPClientError)
    code = type(exc).__name__
    return AwsCallError(
        f"{where} got no answer: {code}: {exc}",
        service=service,
        operation=operation,
        region=region,
        code=code,
        proves_not_run=not_sent,
        retryable=transport,
        next_step=_advice(code, 0, action, region, mutating, not_sent),
    )


def _advice(
    code: str, status: int, action: str, region: str, mutating: bool, refused: bool
) -> str:
    if code in THROTTLING_CODES or status == 429:
        return f"AWS is throttling {action}; it did not run. Try again in a minute"
    if code in DENIED_CODES:
        return f"the bot's role lacks {action}; grant it or run the step by hand"
    if code in AUTH_CODES:
        return "the bot's AWS credentials are invalid or expired; check them"
    if "notfound" in code.lower() or code.startswith("NoSuch") or code == "404":
        return f"AWS found no such resource: check the resource name and the region ({region})"
    if code in VALIDATION_CODES:
        return "AWS rejected the parameters; fix the step's inputs"
    if code == "DryRunOperation":
        return "this was a dry run; nothing changed"
    if refused:
        return f"AWS refused {action}; it did not run. Read the message, fix the cause, then retry"
    if mutating:
        return f"the outcome of {action} is unknown: verify with a describe call before any retry"
    return f"AWS did not answer {action}; try again"
