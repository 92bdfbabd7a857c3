"""Files the recognizer needs as local paths (training crops, checkpoints),
whatever Django's storage is.

On filesystem storage (the default) a stored file's path is the file itself and
training writes straight into MEDIA_ROOT. On remote storage (S3, so that
workers on several machines share media) a stored file is downloaded once into
``LINEPROOF_CACHE_DIR`` (names are never reused: crops have random names and
checkpoints live under their run's id, so a cached copy never goes stale), and
a checkpoint written locally is uploaded by ``storage_publish``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage


def _local(name: str) -> Path | None:
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:  # remote storage has no local paths
        return None


def storage_local_path(name: str) -> Path:
    """A local file with the content of storage object ``name``."""
    local = _local(name)
    if local is not None:
        return local
    target = Path(settings.LINEPROOF_CACHE_DIR) / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Downloaded beside the target and renamed: a concurrent reader never
        # sees half a file.
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        with default_storage.open(name, "rb") as source, partial.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        partial.replace(target)
    return target


def storage_work_dir(name: str) -> Path:
    """Where a worker writes files that will become storage objects under ``name``/."""
    return _local(name) or Path(settings.LINEPROOF_CACHE_DIR) / name


def storage_publish(local: Path, name: str) -> str:
    """Make ``local`` the storage object ``name`` and return its stored name
    (nothing to copy on filesystem storage when it was written in place)."""
    if _local(name) == local:
        return name
    with local.open("rb") as handle:
        return default_storage.save(name, File(handle))
