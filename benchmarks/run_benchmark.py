"""Full-rebuild benchmark: N leads of demo data, every asset materialized through Dagster, per engine.

    .venv/bin/python benchmarks/run_benchmark.py                  # 100,000 leads, DuckDB and PostgreSQL
    .venv/bin/python benchmarks/run_benchmark.py --leads 1000000  # the 1M run
    .venv/bin/python benchmarks/run_benchmark.py --engines duckdb --leads 10000

Prints, per engine: wall time of the one-run rebuild (extract + models + checks), landing lines per second, rows in
the main tables, and the peak resident memory of the process. PostgreSQL runs against a fresh database on the
local server (BENCH_PG_ADMIN, default postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg
from dagster import DagsterInstance

from appointment_pipeline.demo import generate_demo
from appointment_pipeline.defs.resources.resources import (
    LandingZoneResource,
    PipelineSettingsResource,
    SourceDatabaseResource,
    WarehouseResource,
)
from appointment_pipeline.runner import materialize_range
from appointment_pipeline.io.warehouse import Warehouse

TABLES = ["raw_calendly_invitees", "raw_ghl_appointments", "appointments", "appointment_status_history",
          "lead_appointment_rollups", "lead_rollup_drift", "appointment_rejects"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--workdir", default=None, help="keep inputs and the DuckDB file here (default: a temp dir)")
    parser.add_argument("--reuse-inputs", action="store_true", help="reuse the demo data already in --workdir (if any)")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="appointment_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    source_url = f"sqlite:///{workdir / 'app.sqlite'}"
    started = time.perf_counter()
    marker = workdir / "inputs.json"
    previous = json.loads(marker.read_text()) if marker.exists() else {}
    if args.reuse_inputs and (previous.get("leads"), previous.get("days")) == (args.leads, args.days):
        summary = previous
    else:
        generated = generate_demo(source_url, workdir / "landing", leads=args.leads, days=args.days,
                                  start=date(2025, 1, 1), seed=3)
        summary = {"leads": generated.leads, "days": args.days, "landing_lines": generated.landing_lines,
                   "first_day": generated.first_day.isoformat(), "last_day": generated.last_day.isoformat()}
        marker.write_text(json.dumps(summary))
        print(f"inputs: {generated.leads:,} leads, {generated.landing_lines:,} landing lines in "
              f"{generated.landing_files} files ({time.perf_counter() - started:.1f} s to generate)")

    engines = args.engines.split(",")
    if len(engines) > 1:
        # one child process per engine, so that each peak-memory figure is that engine's own
        for engine in engines:
            subprocess.run([sys.executable, __file__, "--leads", str(args.leads), "--days", str(args.days),
                            "--engines", engine, "--workdir", str(workdir), "--reuse-inputs"], check=True)
        return 0
    admin = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
    for engine in engines:
        database = None
        if engine == "duckdb":
            url = f"duckdb:///{workdir / f'bench_{uuid.uuid4().hex[:6]}.duckdb'}"
        else:
            database = f"ap_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(admin, autocommit=True) as con:
                con.execute(f"create database {database} template template0 lc_collate 'C' lc_ctype 'C'")
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        resources = {
            "warehouse": WarehouseResource(url=url),
            "source_db": SourceDatabaseResource(url=source_url),
            "landing_zone": LandingZoneResource(root=str(workdir / "landing")),
            "pipeline_settings": PipelineSettingsResource(hash_key="bench", reference_time="2025-01-15T00:00:00+00:00"),
        }
        try:
            started = time.perf_counter()
            result = materialize_range(date.fromisoformat(summary["first_day"]), date.fromisoformat(summary["last_day"]),
                                       resources=resources,
                                       instance=DagsterInstance.ephemeral())
            seconds = time.perf_counter() - started
            wh = Warehouse(url)
            counts = {t: wh.scalar(f"select count(*) from {t}") for t in TABLES}
            print(f"\n[{engine}] success={result.success} full rebuild {seconds:.1f} s, "
                  f"{summary['landing_lines'] / seconds:,.0f} landing lines/s, peak RSS {peak_rss_mb():,.0f} MB")
            for table, count in counts.items():
                print(f"  {table:32s} {count:>12,}")
        finally:
            if database:
                with psycopg.connect(admin, autocommit=True) as con:
                    con.execute(f"drop database if exists {database} with (force)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
