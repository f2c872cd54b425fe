"""Publishing the warehouse's appointments and lead rollups into the application database (no Dagster imports).

The application (Prisma) owns ``"Appointment"`` and ``"Lead"``. Modules:

* ``model``: the columns the publish writes, value forms (millisecond UTC instants, derived ids) and modes;
* ``connection``: ``AppDatabase`` (PostgreSQL in production, SQLite in the demo), transactions, bulk loads;
* ``schema``: the shipped DDL (demo and tests) and ``verify_app_schema``, which stops a publish before it writes
  anything, naming every difference between the live tables and what the publish writes;
* ``appointments`` / ``leads``: set-based plan (temporary tables, a few statements) and batched apply;
* ``result``: ``PublishResult`` and the batch loop (one transaction per batch: restartable, all-or-nothing);
* ``state``: the warehouse's record of what the last apply settled, so a publish compares only what changed since.

Timestamps: a Prisma ``DateTime`` holds UTC with millisecond precision (``timestamp(3)`` on PostgreSQL, ISO-8601
text on the SQLite demo). Every instant is rounded to the millisecond before it is written or compared, the same
rounding the databases apply on input, so publishing an unchanged state compares equal and writes nothing.
"""

from appointment_pipeline.io.app_database.appointments import publish_appointments
from appointment_pipeline.io.app_database.connection import AppDatabase
from appointment_pipeline.io.app_database.leads import publish_lead_rollups
from appointment_pipeline.io.app_database.model import (
    APPOINTMENT_COLUMNS,
    COMPARED_COLUMNS,
    DEFAULT_BATCH_SIZE,
    ENUM_VALUES,
    LEAD_ROLLUP_FIELDS,
    PUBLISH_MODES,
    AppColumn,
    AppSchemaMismatch,
    LeadField,
    derived_app_id,
    resolve_publish_mode,
    round_ms,
    sqlite_text,
)
from appointment_pipeline.io.app_database.result import AfterBatch, PublishResult
from appointment_pipeline.io.app_database.schema import (
    create_app_schema,
    drop_app_schema,
    schema_ddl,
    supports_publish,
    verify_app_schema,
)

__all__ = [
    "APPOINTMENT_COLUMNS",
    "COMPARED_COLUMNS",
    "DEFAULT_BATCH_SIZE",
    "ENUM_VALUES",
    "LEAD_ROLLUP_FIELDS",
    "PUBLISH_MODES",
    "AfterBatch",
    "AppColumn",
    "AppDatabase",
    "AppSchemaMismatch",
    "LeadField",
    "PublishResult",
    "create_app_schema",
    "derived_app_id",
    "drop_app_schema",
    "publish_appointments",
    "publish_lead_rollups",
    "resolve_publish_mode",
    "round_ms",
    "schema_ddl",
    "sqlite_text",
    "supports_publish",
    "verify_app_schema",
]
