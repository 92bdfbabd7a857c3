"""Stored files as local paths, on filesystem storage and on remote storage
(a storage without local paths, as S3's, stands in for a bucket)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from pytest_django import Settings

import annotator.storage
from annotator.storage import storage_local_path, storage_publish, storage_work_dir


class BucketStorage(Storage):
    """Objects in a dict and no local paths: what S3Storage looks like to Django."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def _save(self, name: str, content: File) -> str:
        self.objects[name] = content.read()
        return name

    def _open(self, name: str, mode: str = "rb") -> File:
        return ContentFile(self.objects[name], name=name)

    def exists(self, name: str) -> bool:
        return name in self.objects

    def delete(self, name: str) -> None:
        self.objects.pop(name, None)


@pytest.fixture
def remote(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BucketStorage:
    """Remote storage at the boundary: the module's storage has no local paths."""
    storage = BucketStorage()
    monkeypatch.setattr(annotator.storage, "default_storage", storage)
    settings.LINEPROOF_CACHE_DIR = tmp_path / "cache"
    return storage


def test_filesystem_storage_hands_out_the_stored_file_itself(media_root: Path) -> None:
    name = default_storage.save("models/1/best.pt", ContentFile(b"weights"))

    assert storage_local_path(name) == media_root / name
    assert storage_work_dir("models/1") == media_root / "models/1"
    assert storage_publish(media_root / name, name) == name, "written in place: nothing to copy"


def test_remote_storage_downloads_once_into_the_cache(remote: BucketStorage, settings: Settings) -> None:
    name = remote.save("lines/a.png", ContentFile(b"png bytes"))

    local = storage_local_path(name)
    remote.delete(name)  # a second call must not need the storage any more

    assert local == settings.LINEPROOF_CACHE_DIR / name
    assert local.read_bytes() == b"png bytes"
    assert storage_local_path(name) == local
    assert not list(settings.LINEPROOF_CACHE_DIR.rglob("*.part")), "no partial download left behind"


def test_a_checkpoint_written_locally_is_published_to_remote_storage(remote: BucketStorage, settings: Settings) -> None:
    work = storage_work_dir("models/7/3")
    work.mkdir(parents=True)
    (work / "best.pt").write_bytes(b"trained")

    stored = storage_publish(work / "best.pt", "models/7/3/best.pt")

    assert work.is_relative_to(settings.LINEPROOF_CACHE_DIR)
    with remote.open(stored, "rb") as handle:
        assert handle.read() == b"trained"
