"""What is derived from the code alone, kept on disk between processes (no Dagster imports): column lineage per model
(io/lineage.py) and SQL transpiled for an engine (io/sql_project.py). Every run process loads the code location and
runs its steps afresh, so without it each run would derive them again. An entry is named by a hash of everything it
is derived from: an edit makes a new name, never a stale hit.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from appointment_pipeline.settings import get_settings

MAX_ENTRIES = 5000  # past this, entries unused for a week are removed (a parameter value makes a new entry a run)
STALE_SECONDS = 7 * 24 * 3600


def cache_dir() -> Path | None:
    """``APPOINTMENT_LINEAGE_CACHE`` (a directory; ``off`` disables the cache), by default under the temp directory."""
    setting = get_settings().lineage_cache
    if setting.lower() == "off":
        return None
    return Path(setting) if setting else Path(tempfile.gettempdir()) / f"appointment_pipeline_lineage_{os.getuid()}"


def read_entry(name: str) -> str | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        path = folder / name
        text = path.read_text()
        os.utime(path)  # recently used: kept by the pruning
        return text
    except OSError:
        return None


def write_entry(name: str, text: str) -> None:
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        scratch = path.with_suffix(f".{uuid.uuid4().hex}.tmp")  # unique per writer, whatever process or thread
        scratch.write_text(text)
        scratch.replace(path)  # atomic: a concurrent reader sees the old file or the new one
        _prune(folder)
    except OSError:
        pass  # a read-only disk only costs the recomputation


def _prune(folder: Path) -> None:
    entries = list(os.scandir(folder))
    if len(entries) <= MAX_ENTRIES:
        return
    cutoff = time.time() - STALE_SECONDS
    for entry in entries:
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:
            pass
