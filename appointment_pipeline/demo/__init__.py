"""Deterministic demo data: the legacy ``"Lead"`` table and the provider snapshot landing zone.

Plain Python (no Dagster). ``generate_demo`` writes

* the application database table ``"Lead"`` (docs/data-contract.md#legacy-lead-table), dropped and recreated on every
  run, on SQLite, PostgreSQL or DuckDB through SQLAlchemy;
* ``<landing>/calendly/<YYYY-MM-DD>/*.jsonl[.gz]`` and ``<landing>/ghl/<YYYY-MM-DD>/*.jsonl[.gz]``
  (docs/data-contract.md#provider-landing-zone, in the providers' own payload shapes); both provider folders are
  deleted first.

Calendly lines come in the shapes the provider really sends (see ``calendly``). A few webhooks per run are about
something else (routing form submissions, event type changes, contacts): valid lines that describe no appointment
(``DemoData.ignored``), not rejects (see ``off_contract``).

Everything comes from one ``random.Random(seed)``: the same arguments give byte-identical files and identical rows.
Payload shapes and the other webhooks are chosen by hashing, never by drawing from that stream, so they leave every
other value as it would be without them.

``build_demo`` returns the same data in memory together with a ground-truth manifest (``DemoData.scenarios``,
``DemoData.appointments``, ``DemoData.malformed``, ``DemoData.ignored``, ``DemoData.drift``), so tests can find every
scenario without parsing the files. Scenario names are listed in ``SCENARIOS``; each maps to the lead ids (or, for
``*_unmatched``, the provider keys) that exercise it. The lead scenarios, their shares and builders are the table
``scenarios.SCENARIO_TABLE``. Every scenario is present from ``leads >= 100`` and ``days >= 2`` on (with one day the
"halves of a reschedule on different days" variants cannot exist); counts grow in proportion to ``leads``.

Ids: leads ``lead_000001`` (zero-padded to 6 digits or more), GHL contacts ``ctc`` + 17 digits (the lead number;
contacts matching no lead start ``ctc9``), GHL appointments ``apt`` + 17 digits, Calendly URIs
``https://api.calendly.com/scheduled_events/<uuid4>[/invitees/<uuid4>]``. Invitees that match no lead use
``@example.org`` addresses. The legacy rollups were computed for ``DemoData.reference_time`` (end of the last day).

Modules: ``people`` (synthetic persons), ``timeline`` (random stream, window, delivery of states as lines),
``calendly``/``ghl`` (provider shapes), ``calendly_scenarios``/``ghl``/``legacy_leads`` (scenario builders),
``scenarios`` (the scenario table), ``off_contract`` (malformed and ignored lines), ``landing`` (assembly),
``writer`` (files and the ``"Lead"`` table), ``cli`` (``python -m appointment_pipeline.demo``).
"""

from appointment_pipeline.demo.builder import (
    build_demo,
    default_landing_dir,
    default_partitions_start,
    default_source_db_url,
    generate_demo,
)
from appointment_pipeline.demo.cli import main
from appointment_pipeline.demo.model import (
    EXTRA_LEAD_COLUMN,
    LEAD_COLUMNS,
    SCENARIOS,
    TIMESTAMP_COLUMNS,
    DemoAppointment,
    DemoData,
    DemoSummary,
)
from appointment_pipeline.demo.scenarios import SCENARIO_TABLE, ScenarioRow
from appointment_pipeline.demo.writer import lead_table, write_landing, write_leads

__all__ = [
    "DemoAppointment",
    "DemoData",
    "DemoSummary",
    "EXTRA_LEAD_COLUMN",
    "LEAD_COLUMNS",
    "SCENARIOS",
    "SCENARIO_TABLE",
    "ScenarioRow",
    "TIMESTAMP_COLUMNS",
    "build_demo",
    "default_landing_dir",
    "default_partitions_start",
    "default_source_db_url",
    "generate_demo",
    "lead_table",
    "main",
    "write_landing",
    "write_leads",
]
