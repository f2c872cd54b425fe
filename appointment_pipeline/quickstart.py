"""The embedded quickstart: demo data, then every asset materialized into the DuckDB warehouse by the real CLI.

    python -m appointment_pipeline.quickstart [--leads N] [--days D]

Writes the demo's settings to ``.env`` in the current directory (Dagster's CLI and ``dagster dev`` read it from
there), so the UI and every shell command of the README use the same persistent instance (``.dagster_home/``),
the same reference time and the demo's snapshot days as the whole partition set. The run's DEBUG log goes to
``.dagster_home/quickstart.log``; the terminal shows progress and a summary.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appointment_pipeline.settings import get_settings
from appointment_pipeline.io.app_database import AppDatabase, publish_appointments, publish_lead_rollups
from appointment_pipeline.demo import generate_demo
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import Warehouse

DAGSTER_YAML = """\
# Local development instance: SQLite storage under this folder (see deploy/dagster.yaml for production).
telemetry:
  enabled: false
"""
ENV_MARKER = "# Written by python -m appointment_pipeline.quickstart: the demo's settings for dagster dev and the CLI."
RAW_TABLES = ("raw_leads", "raw_calendly_invitees", "raw_ghl_appointments")


def ensure_dagster_home() -> Path:
    home = (get_settings().dagster_home or Path(".dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def write_env_file(path: Path, values: dict[str, str]) -> bool:
    """Write the demo settings to ``path`` unless it is a .env of the user's own (then it is left alone)."""
    if path.exists() and not path.read_text().startswith(ENV_MARKER):
        return False
    path.write_text("\n".join([ENV_MARKER, *(f"{key}={value}" for key, value in values.items())]) + "\n")
    return True


@dataclass
class RunProgress:
    """What the run has done so far, read from the Dagster instance (the same storage the UI reads)."""

    run_id: str | None = None
    seen: int = 0
    assets_done: list[str] = field(default_factory=list)
    steps_failed: list[str] = field(default_factory=list)
    checks: Counter = field(default_factory=Counter)
    failed_checks: list[str] = field(default_factory=list)

    assets: frozenset[str] = frozenset()

    def poll(self, instance, started: float, echo) -> None:
        from dagster import DagsterEventType

        if self.run_id is None:
            newest = instance.get_run_records(limit=1)
            if not newest or newest[0].create_timestamp.timestamp() < started - 1:
                return  # the CLI has not created its run yet
            self.run_id = newest[0].dagster_run.run_id
            echo(f"run {self.run_id} started")
        records = instance.all_logs(self.run_id)
        for record in records[self.seen:]:
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION and event.asset_key is not None:
                asset = event.asset_key.to_user_string()
                if asset in self.assets and asset not in self.assets_done:  # a partitioned asset: its first day
                    self.assets_done.append(asset)
                    echo(f"  [{len(self.assets_done):2d}/{len(self.assets)}] {asset}")
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                self.steps_failed.append(event.step_key)
                echo(f"  FAILED {event.step_key}")
            elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                if evaluation.passed:
                    self.checks["passed"] += 1
                else:
                    self.checks[f"failed ({evaluation.severity.value})"] += 1
                    self.failed_checks.append(name)
        self.seen = len(records)


def print_publish_plan(warehouse: Warehouse) -> None:
    """The run above published in dry-run mode (the default): show its plan and how to apply it."""
    app = AppDatabase(get_settings().source_db_url)
    for plan in (publish_appointments(warehouse, app, apply=False), publish_lead_rollups(warehouse, app, apply=False)):
        print(f"\npublish dry run, {plan.target}: {plan.actions or 'nothing to do'}")
    print("apply it: APPOINTMENT_PUBLISH_MODE=apply .venv/bin/dagster asset materialize "
          "-m appointment_pipeline.definitions --select app_appointments,app_lead_rollups")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    def echo(text: str) -> None:
        print(f"[{time.monotonic() - began:5.1f}s] {text}", flush=True)

    began = time.monotonic()
    home = ensure_dagster_home()
    settings = get_settings()
    start = settings.partitions_start
    summary = generate_demo(settings.source_db_url, settings.landing_dir, leads=args.leads, days=args.days,
                            start=start, seed=args.seed)
    echo(f"demo data: {summary.leads} leads, {summary.landing_lines} landing lines ({summary.malformed_lines} "
         f"malformed on purpose, {summary.ignored_lines} not about appointments) for {summary.first_day}.."
         f"{summary.last_day} in {settings.resolved_data_dir}")
    reference = datetime.combine(summary.last_day + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    demo_settings = {
        "DAGSTER_HOME": str(home),
        "APPOINTMENT_DATA_DIR": str(settings.resolved_data_dir),
        "APPOINTMENT_REFERENCE_TIME": settings.reference_time or reference.isoformat(),
        "APPOINTMENT_PARTITIONS_START": summary.first_day.isoformat(),
        "APPOINTMENT_PARTITIONS_END": summary.last_day.isoformat(),
    }
    env_file = Path(".env").resolve()
    if write_env_file(env_file, demo_settings):
        echo(f"settings for dagster dev and the CLI written to {env_file}")
    else:
        echo(f"{env_file} is your own and was left alone; the demo needs {sorted(demo_settings)}")
    os.environ.update(demo_settings)  # for the run process started below

    command = [
        str(Path(sys.executable).with_name("dagster")),
        "asset", "materialize",
        "-m", "appointment_pipeline.definitions",
        "--select", "*",
        "--partition-range", f"{summary.first_day}...{summary.last_day}",
    ]
    log_path = home / "quickstart.log"
    echo(f"running: dagster {' '.join(command[1:])}  (full log: {log_path})")

    from dagster import DagsterInstance

    from appointment_pipeline.definitions import defs

    executed = defs.resolve_asset_graph().materializable_asset_keys  # the source assets are never run
    progress = RunProgress(assets=frozenset(key.to_user_string() for key in executed))
    started = time.time()
    with open(log_path, "w") as log, DagsterInstance.get() as instance:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(1.0)
            progress.poll(instance, started, echo)
        progress.poll(instance, started, echo)
    if process.returncode != 0:
        tail = log_path.read_text().splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        print(f"\nthe run failed (steps {progress.steps_failed}); full log: {log_path}", file=sys.stderr)
        return process.returncode

    warehouse = Warehouse(settings.warehouse_url)
    print(f"\nwarehouse {warehouse.display_name}")
    for table in [*RAW_TABLES, *load_project().marts()]:
        print(f"  {table:34s} {warehouse.scalar(f'select count(*) from {table}'):>8} rows")
    verdict = ", ".join(f"{count} {outcome}" for outcome, count in sorted(progress.checks.items()))
    print(f"\nasset checks: {verdict or 'none ran'}")
    for name in progress.failed_checks:
        print(f"  failed: {name}")
    print_publish_plan(warehouse)
    print(
        "\nnext:\n"
        "  .venv/bin/dagster dev -w workspace.yaml       # the UI on http://127.0.0.1:3000, this run in its Runs page\n"
        "  .venv/bin/python -m pytest                    # the test suite\n"
        "  docs/data-contract.md, docs/operations.md, docs/publish.md   # what the tables mean, how to run it for real"
    )
    return 1 if any("ERROR" in outcome for outcome in progress.checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
