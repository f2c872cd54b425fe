"""``python -m appointment_pipeline.demo``: write the demo data where the settings (or the options) say."""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from appointment_pipeline.demo.builder import (
    default_landing_dir,
    default_partitions_start,
    default_source_db_url,
    generate_demo,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appointment_pipeline.demo",
        description="Write the deterministic demo \"Lead\" table and provider landing zone (replaces earlier output).",
    )
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--start", type=date.fromisoformat, default=None, help="first snapshot day, YYYY-MM-DD "
                        "(default: APPOINTMENT_PARTITIONS_START or 2025-01-01)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--source-db-url", default=None, help="default: APPOINTMENT_SOURCE_DB_URL or data/demo_app.sqlite")
    parser.add_argument("--landing-dir", type=Path, default=None, help="default: APPOINTMENT_LANDING_DIR or data/landing")
    args = parser.parse_args(argv)
    url = args.source_db_url or default_source_db_url()
    landing = (args.landing_dir or default_landing_dir()).resolve()
    start = args.start or default_partitions_start()
    began = time.perf_counter()
    summary = generate_demo(url, landing, leads=args.leads, days=args.days, start=start, seed=args.seed)
    elapsed = time.perf_counter() - began
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    print(
        f"demo: {summary.leads} leads -> {shown}; {summary.landing_files} files, {summary.landing_lines} lines "
        f"({summary.malformed_lines} malformed, {summary.ignored_lines} ignored) for {summary.first_day}.."
        f"{summary.last_day} -> {landing} "
        f"[seed {args.seed}, {elapsed:.1f}s]"
    )
    return 0
