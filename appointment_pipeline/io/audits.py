"""Blocking audits: what a table must satisfy before it is published (no Dagster imports).

A rebuild writes a scratch table and runs these on the writing connection before the swap; a failure rolls the
transaction back, so the previous table stays and nothing downstream reads bad rows. The asset checks run the same
functions on the published tables, so what is audited and what is reported cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from appointment_pipeline.domain.redaction import PII_REGEX
from appointment_pipeline.io.advisory_counts import ROW_LOCAL, failing_rows
from appointment_pipeline.io.sql_project import Seed, SqlModel, transpile
from appointment_pipeline.io.warehouse import Audit, Warehouse, ident

PII_AUDIT = "no_pii_in_text_columns"
PII_CARRIED = "no_pii_carried_over"  # an audit record's columns the scan skipped (see model_audit)
# Materialization metadata of a rebuild: what its audit found on the table it swapped in, by check name (a declared
# test or domain rule -> failing rows; the PII scan -> count per text column). The run's checks report it.
AUDIT_METADATA = "audit"


def pii_condition(dialect: str, column: str) -> str:
    """The column's value looks like an email address or a phone number (one parameter: PII_REGEX)."""
    if dialect == "duckdb":
        return f"regexp_matches({column}, %s)"
    return f"({column} ~ %s)"


def scan_for_pii(
    wh: Warehouse, table: str, *, con: Any = None, where: str | None = None, params: list | tuple = (),
    skip: Collection[str] = (),
) -> dict[str, int]:
    """Text column -> number of values that look like an email address or a phone number (``where`` narrows the
    rows, e.g. to the days a run wrote; ``skip``: columns not scanned)."""
    text_columns = [name for name, data_type in wh.table_columns(table, con=con)
                    if data_type == "text" and name not in skip]
    if not text_columns:
        return {}
    counts = ", ".join(
        f"count(*) filter (where {pii_condition(wh.dialect, column)}) as {column}" for column in text_columns
    )
    sql = f"select {counts} from {ident(table)}" + (f" where {where}" if where else "")
    patterns = [PII_REGEX for _ in text_columns]
    row = _fetch(wh, con, sql, [*patterns, *params])[0]
    return {column: int(count) for column, count in zip(text_columns, row)}


def pii_audit(wh: Warehouse, *, where: str | None = None, params: list | tuple = ()) -> Audit:
    def audit(con: Any, table: str) -> dict[str, int]:
        found = scan_for_pii(wh, table, con=con, where=where, params=params)
        return {f"{PII_AUDIT}.{column}": count for column, count in found.items()}

    return audit


def recording_pii(audit: Audit, into: dict[str, Any]) -> Audit:
    """``audit`` (a ``pii_audit``) that also keeps what it found, text column -> count, in ``into[PII_AUDIT]``:
    the asset that wrote the rows reports it, and its PII check reads it instead of scanning again."""

    def run(con: Any, table: str) -> dict[str, int]:
        found = audit(con, table)
        prefix = f"{PII_AUDIT}."
        into[PII_AUDIT] = {name[len(prefix):]: count for name, count in found.items() if name.startswith(prefix)}
        return found

    return run


def links_leaving_their_lead(wh: Warehouse, table: str = "appointments", con: Any = None) -> list[tuple]:
    """Appointments whose rescheduled_from_id points to no appointment or to another lead's."""
    t = ident(table)
    return _fetch(
        wh,
        con,
        f"select a.id, a.lead_id, a.rescheduled_from_id, p.lead_id as predecessor_lead_id from {t} as a "
        f"left join {t} as p on p.id = a.rescheduled_from_id "
        "where a.rescheduled_from_id is not null and (p.id is null or p.lead_id <> a.lead_id) order by a.id",
        [],
    )


def find_cycles(links: dict[str, str]) -> list[str]:
    """Appointment ids that lie on a cycle of successor -> predecessor links (each id has one predecessor)."""
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = done
    on_cycle: list[str] = []
    for start in links:
        path = []
        node: str | None = start
        while node is not None and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = links.get(node)
        if node is not None and state.get(node) == 1:
            on_cycle.extend(path[path.index(node):])
        for visited in path:
            state[visited] = 2
    return on_cycle


def reschedule_links(wh: Warehouse, table: str = "appointments", con: Any = None) -> dict[str, str]:
    return dict(_fetch(wh, con, f"select id, rescheduled_from_id from {ident(table)} where rescheduled_from_id is not null", []))


def model_audit(
    wh: Warehouse, model: SqlModel | Seed, *, with_pii: bool = True, record: dict[str, Any] | None = None,
    pii_carried: Collection[str] = (),
) -> Audit:
    """The model's blocking declared tests, its blocking domain rules and the PII scan, on a candidate table. With
    ``record``, its non-blocking tests that read the table alone (no relationships: their other side is the
    published table) run too, on the same connection instead of in a check step of their own, and every count is
    copied there; only blocking ones can fail the audit. ``pii_carried``: columns the scan skips, because the
    column lineage shows each of their values is a value of an upstream column that was scanned (or a literal of
    the SQL): io/lineage.py PRESERVING."""
    tests = [t for t in model.tests if t.blocking or (record is not None and t.kind != "relationships")]
    advisory = {test.name for test in model.tests if not test.blocking}

    row_local = [t for t in tests if t.kind in ROW_LOCAL]  # counted together, in one scan (in rows)

    def audit(con: Any, table: str) -> dict[str, int]:
        counts: dict[str, int] = failing_rows(wh, con, row_local, table)
        for test in tests:
            if test.kind in ROW_LOCAL:
                continue
            sql = transpile(test.failing_rows_sql(table), wh.dialect)
            counts[test.name] = int(_fetch(wh, con, f"select count(*) from ({sql}) as failing", [])[0][0])
        if model.name == "appointments":
            counts["reschedule_links_stay_within_lead"] = len(links_leaving_their_lead(wh, table, con))
            counts["reschedule_links_acyclic"] = len(find_cycles(reschedule_links(wh, table, con)))
        found = scan_for_pii(wh, table, con=con, skip=pii_carried) if with_pii else None
        if record is not None:
            record.update(counts)
            if found is not None:
                record[PII_AUDIT] = found
                text = {name for name, data_type in wh.table_columns(table, con=con) if data_type == "text"}
                record[PII_CARRIED] = sorted(text & set(pii_carried))
        failures = {name: count for name, count in counts.items() if name not in advisory}
        failures.update({f"{PII_AUDIT}.{column}": count for column, count in (found or {}).items()})
        return failures

    return audit


def _fetch(wh: Warehouse, con: Any, sql: str, params: list) -> list[tuple]:
    if con is None:
        return wh.query(sql, params)
    return wh.execute(con, sql, params).fetchall()
