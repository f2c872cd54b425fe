"""What the last applied publish left settled, kept in the warehouse, so a publish compares only what changed since.

Per published target a table ``publish_state_<publish>`` (``key``, ``row_hash``, ``applied_at``) lists the rows an
applied publish settled (wrote, found already equal, or found newer in the application: the publish leaves those as
they are) with the hash of the values it published; ``publish_state_targets``
holds one row per publish: which application table (``target``) and which publish code (``columns_version``) the rows
were recorded for. Only an apply that completed moves the state, in one warehouse transaction after the application
writes committed; a dry run never does, nor does a failed apply (its rows are compared again by the next publish).

A publish loads into the application database only the rows whose current hash differs from the recorded one (new,
changed, or never settled); a row whose hash is unchanged was settled at the last apply, and any later application
change to it is newer application data, which the publish leaves alone anyway. Everything
is compared (the behaviour without a state) when the state is missing, was recorded for another target or another
version of the publish code, or the run asks for it (``appointment/full_refresh=true``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from appointment_pipeline.io.warehouse import Warehouse

TARGETS_TABLE = "publish_state_targets"
TARGETS_COLUMNS = [
    ("publish", "text"),  # appointments / lead_rollups
    ("target", "text"),  # the application database (URL without password) and which table of it
    ("columns_version", "text"),  # digest of the publish's SQL: another release's state is not trusted
    ("applied_at", "timestamptz"),
    ("rows_settled", "bigint"),
    ("compare_scope", "text"),  # what the apply that recorded it compared
]
STATE_COLUMNS = [("key", "text"), ("row_hash", "text"), ("applied_at", "timestamptz")]
_FORMAT = "publish-state-1"  # bump when the meaning of a recorded row changes


@dataclass(frozen=True)
class StateSpec:
    """One published target's bookkeeping: its name, its state table and the version of the code that publishes."""

    publish: str
    version: str

    @property
    def table(self) -> str:
        return f"publish_state_{self.publish}"


def state_spec(publish: str, *code: str) -> StateSpec:
    """A spec whose version is a digest of ``code`` (the SQL that loads, hashes, plans and writes the rows)."""
    digest = hashlib.sha256("\n".join([_FORMAT, *code]).encode()).hexdigest()[:16]
    return StateSpec(publish, digest)


@dataclass
class CompareScope:
    """Which rows a publish compares: all of them (``full_reason`` says why) or those changed since the last apply."""

    full_reason: str | None
    rows_total: int = 0  # rows the publish covers (warehouse appointments, or drifting leads)
    rows_compared: int = 0  # rows loaded into the application database and planned
    gone: list[str] | None = None  # recorded keys the warehouse no longer has (dropped from the state on apply)

    @property
    def full(self) -> bool:
        return self.full_reason is not None

    @property
    def rows_unchanged_since_last_apply(self) -> int:
        """Rows not compared: settled at the last apply, unchanged in the warehouse since."""
        return 0 if self.full else max(self.rows_total - self.rows_compared, 0)

    def describe(self) -> str:
        if self.full:
            return f"all rows ({self.full_reason})"
        return f"changed since last apply ({self.rows_compared} of {self.rows_total} rows)"


def full_compare_reason(wh: Warehouse, spec: StateSpec, target: str, forced: str | None) -> str | None:
    """Why this publish must compare every row, or None when the recorded state can be trusted."""
    if forced:
        return forced
    if not (wh.table_exists(TARGETS_TABLE) and wh.table_exists(spec.table)):
        return "no publish state recorded"
    rows = wh.query(f"select target, columns_version from {TARGETS_TABLE} where publish = %s", [spec.publish])
    if len(rows) != 1:
        return "no publish state recorded"
    recorded_target, recorded_version = rows[0]
    if recorded_target != target:
        return "the state was recorded for another application database or table"
    if recorded_version != spec.version:
        return "the published columns or the publish code changed since the state was recorded"
    return None


