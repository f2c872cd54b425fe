"""The child process of one engine: every Dagster run of the benchmark on that engine, in this order:

1. fixed cost: the small demo rebuilt in one run (a fresh process's first run, as a launched run is);
2. full rebuild: the main demo's days but its last in one run (the publish a dry run), then, untimed, the publish
   applied once and the last day reconciled again (as a deployment that publishes daily has done: see
   ``settle_publish``), then the next day alone on the same warehouse, as the reconcile schedule runs it (every
   asset, that day's partition, its tags, the publish applied);
3. per history length H: the first H days of the sweep demo rebuilt in one run, then day H+1 reconciled the same way
   (a history that is the full rebuild's, on the same demo, reuses its figures).

    python -m pipeline_bench.engine_run SPEC.json OUT.json

Every run is timed twice: wall seconds around ``materialize_range``, and the sum of its steps' durations from the
Dagster event log. The peak resident memory is read after each phase (it only grows, so the figure after the full
rebuild covers the fixed-cost run and the rebuild).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import date
from pathlib import Path

from dagster import DagsterInstance

from appointment_pipeline.defs.automation.schedules import RECONCILE_TAGS
from appointment_pipeline.defs.resources.resources import (
    LandingZoneResource,
    PipelineSettingsResource,
    SourceDatabaseResource,
    WarehouseResource,
)
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import Warehouse
from appointment_pipeline.runner import materialize_range
from appointment_pipeline.settings import get_settings
from pipeline_bench.machine import peak_rss_mb
from pipeline_bench.warehouses import engine_version

RAW_TABLES = ["raw_leads", "raw_calendly_invitees", "raw_ghl_appointments"]
COUNTED_TABLES = [*RAW_TABLES, *load_project().marts()]  # the main tables: raw inputs and every mart


PUBLISH_ASSETS = ["app_appointments", "app_lead_rollups"]


def resources_for(warehouse_url: str, demo: dict, hash_key: str, publish_mode: str | None = None) -> dict:
    root = Path(demo["dir"])
    app = Path(demo.get("app", root / "app.sqlite"))
    return {
        "warehouse": WarehouseResource(url=warehouse_url, duckdb_memory_limit=get_settings().duckdb_memory_limit),
        "source_db": SourceDatabaseResource(url=f"sqlite:///{app}", publish_mode=publish_mode),
        "landing_zone": LandingZoneResource(root=str(root / "landing")),
        "pipeline_settings": PipelineSettingsResource(hash_key=hash_key, reference_time=demo["reference_time"]),
    }


def timed_run(first: date, last: date, resources: dict, instance: DagsterInstance, tags: dict | None = None) -> dict:
    """One real Dagster run over first..last: wall seconds, the sum of step seconds and the slowest steps."""
    started = time.perf_counter()
    result = materialize_range(first, last, resources=resources, instance=instance, tags=tags)
    wall = time.perf_counter() - started
    stats = instance.event_log_storage.get_step_stats_for_run(result.run_id)
    steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats if s.start_time}
    slowest = sorted(steps.items(), key=lambda item: -item[1])[:5]
    return {
        "success": result.success,
        "wall_s": round(wall, 3),
        "steps_s": round(sum(steps.values()), 3),
        "steps": len(steps),
        "slowest_steps": [[key, round(seconds, 3)] for key, seconds in slowest],
    }


def row_counts(url: str) -> dict[str, int]:
    wh = Warehouse(url)
    with wh.session() as session:
        return {table: int(session.scalar(f"select count(*) from {table}")) for table in COUNTED_TABLES}


def rebuild(spec: dict, phase: dict, url: str, instance: DagsterInstance) -> dict:
    demo = phase["demo"]
    figures = timed_run(date.fromisoformat(phase["first_day"]), date.fromisoformat(phase["last_day"]),
                        resources_for(url, demo, spec["hash_key"]), instance)
    figures["landing_lines"] = phase["landing_lines"]
    return figures


def settle_publish(spec: dict, phase: dict, url: str, instance: DagsterInstance) -> float:
    """Untimed: bring the warehouse and the application to where a deployment that publishes every day is before
    its next day: the publish applied once after the rebuild, then the last day reconciled again with the publish
    applied (the "Lead" rollup columns the first apply wrote come back through raw_leads once, and settle). Returns
    the seconds of both, reported apart."""
    started = time.perf_counter()
    last = date.fromisoformat(phase["last_day"])
    resources = resources_for(url, phase["demo"], spec["hash_key"], publish_mode="apply")
    materialize_range(last, last, selection=PUBLISH_ASSETS, instance=instance, resources=resources)
    materialize_range(last, last, instance=instance, resources=resources, tags=dict(RECONCILE_TAGS))
    return round(time.perf_counter() - started, 3)


def reconcile(spec: dict, history: dict, url: str, instance: DagsterInstance) -> dict:
    """The day after the history alone, on the warehouse holding the history: what the reconcile schedule runs, with
    the publish applied (a deployment's daily run; the rebuild's rows were published by ``settle_publish``)."""
    day = date.fromisoformat(history["reconcile_day"])
    figures = timed_run(day, day, resources_for(url, history["demo"], spec["hash_key"], publish_mode="apply"),
                        instance, tags=dict(RECONCILE_TAGS))
    figures["new_day_lines"] = history["new_day_lines"]
    return figures


def with_own_app(phase: dict, copies: Path, label: str) -> dict:
    """The phase on a copy of its demo's application database: its publish applies there, and the other engine
    (and the other phases) still read the demo as generated."""
    copies.mkdir(parents=True, exist_ok=True)
    app = copies / f"{label}.sqlite"
    shutil.copyfile(Path(phase["demo"]["dir"]) / "app.sqlite", app)
    return {**phase, "demo": {**phase["demo"], "app": str(app)}}


def run(spec: dict) -> dict:
    engine, urls = spec["engine"], spec["warehouses"]
    copies = Path(spec["app_copies"])
    spec = {**spec, "rebuild": with_own_app(spec["rebuild"], copies, "rebuild")}
    spec["reconcile"] = {**spec["reconcile"], "demo": spec["rebuild"]["demo"]}  # the same application as the rebuild
    spec["histories"] = [with_own_app(h, copies, f"history_{h['days']}") for h in spec["histories"]]
    out: dict = {"engine": engine, "version": engine_version(urls["rebuild"])}
    if spec.get("fixed"):
        out["fixed"] = rebuild(spec, spec["fixed"], urls["fixed"], DagsterInstance.ephemeral())
        print(f"[{engine}] fixed cost: {out['fixed']['steps_s']:.2f} s of steps ({out['fixed']['wall_s']:.1f} s wall)",
              flush=True)
    instance = DagsterInstance.ephemeral()
    full = rebuild(spec, spec["rebuild"], urls["rebuild"], instance)
    full["rows"] = row_counts(urls["rebuild"])
    full["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["rebuild"] = full
    print(f"[{engine}] full rebuild: {full['wall_s']:.1f} s wall, {full['steps_s']:.1f} s of steps", flush=True)
    full["first_publish_apply_s"] = settle_publish(spec, spec["rebuild"], urls["rebuild"], instance)
    out["reconcile"] = reconcile(spec, spec["reconcile"], urls["rebuild"], instance)
    print(f"[{engine}] reconcile of {spec['reconcile']['reconcile_day']}: {out['reconcile']['wall_s']:.2f} s wall",
          flush=True)
    out["histories"] = []
    for history in spec["histories"]:
        figures = {"days": history["days"], "new_day": history["reconcile_day"],
                   "new_day_lines": history["new_day_lines"], "history_lines": history["landing_lines"]}
        if history["same_as_main"]:
            figures.update(rebuild=out["rebuild"], reconcile=out["reconcile"], peak_rss_mb=full["peak_rss_mb"])
            out["histories"].append(figures)
            continue
        url = urls[f"history_{history['days']}"]
        instance = DagsterInstance.ephemeral()
        figures["rebuild"] = rebuild(spec, history, url, instance)
        figures["rebuild"]["first_publish_apply_s"] = settle_publish(spec, history, url, instance)
        figures["reconcile"] = reconcile(spec, history, url, instance)
        figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
        out["histories"].append(figures)
        print(f"[{engine}] history {history['days']} days: rebuild {figures['rebuild']['wall_s']:.1f} s, "
              f"reconcile of {history['reconcile_day']} {figures['reconcile']['wall_s']:.2f} s", flush=True)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    out = run(json.loads(Path(spec_path).read_text()))
    Path(out_path).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
