"""An S3-compatible server with object lock on loopback: moto in server mode (its own HTTP server in a
thread of this process), a bucket created with ObjectLockEnabledForBucket, and a way to stop and
start it again on the same port (the store going away and coming back; moto keeps its objects)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aiobotocore.session import get_session
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

ACCESS_KEY = "pantau-test"
SECRET_KEY = "pantau-test-secret"
REGION = "us-east-1"


@dataclass
class S3Server:
    """A running moto server and one object-locked bucket on it."""

    port: int
    bucket: str
    server: ThreadedMotoServer | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.port = self.server.get_host_and_port()[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def new_bucket(self) -> str:
        """Create a fresh object-locked bucket (versioning comes with the lock) and make it this one's."""
        self.bucket = f"pantau-{secrets.token_hex(4)}"
        boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                     aws_secret_access_key=SECRET_KEY).create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        return self.bucket

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A `storage.object` section for this bucket."""
        return {"endpoint": self.endpoint, "bucket": self.bucket, "region": REGION, "access_key_id": ACCESS_KEY,
                "secret_access_key": SECRET_KEY, **overrides}

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Any]:
        """An aiobotocore S3 client of the test's own, to look at the bucket."""
        async with get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        ) as client:
            yield client

    def tamper(self, key: str, version_id: str, data: bytes) -> bytes:
        """Replace one object version's bytes inside moto (what a broken disk under the store does);
        returns the bytes it held."""
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[self.bucket]
        found = next(k for k in bucket.keys.getlist(key) if k.version_id == version_id)
        before: bytes = found.value
        found.value = data
        return before


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """moto on a free loopback port with an object-locked bucket (`new_bucket()` for another one)."""
    s3 = S3Server(0, "")
    s3.start()
    try:
        s3.new_bucket()
        yield s3
    finally:
        s3.stop()
