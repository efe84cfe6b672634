"""Where the public status page is published (`WARROOM_STATUS_URL`): a local directory (the bot
serves it at `/status`) or an S3 prefix in a region of its own (`WARROOM_STATUS_REGION`), so the
page stays up while the region being repaired is down.

Owns putting the page's files, each whole (a reader never sees half a file), and translating
failures into `ExternalServiceError`. Blocking (boto3, file writes): callers run it off the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from bot.errors import ExternalServiceError
from bot.gateways.backups import location, write_atomically


class StatusSink(Protocol):
    @property
    def where(self) -> str: ...

    @property
    def directory(self) -> Path | None:
        """The local directory the bot serves at /status, if the page is kept locally."""
        ...

    def put(self, files: dict[str, bytes], content_types: dict[str, str]) -> None: ...


def sink_for(url: str, *, region: str | None = None) -> StatusSink:
    """The sink `WARROOM_STATUS_URL` names: `s3://bucket/prefix` or a directory."""
    where = location(url, region=region, what="status page")
    return DirectorySink(where) if isinstance(where, Path) else S3Sink(*where)


@dataclass
class DirectorySink:
    path: Path

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def directory(self) -> Path | None:
        return self.path

    def put(self, files: dict[str, bytes], content_types: dict[str, str]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            write_atomically(self.path / name, body)


@dataclass
class S3Sink:
    client: Any
    bucket: str
    prefix: str

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def directory(self) -> Path | None:
        return None

    def put(self, files: dict[str, bytes], content_types: dict[str, str]) -> None:
        try:
            for name, body in files.items():
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=f"{self.prefix}/{name}" if self.prefix else name,
                    Body=body,
                    ContentType=content_types.get(name, "application/octet-stream"),
                    CacheControl="max-age=30",
                )
        except (BotoCoreError, ClientError) as exc:
            raise ExternalServiceError(
                f"S3 refused the status page: {exc}", service="S3"
            ) from None