def row_hash_sql(dialect: str, values: Sequence[tuple[str, str]]) -> str:
    """The md5 of a row's published values, the same text on DuckDB and PostgreSQL, and no two rows share it: an
    instant as its epoch microseconds (digits only), any other value as text prefixed with its length; a null as
    ``~``; ``|`` between values."""
    parts = []
    for expr, kind in values:
        if kind == "timestamp":  # evaluated once: the epoch is the costly part on PostgreSQL
            if dialect == "duckdb":
                parts.append(f"coalesce(cast(epoch_us({expr}) as text), '~')")
            else:
                parts.append(f"coalesce(cast(cast(extract(epoch from {expr}) * 1000000 as bigint) as text), '~')")
        else:
            text = f"cast({expr} as text)"
            parts.append(f"coalesce(cast(length({text}) as text) || ':' || {text}, '~')")
    joined = " || '|' || ".join(parts)
    return f"md5({joined})"


def changed_keys_sql(spec: StateSpec, hashed: str) -> str:
    """Keys of ``hashed`` (a query of ``key`` and ``row_hash``) whose hash is not the recorded one."""
    return (
        f"select h.key from ({hashed}) as h left join {spec.table} as s on s.key = h.key "
        "where s.row_hash is null or s.row_hash <> h.row_hash"
    )


def gone_keys_sql(spec: StateSpec, current_keys: str) -> str:
    """Recorded keys that ``current_keys`` (a query of one column) no longer holds."""
    return (
        f"select s.key from {spec.table} as s where not exists "
        f"(select 1 from ({current_keys}) as c (key) where c.key = s.key)"
    )


def gone_keys(wh: Warehouse, spec: StateSpec, current_keys: str) -> list[str]:
    return [row[0] for row in wh.query(gone_keys_sql(spec, current_keys))]


def record_applied(
    wh: Warehouse,
    spec: StateSpec,
    target: str,
    scope: CompareScope,
    compared: Sequence[tuple[str, str, Any]],
) -> int:
    """After a completed apply: ``compared`` holds (key, row hash, settled) of every row the publish compared; the
    settled rows replace what was recorded for the compared keys (a full compare replaces the whole state), the keys
    the warehouse no longer has are dropped. One transaction; returns the rows now recorded."""
    incoming = f"{spec.table}__incoming"
    now = datetime.now(UTC)
    data = pa.table({
        "key": pa.array([row[0] for row in compared], type=pa.string()),
        "row_hash": pa.array([row[1] for row in compared], type=pa.string()),
        "settled": pa.array([bool(row[2]) for row in compared], type=pa.bool_()),
    })
    gone = pa.table({"key": pa.array(scope.gone or [], type=pa.string()),
                     "row_hash": pa.nulls(len(scope.gone or []), type=pa.string()),
                     "settled": pa.array([False] * len(scope.gone or []), type=pa.bool_())})
    with wh.transaction() as con:
        wh.create_table_if_missing(con, TARGETS_TABLE, TARGETS_COLUMNS)
        wh.create_table_if_missing(con, spec.table, STATE_COLUMNS)
        wh.execute(con, f"drop table if exists {incoming}")
        wh.create_table_if_missing(con, incoming, [("key", "text"), ("row_hash", "text"), ("settled", "boolean")])
        wh.bulk_insert(con, incoming, data)
        wh.bulk_insert(con, incoming, gone)
        if scope.full:
            wh.execute(con, f"delete from {spec.table}")
        else:
            recorded_again = f"key in (select key from {incoming})"
            if not wh.compact_if_bloated(con, spec.table, deleting=recorded_again):
                wh.execute(con, f"delete from {spec.table} where {recorded_again}")
        wh.execute(
            con,
            f"insert into {spec.table} (key, row_hash, applied_at) "
            f"select key, row_hash, %s from {incoming} where settled",
            [now],
        )
        wh.execute(con, f"drop table {incoming}")
        recorded = int(wh.execute(con, f"select count(*) from {spec.table}").fetchone()[0])
        wh.execute(con, f"delete from {TARGETS_TABLE} where publish = %s", [spec.publish])
        names = ", ".join(name for name, _ in TARGETS_COLUMNS)
        wh.execute(
            con,
            f"insert into {TARGETS_TABLE} ({names}) values (%s, %s, %s, %s, %s, %s)",
            [spec.publish, target, spec.version, now, recorded, scope.describe()],
        )
        wh.analyze(con, spec.table)
    return recorded
