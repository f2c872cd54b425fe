"""Publish benchmark: N synthetic warehouse appointments into a PostgreSQL application database.

    .venv/bin/python benchmarks/publish_benchmark.py                       # 1,000,000 appointments
    .venv/bin/python benchmarks/publish_benchmark.py --rows 100000 --sample 2000

Builds, on the local server (BENCH_PG_ADMIN, default postgresql://postgres@127.0.0.1:5432/postgres), a warehouse
database whose ``appointments`` table is generated in SQL (GHL keys, Calendly URIs, keyless legacy rows, reschedule
chains, microsecond timestamps) and an application database with one ``"Lead"`` per two appointments and the
shipped ``"Appointment"`` DDL. Then, in one process:

1. publishes everything (apply, first time) and times it;
2. publishes the same state again comparing every row (apply, ``full_compare``; must write nothing) and times it,
   then once more as the reconcile does, comparing only what changed since that apply (nothing);
3. migrates a sample of the same rows the row-by-row way (per row: find by provider key, insert if missing, each
   statement committed, as an ORM loop would) into a second, empty application database, and times it.

Prints rows/s of each, the wall time of each phase of the two publishes (shape check, load, plan, write table,
summary, apply, recheck) and the ratios of the first and the unchanged publish to the row-by-row migration. Both databases are
dropped afterwards (``--keep`` keeps them).
"""

import argparse
import os
import time
import uuid

import psycopg

from appointment_pipeline.io.app_database import (
    APPOINTMENT_COLUMNS,
    AppDatabase,
    create_app_schema,
    derived_app_id,
    publish_appointments,
)
from appointment_pipeline.io.warehouse import Warehouse

ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")

WAREHOUSE_SQL = """
create table appointments as
with n as (
    select i,
        case when i % 20 = 0 then 'legacy' when i % 2 = 0 then 'GHL' else 'CALENDLY' end as kind,
        timestamptz '2025-01-01 00:00:00+00' + i * interval '37 seconds' + (i % 997) * interval '1 microsecond' as t
    from generate_series(1, {rows}) as i
)
select
    md5(case kind when 'GHL' then 'GHL:apt' || i when 'CALENDLY' then 'CALENDLY:inv' || i
        else 'GHL:legacy:lead_' || ((i + 1) / 2) end) as id,
    'lead_' || ((i + 1) / 2) as lead_id,
    case kind when 'CALENDLY' then 'CALENDLY' else 'GHL' end as provider,
    case kind when 'GHL' then 'apt' || lpad(i::text, 17, '0') end as ghl_appointment_id,
    case kind when 'CALENDLY' then 'https://api.calendly.com/scheduled_events/ev' || (i / 3) || '/invitees/inv' || i
        end as calendly_invitee_uri,
    case kind when 'CALENDLY' then 'https://api.calendly.com/scheduled_events/ev' || (i / 3) end
        as calendly_scheduled_event_uri,
    case when kind = 'legacy' and i % 40 = 0 then null else t + interval '3 days' end as start_at,
    case when kind = 'legacy' then null else t + interval '3 days 30 minutes' end as end_at,
    case when i % 3 = 0 then 'America/New_York' when i % 3 = 1 then 'Europe/Berlin' end as timezone,
    (array['CONFIRMED', 'CANCELED', 'RESCHEDULED', 'SHOWED', 'NO_SHOW'])[1 + i % 5] as status,
    t + interval '1 hour' as status_changed_at,
    case when i % 5 in (1, 2) then t + interval '1 hour' end as canceled_at,
    case when i % 5 = 1 then 'invitee' when i % 5 = 2 then 'rescheduled' end as cancel_reason,
    null::text as rescheduled_from_id,
    null::text as reschedule_link_method,
    case when kind = 'legacy' then 'MIGRATION' when i % 3 = 0 then 'WEBHOOK' else 'RECONCILE_CRON' end as source,
    t as created_at,
    t + interval '2 hours' as updated_at
from n;
alter table appointments add column n bigserial;
create unique index on appointments (n);
-- every 10th appointment was rescheduled from the one before it (same lead: consecutive pairs share a lead)
update appointments as a set rescheduled_from_id = p.id, reschedule_link_method = 'provider'
from appointments as p where a.n % 10 = 0 and p.n = a.n - 1;
alter table appointments drop column n;
analyze appointments;
"""

LEAD_SQL = """
create table "Lead" (
    "id" text primary key, "email" text, "ghlContactId" text, "ghlAppointmentId" text, "calendlyInviteeUri" text,
    "calendlyScheduledEventUri" text, "appointmentProvider" text, "appointmentStatus" text, "appointmentSource" text,
    "appointmentStartAt" timestamp(3), "appointmentEndAt" timestamp(3), "appointmentBookedAt" timestamp(3),
    "appointmentCanceledAt" timestamp(3), "appointmentTimezone" text, "createdAt" timestamp(3) not null,
    "updatedAt" timestamp(3) not null);
insert into "Lead" ("id", "createdAt", "updatedAt")
select 'lead_' || i, timestamp '2024-12-01', timestamp '2024-12-01' from generate_series(1, ({rows} + 1) / 2) as i;
"""


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as con:
        con.execute(f"create database {name} template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'")
    return ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"


