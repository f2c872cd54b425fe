"""Incremental model builds: recompute only the rows of a model that lie in the run's scope (no Dagster imports).

The scope is a handful of tables (io/incremental_scope.py: leads, appointment keys, Calendly events, snapshot days)
closed over every relation the models compute across rows, so a model's rows in scope depend only on its upstream
rows in scope. Each table declares in schema.yml which of its rows are in scope (``incremental.scope``); one generic
rewrite then serves every model: each upstream table is read through that filter, the result keeps the rows of the
model's own scope, and the write deletes the model's rows in scope and inserts the recomputed ones, audited, in one
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import build_scope

from appointment_pipeline.io.advisory_counts import counted_rows
from appointment_pipeline.io.db_errors import identifiers_in, scrubbing
from appointment_pipeline.io.sql_project import (
    SOURCE_DIALECT,
    DeclaredTest,
    ModelError,
    ScopeRule,
    SqlModel,
    literal,
    transpile,
)
from appointment_pipeline.io.warehouse import Audit, AuditFailed, Warehouse, ident

SCOPE_LEADS = "model_scope_leads"  # lead_id
SCOPE_KEYS = "model_scope_keys"  # provider, appointment_key, appointment_id (the appointments' md5 id)
SCOPE_EVENTS = "model_scope_events"  # scheduled_event_uri
SCOPE_DAYS = "model_scope_days"  # snapshot_date

_MEMBERS = {  # scope set -> (scope table, its column, narrowing condition)
    "leads": (SCOPE_LEADS, "lead_id", ""),
    "appointments": (SCOPE_KEYS, "appointment_id", ""),
    "ghl_keys": (SCOPE_KEYS, "appointment_key", " where provider = 'GHL'"),
    "calendly_keys": (SCOPE_KEYS, "appointment_key", " where provider = 'CALENDLY'"),
    "events": (SCOPE_EVENTS, "scheduled_event_uri", ""),
    "days": (SCOPE_DAYS, "snapshot_date", ""),
    "changed_leads": (SCOPE_LEADS, "lead_id", " where scope_round = 0"),  # inserted, changed, deleted, time-affected
}


def rule_condition(rule: ScopeRule, qualifier: str) -> str:
    """The rule as a condition (PostgreSQL dialect) on the rows of the table aliased ``qualifier``."""
    columns = [f"{ident(qualifier)}.{ident(column)}" for column in rule.columns]
    if rule.scope_set == "keys":
        provider, key = columns
        condition = (
            f"exists (select 1 from {SCOPE_KEYS} as scope_key "
            f"where scope_key.provider = {provider} and scope_key.appointment_key = {key})"
        )
    else:
        table, column, narrowing = _MEMBERS[rule.scope_set]
        condition = f"{columns[0]} in (select {column} from {table}{narrowing})"
    if rule.where:
        where = sqlglot.parse_one(rule.where, read=SOURCE_DIALECT)
        for node in where.find_all(exp.Column):
            node.set("table", exp.to_identifier(qualifier))
        condition = f"({where.sql(dialect=SOURCE_DIALECT)} and {condition})"
    return condition


def scope_condition(rules: tuple[ScopeRule, ...], qualifier: str) -> str:
    return "(" + " or ".join(rule_condition(rule, qualifier) for rule in rules) + ")"


def scoped_expression(model: SqlModel, scopes: Mapping[str, tuple[ScopeRule, ...]]) -> exp.Query:
    """The model's query reading each upstream table through its scope filter, keeping the rows it rebuilds (its
    scope, or of that the rows whose input changed: ``SqlModel.rebuilt``; SqlProject.validate makes sure every
    upstream table but the seeds has a scope)."""
    if not model.scope:
        raise ModelError(f"{model.name}: no incremental scope in schema.yml")
    expression = model.expression.copy()
    root = build_scope(expression)
    if root is None:
        raise ModelError(f"{model.name}: cannot analyse the query")
    tables = [
        source
        for scope in root.traverse()
        for source in scope.sources.values()
        if isinstance(source, exp.Table) and source.name in scopes
    ]
    for table in tables:
        alias = table.alias_or_name
        inner = sqlglot.parse_one(
            f"select * from {ident(table.name)} where {scope_condition(scopes[table.name], table.name)}",
            read=SOURCE_DIALECT,
        )
        table.replace(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    recomputed = exp.Subquery(this=expression, alias=exp.TableAlias(this=exp.to_identifier("recomputed")))
    condition = sqlglot.parse_one(scope_condition(model.rebuilt, "recomputed"), read=SOURCE_DIALECT)
    return exp.select("*").from_(recomputed).where(condition)


@dataclass(frozen=True)
class IncrementalResult:
    deleted: int
    inserted: int
    row_count: int  # rows of the table after the update
    failing_deleted: Mapping[str, int] = field(default_factory=dict)  # counted test -> its failing rows deleted
    failing_inserted: Mapping[str, int] = field(default_factory=dict)  # ... and inserted
    compacted: bool = False  # the table was rewritten first, without the deleted rows it still stored


def update_table_in_scope(
    wh: Warehouse,
    model: SqlModel,
    scopes: Mapping[str, tuple[ScopeRule, ...]],
    parameters: Mapping[str, Any],
    audit: Audit | None = None,
    also: Callable[[Any, IncrementalResult], None] | None = None,
    counted: Sequence[DeclaredTest] = (),
) -> IncrementalResult:
    """Replace the model's rows in scope by their recomputation, all or nothing: the recomputed rows go to a scratch
    table, are audited there (and unique columns against the rows that stay), then the rows in scope are deleted
    and the scratch rows inserted; ``also(con)`` runs in the same transaction. For each ``counted`` test (one that
    judges each row alone), the result holds its failing rows among the rows deleted and among those inserted."""
    table = ident(model.name)
    scratch = f"{table}__increment"
    select_sql = model.render(wh.dialect, parameters, scoped_expression(model, scopes))
    in_scope = transpile(scope_condition(model.rebuilt, table), wh.dialect)
    with wh.transaction() as con, scrubbing(f"updating {table}", identifiers_in(select_sql, scratch)):
        if wh.dialect == "postgres":
            # PostgreSQL guesses a handful of rows for the filtered CTEs and nests loops over thousands; the tables
            # have no indexes, so hash joins are the plan wanted (SET LOCAL: this transaction only)
            con.execute("set local enable_nestloop = off")
        con.execute(f"drop table if exists {scratch}")
        con.execute(f"create table {scratch} as {select_sql}")
        inserted, failing_inserted = counted_rows(wh, con, counted, scratch)
        _audit(wh, con, model, scratch, audit)
        in_scope_rows = f"(select * from {table} where {in_scope}) as in_scope"
        deleted, failing_deleted = counted_rows(wh, con, counted, in_scope_rows)
        compacted = wh.compact_if_bloated(con, model.name, deleting=in_scope, appending=f"select * from {scratch}")
        if not compacted:
            con.execute(f"delete from {table} where {in_scope}")
            con.execute(f"insert into {table} select * from {scratch}")
        _audit_unique_against_table(wh, con, model, table, scratch)
        con.execute(f"drop table {scratch}")
        for column, parameter in model.parameter_columns.items():
            # a bare parameter column holds this run's value on every row, in scope or not
            value = transpile(f"select {_literal_sql(parameters[parameter])}", wh.dialect)[len("select "):]
            con.execute(f"update {table} set {ident(column)} = {value} where {ident(column)} is distinct from {value}")
        rows = int(con.execute(f"select count(*) from {table}").fetchone()[0])
        result = IncrementalResult(int(deleted), int(inserted), rows, failing_deleted, failing_inserted, compacted)
        if result.deleted + result.inserted > ANALYZE_SHARE * max(rows, 1):
            # PostgreSQL samples the whole table to analyze it: a daily update of a small share keeps the statistics
            wh.analyze(con, table)
        if also is not None:
            also(con, result)
    return result


ANALYZE_SHARE = 0.1  # as PostgreSQL's own autovacuum_analyze_scale_factor


def _literal_sql(value: Any) -> str:
    return literal(value).sql(dialect=SOURCE_DIALECT)


def _audit(wh: Warehouse, con: Any, model: SqlModel, scratch: str, audit: Audit | None) -> None:
    if audit is None:
        return
    failures = {name: count for name, count in audit(con, scratch).items() if count}
    if failures:
        raise AuditFailed(model.name, failures)


def _audit_unique_against_table(wh: Warehouse, con: Any, model: SqlModel, table: str, scratch: str) -> None:
    """A blocking unique column of the recomputed rows stays unique among the rows that were kept: checked on the
    updated table for the values just written (the scratch audit saw the recomputed rows only)."""
    failures = {}
    for test in model.tests:
        if test.blocking and test.kind == "unique":
            column = ident(test.column)
            written = f"(select * from {table} where {column} in (select {column} from {scratch})) as written"
            sql = transpile(test.failing_rows_sql(written), wh.dialect)
            failures[test.name] = int(con.execute(f"select count(*) from ({sql}) as failing").fetchone()[0])
    failures = {name: count for name, count in failures.items() if count}
    if failures:
        raise AuditFailed(model.name, failures)
