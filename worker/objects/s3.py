"""The bucket store: objects in any S3-compatible bucket (PAGEMILL_OBJECTS_URL=s3://bucket/prefix).

The library is boto3. Compared (December 2026):
- boto3/botocore (Apache-2.0, AWS): takes endpoint, region and credentials exactly as every AWS tool does
  (AWS_ENDPOINT_URL[_S3], AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials,
  instance roles), retries transient faults itself (the "standard" mode: connection errors, 5xx, throttling,
  with backoff), thread-safe clients, typed errors with the S3 error code; pure Python, already in many
  installs. Costs ~0.3 s of import, paid only when an s3:// URL is used (this module is imported lazily).
- obstore (MIT/Apache-2.0, Rust object_store bindings): faster for many parallel small requests, but reads its
  own `AWS_*` subset (no profiles of the credential files without extra code), a younger project whose errors
  are less specific (no S3 error code to tell a missing bucket from refused credentials), and a native wheel.
- fsspec/s3fs (BSD-3): a file-system facade over aiobotocore, so botocore underneath plus an asyncio layer and
  aiobotocore's pin on an exact botocore version, which fights other packages' pins; its caching and listing
  semantics add surprises (stale directory listings) that content-addressed names do not need.

Names are `<prefix>/<kind>/<xx>/<sha>[.ext]`. A PUT is atomic (the object is visible whole or not at all) and
carries the SHA-256 it must have (ChecksumSHA256), so S3 refuses a body cut short or damaged in transit;
downloads are hashed and checked against the name, so an object truncated or replaced behind pagemill's back
is an `ObjectCorrupt` error, never a bad OCR result. Originals are downloaded into a bounded per-host cache.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from models.errors import (
    BucketMissing,
    ConfigError,
    ObjectCorrupt,
    ObjectMissing,
    StorageError,
    StoreAuthError,
    StoreUnavailable,
    storage_error,
)

from .cache import ObjectCache
from .store import ObjectStore, StoredObject, named_object, object_name, sha_of_name

if TYPE_CHECKING:
    from ..settings import WorkerSettings

__all__ = ["S3Store"]

_CHUNK = 1024 * 1024
_MULTIPART_BYTES = 64 * 2**20  # above this, upload_file's multipart upload (still atomic: visible on complete)
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken",
               "TokenRefreshRequired", "403", "AllAccessDisabled", "AccountProblem"}
_PARTIAL_CODES = {"BadDigest", "InvalidDigest", "IncompleteBody", "XAmzContentSHA256Mismatch", "RequestTimeout",
                  "InvalidRequest"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Store(ObjectStore):
    def __init__(self, bucket: str, prefix: str, cache: ObjectCache, retries: int = 5,
                 client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache = cache
        self.retries = retries
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, url: str, settings: WorkerSettings) -> S3Store:
        """PAGEMILL_OBJECTS_URL=s3://bucket/prefix, with this host's cache of originals in <data>/cache/objects."""
        return cls.from_url(url, settings.data_dir / "cache" / "objects", settings.objects_cache_mb * 2**20,
                            settings.objects_retries)

    @classmethod
    def from_url(cls, url: str, cache_dir: Path, cache_bytes: int, retries: int = 5) -> S3Store:
        rest = url.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ConfigError(f"PAGEMILL_OBJECTS_URL {url!r} names no bucket; use s3://bucket/prefix")
        return cls(bucket, prefix, ObjectCache(cache_dir, cache_bytes), retries)

    @property
    def client(self) -> Any:
        """Built on first use, from the environment and credential files as AWS tools read them."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    config = Config(retries={"mode": "standard", "max_attempts": self.retries},
                                    connect_timeout=5, read_timeout=60,
                                    max_pool_connections=int(os.environ.get("PAGEMILL_OBJECTS_CONNECTIONS", "16")))
                    with self._errors("connect to", ""):
                        self._client = boto3.session.Session().client("s3", config=config)
        return self._client

    def key(self, relpath: str) -> str:
        if relpath.startswith("/") or ".." in relpath.split("/"):
            raise StorageError(f"refusing an object name outside the store: {relpath!r}")
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def _where(self) -> str:
        endpoint = getattr(getattr(self._client, "meta", None), "endpoint_url", None) or "the default AWS endpoint"
        return f"{self.url} at {endpoint}"

    @contextmanager
    def _errors(self, action: str, relpath: str) -> Iterator[None]:
        """botocore's errors become pagemill's, saying what failed, where, and what to check."""
        what = f"{action} {relpath} in" if relpath else f"{action}"
        try:
            yield
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StoreAuthError(
                f"could not {what} {self.url}: no credentials ({exc}); set AWS_ACCESS_KEY_ID and"
                " AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a credentials file") from None
        except ClientError as exc:
            raise self._client_error(exc, what, relpath) from None
        except (BotoConnectionError, HTTPClientError, ReadTimeoutError, ResponseStreamingError) as exc:
            raise StoreUnavailable(
                f"could not {what} {self._where()}: the bucket cannot be reached ({type(exc).__name__});"
                " check AWS_ENDPOINT_URL and that the object store is running") from None
        except BotoCoreError as exc:
            raise StorageError(f"could not {what} {self._where()}: {exc}") from None

    def _client_error(self, exc: ClientError, what: str, relpath: str) -> StorageError:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = err.get("Message") or code
        if code == "NoSuchBucket" or (not relpath and code in _MISSING_CODES):  # HEAD bucket: a bare 404
            return BucketMissing(
                f"could not {what} {self._where()}: the bucket {self.bucket!r} does not exist; create it or fix"
                " PAGEMILL_OBJECTS_URL")
        if code in _MISSING_CODES:
            return ObjectMissing(
                f"{relpath} is missing from {self.url}: it was deleted outside pagemill (or never finished"
                " uploading); submit the file again to store it")
        if code in _AUTH_CODES or status == 403:
            return StoreAuthError(
                f"could not {what} {self._where()}: the credentials were refused ({code}: {detail}); check"
                " AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket's policy")
        if code in _PARTIAL_CODES:
            return ObjectCorrupt(f"could not {what} {self.url}: the upload arrived incomplete ({code}: {detail})")
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError", "Throttling"):
            return StoreUnavailable(f"could not {what} {self._where()}: the store answered {status} {code}")
        return StorageError(f"could not {what} {self._where()}: {code}: {detail}")

    # --- interface ---------------------------------------------------------------------------------------------

    def local_name(self, relpath: str) -> Path:
        self.key(relpath)  # refuses names outside the store before any path is built
        return self.cache.name(relpath)

    def check(self) -> None:
        with self._errors("reach", ""):
            self.client.head_bucket(Bucket=self.bucket)

    def _exists(self, relpath: str) -> bool:
        try:
            with self._errors("look up", relpath):
                self.client.head_object(Bucket=self.bucket, Key=self.key(relpath))
            return True
        except ObjectMissing:
            return False

    def _upload(self, path: Path, relpath: str, sha: str, size: int) -> None:
        checksum = base64.b64encode(bytes.fromhex(sha)).decode("ascii")
        with self._errors("upload", relpath):
            if size > _MULTIPART_BYTES:
                self.client.upload_file(str(path), self.bucket, self.key(relpath),
                                        ExtraArgs={"ChecksumAlgorithm": "SHA256"})
            else:
                with path.open("rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=self.key(relpath), Body=body,
                                           ChecksumSHA256=checksum)

    def put_file(
        self, source: Path, kind: str = "originals", ext: str | None = None, durable: bool = True
    ) -> StoredObject:
        """Hash while copying into this host's cache (the intake host then has the original for inspection),
        then upload unless the bucket has these bytes already."""
        digest = hashlib.sha256()
        size = 0
        fd, tmp = self.cache.temp()
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            sha = digest.hexdigest()
            rel = object_name(kind, sha, ext)
            if not self._exists(rel):
                self._upload(tmp, rel, sha, size)
            self.cache.add(tmp, rel, size)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise storage_error(f"could not store {source.name!r}", exc) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredObject(sha, rel, size)

    def put_bytes(self, data: bytes, kind: str, ext: str | None) -> StoredObject:
        # content-addressed: a PUT of bytes already there rewrites the same bytes, cheaper than asking first
        sha = hashlib.sha256(data).hexdigest()
        rel = object_name(kind, sha, ext)
        checksum = base64.b64encode(bytes.fromhex(sha)).decode("ascii")
        with self._errors("upload", rel):
            self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data, ChecksumSHA256=checksum)
        return StoredObject(sha, rel, len(data))

    def put_named(self, source: Path, name: str, replace: bool) -> bool:
        """One PUT (visible whole or not at all); without `replace` a conditional one (If-None-Match: *), so S3
        itself refuses to overwrite an object of that name, whoever wrote it and whenever."""
        key = self.key(named_object(name))
        extra: dict[str, str] = {} if replace else {"IfNoneMatch": "*"}
        try:
            with source.open("rb") as body, self._errors("upload", name):
                try:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
                except ClientError as exc:
                    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                    if exc.response.get("Error", {}).get("Code") == "PreconditionFailed" or status == 412:
                        return False  # the name is taken
                    raise
        except OSError as exc:
            raise StorageError(f"could not read {source.name!r} to upload it: {exc.strerror or exc}") from None
        return True

    def _verify(self, relpath: str, sha: str) -> None:
        want = sha_of_name(relpath)
        if want is not None and want != sha:
            raise ObjectCorrupt(
                f"{relpath} in {self.url} does not match its SHA-256 (it was truncated or replaced outside"
                " pagemill); submit the original again")

    def read_bytes(self, relpath: str) -> bytes:
        cached = self.cache.get(relpath)
        if cached is not None:
            return cached.read_bytes()
        with self._errors("download", relpath):
            data: bytes = self.client.get_object(Bucket=self.bucket, Key=self.key(relpath))["Body"].read()
        self._verify(relpath, hashlib.sha256(data).hexdigest())
        return data

    def local_path(self, relpath: str) -> Path:
        cached = self.cache.get(relpath)
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        size = 0
        fd, tmp = self.cache.temp()
        try:
            with os.fdopen(fd, "wb") as out, self._errors("download", relpath):
                body = self.client.get_object(Bucket=self.bucket, Key=self.key(relpath))["Body"]
                for chunk in body.iter_chunks(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            self._verify(relpath, digest.hexdigest())
            return self.cache.add(tmp, relpath, size)
        except OSError as exc:
            raise storage_error(f"could not keep a copy of {relpath} on this host", exc) from None
        finally:
            tmp.unlink(missing_ok=True)

    def close(self) -> None:
        self.cache.trim()