def drop_database(url: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as con:
        con.execute(f"drop database if exists {url.rsplit('/', 1)[1]} with (force)")


def conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def prepare_app(rows: int) -> str:
    url = create_database("bench_app")
    with psycopg.connect(conninfo(url), autocommit=True) as con:
        con.execute(LEAD_SQL.format(rows=int(rows)))
    create_app_schema(url)
    return url


def row_by_row(wh: Warehouse, app_url: str, sample: int) -> tuple[int, float]:
    """The migration style the set-based publish replaces: per row, a lookup and an insert, each committed."""
    wanted = ["id", "rescheduled_from_id", *(c.warehouse for c in APPOINTMENT_COLUMNS if c.warehouse and c.name != "rescheduledFromId")]
    names = [c.name for c in APPOINTMENT_COLUMNS if c.name not in ("id", "rescheduledFromId")]
    rows = wh.query(f"select {', '.join(wanted)} from appointments order by id limit {int(sample)}")
    insert = (
        f'insert into "Appointment" ("id", "rescheduledFromId", {", ".join(chr(34) + n + chr(34) for n in names)}) '
        f"values (%s, %s, {', '.join('%s' for _ in names)})"
    )
    app = AppDatabase(app_url)
    started = time.perf_counter()
    with psycopg.connect(conninfo(app_url), autocommit=True) as con:
        con.execute("set time zone 'UTC'")
        for wh_id, _from_id, *values in rows:
            ghl, cal = values[names.index("ghlAppointmentId")], values[names.index("calendlyInviteeUri")]
            if ghl:
                found = con.execute('select id from "Appointment" where "ghlAppointmentId" = %s', [ghl]).fetchone()
            elif cal:
                found = con.execute('select id from "Appointment" where "calendlyInviteeUri" = %s', [cal]).fetchone()
            else:
                found = con.execute('select id from "Appointment" where id = %s', [derived_app_id(wh_id)]).fetchone()
            if found is None:
                values = [app.app_timestamp(v) if hasattr(v, "tzinfo") else v for v in values]
                # links are left out: the sample's predecessors are not all in it
                con.execute(insert, [derived_app_id(wh_id), None, *values])
    return len(rows), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=5_000, help="rows migrated the row-by-row way")
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()

    created = []
    try:
        started = time.perf_counter()
        wh_url = create_database("bench_wh")
        created.append(wh_url)
        with psycopg.connect(conninfo(wh_url), autocommit=True) as con:
            con.execute(WAREHOUSE_SQL.format(rows=int(args.rows)))
        app_url, baseline_url = prepare_app(args.rows), prepare_app(args.rows)
        created += [app_url, baseline_url]
        wh = Warehouse(wh_url)
        app = AppDatabase(app_url)
        print(f"setup: {args.rows:,} warehouse appointments generated in {time.perf_counter() - started:.1f} s")

        t0 = time.perf_counter()
        first = publish_appointments(wh, app, apply=True, batch_size=args.batch_size)
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        # every row compared, as without a recorded publish state
        again = publish_appointments(wh, app, apply=True, batch_size=args.batch_size, full_compare="benchmark")
        again_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        delta = publish_appointments(wh, app, apply=True, batch_size=args.batch_size)  # only what changed: nothing
        delta_s = time.perf_counter() - t0
        count = app.scalar('select count(*) from "Appointment"')
        links = app.scalar('select count(*) from "Appointment" where "rescheduledFromId" is not null')
        sample_rows, sample_s = row_by_row(wh, baseline_url, args.sample)

        first_rate, again_rate, slow_rate = args.rows / first_s, args.rows / again_s, sample_rows / sample_s
        print(f"first publish:     {first.written:>9,} rows written in {first_s:7.1f} s = {first_rate:>9,.0f} rows/s "
              f"({first.batches} batches; plan {first.actions})")
        print(f"publish unchanged: {again.written:>9,} rows written in {again_s:7.1f} s = {again_rate:>9,.0f} rows/s "
              f"checked (plan {again.actions})")
        print(f"publish delta:     {delta.written:>9,} rows written in {delta_s:7.1f} s "
              f"({delta.scope.describe() if delta.scope else ''})")
        print(f"row by row:        {sample_rows:>9,} rows in {sample_s:7.1f} s = {slow_rate:>9,.0f} rows/s "
              "(find by key, then insert; autocommit)")
        for name, result in (("first publish", first), ("publish unchanged", again), ("publish delta", delta)):
            phases = ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in result.seconds.items())
            print(f"  {name} phases (s): {phases}")
        print(f'"Appointment" rows: {count:,}, with rescheduledFromId: {links:,}')
        print(f"ratio first publish / row by row: {first_rate / slow_rate:.0f}x; "
              f"unchanged publish / row by row: {again_rate / slow_rate:.0f}x")
        ok = first.written == args.rows == count and again.written == 0 and first.still_to_write == 0
        ok = ok and delta.written == 0 and delta.scope is not None and delta.scope.rows_compared == 0
        if not ok:
            print("UNEXPECTED: the first publish did not write every row or the second one wrote something")
        return 0 if ok else 1
    finally:
        if not args.keep:
            for url in created:
                drop_database(url)


if __name__ == "__main__":
    raise SystemExit(main())
