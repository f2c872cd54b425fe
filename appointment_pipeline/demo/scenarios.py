"""The scenario table: which lead scenarios a demo holds, how many of each and which function builds them.

A unit is one lead, a group of leads sharing a Calendly event, or a pair of leads sharing an email. Each scenario
gets ``max(minimum, round(share * leads / average unit size))`` units, the minimums first, as long as leads are left;
the remaining leads have no appointment. The units are shuffled, then built in that order. Scenarios that are not
units of their own (reschedule hop counts, the group's canceler, typos, drift, email variants, unmatched provider
appointments) are recorded by the builders and listed in ``model.SCENARIOS``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from appointment_pipeline.demo import calendly, ghl, legacy_leads
from appointment_pipeline.demo import calendly_scenarios as cal
from appointment_pipeline.demo.legacy_leads import legacy_from_appointments
from appointment_pipeline.demo.people import Lead, stranger
from appointment_pipeline.demo.timeline import DemoBuild

BuildUnit = Callable[[DemoBuild, Sequence[Lead], int], None]
BuildLead = Callable[[DemoBuild, Lead, int], None]


def per_lead(build: BuildLead) -> BuildUnit:
    """A unit builder for a one-lead scenario (the builder's ``k`` is the unit's number within its scenario)."""

    def build_unit(b: DemoBuild, leads: Sequence[Lead], k: int) -> None:
        (lead,) = leads
        build(b, lead, k)

    build_unit.__name__ = build.__name__
    return build_unit


@dataclass(frozen=True)
class ScenarioRow:
    name: str
    share: float  # share of the leads
    minimum: int  # minimum number of units
    build: BuildUnit  # plays the unit's timeline; the unit's lead ids are then listed under ``name``
    unit_sizes: tuple[int, ...] = (1,)  # leads in unit k: unit_sizes[k % len(unit_sizes)]

    def unit_size(self, k: int) -> int:
        return self.unit_sizes[k % len(self.unit_sizes)]

    def planned_units(self, leads: int) -> int:
        average = sum(self.unit_sizes) / len(self.unit_sizes)
        return max(self.minimum, round(self.share * leads / average))


def both_providers(b: DemoBuild, lead: Lead, k: int) -> None:
    """A GHL appointment and a Calendly invitee for the same lead."""
    final = ("confirmed", "cancelled", "showed")[k % 3]
    ghl.play(b, lead, final, "both_providers", k, legacy=False)
    if k % 2:
        calendly.book_and_cancel(b, lead, lead.person, "host", "both_providers")
    else:
        inv = calendly.book(b, lead, lead.person, "both_providers")
        b.finish(inv)
    legacy_from_appointments(b, lead)


#: The lead scenarios, in planning order (the order decides which scenarios still get leads when leads are few).
SCENARIO_TABLE: tuple[ScenarioRow, ...] = (
    ScenarioRow("cal_reschedule", 0.07, 6, per_lead(cal.cal_reschedule)),
    ScenarioRow("cal_group", 0.06, 3, cal.cal_group, unit_sizes=(3, 2, 4)),
    ScenarioRow("cal_plain", 0.09, 3, per_lead(cal.cal_plain)),
    ScenarioRow("cal_cancel_invitee", 0.04, 2, per_lead(cal.cal_cancel_invitee)),
    ScenarioRow("cal_cancel_host", 0.03, 2, per_lead(cal.cal_cancel_host)),
    ScenarioRow("cal_no_show", 0.03, 2, per_lead(cal.cal_no_show)),
    ScenarioRow("cal_email_only", 0.05, 3, per_lead(cal.cal_email_only)),
    ScenarioRow("cal_email_shared", 0.01, 1, cal.cal_email_shared, unit_sizes=(2,)),
    ScenarioRow("cal_event_uri_only", 0.01, 2, per_lead(cal.cal_event_uri_only)),
    ScenarioRow("ghl_new", 0.03, 2, per_lead(ghl.ghl_new)),
    ScenarioRow("ghl_confirmed", 0.07, 3, per_lead(ghl.ghl_confirmed)),
    ScenarioRow("ghl_cancelled", 0.04, 2, per_lead(ghl.ghl_cancelled)),
    ScenarioRow("ghl_showed", 0.04, 2, per_lead(ghl.ghl_showed)),
    ScenarioRow("ghl_noshow", 0.03, 2, per_lead(ghl.ghl_noshow)),
    ScenarioRow("ghl_invalid", 0.02, 2, per_lead(ghl.ghl_invalid)),
    ScenarioRow("ghl_reschedule", 0.05, 3, per_lead(ghl.ghl_reschedule)),
    ScenarioRow("ghl_delete", 0.03, 2, per_lead(ghl.ghl_delete)),
    ScenarioRow("ghl_contact_only", 0.04, 2, per_lead(ghl.ghl_contact_only)),
    ScenarioRow("both_providers", 0.05, 3, per_lead(both_providers)),
    ScenarioRow("legacy_start_only", 0.01, 2, per_lead(legacy_leads.legacy_start_only)),
    ScenarioRow("legacy_canceled_only", 0.01, 2, per_lead(legacy_leads.legacy_canceled_only)),
    ScenarioRow("legacy_odd_status", 0.02, 6, per_lead(legacy_leads.legacy_odd_status)),
    ScenarioRow("legacy_unknown_status", 0.005, 1, per_lead(legacy_leads.legacy_unknown_status)),
    ScenarioRow("legacy_ambiguous_provider", 0.005, 1, per_lead(legacy_leads.legacy_ambiguous_provider)),
    ScenarioRow("legacy_both_keys_with_provider", 0.005, 1, per_lead(legacy_leads.legacy_both_keys_with_provider)),
    ScenarioRow("legacy_unknown_provider", 0.005, 1, per_lead(legacy_leads.legacy_unknown_provider)),
)
#: The leads left over after the table: one unit each.
NO_APPOINTMENT = ScenarioRow("no_appointment", 0.0, 0, per_lead(legacy_leads.no_appointment))


def plan_units(b: DemoBuild) -> list[tuple[ScenarioRow, int, int]]:
    """(scenario, unit number k, unit size) for every unit, shuffled with ``b.rng``."""
    n = b.n_leads
    units: list[tuple[ScenarioRow, int, int]] = []
    used = 0
    given: dict[str, int] = defaultdict(int)
    for phase in (0, 1):  # every minimum first, then the shares
        for row in SCENARIO_TABLE:
            upto = row.minimum if phase == 0 else row.planned_units(n)
            while given[row.name] < upto:
                size = row.unit_size(given[row.name])
                if used + size > n:
                    break
                units.append((row, given[row.name], size))
                given[row.name] += 1
                used += size
    for k in range(n - used):
        units.append((NO_APPOINTMENT, k, 1))
    b.rng.shuffle(units)
    return units


def build_unmatched(b: DemoBuild) -> None:
    """Provider appointments of people matching no lead (about 1 % of the leads per provider, at least 2)."""
    n = max(2, round(b.n_leads * 0.01)) if b.n_leads else 2
    for i in range(n):
        person = stranger(b)
        if i % 2:
            inv = calendly.book_and_cancel(b, None, person, "invitee", "cal_unmatched")
        else:
            inv = calendly.book(b, None, person, "cal_unmatched")
            b.finish(inv)
        b.scen["cal_unmatched"].append(inv.key)
    for i in range(n):
        person = stranger(b)
        booked, start = b.booking_and_start()
        contact = f"ctc9{person.idx:016d}"
        a = ghl.new_appointment(b, None, person, contact, "ghl_unmatched", booked=booked, start=start,
                                status="confirmed")  # fmt: skip
        if i % 2:
            t = a.booked + timedelta(hours=2)
            if t < b.w1:
                ghl.change(b, a, t, status="cancelled")
        b.finish(a)
        b.scen["ghl_unmatched"].append(a.key)
