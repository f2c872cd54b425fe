"""What a publish planned and wrote, and the batch loop that applies a plan (shared by both targets)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from appointment_pipeline.io.app_database.connection import AppDatabase
from appointment_pipeline.io.app_database.model import SAMPLE_SIZE
from appointment_pipeline.io.app_database.schema import verify_app_schema
from appointment_pipeline.io.app_database.state import CompareScope, StateSpec, full_compare_reason, gone_keys
from appointment_pipeline.io.warehouse import Warehouse

WRITE_ACTIONS = "('insert', 'update')"


@dataclass
class PublishResult:
    """What a publish found (the plan) and, when applied, what it wrote."""

    target: str
    applied: bool
    actions: dict[str, int] = field(default_factory=dict)  # insert / update / unchanged / skip_* -> rows
    changed_fields: dict[str, int] = field(default_factory=dict)  # rows to update per changed column
    sample: list[dict] = field(default_factory=list)  # a few planned changes by id
    batches: int = 0
    batches_written: int = 0
    written: int = 0  # rows actually inserted or updated
    skipped_at_write: int = 0  # planned writes the application overtook between plan and write
    # planned writes that, re-compared after the apply, the target still lacks (not overtaken by the application)
    still_to_write: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase (load, plan, ..., apply)
    scope: CompareScope | None = None  # which rows were compared: all, or those changed since the last apply
    rows_recorded: int | None = None  # after an apply: rows the publish state now lists as settled

    @property
    def planned_writes(self) -> int:
        return self.actions.get("insert", 0) + self.actions.get("update", 0)

    @property
    def rows_still_to_write(self) -> int:
        """What publishing the same state again would write: the plan after a dry run, the re-compare after an apply."""
        return self.planned_writes if self.still_to_write is None else self.still_to_write

    @property
    def skipped(self) -> int:
        return sum(n for action, n in self.actions.items() if action.startswith("skip"))

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - started, 3)


AfterBatch = Callable[[int, int], None]  # (batch number, rows written), called after each batch commits


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")


def run_batches(app: AppDatabase, con: Any, result: PublishResult, sql: str, after_batch: AfterBatch | None) -> None:
    """One transaction per batch, so a publish stopped anywhere leaves whole batches only."""
    for batch in range(result.batches):
        with app.transaction(con):
            written = app.execute(con, sql, [batch]).rowcount
        result.batches_written += 1
        result.written += written
        if after_batch is not None:
            after_batch(batch, written)
    result.skipped_at_write = result.planned_writes - result.written


def count_actions(app: AppDatabase, con: Any, plan: str, flags: Sequence[str], result: PublishResult) -> None:
    """Rows per action and, for the updates, per changed column: one aggregate over the classified rows."""
    sums = ", ".join(f'coalesce(sum("chg_{f}"), 0)' for f in flags)
    rows = app.execute(con, f"select action, count(*), {sums} from {plan} group by action").fetchall()
    result.actions = {row[0]: int(row[1]) for row in sorted(rows)}
    totals = next((row[2:] for row in rows if row[0] == "update"), [0] * len(flags))
    result.changed_fields = {f: int(n) for f, n in zip(flags, totals) if n}


def sample_writes(
    app: AppDatabase, con: Any, writes: str, key: str, order: str, flags: Sequence[str], result: PublishResult
) -> None:
    """The batch count and the first rows to write (``writes`` holds them with their batch)."""
    flag_list = ", ".join(f'"chg_{f}"' for f in flags)
    sample = app.execute(
        con,
        f'select "{key}", action, batch, {flag_list} from {writes} where action in {WRITE_ACTIONS} '
        f"order by batch, {order} limit {SAMPLE_SIZE}",
    ).fetchall()
    # in write order, so the first rows of the sample are the first rows an apply writes
    result.sample = [sample_entry(row[0], row[1], row[2], flags, row[3:]) for row in sample]
    result.batches = int(app.execute(con, f"select coalesce(max(batch) + 1, 0) from {writes}").fetchone()[0])


def sample_entry(key: Any, action: str, batch: int, flags: Sequence[str], changed: Sequence[Any]) -> dict:
    """One planned write of a sample: the fields it changes are listed for an update only."""
    return {"id": key, "action": action, "batch": batch,
            "fields": [f for f, v in zip(flags, changed) if v and action == "update"]}


def batch_number(order: str, batch_size: int) -> str:
    """The batch of a row to write (SQL); rows to write are numbered in write order."""
    writes = f"action in {WRITE_ACTIONS}"
    return (
        f"case when {writes} then (row_number() over (partition by {writes} order by {order}) - 1) "
        f"/ {int(batch_size)} end"
    )


def open_compare(
    app: AppDatabase, con: Any, wh: Warehouse, result: PublishResult, spec: StateSpec, table: str,
    create_temp_tables: Callable[[AppDatabase, Any], None], current_keys: str, full_compare: str | None,
) -> tuple[CompareScope, str]:
    """A publish's opening on its connection: the application's shape checked, the target ``table`` identified,
    the temporary tables created, and what to compare decided from the publish state (``current_keys``: the query
    of the warehouse keys the publish writes from). Returns (what to compare, the target's identity)."""
    with result.timed("check_shape"):
        verify_app_schema(app, con)
        target = app.target_identity(con, table)
        create_temp_tables(app, con)
    with result.timed("scope"):
        scope = result.scope = CompareScope(full_compare_reason(wh, spec, target, full_compare))
        scope.rows_total = int(wh.scalar(f"select count(*) from ({current_keys}) as n"))
        if not scope.full:
            scope.gone = gone_keys(wh, spec, current_keys)
    return scope, target
