"""``landing_zone_sensor``: new or changed snapshot files under the landing zone -> a run for exactly those days.

Each evaluation lists ``<landing>/<provider>/<YYYY-MM-DD>/*.jsonl[.gz]`` for both providers and fingerprints every
provider/day with ``landing.landing_digest`` (names and bytes). The cursor remembers the digest of every provider/day
it has requested a run for; a day whose digest differs from the cursor (or that the cursor does not know) is
requested again. Contiguous changed days go into one run (``dagster/asset_partition_range_start/_end`` tags; the
snapshot assets are single-run backfill assets), so the marts are rebuilt once per run, not once per day.

- Idempotent: the ``run_key`` hashes each requested provider/day's previous and new digest, so a repeated
  evaluation (lost cursor update, daemon restart) requests nothing new, and a file that goes back to an earlier
  content still gets a run.
- Cheap: the warehouse is never opened (the DuckDB file lock belongs to the runs). File bytes are hashed only when a
  day's listing (names, sizes, mtimes) changed since the cursor; ``APPOINTMENT_LANDING_SENSOR_HASH_BUDGET_SECONDS``
  bounds the hashing per evaluation and the rest is picked up by the next one.
- Careful: a day with a file modified within ``APPOINTMENT_LANDING_SETTLE_SECONDS`` (default 60) is left for a later
  evaluation (a writer may still be appending); so is the current UTC day, whose partition exists only once the
  day has ended, and any day before ``APPOINTMENT_PARTITIONS_START``. A provider/day whose files disappeared is
  dropped from the cursor without a run (retention cleanup must not delete warehouse rows).
- Self-starting: ``landing_refresh_job`` does not re-read the legacy leads (the reconcile schedule does). While this
  Dagster instance has never materialized ``raw_leads`` and the legacy staging models, the sensor requests
  ``reconcile_job`` (every asset) instead, so that it also works on a fresh deployment.
"""

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from appointment_pipeline.defs.automation.jobs import TRIGGER_TAG, landing_refresh_job, reconcile_job
from appointment_pipeline.domain.parsing import PROVIDERS
from appointment_pipeline.io.landing import landing_digest, landing_files
from appointment_pipeline.defs.extract.partitions import snapshot_days
from appointment_pipeline.defs.resources.resources import LandingZoneResource
from appointment_pipeline.domain.ingest_source import INGEST_SOURCE_TAG
from appointment_pipeline.settings import get_settings

SENSOR_NAME = "landing_zone_sensor"
# Days the sensor loads are automated reconcile loads, like the schedule's.
SENSOR_INGEST_SOURCE = "RECONCILE_CRON"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
CURSOR_VERSION = 1


# -- cursor ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    digest: str  # landing.landing_digest of the provider/day
    listing: str  # fingerprint of names, sizes and mtimes: unchanged listing -> digest reused without reading


