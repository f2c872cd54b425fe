"""Assembly of one build: the landing files (one per provider, day and delivery kind), the ``"Lead"`` rows and the
ground-truth manifest (``DemoData``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from appointment_pipeline.demo.legacy_leads import lead_row
from appointment_pipeline.demo.model import LEAD_COLUMNS, DemoAppointment, DemoData, DemoSummary
from appointment_pipeline.demo.off_contract import IGNORED
from appointment_pipeline.demo.timeline import Appointment, CalendlyLine, DemoBuild, EventLineOf

LINES_PER_FILE = 25_000


def assemble(b: DemoBuild) -> DemoData:
    rows = tuple(lead_row(b, lead) for lead in b.leads)
    drift: dict[str, tuple[str, ...]] = {}
    for lead in b.leads:
        if lead.id in b.drifting:
            fields = tuple(c for c in LEAD_COLUMNS if lead.legacy.get(c) != lead.legacy_agree.get(c))
            if fields:
                drift[lead.id] = fields
    b.scen["legacy_drift"] = sorted(drift)
    for lead in b.leads:
        if lead.email_db != lead.person.email:
            b.scen["email_variant"].append(lead.id)
    files, malformed, ignored = landing_files(b)
    truth = [appointment_truth(a) for a in b.appts] + b.legacy_truth
    for value in [v for v in b.pii if "@" in v]:  # the forms a pipeline would hash (trim, lower)
        b.pii.update((value.strip(), value.strip().lower()))
    b.pii.discard("")
    summary = DemoSummary(
        leads=len(rows),
        landing_files=len(files),
        landing_lines=sum(len(lines) for lines in files.values()),
        malformed_lines=len(malformed),
        ignored_lines=len(ignored),
        first_day=b.start,
        last_day=b.start + timedelta(days=b.days - 1),
        pii_values=frozenset(b.pii),
    )
    return DemoData(
        summary=summary,
        lead_rows=rows,
        files=files,
        scenarios={name: tuple(dict.fromkeys(ids)) for name, ids in sorted(b.scen.items())},
        appointments=tuple(truth),
        malformed=tuple(malformed),
        ignored=tuple(ignored),
        drift=drift,
        reference_time=b.w1,
    )


def landing_files(
    b: DemoBuild,
) -> tuple[dict[str, tuple[str, ...]], list[tuple[str, int, str]], list[tuple[str, int, str]]]:
    """(relative path -> lines, malformed lines, ignored lines). Lines are in time order within a file; about half
    of the files are gzipped, alternating by day, kind and provider."""
    grouped: dict[tuple[str, int, str], list[tuple[datetime, int, str, str | None]]] = defaultdict(list)
    for provider, day, kind, when, seq, line, bad in b.obs:
        if isinstance(line, EventLineOf):
            if not line.line.strips():
                continue
            line = line.line.event_line
        elif isinstance(line, CalendlyLine):
            line = line.stripped if line.strips() else line.embedded
        grouped[(provider, day, kind)].append((when, seq, line, bad))
    assert b.event_line is None
    files: dict[str, tuple[str, ...]] = {}
    malformed: list[tuple[str, int, str]] = []
    ignored: list[tuple[str, int, str]] = []
    for provider, day, kind in sorted(grouped):
        records = sorted(grouped[(provider, day, kind)], key=lambda r: (r[0], r[1]))
        folder = f"{provider}/{(b.start + timedelta(days=day)).isoformat()}"
        gz = (day + (kind == "poll") + (provider == "ghl")) % 2 == 1
        for part, offset in enumerate(range(0, len(records), LINES_PER_FILE)):
            chunk = records[offset : offset + LINES_PER_FILE]
            rel = f"{folder}/{kind}-{part:03d}.jsonl" + (".gz" if gz else "")
            files[rel] = tuple(r[2] for r in chunk)
            for i, r in enumerate(chunk, start=1):
                if r[3]:
                    (ignored if r[3] == IGNORED else malformed).append((rel, i, r[3]))
    return files, malformed, ignored


def appointment_truth(a: Appointment) -> DemoAppointment:
    status, reason = a.status()
    canceled_at = a.canceled_at if status in ("CANCELED", "RESCHEDULED") else None
    return DemoAppointment(
        provider=a.provider,
        key=a.key,
        lead_id=a.lead.id if a.lead is not None else None,
        scenario=a.scenario,
        status=status,
        cancel_reason=reason,
        rescheduled_from=a.rescheduled_from,
        scheduled_event_uri=a.event_uri,
        start_at=a.start,
        end_at=a.end,
        created_at=a.created_at,
        canceled_at=canceled_at,
        legacy_only=False,
    )
