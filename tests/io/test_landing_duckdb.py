"""The DuckDB landing parse equals the Python rules (parse_records over read_landing), row for row, every column."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from appointment_pipeline.demo import write_leads
from appointment_pipeline.domain.parsing import CALENDLY, GHL, PROVIDERS, Provider, arrow_schema, parse_records
from appointment_pipeline.domain.vocabulary import seed_rows
from appointment_pipeline.io import landing_duckdb
from appointment_pipeline.io.landing import MAX_LINE_BYTES, read_landing
from appointment_pipeline.io.landing_duckdb import parse_landing_days
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, run_pipeline
from scenarios.builders import calendly, calendly_event, calendly_other_webhook, ghl

DAY = date(2025, 1, 2)
KEY = "landing-duckdb-key"


def both_paths(landing: Path, provider: Provider, days: list[date]) -> tuple[pa.Table, pa.Table]:
    """(reference rows, DuckDB rows), both sorted by file and line; the day digests must agree too."""
    stamps = {day: "BACKFILL" for day in days}
    digests_py: dict[date, str] = {}
    digests_duck: dict[date, str] = {}
    reference = parse_records(provider, read_landing(landing, provider, days, digests_py), KEY, stamps)
    schema = arrow_schema(provider.columns)
    duck = pa.Table.from_batches(list(parse_landing_days(landing, provider, days, KEY, stamps, digests_duck)),
                                 schema=schema)
    assert digests_duck == digests_py
    order = [("file", "ascending"), ("line", "ascending")]
    return reference.sort_by(order), duck.sort_by(order)


def assert_same_rows(landing: Path, provider: Provider, days: list[date] = [DAY]) -> pa.Table:
    reference, duck = both_paths(landing, provider, days)
    assert duck.num_rows == reference.num_rows
    for name in reference.column_names:
        expected, got = reference[name].to_pylist(), duck[name].to_pylist()
        differing = [(reference["file"][i].as_py(), reference["line"][i].as_py(), expected[i], got[i])
                     for i in range(len(expected)) if expected[i] != got[i]]
        assert differing == [], name
    return reference


def land(landing: Path, provider: str, lines: list[str | bytes], name: str = "lines.jsonl") -> None:
    folder = landing / provider / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    body = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    (folder / name).write_bytes(gzip.compress(body) if name.endswith(".gz") else body)


def test_demo_landing_zone(demo):
    inputs, summary = demo
    days = [date.fromordinal(d) for d in range(summary.first_day.toordinal(), summary.last_day.toordinal() + 1)]
    for provider in (CALENDLY, GHL):
        rows = assert_same_rows(inputs.landing_dir, provider, days)
        assert rows.num_rows > 100
        assert pa.compute.sum(pa.compute.is_null(rows["reject_reason"])).as_py() > 0


def _variants(raw: str) -> list[str]:
    return [raw, raw.upper(), f"  {raw.title()} "]


def test_every_status_mapping_row(tmp_path):
    mappings = seed_rows("status_mappings")
    ghl_lines = [
        ghl(f"G{i}-{j}", contact="CT1", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-02 08:00",
            status=value, webhook=webhook, typo=j % 2 == 1)
        for i, row in enumerate(r for r in mappings if r["source"] == "ghl")
        for j, value in enumerate(_variants(row["raw_value"]))
        for webhook in (None, "AppointmentCreate", "AppointmentDelete", "SomethingElse")
    ] + [ghl("GX", contact="CT1", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-02 08:00",
             status="unheard-of")]
    land(tmp_path, "ghl", ghl_lines)
    rows = assert_same_rows(tmp_path, GHL)
    assert set(rows["status"].to_pylist()) >= {r["status"] for r in mappings if r["source"] == "ghl"}

    invitee = [r["raw_value"] for r in mappings if r["source"] == "calendly_invitee"] + ["no-such-status"]
    event = [r["raw_value"] for r in mappings if r["source"] == "calendly_event"] + ["no-such-status"]
    calendly_lines = []
    for i, invitee_status in enumerate(invitee):
        for j, event_status in enumerate(event):
            for variant, value in enumerate(_variants(invitee_status)):
                for embed, webhook, resource, rescheduled, no_show, canceler in (
                    (True, None, False, False, False, None),
                    (True, "invitee.created", False, True, False, "host"),
                    (False, "invitee.canceled", False, False, True, "invitee"),
                    (True, None, True, False, True, "Host"),
                ):
                    name = f"E{i}-{j}-{variant}-{embed}-{webhook}-{resource}"
                    calendly_lines.append(calendly(
                        name, "I", email=f" {name}@Example.com ", start="2025-01-20 15:00", created="2025-01-01 10:00",
                        updated="2025-01-01 11:00", status=value, event_status=event_status, rescheduled=rescheduled,
                        no_show=no_show, canceler=canceler, embed_event=embed, webhook=webhook, resource=resource))
            calendly_lines.append(calendly_event(f"EV{i}-{j}", start="2025-01-20 15:00", updated="2025-01-01 11:00",
                                                 status=_variants(event_status)[i % 3], canceler="host",
                                                 resource=j % 2 == 0))
    calendly_lines += [calendly_other_webhook("routing_form_submission.created", {"uri": "x"}),
                       calendly_other_webhook("Not A Token", {"uri": "x"})]
    land(tmp_path, "calendly", calendly_lines)
    rows = assert_same_rows(tmp_path, CALENDLY)
    assert {"CONFIRMED", "CANCELED", "RESCHEDULED", "NO_SHOW"} <= set(rows["status"].to_pylist())
    assert "not_an_appointment" in rows["reject_reason"].to_pylist()


def _record(provider: str) -> dict:
    if provider == "calendly":
        return json.loads(calendly("ODD", "I", email="odd@example.com", start="2025-01-20 15:00",
                                   created="2025-01-01 10:00", updated="2025-01-01 11:00", status="canceled",
                                   canceler="host"))
    return json.loads(ghl("ODD", contact="CT1", start="2025-01-20 10:00", added="2025-01-01 08:00",
                          updated="2025-01-01 08:00"))


def odd_lines(provider: str) -> list[str | bytes]:
    """Lines where DuckDB's JSON or SQL could read differently from Python: each must give the reference row."""
    good = json.dumps(_record(provider))
    time_fields = (["updated_at", "created_at"] if provider == "calendly"
                   else ["dateUpdated", "dateAdded", "startTime", "endTime"])
    id_field = "uri" if provider == "calendly" else "id"
    lines: list[str | bytes] = [good, good + "\r", "\ufeff" + good, " " + good, good[:-1] + ",}", good[:-1] + ', "x": nan}',
                                good[:-1] + ', "x": NaN}', good[:-1] + ', "x": -Infinity}', good[:-1] + ', "x": 1e999}',
                                good[:-1] + ', "x": ' + "9" * 5000 + "}", "[" * 3000 + "]" * 3000, "", "[]", "null",
                                '"text"', "{}", good + " x", good.replace("{", "{ ", 1)]
    # the literals DuckDB reads as numbers in any case, and free text that merely starts like them
    lines += [good[:-1] + tail + "}" for tail in [', "x": inf', ', "x": [INF, 1]', ', "x":[nAn]', ', "x": -nan',
                                                  ', "x": +Inf', ', "x": "a, initial, nan"', ', "x": "a, initial"',
                                                  ', "x": ["in", "na", "N/A"]', ', "x": {"y": Infinity}']]
    for value in [None, "", 5, "2025-01-01T08:00:00", "2025-01-01 08:00:00+05:30", "2025-01-01T08:00Z", "20250101T080000Z",
                  "2025-02-30T08:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T08:00:00.1234567+00:00", "0001-01-01T00:00:00+01:00",
                  " 2025-01-01T08:00:00Z ", "2025-01-01T08:00:00,5Z", "2025-01-01T08:00:00+14:59", "2025-01-01T08:00:60Z",
                  "２０２５-01-01T08:00:00Z"]:
        lines += [json.dumps({**_record(provider), field: value}) for field in time_fields]
    for value in ["odd\u0000key", "\ud800", "a@b.example.com", "+1 555-010-4242", "", None, 7, "ключ", "k\\u0069"]:
        lines.append(json.dumps({**_record(provider), id_field: value}, ensure_ascii=False)
                     if value != "\ud800" else json.dumps({**_record(provider), id_field: value}))
    for status in ["\u212aanceled", "canceled\t", "CANCELED", " canceled", "İnvalid", 3, None, ""]:
        key = "status" if provider == "calendly" else "appointmentStatus"
        lines.append(json.dumps({**_record(provider), key: status}, ensure_ascii=False))
    duplicate = good[:-1] + f', "{id_field}": "second"}}'
    lines += [duplicate, good.encode() + b"\xff", good.replace('"', '\\"', 0)]
    if provider == "calendly":
        record = _record(provider)
        lines += [
            json.dumps({"event": "invitee.created\n", "payload": record}),
            json.dumps({"event": 5, "payload": record}),
            json.dumps({"event": None, "payload": record}),
            json.dumps({"payload": record}),
            json.dumps({"event": "invitee.created", "payload": {}}),
            json.dumps({"event": "invitee.created", "payload": "x"}),
            json.dumps({"resource": record, "collection": []}),
            json.dumps({"collection": [record]}),
            json.dumps({**record, "scheduled_event": {}}),
            json.dumps({**record, "scheduled_event": "https://api.calendly.com/scheduled_events/X"}),
            json.dumps({**record, "scheduled_event": {**record["scheduled_event"], "status": "unknown"}}),
            json.dumps({**record, "no_show": {}}),
            json.dumps({**record, "rescheduled": "true"}),
            json.dumps({**record, "email": "  MiXeD@Example.COM\t"}),
            json.dumps({**record, "email": "Ünïcode@example.com"}, ensure_ascii=False),
            json.dumps({**record, "email": "   "}),
            json.dumps({**record, "cancellation": {"canceler_type": "HOST", "created_at": "bad"}}),
            json.dumps({**record, "status": "active", "cancellation": {"created_at": "bad"}}),
            json.dumps({**record, "scheduled_event": {**record["scheduled_event"], "start_time": "bad"}}),
            json.dumps({**record, "scheduled_event": {**record["scheduled_event"], "updated_at": 5}}),
            json.dumps({**record, "scheduled_event": {**record["scheduled_event"], "end_time": ""}}),
            json.dumps({**record, "old_invitee": "call +1 555-010-4242", "new_invitee": "x"}),
            json.dumps({**record, "event": "mail a@b.example.com"}),
            json.dumps({"uri": "https://api.calendly.com/scheduled_events/E1", "status": "active"}),
            json.dumps({"start_time": "2025-01-20T15:00:00Z", "status": "canceled", "uri": 5}),
            json.dumps({"start_time": "2025-01-20T15:00:00Z", "status": "Canceled", "uri": "u",
                        "cancellation": {"canceler_type": "invitee"}, "end_time": None}),
        ]
    else:
        record = _record(provider)
        lines += [
            json.dumps({"type": "AppointmentDelete", "locationId": "LOC2", "appointment": {**record, "appointmentStatus": None}}),
            json.dumps({"type": 5, "appointment": record}),
            json.dumps({"event": {**record, "appoinmentStatus": "showed", "appointmentStatus": ""}}),
            json.dumps({**record, "startTime": None}),
            json.dumps({**record, "locationId": 12}),
        ]
    return lines


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_odd_lines_go_the_reference_way(tmp_path, provider):
    land(tmp_path, provider, odd_lines(provider))
    land(tmp_path, provider, odd_lines(provider), name="same.jsonl.gz")
    assert_same_rows(tmp_path, PROVIDERS[provider])


