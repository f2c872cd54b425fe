"""An oracle of the demo files written independently of the generator: how each landing line should classify and
what it says, read with plain json/gzip (no pipeline code), so that the demo tests do not test the generator with
itself."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from pathlib import Path

from appointment_pipeline.demo import DemoData


GHL_STATUS = {
    "new": "CONFIRMED",
    "confirmed": "CONFIRMED",
    "active": "CONFIRMED",
    "cancelled": "CANCELED",
    "invalid": "CANCELED",
    "showed": "SHOWED",
    "completed": "SHOWED",
    "noshow": "NO_SHOW",
}
LEGACY_STATUS = {
    "confirmed": "CONFIRMED",
    "canceled": "CANCELED",
    "cancelled": "CANCELED",
    "rescheduled": "RESCHEDULED",
    "showed": "SHOWED",
    "no_show": "NO_SHOW",
    "noshow": "NO_SHOW",
}


def read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8").splitlines()


def landing_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] in ("calendly", "ghl")
    }


def instant(text: object) -> datetime:
    """Contract parsing: ISO-8601 with an offset, else ValueError."""
    if not isinstance(text, str):
        raise ValueError(text)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"no offset: {text}")
    return value.astimezone(timezone.utc)


IGNORED = "not_an_appointment"  # a valid line about something else: counted, neither loaded nor rejected


def calendly_status(inv: dict, ev: dict | None) -> str:
    """The invitee decides, else a canceled event (when known), else a no-show."""
    if inv["status"] == "canceled":
        return "RESCHEDULED" if inv.get("rescheduled") else "CANCELED"
    if ev is not None and ev.get("status") == "canceled":
        return "CANCELED"
    return "NO_SHOW" if inv.get("no_show") else "CONFIRMED"


def classify(provider: str, line: str) -> tuple[str | None, dict | None]:
    """(reason, record) following docs/data-contract.md.

    reason: a reject code, or IGNORED for a webhook about something else than an invitee (not a reject). record: an
    appointment observation (key, status, updated, raw objects), or for a Calendly scheduled event on its own
    ``kind == "event"`` with the event object. A Calendly invitee without its embedded event has ``ev`` None and its
    status from the invitee alone; ``read_landing`` completes both from the event's descriptions.
    """
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return "malformed_json", None
    if provider == "calendly":
        if isinstance(obj.get("payload"), dict) and "event" in obj:  # webhook envelope
            if not obj["event"].startswith("invitee."):
                return IGNORED, None
            inv = obj["payload"]
        elif isinstance(obj.get("resource"), dict):  # GET body
            inv = obj["resource"]
        else:
            inv = obj
        if "start_time" in inv and "event" not in inv and "email" not in inv:  # a /scheduled_events item
            try:
                updated = instant(inv["updated_at"])
                instant(inv["start_time"]), instant(inv["end_time"])
            except (KeyError, ValueError):
                return "bad_timestamp", None
            if inv.get("status") not in ("active", "canceled"):
                return "unknown_status", None
            return None, {"kind": "event", "key": inv["uri"], "updated": updated, "event": inv, "envelope": obj}
        if not inv.get("uri"):
            return "missing_key", None
        ev = inv.get("scheduled_event")
        try:
            updated = instant(inv["updated_at"])
            instant(inv["created_at"])
            if ev is not None:
                instant(ev["start_time"]), instant(ev["end_time"])
        except (KeyError, ValueError):
            return "bad_timestamp", None
        if inv.get("status") not in ("active", "canceled"):
            return "unknown_status", None
        if ev is not None and ev.get("status") not in ("active", "canceled"):
            return "unknown_status", None
        return None, {"kind": "invitee", "key": inv["uri"], "status": calendly_status(inv, ev), "updated": updated,
                      "inv": inv, "ev": ev, "embedded": ev is not None, "event_uri": ev["uri"] if ev else inv["event"],
                      "envelope": obj}  # fmt: skip
    appt = obj["appointment"] if "appointment" in obj and "type" in obj else obj
    if not appt.get("id"):
        return "missing_key", None
    try:
        updated = instant(appt["dateUpdated"])
        for name in ("startTime", "endTime", "dateAdded"):
            instant(appt[name])
    except (KeyError, ValueError):
        return "bad_timestamp", None
    raw_status = appt.get("appointmentStatus", appt.get("appoinmentStatus"))
    if raw_status not in GHL_STATUS:
        return "unknown_status", None
    status = "CANCELED" if obj.get("type") == "AppointmentDelete" else GHL_STATUS[raw_status]
    return None, {"kind": "appointment", "key": appt["id"], "status": status, "updated": updated, "appt": appt,
                  "envelope": obj}  # fmt: skip


def read_landing(data: DemoData) -> tuple[list[dict], list[dict], Counter, Counter]:
    """(appointment observations, scheduled event lines, rejects, ignored lines) of every landing line.

    An invitee without its embedded event takes the event from the newest description of that event URI on any day
    (an embedded event or a line of its own), and its status from that event's status.
    """
    records: list[dict] = []
    events: list[dict] = []
    rejects: Counter = Counter()
    ignored: Counter = Counter()
    for rel in sorted(data.files):
        provider, day, _ = rel.split("/")
        for no, line in enumerate(data.files[rel], start=1):
            reason, record = classify(provider, line)
            if reason == IGNORED:
                ignored[(rel, no)] += 1
                continue
            if reason:
                rejects[(rel, no, reason)] += 1
                continue
            assert record is not None
            record.update(provider=provider, day=date.fromisoformat(day), file=rel, line=no)
            (events if record["kind"] == "event" else records).append(record)
    descriptions = defaultdict(list)
    for r in events:
        descriptions[r["key"]].append((r["updated"], r["day"], r["file"], r["line"], r["event"]))
    for r in records:
        if r["provider"] == "calendly" and r["embedded"]:
            ev = r["ev"]
            descriptions[ev["uri"]].append((instant(ev["updated_at"]), r["day"], r["file"], r["line"], ev))
    newest = {uri: max(found, key=lambda d: d[:4])[4] for uri, found in descriptions.items()}
    for r in records:
        if r["provider"] == "calendly" and not r["embedded"]:
            r["ev"] = newest.get(r["event_uri"])
            r["status"] = calendly_status(r["inv"], r["ev"])
    return records, events, rejects, ignored


def parsed_records(data: DemoData) -> tuple[list[dict], Counter]:
    records, _, rejects, _ = read_landing(data)
    return records, rejects


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()