def load_cursor(text: str | None) -> dict[str, dict[str, Seen]]:
    """Cursor JSON -> {day: {provider: Seen}}; an unreadable or older cursor counts as empty (everything is new)."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
        if raw.get("version") != CURSOR_VERSION:
            return {}
        return {
            day: {provider: Seen(entry["digest"], entry["listing"]) for provider, entry in providers.items()}
            for day, providers in raw["days"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def dump_cursor(seen: Mapping[str, Mapping[str, Seen]]) -> str:
    days = {
        day: {provider: {"digest": s.digest, "listing": s.listing} for provider, s in sorted(providers.items())}
        for day, providers in sorted(seen.items())
        if providers
    }
    return json.dumps({"version": CURSOR_VERSION, "days": days}, separators=(",", ":"), sort_keys=True)


# -- scan ------------------------------------------------------------------------------------------------------------


@dataclass
class LandingScan:
    """What one evaluation found: the days to request and why everything else was left alone."""

    changed: dict[str, dict[str, tuple[Seen | None, Seen]]] = field(default_factory=dict)  # day -> provider -> (old, new)
    cursor: dict[str, dict[str, Seen]] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> ["provider/day", ...]
    unchanged: int = 0

    def skip(self, reason: str, item: str) -> None:
        self.skipped.setdefault(reason, []).append(item)

    def summary(self) -> str:
        parts = [f"{self.unchanged} provider/day(s) unchanged"]
        for reason, items in sorted(self.skipped.items()):
            shown = ", ".join(sorted(items)[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
            parts.append(f"{len(items)} {reason}: {shown}")
        return "; ".join(parts)


def _listing(paths: list[Path]) -> tuple[str, float]:
    digest = hashlib.sha256()
    newest = 0.0
    for path in paths:
        stat = path.stat()
        newest = max(newest, stat.st_mtime)
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32], newest


def _day_folders(root: Path, provider: str) -> list[tuple[str, date | None]]:
    folder = root / provider
    if not folder.is_dir():
        return []
    found: list[tuple[str, date | None]] = []
    for child in sorted(folder.iterdir()):
        if not child.is_dir():
            continue
        try:
            found.append((child.name, date.fromisoformat(child.name)))
        except ValueError:
            found.append((child.name, None))
    return found


def scan_landing(
    root: Path,
    previous: Mapping[str, Mapping[str, Seen]],
    *,
    now: float,
    first_day: date,
    settle: float,
    hash_budget: float,
    last_day: date | None = None,
) -> LandingScan:
    """Compare the landing zone with the cursor ``previous`` (pure: no Dagster, no warehouse)."""
    scan = LandingScan(cursor={day: dict(providers) for day, providers in previous.items()})
    today = datetime.fromtimestamp(now, tz=timezone.utc).date()
    started = time.monotonic()
    present: set[tuple[str, str]] = set()
    candidates: dict[str, dict[str, tuple[Seen | None, str] | None]] = {}  # None: the day is held back
    for name, provider in sorted(PROVIDERS.items()):
        for folder, day in _day_folders(root, name):
            item = f"{name}/{folder}"
            if day is None or day.isoformat() != folder:
                scan.skip("folder name is not a YYYY-MM-DD day", item)
                continue
            paths = landing_files(root, provider, day)
            if not paths:
                continue  # an empty folder is no snapshot (yet)
            present.add((folder, name))
            if day < first_day:
                scan.skip(f"before the first partition {first_day} (APPOINTMENT_PARTITIONS_START)", item)
                continue
            if day >= today:
                scan.skip("day not over yet (its partition exists after midnight UTC)", item)
                continue
            if last_day is not None and day > last_day:
                scan.skip(f"after the last partition {last_day} (APPOINTMENT_PARTITIONS_END)", item)
                continue
            try:
                listing, newest = _listing(paths)
            except OSError:  # a file vanished or was replaced while listed
                scan.skip("files changing while listed", item)
                candidates.setdefault(folder, {})[name] = None
                continue
            if now - newest < settle:
                scan.skip(f"files modified less than {settle:g} s ago (still being written?)", item)
                candidates.setdefault(folder, {})[name] = None  # holds the whole day back
                continue
            old = previous.get(folder, {}).get(name)
            candidates.setdefault(folder, {})[name] = (old, listing)

    for folder, providers in sorted(candidates.items()):
        if any(entry is None for entry in providers.values()):
            for name, entry in providers.items():
                if entry is not None:
                    scan.skip("waiting for the day's other provider to settle", f"{name}/{folder}")
            continue
        settled = {name: entry for name, entry in providers.items() if entry is not None}
        for name, (old, listing) in sorted(settled.items()):
            if old is not None and old.listing == listing:
                scan.unchanged += 1
                continue
            if time.monotonic() - started > hash_budget:
                scan.skip("left for the next evaluation (hash budget spent)", f"{name}/{folder}")
                continue
            new = Seen(landing_digest(root, PROVIDERS[name], date.fromisoformat(folder)), listing)
            scan.cursor.setdefault(folder, {})[name] = new
            if old is not None and old.digest == new.digest:
                scan.unchanged += 1  # touched, same bytes: remember the new listing, no run
                continue
            scan.changed.setdefault(folder, {})[name] = (old, new)

    for folder, seen in previous.items():
        for name in seen:
            if (folder, name) not in present:
                scan.skip("files removed (no run: warehouse rows are kept)", f"{name}/{folder}")
                scan.cursor.get(folder, {}).pop(name, None)
    scan.cursor = {day: providers for day, providers in scan.cursor.items() if providers}
    return scan


def contiguous_ranges(days: list[str]) -> list[tuple[str, str]]:
    """Sorted ISO days -> [(first, last)] of runs of consecutive days."""
    ranges: list[tuple[str, str]] = []
    for text in sorted(days):
        day = date.fromisoformat(text)
        if ranges and date.fromisoformat(ranges[-1][1]) + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], text)
        else:
            ranges.append((text, text))
    return ranges


def run_requests_for(scan: LandingScan, job_name: str = landing_refresh_job.name) -> list[RunRequest]:
    requests = []
    for first, last in contiguous_ranges(list(scan.changed)):
        days = [d for d in sorted(scan.changed) if first <= d <= last]
        transitions = [
            f"{day}/{name}:{old.digest if old else '-'}>{new.digest}"
            for day in days
            for name, (old, new) in sorted(scan.changed[day].items())
        ]
        run_key = "landing:" + hashlib.sha256("\n".join(transitions).encode()).hexdigest()[:40]
        tags = {
            TRIGGER_TAG: SENSOR_NAME,
            INGEST_SOURCE_TAG: SENSOR_INGEST_SOURCE,
            "appointment/landing_days": f"{first}...{last}" if first != last else first,
        }
        if first == last:
            requests.append(RunRequest(run_key=run_key, job_name=job_name, partition_key=first, tags=tags))
        else:
            requests.append(
                RunRequest(
                    run_key=run_key, job_name=job_name, tags={**tags, RANGE_START_TAG: first, RANGE_END_TAG: last}
                )
            )
    return requests


def never_materialized_inputs(context: SensorEvaluationContext) -> list[AssetKey]:
    """Assets landing_refresh_job reads but does not build (raw_leads and the legacy staging models) that this
    Dagster instance has never materialized: on a fresh deployment the sensor's first runs build them too."""
    assert context.repository_def is not None  # a sensor is always evaluated within its code location
    graph = context.repository_def.asset_graph
    refreshed = landing_refresh_job.selection.resolve(graph)
    needed = {parent for key in refreshed for parent in graph.get(key).parent_keys} - refreshed
    needed &= graph.materializable_asset_keys  # the external source systems are never materialized
    return sorted(
        (key for key in needed if context.instance.get_latest_materialization_event(key) is None),
        key=lambda key: key.to_user_string(),
    )


