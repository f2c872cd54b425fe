"""The embedded quickstart: demo data, then every asset materialized into the DuckDB warehouse by the real CLI.

    python -m appointment_pipeline.quickstart [--leads N] [--days D]

Uses a SQLite-backed Dagster instance in .dagster_home/ (DAGSTER_HOME), the demo application database and landing
zone under data/, and pins APPOINTMENT_REFERENCE_TIME to the day after the demo's last snapshot so the rollups are
reproducible (set it yourself to override).
"""

import argparse
import os
import subprocess
import sys
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

from appointment_pipeline import settings
from appointment_pipeline.app_database import AppDatabase, publish_appointments, publish_lead_rollups
from appointment_pipeline.demo import generate_demo
from appointment_pipeline.sql_project import load_project
from appointment_pipeline.warehouse import Warehouse

DAGSTER_YAML = """\
# Local development instance: SQLite storage under this folder (see deploy/dagster.yaml for production).
telemetry:
  enabled: false
"""



def ensure_dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def print_publish_plan(warehouse: Warehouse) -> None:
    """The run above published in dry-run mode (the default): show its plan and how to apply it."""
    app = AppDatabase(settings.source_db_url())
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

    home = ensure_dagster_home()
    start = settings.partitions_start()
    summary = generate_demo(settings.source_db_url(), settings.landing_dir(), leads=args.leads, days=args.days,
                            start=start, seed=args.seed)
    print(f"demo data: {summary.leads} leads, {summary.landing_lines} landing lines "
          f"({summary.malformed_lines} malformed) for {summary.first_day}..{summary.last_day}")
    reference = datetime.combine(summary.last_day + timedelta(days=1), time.min, tzinfo=timezone.utc)
    os.environ.setdefault("APPOINTMENT_REFERENCE_TIME", reference.isoformat())

    command = [
        str(Path(sys.executable).with_name("dagster")),
        "asset", "materialize",
        "-m", "appointment_pipeline.definitions",
        "--select", "*",
        "--partition-range", f"{summary.first_day}...{summary.last_day}",
    ]
    print("running:", " ".join(command[1:]), f"(DAGSTER_HOME={home})", flush=True)
    completed = subprocess.run(command, env=os.environ.copy())
    if completed.returncode != 0:
        print("materialization failed; see the log above", file=sys.stderr)
        return completed.returncode

    warehouse = Warehouse(settings.warehouse_url())
    print(f"\nwarehouse {warehouse.display_name}:")
    for table in load_project().marts():
        print(f"  {table:34s} {warehouse.scalar(f'select count(*) from {table}'):>8} rows")
    print_publish_plan(warehouse)
    print(f"\nnext: DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml  (UI on http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
