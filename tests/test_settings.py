"""The one settings object: documented defaults, environment overrides, and no other reader of the environment."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from appointment_pipeline.settings import Settings

PACKAGE = Path(__file__).resolve().parents[1] / "appointment_pipeline"


@pytest.fixture
def clean_env(monkeypatch):
    """No pipeline variable set, whatever the developer's shell exports."""
    import os

    for name in list(os.environ):
        if name.startswith(("APPOINTMENT_", "CALENDLY_", "GHL_")) or name == "DAGSTER_HOME":
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_are_the_embedded_quickstart(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    settings = Settings()
    assert settings.warehouse_url == f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"
    assert settings.source_db_url == f"sqlite:///{tmp_path / 'data' / 'demo_app.sqlite'}"
    assert settings.landing_dir == tmp_path / "data" / "landing"
    assert (settings.warehouse_kind, settings.app_database_kind) == ("duckdb", "sqlite")
    assert (settings.reconcile_cron, settings.reconcile_timezone) == ("0 2 * * *", "UTC")
    assert not settings.automation_running
    assert settings.partitions_start == date(2025, 1, 1) and settings.partitions_end is None
    assert settings.publish_mode is None and settings.ghl_calendar_ids == []
    assert not settings.is_set("APPOINTMENT_HASH_KEY")


def test_environment_overrides_are_typed(clean_env, tmp_path):
    clean_env.setenv("APPOINTMENT_WAREHOUSE_URL", "postgresql+psycopg://127.0.0.1/wh")
    clean_env.setenv("APPOINTMENT_DATA_DIR", str(tmp_path / "elsewhere"))
    clean_env.setenv("APPOINTMENT_PARTITIONS_END", "2025-02-01")
    clean_env.setenv("APPOINTMENT_AUTOMATION_DEFAULT_STATUS", "RUNNING")
    clean_env.setenv("APPOINTMENT_LANDING_DIR", "")  # empty counts as unset
    clean_env.setenv("GHL_CALENDAR_IDS", "cal-1, cal-2,")
    clean_env.setenv("APPOINTMENT_HASH_KEY", "secret")
    settings = Settings()
    assert settings.warehouse_kind == "postgres"
    assert settings.landing_dir == tmp_path / "elsewhere" / "landing"
    assert settings.partitions_end == date(2025, 2, 1)
    assert settings.automation_running
    assert settings.ghl_calendar_ids == ["cal-1", "cal-2"]
    assert settings.is_set("APPOINTMENT_HASH_KEY") and "secret" not in repr(settings)


@pytest.mark.parametrize(
    "name, value",
    [("APPOINTMENT_AUTOMATION_DEFAULT_STATUS", "sometimes"), ("APPOINTMENT_PARTITIONS_START", "yesterday"),
     ("APPOINTMENT_PUBLISH_MODE", "force")],
)
def test_a_bad_value_is_refused_with_its_name(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ValueError, match=name.removeprefix("APPOINTMENT_").lower()):
        Settings()


def test_no_other_module_reads_the_environment():
    readers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if re.search(r"os\.environ\.get|os\.getenv|environ\[", path.read_text())
    ]
    assert readers == [], readers
