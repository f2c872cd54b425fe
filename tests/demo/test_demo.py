"""The deterministic demo-data generator: determinism, counts, payload shapes and scenarios in the files."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from pathlib import Path


import sqlalchemy as sa

from appointment_pipeline.demo import (
    LEAD_COLUMNS,
    SCENARIOS,
    DemoData,
    build_demo,
    generate_demo,
)
from demo_oracle import IGNORED, LEGACY_STATUS, classify, email_hash, instant, landing_files, parsed_records, read_landing, read_lines




# ---------------------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_files_and_rows(tmp_path: Path) -> None:
    summaries, files, rows = [], [], []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / name / 'app.sqlite'}"
        summaries.append(generate_demo(url, tmp_path / name / "landing", leads=120, days=6))
        files.append(landing_files(tmp_path / name / "landing"))
        with sa.create_engine(url).connect() as conn:
            rows.append(conn.execute(sa.text('SELECT * FROM "Lead" ORDER BY id')).fetchall())
    assert summaries[0] == summaries[1]
    assert files[0] == files[1] and files[0]
    assert rows[0] == rows[1] and len(rows[0]) == 120
    assert any(name.endswith(".gz") for name in files[0]) and any(name.endswith(".jsonl") for name in files[0])

    other = tmp_path / "c"
    generate_demo(f"sqlite:///{other / 'app.sqlite'}", other / "landing", leads=120, days=6, seed=8)
    assert landing_files(other / "landing") != files[0]


def test_build_is_deterministic_in_memory() -> None:
    first, second = build_demo(leads=80, days=4, seed=3), build_demo(leads=80, days=4, seed=3)
    assert first.files == second.files
    assert first.lead_rows == second.lead_rows
    assert first.appointments == second.appointments
    assert build_demo(leads=80, days=4, seed=4).files != first.files


def test_regenerating_replaces_previous_output(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    landing = tmp_path / "landing"
    generate_demo(url, landing, leads=60, days=3)
    stale = landing / "calendly" / "2099-01-01" / "old.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}\n")
    keep = landing / "README.txt"  # only calendly/ and ghl/ belong to the generator
    keep.write_text("not ours")
    summary = generate_demo(url, landing, leads=40, days=2)
    assert not stale.exists()
    assert keep.exists()
    days = sorted({p.parent.name for p in landing.glob("*/*/*")})
    assert days == ["2025-01-01", "2025-01-02"]
    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.text('SELECT count(*) FROM "Lead"')).scalar() == summary.leads == 40


# ---------------------------------------------------------------------------------------------------- counts
def test_summary_counts_match_written_files(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    summary = generate_demo(f"sqlite:///{tmp_path / 'app.sqlite'}", landing, leads=200, days=10)
    paths = sorted(p for p in landing.rglob("*") if p.is_file())
    assert summary.landing_files == len(paths)
    lines = {p.relative_to(landing).as_posix(): read_lines(p) for p in paths}
    assert summary.landing_lines == sum(len(v) for v in lines.values())
    assert (summary.first_day, summary.last_day) == (date(2025, 1, 1), date(2025, 1, 10))
    for rel in lines:
        provider, day, name = rel.split("/")
        assert provider in ("calendly", "ghl")
        assert date(2025, 1, 1) <= date.fromisoformat(day) <= date(2025, 1, 10)
        assert name.endswith((".jsonl", ".jsonl.gz"))
    bad, ignored, loaded = Counter(), 0, 0
    for rel, file_lines in lines.items():
        for line in file_lines:
            reason, _ = classify(rel.split("/")[0], line)
            if reason == IGNORED:
                ignored += 1
            elif reason:
                bad[reason] += 1
            else:
                loaded += 1
    assert sum(bad.values()) == summary.malformed_lines
    assert set(bad) == {"malformed_json", "missing_key", "bad_timestamp", "unknown_status"}
    assert ignored == summary.ignored_lines >= 5  # a few per run, not rejects
    assert loaded + summary.malformed_lines + summary.ignored_lines == summary.landing_lines


def test_malformed_manifest_is_exact(data: DemoData) -> None:
    records, events, rejects, ignored = read_landing(data)
    assert set(rejects) == {(rel, no, reason) for rel, no, reason in data.malformed}
    assert len(rejects) == len(data.malformed)  # the manifest lists every bad line once
    assert len(data.malformed) == data.summary.malformed_lines
    assert set(ignored) == {(rel, no) for rel, no, _ in data.ignored} and len(ignored) == len(data.ignored)
    assert {reason for _, _, reason in data.ignored} == {IGNORED}
    assert len(data.ignored) == data.summary.ignored_lines
    # line accounting: every line is loaded (an observation or an event description), rejected or ignored
    assert len(records) + len(events) + len(rejects) + len(ignored) == data.summary.landing_lines
    by_provider = Counter((rel.split("/")[0], reason) for rel, _, reason in data.malformed)
    for provider in ("calendly", "ghl"):
        for reason in ("malformed_json", "missing_key", "bad_timestamp", "unknown_status"):
            assert by_provider[(provider, reason)] >= 1
    days = {rel.split("/")[1] for rel, _, _ in data.malformed}
    assert len(days) >= 3  # spread over days
    ghl_bad_times = [
        json.loads(data.files[rel][no - 1])
        for rel, no, reason in data.malformed
        if reason == "bad_timestamp" and rel.startswith("ghl/")
    ]
    start = [(o.get("appointment") or o)["startTime"] for o in ghl_bad_times]
    assert all(len(s) == 19 and s[10] == " " for s in start)  # "2025-01-03 11:00:00"
    statuses = [
        (json.loads(data.files[rel][no - 1]).get("appointment") or json.loads(data.files[rel][no - 1]))
        for rel, no, reason in data.malformed
        if reason == "unknown_status" and rel.startswith("ghl/")
    ]
    assert {s["appointmentStatus"] for s in statuses} == {"tentative"}


def test_scales_with_leads_and_handles_tiny_inputs() -> None:
    small, large = build_demo(leads=100, days=5), build_demo(leads=400, days=5)
    assert large.summary.landing_lines > 2 * small.summary.landing_lines
    assert large.summary.malformed_lines > small.summary.malformed_lines
    for leads, days in ((0, 1), (1, 1), (7, 2), (25, 1)):
        tiny = build_demo(leads=leads, days=days)
        assert tiny.summary.leads == leads
        assert len(tiny.lead_rows) == leads
        records, events, rejects, ignored = read_landing(tiny)
        assert len(rejects) == tiny.summary.malformed_lines
        assert len(ignored) == tiny.summary.ignored_lines == len(tiny.ignored) >= 1
        assert len(records) + len(events) + len(rejects) + len(ignored) == tiny.summary.landing_lines


# ---------------------------------------------------------------------------------------------------- shapes
def test_payload_shapes_and_time_formats(data: DemoData) -> None:
    records, events, _, _ = read_landing(data)
    cal = [r for r in records if r["provider"] == "calendly"]
    ghl = [r for r in records if r["provider"] == "ghl"]
    assert cal and ghl
    envelopes = [r for r in cal if "payload" in r["envelope"]]
    assert envelopes and len(envelopes) < len(cal)  # both forms
    assert {r["envelope"]["event"] for r in envelopes} == {"invitee.created", "invitee.canceled"}
    for r in envelopes:
        assert set(r["envelope"]) == {"event", "created_at", "created_by", "payload"}
    for r in cal:
        inv, ev = r["inv"], r["ev"]
        assert ev is not None, r["key"]  # some record describes every invitee's event
        for value in (inv["created_at"], inv["updated_at"], ev["start_time"]):
            assert value.endswith("Z") and len(value) == 27  # 2025-03-10T16:00:00.000000Z
        event_uri = ev["uri"]
        assert inv["event"] == event_uri == r["event_uri"]
        assert inv["uri"].startswith(event_uri + "/invitees/")
        assert event_uri.startswith("https://api.calendly.com/scheduled_events/")
        for part in (event_uri.rsplit("/", 1)[1], inv["uri"].rsplit("/", 1)[1]):
            assert uuid.UUID(part).version == 4
        for pii_field in ("email", "name", "questions_and_answers", "cancel_url", "reschedule_url"):
            assert pii_field in inv
        assert ev["event_memberships"][0]["user_email"]
        if inv["status"] == "canceled":
            assert inv["cancellation"]["canceler_type"] in ("host", "invitee")
            assert inv["cancellation"]["canceled_by"]
    webhooks = [r for r in ghl if "appointment" in r["envelope"]]
    assert webhooks and len(webhooks) < len(ghl)
    assert {r["envelope"]["type"] for r in webhooks} == {"AppointmentCreate", "AppointmentUpdate", "AppointmentDelete"}
    offsets = set()
    for r in ghl:
        appt = r["appt"]
        assert len(appt["id"]) == 20 and len(appt["contactId"]) == 20
        for name in ("startTime", "endTime", "dateAdded", "dateUpdated"):
            assert appt[name][-6] in "+-" and appt[name][-3] == ":"
            offsets.add(appt[name][-6:])
        for pii_field in ("title", "notes", "address"):
            assert pii_field in appt
    assert "-06:00" in offsets and len(offsets) >= 3
    # duplicate delivery: the same line twice within one day
    assert any(len(lines) != len(set(lines)) for lines in data.files.values())


def test_calendly_invitees_without_their_event(data: DemoData) -> None:
    records, events, _, _ = read_landing(data)
    cal = [r for r in records if r["provider"] == "calendly"]
    without = [r for r in cal if not r["embedded"]]
    assert 0.1 * len(cal) <= len(without) <= 0.4 * len(cal)
    # in a webhook payload (Calendly's own examples), bare, and as a GET body, which never embeds the event
    forms = Counter("webhook" if "payload" in r["envelope"] else "resource" if "resource" in r["envelope"] else "bare"
                    for r in without)  # fmt: skip
    assert min(forms["webhook"], forms["resource"], forms["bare"]) >= 2, forms
    assert all(not r["embedded"] for r in cal if "resource" in r["envelope"])
    for r in without:
        assert "scheduled_event" not in r["inv"] and r["inv"]["uri"].startswith(r["event_uri"] + "/invitees/")
    # the same day describes the event on its own: a /scheduled_events item, bare or as a GET body
    described_on = {(e["day"], e["key"]) for e in events}
    assert all((r["day"], r["event_uri"]) in described_on for r in without)
    assert {"resource" in e["envelope"] for e in events} == {True, False}
    embedded = {(r["ev"]["uri"], r["ev"]["updated_at"]): r["ev"] for r in cal if r["embedded"]}
    same = 0
    for e in events:
        assert e["file"].split("/")[2].startswith("poll-")
        assert e["key"].startswith("https://api.calendly.com/scheduled_events/") and "/invitees/" not in e["key"]
        assert uuid.UUID(e["key"].rsplit("/", 1)[1]).version == 4
        copy = embedded.get((e["key"], e["event"]["updated_at"]))
        if copy is not None:  # the same state of the event embedded elsewhere: the very same object
            assert copy == e["event"]
            same += 1
    assert same >= 5
    # an active invitee line without its event never stands for a state the event has since left (the event's
    # newest status is what it was when the line was written)
    for r in without:
        if r["inv"]["status"] == "active":
            that_day = {e["event"]["status"] for e in events if e["day"] == r["day"] and e["key"] == r["event_uri"]}
            assert that_day == {r["ev"]["status"]}, r["key"]
    assert any(r["inv"]["status"] == "active" and r["ev"]["status"] == "canceled" for r in without)


def test_webhooks_that_are_not_about_an_invitee(data: DemoData) -> None:
    names = Counter()
    days = set()
    for rel, no, reason in data.ignored:
        provider, day, name = rel.split("/")
        assert provider == "calendly" and name.startswith("webhook-") and reason == IGNORED
        envelope = json.loads(data.files[rel][no - 1])
        assert set(envelope) == {"event", "created_at", "created_by", "payload"}
        assert not envelope["event"].startswith("invitee") and isinstance(envelope["payload"], dict)
        instant(envelope["created_at"])
        names[envelope["event"]] += 1
        days.add(day)
    assert {"routing_form_submission.created", "event_type.updated", "contact.created"} <= set(names)
    assert names["routing_form_submission.created"] >= 5 and len(days) >= 7
    # a fixed plan per day, whatever the seed
    def plan(demo_data: DemoData) -> Counter:
        return Counter((rel.split("/")[1], json.loads(demo_data.files[rel][no - 1])["event"])
                       for rel, no, _ in demo_data.ignored)  # fmt: skip

    assert plan(build_demo(seed=99)) == plan(data)


def test_stream_of_states_across_days(data: DemoData) -> None:
    records, _ = parsed_records(data)
    days_per_key = defaultdict(set)
    for r in records:
        days_per_key[r["key"]].add(r["day"])
    assert sum(1 for d in days_per_key.values() if len(d) >= 2) >= 20
    # a snapshot never holds a state from the future, and a key's states never go back in time across days
    assert all(r["updated"].date() <= r["day"] for r in records)
    last: dict[str, tuple] = {}
    for r in sorted(records, key=lambda r: (r["day"], r["file"], r["line"])):
        previous = last.get(r["key"])
        assert previous is None or previous[0] == r["day"] or previous[1] <= r["updated"], r["key"]
        last[r["key"]] = (r["day"], r["updated"])


# ---------------------------------------------------------------------------------------------------- scenarios
def test_every_scenario_is_present(data: DemoData) -> None:
    missing = [name for name in SCENARIOS if not data.scenarios.get(name)]
    assert not missing
    small = build_demo(leads=100, days=2)
    assert [name for name in SCENARIOS if not small.scenarios.get(name)] == []
    lead_ids = {row["id"] for row in data.lead_rows}
    for name, ids in data.scenarios.items():
        if not name.endswith("_unmatched"):
            assert set(ids) <= lead_ids, name


def test_calendly_scenarios_in_the_files(data: DemoData) -> None:
    records, _ = parsed_records(data)
    cal = [r for r in records if r["provider"] == "calendly"]
    latest: dict[str, dict] = {}
    event_of: dict[str, dict] = {}  # the invitee's event, embedded or from the event's newest description
    for r in sorted(cal, key=lambda r: (r["day"], r["updated"], r["file"], r["line"])):
        latest[r["key"]] = r["inv"]
        event_of[r["key"]] = r["ev"]
    # reschedule chains: follow new_invitee links
    new_of = {k: inv["new_invitee"] for k, inv in latest.items() if inv.get("rescheduled")}
    old_of = {k: inv["old_invitee"] for k, inv in latest.items() if inv.get("old_invitee")}
    assert new_of and all(old_of[new] == old for old, new in new_of.items())
    heads = [k for k in new_of if k not in old_of]
    lengths = []
    for head in heads:
        hops, key = 0, head
        while key in new_of:
            assert event_of[key]["uri"] != event_of[new_of[key]]["uri"]
            key, hops = new_of[key], hops + 1
        lengths.append(hops)
    assert {1, 2, 3} <= set(lengths)
    # halves on different days, and the new half delivered before the old half's cancel
    first_day = defaultdict(lambda: date.max)
    cancel_day = {}
    for r in cal:
        first_day[r["key"]] = min(first_day[r["key"]], r["day"])
        if r["inv"].get("rescheduled"):
            cancel_day[r["key"]] = min(cancel_day.get(r["key"], date.max), r["day"])
    assert any(first_day[new] < cancel_day[old] for old, new in new_of.items())
    assert any(first_day[new] > cancel_day[old] for old, new in new_of.items())
    # group events: one URI, several invitees (different people), one canceled
    by_event = defaultdict(dict)
    for key, inv in latest.items():
        by_event[event_of[key]["uri"]][key] = inv
    groups = {uri: invs for uri, invs in by_event.items() if len(invs) > 1}
    assert 3 in {len(invs) for invs in groups.values()}
    for invs in groups.values():
        assert len({inv["email"].lower() for inv in invs.values()}) == len(invs)
        assert sum(inv["status"] == "canceled" for inv in invs.values()) == 1
        assert all(event_of[key]["status"] == "active" for key in invs)
    # cancellations by host and invitee, no-shows
    canceler = Counter(inv["cancellation"]["canceler_type"] for inv in latest.values() if inv["status"] == "canceled"
                       and not inv.get("rescheduled"))  # fmt: skip
    assert canceler["host"] >= 2 and canceler["invitee"] >= 2
    assert sum(1 for inv in latest.values() if inv.get("no_show") and inv["status"] == "active") >= 2
    # host canceled the scheduled event while the invitee record still says active
    assert any(inv["status"] == "active" and event_of[key]["status"] == "canceled" for key, inv in latest.items())


def test_ghl_scenarios_in_the_files(data: DemoData) -> None:
    records, _ = parsed_records(data)
    ghl = [r for r in records if r["provider"] == "ghl"]
    statuses = {r["appt"].get("appointmentStatus", r["appt"].get("appoinmentStatus")) for r in ghl}
    assert {"new", "confirmed", "cancelled", "showed", "noshow", "invalid"} <= statuses
    assert any("appoinmentStatus" in r["appt"] for r in ghl)
    assert any(r["envelope"].get("type") == "AppointmentDelete" for r in ghl)
    starts = defaultdict(set)
    for r in ghl:
        starts[r["key"]].add(r["appt"]["startTime"])
    moved = [k for k, s in starts.items() if len(s) > 1]
    assert len(moved) >= 3
    for key in moved:
        seen = sorted((r["updated"], r["appt"]["startTime"]) for r in ghl if r["key"] == key)
        assert seen[0][1] != seen[-1][1]
    # deleted appointments are never polled afterwards
    deleted = {r["key"]: r["day"] for r in ghl if r["envelope"].get("type") == "AppointmentDelete"}
    for r in ghl:
        if r["key"] in deleted:
            assert r["day"] <= deleted[r["key"]]


def test_final_states_agree_with_ground_truth(data: DemoData) -> None:
    records, _ = parsed_records(data)
    final: dict[str, dict] = {}
    for r in sorted(records, key=lambda r: (r["day"], r["updated"], r["file"], r["line"])):
        final[r["key"]] = r
    truth = {a.key: a for a in data.appointments if not a.legacy_only}
    assert set(truth) == set(final)
    for key, a in truth.items():
        assert final[key]["status"] == a.status, (a.scenario, key)
        if a.provider == "CALENDLY":  # the times come from the event, embedded or described by another line
            ev = final[key]["ev"]
            assert (instant(ev["start_time"]), instant(ev["end_time"])) == (a.start_at, a.end_at), key
            assert ev["uri"] == a.scheduled_event_uri
    # the final state of some invitees is a line without its event
    assert any(not final[key]["embedded"] for key, a in truth.items() if a.provider == "CALENDLY")
    assert any(a.provider == "CALENDLY" and a.status == "CANCELED" and not final[key]["embedded"] for key, a in truth.items())
    statuses = Counter((a.provider, a.status) for a in data.appointments)
    for provider, status in [("CALENDLY", "CONFIRMED"), ("CALENDLY", "CANCELED"), ("CALENDLY", "RESCHEDULED"),
                             ("CALENDLY", "NO_SHOW"), ("GHL", "CONFIRMED"), ("GHL", "CANCELED"), ("GHL", "SHOWED"),
                             ("GHL", "NO_SHOW")]:  # fmt: skip
        assert statuses[(provider, status)] >= 2
    # times spread around the window: before, inside and weeks after
    starts = [a.start_at for a in data.appointments if a.start_at]
    w0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert min(starts) < w0 and max(starts) > data.reference_time
    assert any(w0 <= s < data.reference_time for s in starts)
    assert sum((s - data.reference_time).days >= 14 for s in starts) >= 5


def test_every_appointment_resolves_to_its_lead(data: DemoData) -> None:
    """Lead resolution applied to the ground truth: legacy key, then contactId, then email hash."""
    rows = data.lead_rows
    by_key = {}
    for row in rows:
        for col in ("ghlAppointmentId", "calendlyInviteeUri"):
            if row[col]:
                by_key[row[col]] = row["id"]
    by_contact = {row["ghlContactId"]: row["id"] for row in rows if row["ghlContactId"]}
    assert len(by_contact) == sum(1 for row in rows if row["ghlContactId"])
    by_email = defaultdict(list)
    for row in rows:
        by_email[email_hash(row["email"])].append(row)
    records, _ = parsed_records(data)
    contact_of, email_of = {}, {}
    for r in records:
        if r["provider"] == "ghl":
            contact_of[r["key"]] = r["appt"]["contactId"]
        else:
            email_of[r["key"]] = r["inv"]["email"]

    def resolve(a) -> str | None:
        if a.key in by_key:
            return by_key[a.key]
        if a.provider == "GHL":
            return by_contact.get(contact_of[a.key])
        candidates = by_email.get(email_hash(email_of[a.key]), [])
        if not candidates:
            return None
        return sorted(candidates, key=lambda row: (-row["createdAt"].timestamp(), row["id"]))[0]["id"]

    for a in data.appointments:
        if not a.legacy_only:
            assert resolve(a) == a.lead_id, (a.scenario, a.key)
    assert {a.key for a in data.appointments if a.lead_id is None} == set(data.scenarios["cal_unmatched"]) | set(
        data.scenarios["ghl_unmatched"]
    )
    only_email = set(data.scenarios["cal_email_only"])
    for row in rows:
        if row["id"] in only_email:
            assert row["calendlyInviteeUri"] is None and row["calendlyScheduledEventUri"] is None
    older, newer = data.scenarios["cal_email_shared"][:2]
    row = {r["id"]: r for r in rows}
    assert email_hash(row[older]["email"]) == email_hash(row[newer]["email"])
    assert row[older]["createdAt"] < row[newer]["createdAt"]


def test_legacy_rows_cover_the_contract_cases(data: DemoData) -> None:
    rows = {row["id"]: row for row in data.lead_rows}
    scen = data.scenarios

    def legacy_set(row) -> bool:
        return any(row[c] for c in ("ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri",
                                    "appointmentStartAt", "appointmentBookedAt"))  # fmt: skip

    for lead_id in scen["legacy_start_only"]:
        row = rows[lead_id]
        assert row["appointmentStartAt"] and row["appointmentProvider"]
        assert not any(row[c] for c in ("ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri",
                                        "appointmentStatus", "appointmentBookedAt"))  # fmt: skip
    for lead_id in scen["legacy_canceled_only"]:
        row = rows[lead_id]
        assert row["appointmentCanceledAt"] and row["appointmentStatus"] is None and legacy_set(row)
    odd = {rows[i]["appointmentStatus"] for i in scen["legacy_odd_status"]}
    assert {"Cancelled", "NOSHOW"} <= odd and all(s.lower() in LEGACY_STATUS for s in odd)
    assert {rows[i]["appointmentStatus"] for i in scen["legacy_unknown_status"]} == {"pending"}
    for lead_id in scen["legacy_ambiguous_provider"]:
        row = rows[lead_id]
        assert row["ghlAppointmentId"] and row["calendlyInviteeUri"] and row["appointmentProvider"] is None
    for lead_id in scen["legacy_both_keys_with_provider"]:
        row = rows[lead_id]
        assert row["ghlAppointmentId"] and row["calendlyInviteeUri"] and row["appointmentProvider"]
    for lead_id in scen["legacy_unknown_provider"]:
        row = rows[lead_id]
        assert row["appointmentStartAt"] and not row["appointmentProvider"]
        assert not any(row[c] for c in ("ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri"))
    for lead_id in scen["cal_event_uri_only"]:
        row = rows[lead_id]
        assert row["calendlyScheduledEventUri"] and row["calendlyInviteeUri"] is None
    for lead_id in scen["no_appointment"]:
        assert not legacy_set(rows[lead_id]) and rows[lead_id]["appointmentStatus"] is None
    for lead_id in scen["ghl_contact_only"]:
        assert rows[lead_id]["ghlContactId"] and not legacy_set(rows[lead_id])
    # keys of the provider data, with and without appointmentProvider; odd case in provider and status
    providers = Counter(row["appointmentProvider"] for row in rows.values() if row["ghlAppointmentId"]
                        or row["calendlyInviteeUri"])  # fmt: skip
    assert providers[None] >= 1 and providers["GHL"] >= 1 and providers["CALENDLY"] >= 1
    assert any(p and p not in ("GHL", "CALENDLY") for p in providers)
    # email variants for the hash normalization
    variants = [rows[i]["email"] for i in scen["email_variant"]]
    assert any(v != v.strip() for v in variants) and any(v.strip() != v.strip().lower() for v in variants)
    # legacy rollups point at the lead's latest appointment unless deliberately drifted
    truth = defaultdict(dict)
    for a in data.appointments:
        if a.lead_id:
            truth[a.lead_id][a.key] = a
    agree = 0
    for lead_id, row in rows.items():
        key = row["ghlAppointmentId"] or row["calendlyInviteeUri"]
        if lead_id in data.drift or not key or key not in truth[lead_id] or lead_id in scen["legacy_odd_status"]:
            continue
        a = truth[lead_id][key]
        if not a.legacy_only:
            assert LEGACY_STATUS[row["appointmentStatus"].lower()] == a.status, (lead_id, a.scenario)
            assert row["appointmentStartAt"] == a.start_at
            agree += 1
    assert agree >= 100
    assert len(data.drift) >= 3 and set(data.drift) == set(scen["legacy_drift"])
    fields = {f for lead_fields in data.drift.values() for f in lead_fields}
    assert {"appointmentStatus", "appointmentStartAt", "appointmentTimezone", "calendlyInviteeUri"} <= fields
    assert set(fields) <= set(LEAD_COLUMNS)