def test_long_lines_batches_and_broken_files(tmp_path, monkeypatch):
    monkeypatch.setattr(landing_duckdb, "BATCH_LINES", 7)  # many batches, lines of one file across them
    monkeypatch.setattr(landing_duckdb, "_READ_CHUNK", 64)  # lines across read chunks
    monkeypatch.setattr(landing_duckdb, "QUERY_BYTES", 1000)  # many queries, records and lines across them
    good = ghl("LONG", contact="CT1", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00")
    folder = tmp_path / "ghl" / DAY.isoformat()
    folder.mkdir(parents=True)
    over = b"x" * (MAX_LINE_BYTES + 1)
    exact = b'{"id": "' + b"y" * (MAX_LINE_BYTES - 10) + b'"}'
    (folder / "a.jsonl").write_bytes(b"\n".join([good.encode()] * 20 + [over, exact[:MAX_LINE_BYTES], good.encode()]))
    (folder / "b.jsonl").write_bytes(over)
    (folder / "c.jsonl").write_bytes(good.encode() + b"\n" + over + b"\n\n")
    whole = gzip.compress(("\n".join([good] * 50) + "\n").encode())
    (folder / "d.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "e.jsonl.gz").write_bytes(gzip.compress(good.encode() + b"\n") + b"trailing garbage")
    (folder / "f.jsonl.gz").write_bytes(good.encode())
    (folder / "g.jsonl").mkdir()
    (folder / "h.jsonl").symlink_to(folder / "missing.jsonl")
    rows = assert_same_rows(tmp_path, GHL)
    assert "unreadable_file" in rows["reject_reason"].to_pylist()


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_both_paths_load_the_same_warehouse_rows(engine, tmp_path, pg_database):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_landing_duckdb")
    wh = Warehouse(url)
    for provider in (CALENDLY, GHL):
        land(tmp_path / "landing", provider.name, odd_lines(provider.name))
        reference, duck = both_paths(tmp_path / "landing", provider, [DAY])
        columns = [(c.name, c.sql_type) for c in provider.columns]
        with wh.transaction() as con:
            for table, data in (("from_python", reference), ("from_duckdb", duck)):
                con.execute(f"drop table if exists {table}")
                wh.create_table_if_missing(con, table, columns)
                wh.bulk_insert(con, table, data)
        names = ", ".join(c.name for c in provider.columns)
        expected = wh.query(f"select {names} from from_python order by file, line")
        assert wh.query(f"select {names} from from_duckdb order by file, line") == expected
        assert len(expected) == reference.num_rows


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_failure_midway_through_the_stream_keeps_the_previous_partition(engine, tmp_path, pg_database, monkeypatch):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_landing_stream")
    inputs = Inputs(source_db_url=f"sqlite:///{tmp_path / 'app.sqlite'}", landing_dir=tmp_path / "landing")
    write_leads(inputs.source_db_url, [])
    land(inputs.landing_dir, "ghl", [ghl(f"S{i}", contact="CT1", start="2025-01-20 10:00", added="2025-01-01 08:00",
                                         updated="2025-01-01 08:00") for i in range(30)])
    assert run_pipeline(url, inputs, DAY, DAY, selection=["raw_ghl_appointments"]).success
    wh = Warehouse(url)
    before = wh.query("select file, line, record_key from raw_ghl_appointments order by line")
    assert len(before) == 30

    monkeypatch.setattr(landing_duckdb, "BATCH_LINES", 4)
    parse = landing_duckdb.LandingParser.parse
    written: list[int] = []

    def fail_after_two_batches(self, batches):
        for rows in parse(self, batches):
            if len(written) == 2:
                raise RuntimeError("the parse broke midway")
            written.append(rows.num_rows)
            yield rows

    monkeypatch.setattr(landing_duckdb.LandingParser, "parse", fail_after_two_batches)
    land(inputs.landing_dir, "ghl", [ghl("NEW", contact="CT1", start="2025-01-20 10:00", added="2025-01-01 08:00",
                                         updated="2025-01-01 08:00")] * 40, name="more.jsonl")
    result = run_pipeline(url, inputs, DAY, DAY, selection=["raw_ghl_appointments"], raise_on_error=False)
    assert not result.success
    assert written and max(written) <= 4  # batches were streamed, each bounded by the batch size
    assert wh.query("select file, line, record_key from raw_ghl_appointments order by line") == before


def test_a_read_failure_inside_the_stream_keeps_its_type(tmp_path, monkeypatch):
    land(tmp_path, "ghl", [ghl(f"R{i}", contact="CT1", start="2025-01-20 10:00", added="2025-01-01 08:00",
                               updated="2025-01-01 08:00") for i in range(10)])
    monkeypatch.setattr(landing_duckdb, "BATCH_LINES", 4)
    read = landing_duckdb.read_landing_batches

    def fail_after_one_batch(*args, **kwargs):
        batches = read(*args, **kwargs)
        yield next(batches)
        raise PermissionError("the landing zone went away")

    monkeypatch.setattr(landing_duckdb, "read_landing_batches", fail_after_one_batch)
    rows: list[int] = []
    with pytest.raises(PermissionError, match="went away"):
        for batch in parse_landing_days(tmp_path, GHL, [DAY], KEY, {DAY: "MANUAL"}):
            rows.append(batch.num_rows)
    assert sum(rows) <= 4  # only the first batch's lines were parsed before the failure
