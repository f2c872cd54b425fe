"""Build one SQL model as the run's plan says: a full rebuild, or an update of its rows in scope (no Dagster imports).

The model assets call ``build_model``; ``build_models`` runs the same path for every model in dependency order
without Dagster (the tests compare incremental and full builds with it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appointment_pipeline.io import advisory_counts
from appointment_pipeline.io.audits import model_audit
from appointment_pipeline.io.incremental import update_table_in_scope
from appointment_pipeline.io.incremental_scope import (
    RUNS_TABLE,
    BuildPlan,
    BuildRequest,
    plan_build,
    record_model_build,
)
from appointment_pipeline.io.sql_project import SqlModel, SqlProject
from appointment_pipeline.io.warehouse import Warehouse, ident


class ScopeTaken(RuntimeError):
    """Two runs planned incremental builds at the same time: the earlier one stops before writing."""


@dataclass(frozen=True)
class ModelBuild:
    mode: str
    rows_deleted: int
    rows_inserted: int
    row_count: int  # rows of the table after the build
    compacted: bool = False  # an update rewrote the table first (Warehouse.compact_if_bloated)


def code_version(model: SqlModel) -> str:
    return hashlib.sha256(model.sql.encode()).hexdigest()[:16]


def project_versions(project: SqlProject) -> tuple[dict[str, str], str]:
    """(model -> code version, a digest of every model's SQL and scope and every seed): a change forces full."""
    versions = {name: code_version(model) for name, model in project.models.items()}
    digest = hashlib.sha256()
    for name in sorted(project.models):
        model = project.models[name]
        digest.update(f"{name}:{versions[name]}:{model.scope!r}:{model.changed!r}\n".encode())
    for name, rules in sorted(project.source_scopes.items()):
        digest.update(f"{name}:{rules!r}\n".encode())
    for name in sorted(project.seeds):
        digest.update(name.encode() + project.seeds[name].path.read_bytes())
    return versions, digest.hexdigest()[:16]


def model_parameters(model: SqlModel, reference_time: datetime | None) -> dict[str, Any]:
    return {"reference_time": reference_time} if "reference_time" in model.parameters else {}


def build_model(
    wh: Warehouse, model: SqlModel, project: SqlProject, plan: BuildPlan, record: dict[str, Any] | None = None,
    pii_carried: Collection[str] = (),
) -> ModelBuild:
    """Rebuild ``model`` (plan full, or a model without a scope) or update its rows in scope; either way audited,
    all or nothing, and recorded as built by ``plan`` in the same transaction. ``record`` receives the audit's
    counts that hold for the whole table after the build (model_audit), for the run's checks to report;
    ``pii_carried``: the columns its PII scan skips (model_audit)."""
    parameters = model_parameters(model, plan.reference_time)
    version = code_version(model)
    audit = model_audit(wh, model, record=record, pii_carried=pii_carried)
    if plan.incremental and model.scope:
        latest = wh.scalar(f"select build_id from {RUNS_TABLE} order by planned_at desc limit 1")
        if latest != plan.build_id:  # the scope tables are shared: another run planned after this one
            raise ScopeTaken(
                f"{model.name}: another run ({latest}) planned a build after this one ({plan.build_id}); its scope "
                "replaced this run's. Nothing was written; the next run rebuilds in full."
            )

        counted = advisory_counts.counted_tests(model)
        before = advisory_counts.stored(wh, model.name)
        totals: dict[str, int] = {}

        def record_state(con: Any, result: Any) -> None:
            record_model_build(wh, con, model.name, plan, version, result.deleted, result.inserted)
            unknown = [t for t in counted if t.name not in before]  # never stored: counted on the table once
            totals.update(advisory_counts.failing_rows(wh, con, unknown, ident(model.name)))
            totals.update({t.name: before[t.name] - result.failing_deleted[t.name] + result.failing_inserted[t.name]
                           for t in counted if t.name in before})
            advisory_counts.store(wh, con, model.name, totals)

        result = update_table_in_scope(wh, model, project.scopes(), parameters, audit=audit, also=record_state,
                                       counted=counted)
        if record is not None:
            # An update audits only the rows it wrote. Blocking tests passed on every earlier build, so their zero
            # holds for the whole table; a row-local advisory test's count follows from the rows deleted and
            # inserted (io/advisory_counts.py); any other advisory test's check queries the table instead.
            for test in model.tests:
                if not test.blocking:
                    record.pop(test.name, None)
            record.update(totals)
        return ModelBuild(plan.mode, result.deleted, result.inserted, result.row_count, result.compacted)
    previous = int(wh.scalar(f"select count(*) from {ident(model.name)}")) if wh.table_exists(model.name) else 0
    inserted: list[int] = []

    def record_full(con: Any) -> None:
        count = int(con.execute(f"select count(*) from {ident(model.name)}").fetchone()[0])
        inserted.append(count)
        record_model_build(wh, con, model.name, plan, version, previous, count)
        # the audit's zero is a zero of rows too; any other count is taken in rows
        counted = advisory_counts.counted_tests(model)
        zero = {t.name: 0 for t in counted if record is not None and record.get(t.name) == 0}
        taken = advisory_counts.failing_rows(wh, con, [t for t in counted if t.name not in zero], ident(model.name))
        advisory_counts.store(wh, con, model.name, {**zero, **taken})

    count = wh.replace_table_with_query(
        model.name, model.render(wh.dialect, parameters), audit=audit, also=record_full
    )
    return ModelBuild("full", previous, int(count), int(count))


def build_models(
    wh: Warehouse, project: SqlProject, build_id: str, *, reference_time: datetime | None,
    run_days: tuple = (), full_refresh: str | None = None,
) -> tuple[BuildPlan, dict[str, ModelBuild]]:
    """Plan the build and build every model in dependency order, as a run of every model asset does."""
    versions, digest = project_versions(project)
    request = BuildRequest(build_id, versions, digest, reference_time, run_days, True, full_refresh)
    with wh.session() as session:
        plan = plan_build(session, request)
        builds = {name: build_model(session, project.models[name], project, plan) for name in project.order()}
    return plan, builds

