"""Dagster resources: every connection and secret is configurable and read from the environment (EnvVar)."""


import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from dagster import ConfigurableResource, Definitions, EnvVar

from appointment_pipeline.domain.instants import parse_instant
from appointment_pipeline.settings import (
    DEFAULT_LEADS_DELTA_OVERLAP_MINUTES,
    DEFAULT_LEADS_FULL_READ_DAYS,
    DEMO_HASH_KEY,
    Settings,
    get_settings,
)
from appointment_pipeline.io.warehouse import Warehouse


T = TypeVar("T")


class WarehouseResource(ConfigurableResource):
    """The warehouse that holds every table: a DuckDB file (embedded default) or PostgreSQL."""

    url: str
    duckdb_memory_limit: str = ""  # a DuckDB warehouse's memory limit per connection ("" = DuckDB's default)

    def warehouse(self) -> Warehouse:
        return Warehouse(self.url, memory_limit=self.duckdb_memory_limit or None)


class _SessionWarehouse:
    """Stands in for the ``warehouse`` resource inside a step: hands out the step's one-connection session."""

    def __init__(self, session: Warehouse):
        self._session = session

    def warehouse(self) -> Warehouse:
        return self._session


def one_warehouse_connection(compute: Callable[..., T]) -> Callable[..., T]:
    """Run a step's compute function with every ``warehouse.warehouse()`` on one connection (Warehouse.session),
    closed when the step ends: each DuckDB open costs ~10 ms, each PostgreSQL one a backend. Dagster reads the
    parameters of the wrapped function, so the decorator goes under ``@asset`` and changes nothing else."""

    @functools.wraps(compute)
    def in_one_session(*args: Any, **kwargs: Any) -> T:
        with kwargs["warehouse"].warehouse().session() as session:
            return compute(*args, **{**kwargs, "warehouse": _SessionWarehouse(session)})

    return in_one_session


class SourceDatabaseResource(ConfigurableResource):
    """The application database with the legacy "Lead" table (any SQLAlchemy URL); the publish writes into it."""

    url: str
    # What a publish does when its run config does not say: "dry_run" (default) or "apply".
    publish_mode: str | None = None
    # raw_leads reads every lead at least this often (days; 0: always), else those updated since its last read
    leads_full_read_days: float = DEFAULT_LEADS_FULL_READ_DAYS
    leads_delta_overlap_minutes: float = DEFAULT_LEADS_DELTA_OVERLAP_MINUTES


