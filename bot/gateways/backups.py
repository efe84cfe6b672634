"""Where backups are kept: a local directory, or an S3 prefix (server-side encrypted, in a region of
its own, so the backups outlive the region a runbook repairs and the host the bot runs on).

Owns reading `WARROOM_BACKUP_URL`, putting a backup file and then its manifest (a backup without a
manifest is never listed, so a half-shipped one is never restored), listing manifests newest first,
and fetching a file. Blocking (boto3, file copies): callers run it off the event loop. What a backup
holds and how it is checked is `bot/storage/backup.py`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.errors import ExternalServiceError, UsageError
from bot.storage.backup import Manifest


class BackupStore(Protocol):
    @property
    def where(self) -> str: ...

    def put(self, packed: Path, manifest: Manifest) -> None: ...
    def manifests(self) -> list[Manifest]: ...
    def fetch(self, manifest: Manifest, into: Path) -> None: ...


def location(url: str, *, region: str | None, what: str) -> tuple[Any, str, str] | Path:
    """Where a URL setting points: (an S3 client for `region`, bucket, prefix) for
    `s3://bucket/prefix`, or a directory (`/path` or `file:///path`)."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise UsageError(f"{url!r} names no bucket: use s3://bucket/prefix.")
        client = boto3.client(
            "s3",
            region_name=region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
        return client, parsed.netloc, parsed.path.strip("/")
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else url)
    raise UsageError(f"{url!r}: a {what} URL is s3://bucket/prefix or a directory.")


def store_for(url: str, *, region: str | None = None) -> BackupStore:
    """The store `WARROOM_BACKUP_URL` names: `s3://bucket/prefix` or a directory."""
    where = location(url, region=region, what="backup")
    return DirectoryStore(where) if isinstance(where, Path) else S3Store(*where)


@dataclass
class DirectoryStore:
    directory: Path

    @property
    def where(self) -> str:
        return str(self.directory)

    def put(self, packed: Path, manifest: Manifest) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(self.directory / manifest.file, packed.read_bytes())
        write_atomically(
            self.directory / f"{manifest.name}.json", manifest.to_json().encode()
        )

    def manifests(self) -> list[Manifest]:
        if not self.directory.is_dir():
            return []
        found = [
            Manifest.from_json(p.read_text(encoding="utf-8"))
            for p in self.directory.glob("warroom-*.json")
        ]
        return sorted(found, key=lambda m: m.name, reverse=True)

    def fetch(self, manifest: Manifest, into: Path) -> None:
        shutil.copyfile(self.directory / manifest.file, into)


def write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


@dataclass
class S3Store:
    client: Any
    bucket: str
    prefix: str

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, packed: Path, manifest: Manifest) -> None:
        encrypted = {"ServerSideEncryption": "AES256"}
        try:
            self.client.upload_file(
                str(packed), self.bucket, self._key(manifest.file), ExtraArgs=encrypted
            )
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(f"{manifest.name}.json"),
                Body=manifest.to_json().encode(),
                ContentType="application/json",
                **encrypted,
            )
        except (BotoCoreError, ClientError) as exc:
            raise ExternalServiceError(
                f"S3 refused the backup: {exc}", service="S3"
            ) from None

    def manifests(self) -> list[Manifest]:
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key("warroom-")
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"].endswith(".json"):
                        body = self.client.get_object(
                            Bucket=self.bucket, Key=item["Key"]
                        )
                        found.append(Manifest.from_json(body["Body"].read().decode()))
        except (BotoCoreError, ClientError) as exc:
            raise ExternalServiceError(
                f"Could not list the backups: {exc}", service="S3"
            ) from None
        return sorted(found, key=lambda m: m.name, reverse=True)

    def fetch(self, manifest: Manifest, into: Path) -> None:
        try:
            self.client.download_file(self.bucket, self._key(manifest.file), str(into))
        except (BotoCoreError, ClientError) as exc:
            raise ExternalServiceError(
                f"Could not fetch {manifest.file}: {exc}", service="S3"
            ) from None
