"""Bad landing files and values reject themselves, never the partition: every line and file is accounted for."""

from __future__ import annotations

import gzip
import json
import os
import string
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appointment_pipeline.demo import write_leads
from appointment_pipeline.domain.parsing import CALENDLY, GHL, parse_records
from appointment_pipeline.io.landing import read_landing
from appointment_pipeline.io.landing_duckdb import parse_landing_days
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, empty_days_config, run_pipeline
from scenarios.builders import calendly, ghl

DAY = date(2025, 1, 2)


def good_ghl(n: int) -> str:
    return ghl(f"BAD-GOOD-{n}", contact="CT-BAD", start="2025-01-20 10:00", added="2025-01-01 08:00",
               updated="2025-01-01 08:00")


def write_bad_day(landing: Path) -> dict[str, tuple[int, list[tuple[int | None, str]]]]:
    """A GHL day full of broken files; returns file -> (lines loaded, [(line, reason) rejected])."""
    folder = landing / "ghl" / DAY.isoformat()
    folder.mkdir(parents=True)
    expected: dict[str, tuple[int, list[tuple[int | None, str]]]] = {}

    def rel(name: str) -> str:
        return f"ghl/{DAY.isoformat()}/{name}"

    (folder / "a_good.jsonl").write_text("\n".join(good_ghl(i) for i in range(3)) + "\n")
    expected[rel("a_good.jsonl")] = (3, [])
    whole = gzip.compress(("\n".join(good_ghl(10 + i) for i in range(200)) + "\n").encode())
    (folder / "b_truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    expected[rel("b_truncated.jsonl.gz")] = (-1, [(-1, "unreadable_file")])  # lines before the break: counted below
    (folder / "c_fake.jsonl.gz").write_text(good_ghl(300) + "\n")
    expected[rel("c_fake.jsonl.gz")] = (0, [(1, "unreadable_file")])
    (folder / "d_trailing.jsonl.gz").write_bytes(gzip.compress((good_ghl(400) + "\n").encode()) + b"garbage after the stream")
    expected[rel("d_trailing.jsonl.gz")] = (1, [(2, "unreadable_file")])
    deep = "[" * 100_000 + "]" * 100_000
    huge = '{"id": "BIG", "n": ' + "9" * 5000 + "}"
    bad_utf8 = good_ghl(500).replace("CT-BAD", "CT-\xff").encode("latin-1")
    (folder / "e_values.jsonl").write_bytes(b"\n".join([deep.encode(), huge.encode(), bad_utf8, good_ghl(501).encode()]) + b"\n")
    expected[rel("e_values.jsonl")] = (1, [(1, "malformed_json"), (2, "malformed_json"), (3, "malformed_json")])
    (folder / "f_dangling.jsonl").symlink_to(folder / "missing.jsonl")
    expected[rel("f_dangling.jsonl")] = (0, [(None, "unreadable_file")])
    (folder / "g_directory.jsonl").mkdir()
    expected[rel("g_directory.jsonl")] = (0, [(None, "unreadable_file")])
    os.mkfifo(folder / "h_fifo.jsonl")
    expected[rel("h_fifo.jsonl")] = (0, [(None, "unreadable_file")])
    (folder / "notes.txt").write_text("not a landing file\n")
    outside = landing.parent / "outside.jsonl"
    outside.write_text(good_ghl(900) + "\n")
    (folder / "i_outside.jsonl").symlink_to(outside)
    (landing / "ghl" / "latest").mkdir()
    return expected


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_each_bad_file_or_value_rejects_itself_and_the_rest_loads(engine, tmp_path, pg_database):
    landing = tmp_path / "landing"
    expected = write_bad_day(landing)
    inputs = Inputs(source_db_url=f"sqlite:///{tmp_path / 'app.sqlite'}", landing_dir=landing)
    write_leads(inputs.source_db_url, [{"id": "lead_bad", "ghlContactId": "CT-BAD", "createdAt": "2024-12-01T00:00:00+00:00",
                                        "updatedAt": "2024-12-01T00:00:00+00:00", "email": None}])
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_bad")
    started = time.monotonic()
    result = run_pipeline(url, inputs, DAY, DAY, run_config=empty_days_config(landing, DAY, DAY))
    assert result.success
    assert time.monotonic() - started < 120
    wh = Warehouse(url)
    rows = wh.query("select file, line, reject_reason from raw_ghl_appointments")
    loaded = {f: sum(1 for file, _, r in rows if file == f and r is None) for f in expected}
    rejected = {f: sorted(((line, r) for file, line, r in rows if file == f and r is not None), key=str) for f in expected}
    truncated = f"ghl/{DAY.isoformat()}/b_truncated.jsonl.gz"
    read_before_break = loaded[truncated]
    assert 0 < read_before_break < 200
    expected[truncated] = (read_before_break, [(read_before_break + 1, "unreadable_file")])
    for name, (lines, rejects) in expected.items():
        assert loaded[name] == lines, name
        assert rejected[name] == sorted(rejects, key=str), name
    # skipped entries are not loaded at all
    assert not any("outside" in file or file.endswith("notes.txt") for file, _, _ in rows)
    mart = {(file, line, reason) for file, line, reason in wh.query("select file, line, reason from appointment_rejects")}
    assert {(f, line, r) for f, (_, rejects) in expected.items() for line, r in rejects} == mart
    assert wh.scalar("select count(*) from appointments") == 3 + read_before_break + 1 + 1


# -- fuzz: random bytes, random JSON and random entries in a landing day ----------------------------------------------

SECRET = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=20).map(lambda s: "Zq" + s)
PII_FIELDS_CALENDLY = ("name", "email", "first_name", "text_reminder_number", "cancel_url", "reschedule_url")
PII_FIELDS_GHL = ("title", "notes", "address", "description")


