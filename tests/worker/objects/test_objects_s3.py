"""The bucket store against a real S3-compatible server on 127.0.0.1 (moto): the same names as the folder
store, atomic uploads, a bounded cache, and every fault a typed, readable error."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from models.errors import BucketMissing, ObjectCorrupt, ObjectMissing, StoreAuthError, StoreUnavailable
from tests.fakes.s3_server import MotoS3, aws_env
from worker.objects.cache import ObjectCache
from worker.objects.folder import FolderStore
from worker.objects.registry import object_store
from worker.objects.s3 import S3Store
from worker.settings import WorkerSettings


def _store() -> S3Store:
    store = object_store(WorkerSettings())
    assert isinstance(store, S3Store)
    return store


def test_objects_go_to_the_bucket_under_the_folder_store_s_names(s3_objects: str, moto_s3: MotoS3,
                                                                  tmp_path: Path) -> None:
    src = tmp_path / "scan.pdf"
    src.write_bytes(b"%PDF-1.4 a scan" * 1000)
    stored = _store().put_file(src)
    folder = FolderStore(tmp_path / "folder").put_file(src)
    assert stored == folder  # same SHA-256, same name, same size
    bucket, prefix = s3_objects.removeprefix("s3://").split("/", 1)
    body = moto_s3.client().get_object(Bucket=bucket, Key=f"{prefix}/{stored.relpath}")["Body"].read()
    assert body == src.read_bytes()
    image = _store().put_bytes(b"\x89PNG image bytes", "images", "png")
    assert _store().read_bytes(image.relpath) == b"\x89PNG image bytes"  # a fresh store: read from the bucket


def test_another_host_downloads_the_original_once_into_its_cache(s3_objects: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "scan.pdf"
    src.write_bytes(os.urandom(300_000))
    stored = _store().put_file(src)
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "host2"))  # another host: its own data folder
    other = _store()
    assert not other.local_name(stored.relpath).exists()
    path = other.local_path(stored.relpath)
    assert path.read_bytes() == src.read_bytes()
    assert path.is_relative_to(tmp_path / "host2")
    assert other.local_path(stored.relpath) == path  # the second use reads the cache


def test_an_object_deleted_behind_pagemill_s_back_is_object_missing(s3_objects: str, moto_s3: MotoS3,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "scan.pdf"
    src.write_bytes(b"%PDF-1.4 gone soon")
    stored = _store().put_file(src)
    bucket, prefix = s3_objects.removeprefix("s3://").split("/", 1)
    moto_s3.client().delete_object(Bucket=bucket, Key=f"{prefix}/{stored.relpath}")
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "host2"))
    with pytest.raises(ObjectMissing) as err:
        _store().local_path(stored.relpath)
    assert stored.relpath in err.value.message and s3_objects in err.value.message
    assert "submit the file again" in err.value.message
    with pytest.raises(ObjectMissing):
        _store().read_bytes(stored.relpath)


def test_an_object_replaced_or_cut_short_is_object_corrupt(s3_objects: str, moto_s3: MotoS3,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "scan.pdf"
    src.write_bytes(b"%PDF-1.4 the whole file" * 100)
    stored = _store().put_file(src)
    bucket, prefix = s3_objects.removeprefix("s3://").split("/", 1)
    moto_s3.client().put_object(Bucket=bucket, Key=f"{prefix}/{stored.relpath}", Body=src.read_bytes()[:50])
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "host2"))
    with pytest.raises(ObjectCorrupt, match="does not match its SHA-256") as err:
        _store().local_path(stored.relpath)
    assert err.value.retryable
    assert not list((tmp_path / "host2" / "cache" / "objects").rglob("*.pdf"))  # nothing half-kept


def test_a_missing_bucket_says_so(s3_objects: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAGEMILL_OBJECTS_URL", "s3://pagemill-no-such-bucket/pm")
    src = tmp_path / "a.png"
    src.write_bytes(b"\x89PNG small")
    with pytest.raises(BucketMissing, match="pagemill-no-such-bucket.*does not exist"):
        _store().put_file(src)
    with pytest.raises(BucketMissing):
        _store().check()


def test_refused_credentials_say_what_to_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        server = MotoS3(tmp_path / "moto-auth.log", require_auth=True).start()
    except RuntimeError as exc:
        pytest.skip(f"the S3 test server (moto_server) could not start: {exc}")
    try:
        for key, value in aws_env(server.endpoint, tmp_path).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        monkeypatch.setenv("PAGEMILL_OBJECTS_URL", "s3://pagemill-bucket/pm")
        with pytest.raises(StoreAuthError) as err:
            _store().put_bytes(b"x", "images", "png")
        assert "AWS_ACCESS_KEY_ID" in err.value.message and "refused" in err.value.message
        assert "AKIAWRONG" not in err.value.message  # the key itself is never shown
    finally:
        server.stop()


def test_no_credentials_at_all_say_where_they_come_from(moto_s3: MotoS3, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in aws_env(moto_s3.endpoint, tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("PAGEMILL_OBJECTS_URL", "s3://pagemill-bucket/pm")
    with pytest.raises(StoreAuthError, match="no credentials"):
        _store().put_bytes(b"x", "images", "png")


def test_an_unreachable_bucket_is_store_unavailable_and_retryable(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.e2e._proxy import free_port

    for key, value in aws_env(f"http://127.0.0.1:{free_port()}", tmp_path).items():  # nothing listens there
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PAGEMILL_OBJECTS_URL", "s3://pagemill-bucket/pm")
    monkeypatch.setenv("PAGEMILL_OBJECTS_RETRIES", "2")
    with pytest.raises(StoreUnavailable) as err:
        _store().read_bytes("originals/ab/" + "ab" * 32 + ".pdf")
    assert err.value.retryable
    assert "cannot be reached" in err.value.message and "AWS_ENDPOINT_URL" in err.value.message


def test_a_name_outside_the_store_is_refused(s3_objects: str) -> None:
    from models.errors import StorageError

    with pytest.raises(StorageError, match="outside the store"):
        _store().local_path("../../etc/passwd")


def test_the_cache_is_trimmed_least_recently_used_first(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache", max_bytes=10_000)
    old = time.time() - 3600
    for n in range(8):
        fd, tmp = cache.temp()
        os.write(fd, bytes([n]) * 2_000)
        os.close(fd)
        path = cache.add(tmp, f"originals/{n:02x}/{hashlib.sha256(bytes([n])).hexdigest()}.pdf", 2_000)
        os.utime(path, (old + n, old + n))  # used an hour ago, file 0 first
    cache.trim()
    left = sorted(p.read_bytes()[0] for p in (tmp_path / "cache" / "originals").rglob("*.pdf"))
    assert cache.size() <= 8_000
    assert left == list(range(8 - len(left), 8))  # the most recently used are kept
