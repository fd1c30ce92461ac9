"""The S3 client (aiobotocore) behind storage.object: uploads under object lock with a SHA-256 the
store checks, ranged reads, legal holds, and deletes the lock may refuse. Every library error leaves
here as ObjectStoreError (the store is away or failed) or ObjectLocked (it refused a delete)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from core.config import ObjectStorageConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

# Error codes a store answers a delete with while object lock or a legal hold protects the version:
# AWS and moto say AccessDenied, MinIO "ObjectLocked" (its own code), Ceph RGW AccessDenied.
_LOCK_REFUSALS = {"AccessDenied", "ObjectLocked", "InvalidRequest"}
_MISSING = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
# Read size when hashing a whole object back.
_READ_CHUNK = 1024 * 1024


class ObjectStoreError(Exception):
    """The object store could not be reached or failed the request (retried later)."""

    retriable = True


class ObjectMissing(ObjectStoreError):
    """The object (or its version) is not in the bucket."""

    retriable = False


class ObjectLocked(ObjectStoreError):
    """The store refused to delete an object version: object lock or a legal hold protects it."""

    retriable = False


@dataclass(frozen=True, slots=True)
class Uploaded:
    """What the store said about one upload: the version written and the SHA-256 it stored (hex)."""

    version_id: str | None
    sha256: str | None


class ObjectStore:
    """One S3 client for the configured bucket; `async with ObjectStore(cfg) as store:`."""

    def __init__(self, cfg: ObjectStorageConfig) -> None:
        self.cfg = cfg
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None

    async def __aenter__(self) -> ObjectStore:
        # Imported here: botocore costs every `pantau` command ~0.15 s, and only storage.object needs it.
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        config = AioConfig(
            connect_timeout=self.cfg.timeout_s, read_timeout=self.cfg.timeout_s,
            # One attempt per call: the uploader has its own backoff, and a reader must not hang
            # in botocore's retries while a viewer waits.
            retries={"max_attempts": 1, "mode": "standard"},
            # Path-style URLs work with MinIO and Ceph without wildcard DNS for the bucket.
            s3={"addressing_style": "path"},
            # botocore (1.36 on) checks a whole GET against the stored checksum by default and raises
            # FlexibleChecksumError, a transport-looking error; Pantau hashes every byte it reads against
            # the index itself, so a corrupted object is reported as what it is.
            response_checksum_validation="when_required",
        )
        session = get_session()
        self._client = await self._stack.enter_async_context(session.create_client(
            "s3", endpoint_url=self.cfg.endpoint, region_name=self.cfg.region, config=config,
            aws_access_key_id=self.cfg.access_key_id, aws_secret_access_key=self.cfg.secret(),
        ))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._client = None
        await self._stack.aclose()

    def key(self, path: str) -> str:
        """The object key of a segment stored at `path` (relative to storage.path)."""
        return self.cfg.prefix + path

    async def put(
        self, key: str, data: bytes, sha256_hex: str, retain_until: datetime, legal_hold: bool
    ) -> Uploaded:
        """Upload under object lock (lock_mode until `retain_until`); the store refuses bytes whose
        SHA-256 is not `sha256_hex`."""
        checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        extra = {"ObjectLockLegalHoldStatus": "ON"} if legal_hold else {}
        reply = await self._call("upload", key, lambda: self._client.put_object(
            Bucket=self.cfg.bucket, Key=key, Body=data, ContentType="video/mp4",
            ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum,
            ObjectLockMode=self.cfg.lock_mode, ObjectLockRetainUntilDate=retain_until, **extra,
        ))
        return Uploaded(reply.get("VersionId"), _hex(reply.get("ChecksumSHA256")))

    async def read_range(self, key: str, version_id: str | None, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object (one ranged GET)."""
        async def get() -> bytes:
            reply = await self._client.get_object(
                Bucket=self.cfg.bucket, Key=key, Range=f"bytes={start}-{end - 1}", **_version(version_id))
            async with reply["Body"] as body:
                data: bytes = await body.read()
            return data
        return await self._call("ranged read", key, get)

    async def digest(self, key: str, version_id: str | None) -> tuple[str, int]:
        """SHA-256 (hex) and size of the object's bytes, read whole (verification)."""
        async def read() -> tuple[str, int]:
            reply = await self._client.get_object(Bucket=self.cfg.bucket, Key=key, **_version(version_id))
            sha, size = hashlib.sha256(), 0
            async with reply["Body"] as body:
                async for chunk in body.iter_chunks(_READ_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
            return sha.hexdigest(), size
        return await self._call("read", key, read)

    async def set_legal_hold(self, key: str, version_id: str | None, on: bool) -> None:
        """Set or lift the legal hold on one object version."""
        await self._call("legal hold", key, lambda: self._client.put_object_legal_hold(
            Bucket=self.cfg.bucket, Key=key, LegalHold={"Status": "ON" if on else "OFF"}, **_version(version_id)))

    async def delete(self, key: str, version_id: str | None) -> None:
        """Delete one object version for good; ObjectLocked when the lock or a legal hold refuses."""
        await self._call("delete", key, lambda: self._client.delete_object(
            Bucket=self.cfg.bucket, Key=key, **_version(version_id)))

    async def _call(self, what: str, key: str, call: Callable[[], Awaitable[T]]) -> T:
        if self._client is None:
            raise ObjectStoreError(f"object store: {what} {key}: the store is not open")
        from botocore.exceptions import BotoCoreError, ClientError  # loaded by __aenter__

        try:
            return await call()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            message = f"object store: {what} {key}: {code or exc}"
            if what == "delete" and code in _LOCK_REFUSALS:
                raise ObjectLocked(message) from exc
            if code in _MISSING:
                raise ObjectMissing(message) from exc
            raise ObjectStoreError(message) from exc
        except (BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ObjectStoreError(f"object store: {what} {key}: {type(exc).__name__}: {exc}") from exc


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def _hex(checksum: str | None) -> str | None:
    if not checksum:
        return None
    try:
        return base64.b64decode(checksum, validate=True).hex()
    except (binascii.Error, ValueError):
        return None