@st.composite
def landing_line(draw, provider: str) -> tuple[bytes, list[str]]:
    """One line: random bytes, random JSON, or a record in the provider's shape with secrets in its PII fields."""
    kind = draw(st.sampled_from(["bytes", "json", "record", "record", "blank"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200)).replace(b"\n", b" "), []
    if kind == "blank":
        return b"", []
    if kind == "json":
        value = draw(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                  lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                                  max_leaves=20))
        return json.dumps(value).encode(), []
    secrets = draw(st.lists(SECRET, min_size=1, max_size=3))
    n = draw(st.integers(0, 10**6))
    if provider == "calendly":
        obj = json.loads(calendly(f"E{n}", f"I{n}", email=f"{secrets[0]}@example.com", start="2025-01-20 15:00",
                                  created="2025-01-01 10:00", updated="2025-01-01 10:00",
                                  embed_event=draw(st.booleans())))
        for field, secret in zip(PII_FIELDS_CALENDLY[::-1], secrets):
            obj[field] = secret
        obj["questions_and_answers"] = [{"question": "q", "answer": secrets[-1]}]
    else:
        obj = json.loads(ghl(f"G{n}", contact="CT-F", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00"))
        for field, secret in zip(PII_FIELDS_GHL, secrets):
            obj[field] = secret
    for field in draw(st.lists(st.sampled_from(sorted(obj)), max_size=2)):  # break a field or two
        obj[field] = draw(st.none() | st.integers() | st.text(max_size=10) | st.just({"nested": [1, 2]}))
    return json.dumps(obj).encode(), secrets


@st.composite
def landing_day(draw):
    provider = draw(st.sampled_from(["calendly", "ghl"]))
    files = draw(st.lists(st.tuples(st.sampled_from(["plain", "gz", "truncated_gz"]),
                                    st.lists(landing_line(provider), max_size=8)), min_size=1, max_size=4))
    return provider, files


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(day=landing_day())
def test_fuzzed_landing_days_are_accounted_for_and_leak_nothing(tmp_path_factory, day):
    provider_name, files = day
    provider = CALENDLY if provider_name == "calendly" else GHL
    landing = tmp_path_factory.mktemp("fuzz")
    folder = landing / provider_name / DAY.isoformat()
    folder.mkdir(parents=True)
    lines_per_file, secrets = {}, []
    for index, (form, lines) in enumerate(files):
        body = b"".join(line + b"\n" for line, _ in lines)
        secrets += [s for _, found in lines for s in found]
        name = f"f{index}.jsonl" + ("" if form == "plain" else ".gz")
        data = body if form == "plain" else gzip.compress(body)
        if form == "truncated_gz":
            data = data[: max(1, len(data) // 2)]
        (folder / name).write_bytes(data)
        lines_per_file[f"{provider_name}/{DAY.isoformat()}/{name}"] = (form, len(lines))
    started = time.monotonic()
    table = parse_records(provider, read_landing(landing, provider, [DAY]), "fuzz-key", {DAY: "MANUAL"})
    assert time.monotonic() - started < 30
    # the DuckDB parse gives the same rows, every column
    duck = pa.Table.from_batches(list(parse_landing_days(landing, provider, [DAY], "fuzz-key", {DAY: "MANUAL"})),
                                 schema=table.schema)
    order = [("file", "ascending"), ("line", "ascending")]
    assert duck.sort_by(order).to_pylist() == table.sort_by(order).to_pylist()
    rows = table.to_pylist()
    for file, (form, count) in lines_per_file.items():
        mine = [r for r in rows if r["file"] == file]
        if form == "truncated_gz":
            # the lines read before the break, then one file-level reject (unless the cut fell at the very end)
            assert all(r["reject_reason"] != "unreadable_file" for r in mine[:-1])
            assert len(mine) <= count + 1
        else:
            assert [r["line"] for r in mine] == list(range(1, count + 1)), file
        assert all(r["reject_reason"] is not None or r["record_key"] for r in mine)
    text = "\n".join(str(v) for column in table.columns if pa.types.is_string(column.type) for v in column.to_pylist())
    leaked = [s for s in secrets if s in text]
    assert leaked == []