@sensor(
    name=SENSOR_NAME,
    jobs=[landing_refresh_job, reconcile_job],
    minimum_interval_seconds=get_settings().landing_sensor_interval_seconds,
    default_status=DefaultSensorStatus.RUNNING if get_settings().automation_running else DefaultSensorStatus.STOPPED,
    description=(
        "Requests landing_refresh_job for exactly the snapshot days whose landing files (either provider) are new or "
        "changed, one run per block of consecutive days (reconcile_job while raw_leads was never materialized); "
        "run_key = digest of the files, cursor = digest per provider/day. Never opens the warehouse. See "
        "appointment_pipeline/defs/automation/sensors.py for what it skips and why."
    ),
)
def landing_zone_sensor(context: SensorEvaluationContext, landing_zone: LandingZoneResource):
    previous = load_cursor(context.cursor)
    if context.cursor and not previous:
        context.log.warning("landing_zone_sensor: unreadable cursor, every landing day counts as new")
    root = landing_zone.path
    if not root.is_dir():
        return SensorResult(skip_reason=SkipReason(f"landing zone {root} does not exist"), cursor=context.cursor)
    scan = scan_landing(
        root,
        previous,
        now=time.time(),
        first_day=snapshot_days.start.date(),
        last_day=snapshot_days.end.date() - timedelta(days=1) if snapshot_days.end else None,
        settle=get_settings().landing_settle_seconds,
        hash_budget=get_settings().landing_sensor_hash_budget_seconds,
    )
    cursor = dump_cursor(scan.cursor)
    summary = scan.summary()
    if not scan.changed:
        return SensorResult(skip_reason=SkipReason(f"no new or changed landing files ({summary})"), cursor=cursor)
    job_name = landing_refresh_job.name
    missing = never_materialized_inputs(context)
    if missing:
        job_name = reconcile_job.name
        context.log.info(
            f"{', '.join(k.to_user_string() for k in missing)} never materialized in this instance: "
            f"requesting {job_name} (every asset) instead of {landing_refresh_job.name}"
        )
    requests = run_requests_for(scan, job_name)
    for request in requests:
        days = request.tags["appointment/landing_days"]
        context.log.info(f"requesting {job_name} for {days} (run_key {request.run_key})")
    context.log.info(f"landing_zone_sensor: {summary}")
    return SensorResult(run_requests=requests, cursor=cursor)


SENSORS = [landing_zone_sensor]
