"""Builders of the Calendly scenarios (listed in ``scenarios.SCENARIO_TABLE``): each plays one unit's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from appointment_pipeline.demo import calendly
from appointment_pipeline.demo.calendly import CANCEL_REASONS_HOST, CalendlyInvitee
from appointment_pipeline.demo.legacy_leads import legacy_from_appointments
from appointment_pipeline.demo.people import HOSTS, Lead, email_variant
from appointment_pipeline.demo.timeline import CALENDLY_API, DemoBuild, cal_ts


def cal_plain(b: DemoBuild, lead: Lead, k: int) -> None:
    inv = calendly.book(b, lead, lead.person, "cal_plain")
    b.finish(inv)
    legacy_from_appointments(b, lead)


def cancel_with_legacy(b: DemoBuild, lead: Lead, canceler: str, scenario: str) -> CalendlyInvitee:
    inv = calendly.book_and_cancel(b, lead, lead.person, canceler, scenario)
    legacy_from_appointments(b, lead)
    return inv


def cal_cancel_invitee(b: DemoBuild, lead: Lead, k: int) -> None:
    cancel_with_legacy(b, lead, "invitee", "cal_cancel_invitee")


def cal_cancel_host(b: DemoBuild, lead: Lead, k: int) -> None:
    if k % 3 != 1:
        cancel_with_legacy(b, lead, "host", "cal_cancel_host")
        return
    # the host canceled the scheduled event; the invitee record still says "active"
    booked, start, cancel_at = b.booking_with_cancel_room()
    inv = calendly.book(b, lead, lead.person, "cal_cancel_host", booked=booked, start=start)
    b.touch(inv, cancel_at)
    inv.ev.status = "canceled"
    inv.ev.cancellation = {
        "canceled_by": HOSTS[inv.ev.host][0],
        "reason": b.rng.choice(CANCEL_REASONS_HOST),
        "canceler_type": "host",
        "created_at": cal_ts(cancel_at),
    }
    inv.ev.active = 0
    inv.ev.updated_at = cancel_at
    inv.updated_at = cancel_at
    inv.canceled_at = cancel_at
    b.observe(inv, cancel_at, form="poll")
    b.finish(inv)
    legacy_from_appointments(b, lead)
    b.scen["cal_event_canceled_invitee_active"].append(lead.id)


def cal_no_show(b: DemoBuild, lead: Lead, k: int) -> None:
    rng = b.rng
    booked = b.micro(b.between(b.w0 - timedelta(days=10), max(b.w1 - timedelta(days=2), b.w0 - timedelta(days=1))))
    lo = max(booked + timedelta(hours=2), b.w0)
    hi = b.w1 - timedelta(hours=5)
    if lo >= hi:
        lo = booked + timedelta(hours=2)
    start = b.quarter(b.between(lo, hi))
    if start + timedelta(hours=1) >= b.w1:
        start = b.quarter(booked + timedelta(hours=2))
    inv = calendly.book(b, lead, lead.person, "cal_no_show", booked=booked, start=start)
    marked = b.micro(start + timedelta(minutes=rng.randrange(35, 150)))
    if marked >= b.w1:
        marked = b.w1 - timedelta(minutes=1)
    b.touch(inv, marked)
    inv.no_show = {"uri": f"{CALENDLY_API}/invitee_no_shows/{b.uuid()}", "created_at": cal_ts(marked)}
    inv.updated_at = marked
    b.observe(inv, marked, form="poll")  # the envelope carries only invitee.created/canceled
    b.finish(inv)
    legacy_from_appointments(b, lead)


def cal_reschedule(b: DemoBuild, lead: Lead, k: int) -> None:
    """A chain old -> new invitee of 1 to 3 hops, the halves of a hop on the same or on different days."""
    rng = b.rng
    hops = 1 + (k + 2) % 3  # 3, 1, 2, 3, 1, 2, ...
    span = b.w1 - b.w0
    booked = b.micro(b.between(b.w0 - timedelta(days=5), b.w0 + span / 4))
    lo = max(booked, b.w0) + timedelta(minutes=30)
    hi = b.w1 - timedelta(hours=1)
    times = sorted(b.micro(b.between(lo, hi)) for _ in range(hops))
    for i in range(1, hops):  # keep the hops apart
        if times[i] <= times[i - 1] + timedelta(minutes=5):
            times[i] = times[i - 1] + timedelta(minutes=5)
    hops = sum(1 for t in times if t < b.w1)
    times = times[:hops]
    b.scen[f"cal_reschedule_{hops}hop"].append(lead.id)
    first_start = b.quarter(times[0] + timedelta(hours=rng.randrange(2, 240)))
    minutes = 30 if rng.random() < 0.7 else 60
    ev = calendly.new_event(b, first_start, booked - timedelta(milliseconds=80), minutes=minutes)
    old = calendly.new_invitee(b, lead.person, lead, ev, booked, "cal_reschedule")
    b.register(old)
    b.observe(old, booked)
    chain = [old]
    for h, r in enumerate(times):
        variant = ("same_day", "new_later", "old_later")[b.hop_counter % 3]
        b.hop_counter += 1
        if b.day(r) + 1 >= b.days:
            variant = "same_day"
        if variant == "new_later" and h + 1 < len(times) and b.day(times[h + 1]) <= b.day(r) + 1:
            variant = "same_day"  # the next hop must not be delivered before this creation
        if h + 1 < len(times):
            new_start = b.quarter(times[h + 1] + timedelta(hours=rng.randrange(2, 240)))
        else:
            new_start = b.quarter(r + timedelta(hours=rng.randrange(24, 21 * 24)))
        new_ev = calendly.new_event(b, new_start, r, minutes=minutes)
        new = calendly.new_invitee(b, lead.person, lead, new_ev, r + timedelta(milliseconds=300), "cal_reschedule")
        new.email = old.email
        new.split_names = old.split_names
        new.old = old.uri
        new.rescheduled_from = old.key
        b.touch(old, r)
        calendly.cancel(b, old, r, "invitee")
        old.rescheduled = True
        old.new = new.uri
        old.cancellation["reason"] = rng.choice((None, "Need a later slot"))  # type: ignore[index]
        old.ev.cancellation = dict(old.cancellation)  # type: ignore[arg-type]
        b.register(new)
        b.observe(old, r, form="webhook", delay_days=1 if variant == "old_later" else 0)
        b.observe(new, r + timedelta(milliseconds=300), form="webhook",
                  delay_days=1 if variant == "new_later" else 0)  # fmt: skip
        if variant == "new_later":
            b.scen["cal_reschedule_split_days"].append(lead.id)
        elif variant == "old_later":
            b.scen["cal_reschedule_new_first"].append(lead.id)
        b.finish(old)
        chain.append(new)
        old = new
    b.finish(old)
    legacy_from_appointments(b, lead)
    if rng.random() < 0.2 and lead.legacy and len(chain) > 1 and lead.id not in b.drifting:
        # legacy never heard of the reschedule
        first = chain[0]
        lead.legacy.update(
            calendlyInviteeUri=first.key,
            calendlyScheduledEventUri=first.event_uri,
            appointmentStatus="confirmed",
            appointmentStartAt=first.start,
            appointmentEndAt=first.end,
            appointmentBookedAt=first.created_at,
            appointmentCanceledAt=None,
        )
        b.drifting.add(lead.id)


def cal_group(b: DemoBuild, leads: Sequence[Lead], k: int) -> None:
    """A group event: the leads share one scheduled event URI, one of them cancels."""
    rng = b.rng
    span = b.w1 - b.w0
    bookings = sorted(b.micro(b.between(b.w0 - timedelta(days=3), b.w0 + span / 2)) for _ in leads)
    if rng.random() < 0.5:
        start = b.quarter(b.between(b.w1 + timedelta(days=1), b.w1 + timedelta(days=30)))
    else:
        start = b.quarter(b.between(max(bookings[-1], b.w0) + timedelta(hours=6), b.w1 + timedelta(days=10)))
    ev = calendly.new_event(b, start, bookings[0] - timedelta(milliseconds=80), minutes=60, limit=len(leads) + 2)
    canceler = rng.randrange(len(leads))
    actions: list[tuple[datetime, int, str]] = [(t, i, "book") for i, t in enumerate(bookings)]
    window = b.cancel_window(bookings[canceler], start)
    if window is None:
        window = (max(bookings[canceler], b.w0) + timedelta(seconds=1), b.w1 - timedelta(seconds=1))
    cancel_at = b.micro(b.between(*window))
    actions.append((cancel_at, canceler, "cancel"))
    actions.sort()
    invitees: dict[int, CalendlyInvitee] = {}
    for t, i, what in actions:
        if what == "book":
            inv = calendly.new_invitee(b, leads[i].person, leads[i], ev, t, "cal_group")
            invitees[i] = inv
            b.register(inv)
            b.observe(inv, t)
        else:
            inv = invitees[i]
            b.touch(inv, t)
            calendly.cancel(b, inv, t, "invitee", event_too=False)
            b.observe(inv, t)
    for i in sorted(invitees):
        b.finish(invitees[i])
    for lead in leads:
        legacy_from_appointments(b, lead)
    b.scen["cal_group_canceler"].append(leads[canceler].id)


def cal_email_only(b: DemoBuild, lead: Lead, k: int) -> None:
    if k % 3 == 0:
        lead.email_db = email_variant(lead.person.email, k)
    email = lead.person.email.upper() if k % 3 == 1 else None  # typed in capitals on the booking page
    if k % 2 == 0:
        inv = calendly.book(b, lead, lead.person, "cal_email_only", email=email)
        b.finish(inv)
    else:
        calendly.book_and_cancel(b, lead, lead.person, "invitee", "cal_email_only", email=email)


def cal_email_shared(b: DemoBuild, leads: Sequence[Lead], k: int) -> None:
    """Two leads share an email; the later createdAt owns the invitee (listed older, then newer)."""
    older, newer = leads
    newer.person.email = older.person.email
    newer.email_db = email_variant(older.person.email, k) if k % 2 == 0 else older.person.email
    inv = calendly.book(b, newer, newer.person, "cal_email_shared")
    b.finish(inv)
    # createdAt order decides the owner: fix it after the booking so "newer" is strictly later
    older.created_at = inv.booked - timedelta(days=60 + b.rng.randrange(30))
    newer.created_at = inv.booked - timedelta(days=1 + b.rng.randrange(20))


def cal_event_uri_only(b: DemoBuild, lead: Lead, k: int) -> None:
    inv = calendly.book(b, lead, lead.person, "cal_event_uri_only")
    b.finish(inv)
    legacy_from_appointments(b, lead)
    for legacy in (lead.legacy, lead.legacy_agree):
        legacy["calendlyInviteeUri"] = None
        if k % 2:
            legacy["appointmentProvider"] = None  # the event URI alone says CALENDLY
