"""Every environment variable the pipeline reads, in one typed object read once (docs/data-contract.md#configuration).

No other module reads the environment: code asks :func:`get_settings`. Every variable is optional; the defaults give
the embedded quickstart: a DuckDB warehouse file, the demo application database and the demo landing zone under
``data/`` of the current directory. Secrets (hash key, API tokens) reach the resources through Dagster's ``EnvVar`` so
that the UI never shows them; here they are only known to be set or not.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_HASH_KEY = "appointment-pipeline-demo-key"  # not a secret: only for the demo data
DEFAULT_RECONCILE_CRON = "0 2 * * *"
# raw_leads reads only the leads updated since its last read, but every this many days all of them: the application
# may change a lead without bumping "updatedAt".
DEFAULT_LEADS_FULL_READ_DAYS = 7.0
# A delta reads from the last read's start minus this: clock skew, and transactions committed after the read began.
DEFAULT_LEADS_DELTA_OVERLAP_MINUTES = 60.0


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPOINTMENT_", env_ignore_empty=True, extra="ignore", frozen=True)

    data_dir: Path = Path("data")
    warehouse_url_override: str | None = Field(None, validation_alias=_alias("APPOINTMENT_WAREHOUSE_URL"))
    source_db_url_override: str | None = Field(None, validation_alias=_alias("APPOINTMENT_SOURCE_DB_URL"))
    landing_dir_override: Path | None = Field(None, validation_alias=_alias("APPOINTMENT_LANDING_DIR"))
    partitions_start: date = date(2025, 1, 1)
    partitions_end: date | None = None  # last snapshot day (inclusive) when the partitions are closed, as for the demo
    reference_time: str | None = None
    publish_mode: Literal["dry_run", "apply"] | None = None
    hash_key: SecretStr | None = None
    reconcile_cron: str = DEFAULT_RECONCILE_CRON
    reconcile_timezone: str = "UTC"
    automation_default_status: Literal["RUNNING", "STOPPED"] = "STOPPED"
    freshness_grace_hours: float = 6.0
    leads_full_read_days: float = Field(DEFAULT_LEADS_FULL_READ_DAYS, ge=0)  # 0: every read is full
    leads_delta_overlap_minutes: float = Field(DEFAULT_LEADS_DELTA_OVERLAP_MINUTES, ge=0)
    landing_settle_seconds: float = 60.0
    landing_sensor_hash_budget_seconds: float = 40.0
    landing_sensor_interval_seconds: int = 60
    lineage_cache: str = ""  # a directory, "off", or empty for the system temp directory
    # DuckDB's memory limit per warehouse connection (it spills joins, sorts and aggregates to disk beyond it; its
    # own default is 80 % of the machine's memory); "" = DuckDB's default. At 1M leads, 1.5GB keeps a run's peak
    # under 2 GB; at 1GB the window-heavy models spill and take a third longer
    duckdb_memory_limit: str = "1.5GB"
    dagster_home: Path | None = Field(None, validation_alias=_alias("DAGSTER_HOME"))
    calendly_api_token: SecretStr | None = Field(None, validation_alias=_alias("CALENDLY_API_TOKEN"))
    calendly_organization: str | None = Field(None, validation_alias=_alias("CALENDLY_ORGANIZATION"))
    calendly_api_base_url: str | None = Field(None, validation_alias=_alias("CALENDLY_API_BASE_URL"))
    ghl_api_token: SecretStr | None = Field(None, validation_alias=_alias("GHL_API_TOKEN"))
    ghl_location_id: str | None = Field(None, validation_alias=_alias("GHL_LOCATION_ID"))
    ghl_calendar_ids_text: str = Field("", validation_alias=_alias("GHL_CALENDAR_IDS"))  # comma-separated
    ghl_api_base_url: str | None = Field(None, validation_alias=_alias("GHL_API_BASE_URL"))

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()

    @property
    def warehouse_url(self) -> str:
        return self.warehouse_url_override or f"duckdb:///{self.resolved_data_dir / 'warehouse.duckdb'}"

    @property
    def source_db_url(self) -> str:
        return self.source_db_url_override or f"sqlite:///{self.resolved_data_dir / 'demo_app.sqlite'}"

    @property
    def landing_dir(self) -> Path:
        return (self.landing_dir_override or self.resolved_data_dir / "landing").resolve()

    @property
    def warehouse_kind(self) -> str:
        """The ``kinds`` tag of the warehouse assets, from the same URL the warehouse resource gets."""
        return "postgres" if self.warehouse_url.startswith("postgres") else "duckdb"

    @property
    def app_database_kind(self) -> str:
        return "postgres" if self.source_db_url.startswith("postgres") else "sqlite"

    @property
    def automation_running(self) -> bool:
        """``APPOINTMENT_AUTOMATION_DEFAULT_STATUS=RUNNING`` starts schedules and the sensor without a click.

        The default is STOPPED (as open-source Dagster does): a laptop running ``dagster dev`` on the demo data should
        not start loading on its own. A production deployment sets RUNNING. A toggle in the UI overrides this default.
        """
        return self.automation_default_status == "RUNNING"

    @property
    def ghl_calendar_ids(self) -> list[str]:
        return [c.strip() for c in self.ghl_calendar_ids_text.split(",") if c.strip()]

    def is_set(self, variable: str) -> bool:
        """Whether the environment variable ``variable`` was given (a resource then reads it through EnvVar)."""
        for name, info in type(self).model_fields.items():
            alias = info.validation_alias
            env_name = alias.choices[0] if isinstance(alias, AliasChoices) else f"APPOINTMENT_{name.upper()}"
            if env_name == variable:
                return name in self.model_fields_set
        raise KeyError(f"{variable} is not a setting of the pipeline")


@functools.cache
def get_settings() -> Settings:
    """The settings, read from the environment on first use and then kept for the process."""
    return Settings()
