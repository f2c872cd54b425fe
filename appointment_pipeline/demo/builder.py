"""``build_demo`` (in memory) and ``generate_demo`` (written out), and the defaults they take from the settings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from appointment_pipeline.demo.landing import assemble
from appointment_pipeline.demo.model import DemoData, DemoSummary
from appointment_pipeline.demo.off_contract import push_malformed, push_other_webhooks
from appointment_pipeline.demo.people import new_lead
from appointment_pipeline.demo.scenarios import build_unmatched, plan_units
from appointment_pipeline.demo.timeline import DemoBuild
from appointment_pipeline.demo.writer import write_landing, write_leads
from appointment_pipeline.settings import get_settings


def default_source_db_url() -> str:
    """``APPOINTMENT_SOURCE_DB_URL``, else the demo SQLite file under the data dir (appointment_pipeline.settings)."""
    return get_settings().source_db_url


def default_landing_dir() -> Path:
    """``APPOINTMENT_LANDING_DIR``, else ``<data dir>/landing`` (appointment_pipeline.settings)."""
    return get_settings().landing_dir


def default_partitions_start() -> date:
    return get_settings().partitions_start


def build_demo(*, leads: int = 300, days: int = 14, start: date = date(2025, 1, 1), seed: int = 7) -> DemoData:
    """Generate the demo data in memory (nothing is written)."""
    if leads < 0:
        raise ValueError("leads must be >= 0")
    if days < 1:
        raise ValueError("days must be >= 1")
    b = DemoBuild(leads=leads, days=days, start=start, seed=seed)
    width = max(6, len(str(leads)))
    idx = 0
    for row, k, size in plan_units(b):
        unit = []
        for _ in range(size):
            idx += 1
            unit.append(new_lead(b, idx, width))
        b.leads.extend(unit)
        row.build(b, unit, k)
        b.scen[row.name].extend(lead.id for lead in unit)
    build_unmatched(b)
    push_malformed(b)
    push_other_webhooks(b)
    return assemble(b)


def generate_demo(
    source_db_url: str,
    landing_dir: Path,
    *,
    leads: int = 300,
    days: int = 14,
    start: date = date(2025, 1, 1),
    seed: int = 7,
) -> DemoSummary:
    """(Re)write the ``"Lead"`` table (with an empty ``"Appointment"``) and the provider landing zone."""
    data = build_demo(leads=leads, days=days, start=start, seed=seed)
    write_landing(Path(landing_dir), data.files)
    write_leads(source_db_url, data.lead_rows)
    return data.summary
