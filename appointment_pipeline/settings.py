"""Environment configuration (docs/data-contract.md#configuration), resolved in one place (no Dagster imports).

Every variable is optional; the defaults give the embedded quickstart: a DuckDB warehouse file, the demo
application database and the demo landing zone under ``data/`` of the current directory.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path

DEMO_HASH_KEY = "appointment-pipeline-demo-key"  # not a secret: only for the demo data


def data_dir() -> Path:
    return Path(os.environ.get("APPOINTMENT_DATA_DIR") or "data").resolve()


def warehouse_url() -> str:
    return os.environ.get("APPOINTMENT_WAREHOUSE_URL") or f"duckdb:///{data_dir() / 'warehouse.duckdb'}"


def source_db_url() -> str:
    return os.environ.get("APPOINTMENT_SOURCE_DB_URL") or f"sqlite:///{data_dir() / 'demo_app.sqlite'}"


def landing_dir() -> Path:
    return Path(os.environ.get("APPOINTMENT_LANDING_DIR") or data_dir() / "landing").resolve()


def partitions_start() -> date:
    return date.fromisoformat(os.environ.get("APPOINTMENT_PARTITIONS_START") or "2025-01-01")


def partitions_last_day() -> date | None:
    """The last snapshot day (inclusive) when the partitions are closed, as for the demo; None = open-ended."""
    value = os.environ.get("APPOINTMENT_PARTITIONS_END")
    return date.fromisoformat(value) if value else None


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant that must carry an offset; returned in UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"instant without an offset: {text!r}")
    return value.astimezone(timezone.utc)


def warehouse_kind() -> str:
    return "postgres" if warehouse_url().startswith("postgres") else "duckdb"


def app_database_kind() -> str:
    return "postgres" if source_db_url().startswith("postgres") else "sqlite"
