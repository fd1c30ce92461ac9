"""The object storage tier's config (`storage.object`): an S3-compatible bucket with object lock that
sealed segments are uploaded to, the local copies then kept as a cache (owned by recorder/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from core.configbase import BackoffConfig, Strict

# S3's bucket naming rules (3-63 characters, lower case, digits, dots and hyphens, a letter or digit at
# both ends); MinIO and Ceph RGW refuse the same names.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class ObjectStorageConfig(Strict):
    """An S3-compatible bucket (MinIO, Ceph RGW, AWS S3) created with object lock enabled."""

    endpoint: str = Field(description="http(s)://host[:port] of the S3 API (no credentials, no path).")
    bucket: str = Field(description="The bucket; it must have been created with object lock enabled.")
    region: str = Field("us-east-1", min_length=1, max_length=64, description="Region the request signature names.")
    prefix: str = Field("", max_length=256, description="Prepended to every object key (e.g. `site-a/`).")
    access_key_id: str = Field(min_length=1, max_length=256, description="Access key id.")
    secret_access_key: SecretStr | None = Field(
        None, description="Secret access key (write ${VAR} to take it from the environment); or secret_access_key_file.")
    secret_access_key_file: Path | None = Field(
        None, description="File holding the secret access key (one line), read when the store is opened.")
    lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] = Field(
        "GOVERNANCE",
        description="Object lock mode of every upload: COMPLIANCE cannot be lifted by anyone before the date; "
        "GOVERNANCE by an account with s3:BypassGovernanceRetention only (Pantau never asks to).",
    )
    retention_days: float | None = Field(
        None, gt=0, le=3650,
        description="Days each object is locked after its segment ends; unset: the camera's retention in force. "
        "Never under recording.min_retention_days.",
    )
    cache_bytes: int = Field(
        10 * 1024**3, ge=0,
        description="Local copies of uploaded and verified segments kept under storage.path (least recently "
        "used go first); segments not yet uploaded are never evicted and not bounded by this.",
    )
    upload_concurrency: int = Field(2, ge=1, le=32, description="Segments uploaded at once.")
    verify: Literal["checksum", "readback"] = Field(
        "checksum",
        description="checksum: the store checks the SHA-256 sent with each upload and Pantau compares the one it "
        "stored; readback: also read every object back and hash it (twice the traffic).",
    )
    range_bytes: int = Field(
        8 * 1024**2, ge=64 * 1024, le=1024**3,
        description="Bytes per ranged GET when a segment that is not local is read from the store.",
    )
    timeout_s: float = Field(30.0, gt=0, le=600, description="Connect and read timeout of each request.")
    scan_interval_s: float = Field(
        5.0, gt=0, le=3600, description="How often the uploader looks for sealed segments not yet uploaded.")
    retry: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=1.0, max_s=60.0),
        description="Delays between upload attempts while the store fails (segments wait on local disk).",
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("write http(s)://host[:port], e.g. https://minio.example:9000")
        if parts.username or parts.password:
            raise ValueError("no credentials in the endpoint: use access_key_id and secret_access_key")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("the endpoint is host and port only; the bucket goes in `bucket`")
        return v.rstrip("/")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not _BUCKET.fullmatch(v) or ".." in v:
            raise ValueError("not an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')")
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if v.startswith("/") or "//" in v or not v.isprintable():
            raise ValueError("a key prefix is printable and does not start with '/' or hold '//'")
        return v

    @field_validator("secret_access_key_file")
    @classmethod
    def _secret_file(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is not None:
            try:
                text = v.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"{str(v)!r} cannot be read: {exc.strerror}") from None
            if not text:
                raise ValueError(f"{str(v)!r} is empty")
        return v

    @model_validator(mode="after")
    def _one_secret(self) -> ObjectStorageConfig:
        if (self.secret_access_key is None) == (self.secret_access_key_file is None):
            raise ValueError("give exactly one of secret_access_key and secret_access_key_file")
        return self

    def secret(self) -> str:
        """The secret access key (from the file, when configured so)."""
        if self.secret_access_key is not None:
            return self.secret_access_key.get_secret_value()
        assert self.secret_access_key_file is not None
        return self.secret_access_key_file.read_text(encoding="utf-8").strip()
