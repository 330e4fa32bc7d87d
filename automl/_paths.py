"""Where automl keeps files outside the store: model checkpoints only.

``$AUTOML_CACHE`` if set, else ``~/.cache/automl``. Nothing is ever written to the
working directory except the default SQLite store and its artifact folder beside it
(automl/storage/_artifacts.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

__all__ = ["cache_dir", "checkpoint_dir", "remove_checkpoints"]


def cache_dir() -> Path:
    env = os.environ.get("AUTOML_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "automl"


def _study_key(storage_url: str, study_name: str) -> str:
    from automl.storage import redact

    digest = hashlib.sha256(f"{redact(storage_url)}|{study_name}".encode()).hexdigest()[:10]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", study_name)[:40]
    return f"{safe}-{digest}"


def checkpoint_dir(storage_url: str, study_name: str, create: bool = True) -> Path:
    """``<cache>/checkpoints/<study>-<hash of store and study>/``: one folder per study."""
    d = cache_dir() / "checkpoints" / _study_key(storage_url, study_name)
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def remove_checkpoints(storage_url: str, study_name: str) -> bool:
    d = checkpoint_dir(storage_url, study_name, create=False)
    if d.is_dir():
        shutil.rmtree(d)
        return True
    return False