class LandingZoneResource(ConfigurableResource):
    """Root of the provider snapshot landing zone: <root>/<provider>/<YYYY-MM-DD>/*.jsonl[.gz]."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


class PipelineSettingsResource(ConfigurableResource):
    """Run-wide rules: the email hash key (secret) and the reference time of the rollup rule."""

    hash_key: str
    reference_time: str | None = None  # ISO-8601 instant; None = the run's start time

    def resolve_reference_time(self, run_started: datetime) -> datetime:
        if self.reference_time:
            return parse_instant(self.reference_time)
        return run_started


class CalendlyApi(ConfigurableResource):
    """Calendly API v2: organization-scoped scheduled events and their invitees."""

    token: str | None = None
    base_url: str = "https://api.calendly.com"
    organization: str | None = None
    window_days_before: int = 30  # start-time window around the snapshot day: wide, so that changes to
    window_days_after: int = 180  # far-future events (cancels, reschedules) are still seen
    retry_max_attempts: int = 6
    retry_base_delay: float = 0.5
    max_pages_per_list: int = 1000  # 100 events a page: far above a real day's window
    pull_deadline_seconds: float = 3600.0  # one snapshot day's pull, retries and rate-limit waits included
    response_deadline_seconds: float = 120.0  # one response, request to last byte

    def client(self):
        from appointment_pipeline.io.providers import CalendlyClient, RetryPolicy

        if not self.token or not self.organization:
            raise ValueError("CALENDLY_API_TOKEN and CALENDLY_ORGANIZATION must be set to pull from the Calendly API")
        retry = RetryPolicy(max_attempts=self.retry_max_attempts, base_delay=self.retry_base_delay)
        return CalendlyClient(self.base_url, self.token, self.organization, retry=retry, limits=_limits(self))


class GhlApi(ConfigurableResource):
    """GoHighLevel / LeadConnector API v2: calendar events per calendar."""

    token: str | None = None
    base_url: str = "https://services.leadconnectorhq.com"
    location_id: str | None = None
    calendar_ids: list[str] = []
    slice_hours: int = 24
    window_days_before: int = 30
    window_days_after: int = 180
    retry_max_attempts: int = 6
    retry_base_delay: float = 0.5
    max_pages_per_list: int = 1000  # GHL does not paginate; kept for symmetry with Calendly
    pull_deadline_seconds: float = 3600.0
    response_deadline_seconds: float = 120.0

    def client(self):
        from appointment_pipeline.io.providers import GhlClient, RetryPolicy

        if not self.token or not self.location_id or not self.calendar_ids:
            raise ValueError("GHL_API_TOKEN, GHL_LOCATION_ID and GHL_CALENDAR_IDS must be set to pull from the GHL API")
        retry = RetryPolicy(max_attempts=self.retry_max_attempts, base_delay=self.retry_base_delay)
        return GhlClient(
            self.base_url, self.token, self.location_id, self.calendar_ids, slice_hours=self.slice_hours, retry=retry,
            limits=_limits(self),
        )


def _limits(api: "CalendlyApi | GhlApi"):
    from appointment_pipeline.io.providers import PullLimits

    return PullLimits(
        max_pages=api.max_pages_per_list,
        pull_seconds=api.pull_deadline_seconds,
        response_seconds=api.response_deadline_seconds,
    )


class ProviderApisResource(ConfigurableResource):
    """Both providers' API settings, so that one snapshot factory serves both providers."""

    calendly: CalendlyApi
    ghl: GhlApi

    def for_provider(self, provider: str) -> CalendlyApi | GhlApi:
        apis: dict[str, CalendlyApi | GhlApi] = {"calendly": self.calendly, "ghl": self.ghl}
        return apis[provider]


def default_resources(settings: Settings | None = None) -> dict[str, ConfigurableResource]:
    settings = settings or get_settings()

    def _env_or(name: str, default):
        """EnvVar when the variable is set (so the UI shows where a value comes from), else the documented default."""
        return EnvVar(name) if settings.is_set(name) else default

    return {
        "warehouse": WarehouseResource(
            url=_env_or("APPOINTMENT_WAREHOUSE_URL", settings.warehouse_url),
            duckdb_memory_limit=_env_or("APPOINTMENT_DUCKDB_MEMORY_LIMIT", settings.duckdb_memory_limit),
        ),
        "source_db": SourceDatabaseResource(
            url=_env_or("APPOINTMENT_SOURCE_DB_URL", settings.source_db_url),
            publish_mode=_env_or("APPOINTMENT_PUBLISH_MODE", None),
            leads_full_read_days=settings.leads_full_read_days,
            leads_delta_overlap_minutes=settings.leads_delta_overlap_minutes,
        ),
        "landing_zone": LandingZoneResource(root=_env_or("APPOINTMENT_LANDING_DIR", str(settings.landing_dir))),
        "pipeline_settings": PipelineSettingsResource(
            hash_key=_env_or("APPOINTMENT_HASH_KEY", DEMO_HASH_KEY),
            reference_time=_env_or("APPOINTMENT_REFERENCE_TIME", None),
        ),
        "provider_apis": ProviderApisResource(
            calendly=CalendlyApi(
            token=_env_or("CALENDLY_API_TOKEN", None),
            organization=_env_or("CALENDLY_ORGANIZATION", None),
            base_url=_env_or("CALENDLY_API_BASE_URL", "https://api.calendly.com"),
        ),
            ghl=GhlApi(
            token=_env_or("GHL_API_TOKEN", None),
            location_id=_env_or("GHL_LOCATION_ID", None),
            calendar_ids=settings.ghl_calendar_ids,
            base_url=_env_or("GHL_API_BASE_URL", "https://services.leadconnectorhq.com"),
        ),
        ),
    }


defs = Definitions(resources=default_resources())
