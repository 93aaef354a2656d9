"""`object_store(settings)`, the one builder: the store PAGEMILL_OBJECTS_URL names, built by every mode.

Product code never builds a store any other way (a mode that did ignored PAGEMILL_OBJECTS_URL: the batch poller
once built the data folder's store and failed on hosts sharing only a bucket), and the interface imports no
store (the stores import it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from models.errors import ConfigError
from tests.conftest import ROOT
from worker.objects.folder import FolderStore
from worker.objects.registry import STORES, object_store
from worker.settings import WorkerSettings


def test_unset_builds_the_data_folders_object_folder(data_dir: Path) -> None:
    store = object_store(WorkerSettings())
    assert isinstance(store, FolderStore) and store.root == (data_dir / "objects").resolve()


@pytest.mark.parametrize("form", ["{}", "file://{}"])
def test_a_folder_path_or_file_url_builds_that_folder(tmp_path: Path, form: str) -> None:
    store = object_store(WorkerSettings(objects_url=form.format(tmp_path / "shared")))
    assert isinstance(store, FolderStore) and store.root == (tmp_path / "shared").resolve()


def test_an_s3_url_builds_the_bucket_store_with_its_cache_in_the_data_folder(data_dir: Path) -> None:
    pytest.importorskip("boto3", reason="the bucket store needs boto3")
    from worker.objects.s3 import S3Store

    store = object_store(WorkerSettings(objects_url="s3://bucket/some/prefix"))
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("bucket", "some/prefix")
    assert store.cache.root == data_dir / "cache" / "objects"


def test_a_scheme_no_store_serves_is_a_config_error_naming_those_that_are() -> None:
    with pytest.raises(ConfigError, match=r"gs://bucket.*file://, s3://"):
        object_store(WorkerSettings(objects_url="gs://bucket"))


def test_every_registry_entry_names_a_store_class_with_from_settings() -> None:
    import importlib

    for entry in STORES.values():
        module, _, name = entry.partition(":")
        cls = getattr(importlib.import_module(f"worker.objects.{module}"), name)
        assert callable(getattr(cls, "from_settings", None)), entry


def test_product_code_builds_stores_only_through_object_store() -> None:
    built = re.compile(r"\b(FolderStore|S3Store|ObjectStore)(\(|\.from_)|\.objects_dir\b")
    found = []
    for folder in ("worker", "scheduler", "models"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.parent == ROOT / "worker" / "objects":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if built.search(line) and "class " not in line:
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "build the store with worker.objects.registry.object_store(settings):\n" + "\n".join(found)


def test_the_interface_imports_no_store() -> None:
    tree = ast.parse((ROOT / "worker" / "objects" / "store.py").read_text())
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"folder", "s3", "registry", "cache"}, imported
