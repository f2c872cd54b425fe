"""Hand-written scenarios: "Lead" rows and landing lines in, expected appointments, history, rollups out.

Every scenario owns its leads, keys and landing file (<provider>/<day>/<scenario>.jsonl), so all of them are
materialized together in one run per engine and each is checked on its own rows. Expected values are written by
hand from docs/data-contract.md; appointments are named by (provider, key), never by their computed id.
The rollups are evaluated at REFERENCE_TIME.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.builders import calendly, calendly_event, calendly_other_webhook, event_uri, ghl, invitee_uri, lead, t

REFERENCE_TIME = "2025-01-10T12:00:00+00:00"
DAY1, DAY2, DAY3, DAY4, DAY5, DAY6 = (f"2025-01-0{d}" for d in range(1, 7))


@dataclass
class Scenario:
    name: str
    leads: list[dict]
    landing: dict[tuple[str, str], list[str]]  # (provider, day) -> lines of <provider>/<day>/<name>.jsonl
    appointments: dict[tuple[str, str], dict] = field(default_factory=dict)  # (provider, key) -> expected fields
    history: dict[tuple[str, str], list[tuple]] = field(default_factory=dict)  # (status, start, valid_from, valid_to, observed_from, snapshot_date)
    rollups: dict[str, dict] = field(default_factory=dict)  # lead_id -> expected fields; "primary": (provider, key)
    rejects: list[tuple] = field(default_factory=list)  # (source, file, line, record_key, reason)
    unmatched: list[tuple] = field(default_factory=list)  # (provider, key, snapshot_date, reason)
    drift: dict[str, dict[str, tuple]] = field(default_factory=dict)  # lead_id -> field -> (legacy, new), a subset


def C(event: str, invitee: str) -> tuple[str, str]:
    return ("CALENDLY", invitee_uri(event, invitee))


def G(appointment_id: str) -> tuple[str, str]:
    return ("GHL", appointment_id)


SCENARIOS: list[Scenario] = []

# -- every status mapping -------------------------------------------------------------------
SCENARIOS.append(Scenario(
    name="status_mappings",
    leads=[lead("s1_cal", email="s1@example.com"), lead("s1_ghl", contact="CT-S1")],
    landing={
        ("calendly", DAY2): [
            calendly("E1a", "I1a", email="s1@example.com", start="2025-01-20 15:00", created="2025-01-01 10:00", updated="2025-01-01 10:00", webhook="invitee.created"),
            calendly("E1b", "I1b", email="s1@example.com", start="2025-01-21 15:00", created="2025-01-01 10:00", updated="2025-01-02 09:00",
                     status="canceled", event_status="canceled", canceler="invitee", canceled="2025-01-02 09:00", webhook="invitee.canceled"),
            calendly("E1c", "I1c", email="s1@example.com", start="2025-01-22 15:00", created="2025-01-01 10:00", updated="2025-01-02 09:30",
                     status="canceled", canceler="host", canceled="2025-01-02 09:30"),
            calendly("E1d", "I1d", email="s1@example.com", start="2025-01-23 15:00", created="2025-01-01 10:00", updated="2025-01-02 11:00",
                     event_status="canceled"),
            calendly("E1e", "I1e", email="s1@example.com", start="2025-01-01 15:00", created="2024-12-20 10:00", updated="2025-01-01 16:00", no_show=True),
        ],
        ("ghl", DAY2): [
            ghl("S1-NEW", contact="CT-S1", start="2025-01-15 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00", status="new"),
            ghl("S1-CONF", contact="CT-S1", start="2025-01-16 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00", status="confirmed", webhook="AppointmentCreate"),
            ghl("S1-ACT", contact="CT-S1", start="2025-01-17 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00", status="active"),
            ghl("S1-CANC", contact="CT-S1", start="2025-01-18 10:00", added="2025-01-01 08:00", updated="2025-01-01 12:00", status="cancelled", webhook="AppointmentUpdate"),
            ghl("S1-INV", contact="CT-S1", start="2025-01-19 10:00", added="2025-01-01 08:00", updated="2025-01-01 12:00", status="invalid"),
            ghl("S1-SHOW", contact="CT-S1", start="2025-01-01 10:00", added="2024-12-20 08:00", updated="2025-01-01 11:00", status="showed"),
            ghl("S1-COMP", contact="CT-S1", start="2025-01-01 12:00", added="2024-12-20 08:00", updated="2025-01-01 13:00", status="completed"),
            ghl("S1-NOSHOW", contact="CT-S1", start="2025-01-01 14:00", added="2024-12-20 08:00", updated="2025-01-01 15:00", status="noshow"),
            ghl("S1-DEL", contact="CT-S1", start="2025-01-24 10:00", added="2025-01-01 08:00", updated="2025-01-01 16:00", status="confirmed", webhook="AppointmentDelete"),
            ghl("S1-TYPO", contact="CT-S1", start="2025-01-01 16:00", added="2024-12-20 08:00", updated="2025-01-01 17:00", status="showed", typo=True),
        ],
    },
    appointments={
        C("E1a", "I1a"): dict(lead_id="s1_cal", status="CONFIRMED", cancel_reason=None, canceled_at=None, source="WEBHOOK",
                             start_at=t("2025-01-20 15:00"), end_at=t("2025-01-20 15:30"), timezone="America/Chicago",
                             created_at=t("2025-01-01 10:00"), calendly_scheduled_event_uri=event_uri("E1a")),
        C("E1b", "I1b"): dict(status="CANCELED", cancel_reason="invitee", canceled_at=t("2025-01-02 09:00")),
        C("E1c", "I1c"): dict(status="CANCELED", cancel_reason="host", canceled_at=t("2025-01-02 09:30")),
        C("E1d", "I1d"): dict(status="CANCELED", cancel_reason="host", canceled_at=t("2025-01-02 11:00")),
        C("E1e", "I1e"): dict(status="NO_SHOW", cancel_reason=None, canceled_at=None),
        G("S1-NEW"): dict(lead_id="s1_ghl", status="CONFIRMED", ghl_appointment_id="S1-NEW", timezone=None,
                          start_at=t("2025-01-15 10:00"), end_at=t("2025-01-15 10:30"), created_at=t("2025-01-01 08:00")),
        G("S1-CONF"): dict(status="CONFIRMED"),
        G("S1-ACT"): dict(status="CONFIRMED"),
        G("S1-CANC"): dict(status="CANCELED", cancel_reason=None, canceled_at=t("2025-01-01 12:00")),
        G("S1-INV"): dict(status="CANCELED", cancel_reason="invalid", canceled_at=t("2025-01-01 12:00")),
        G("S1-SHOW"): dict(status="SHOWED"),
        G("S1-COMP"): dict(status="SHOWED"),
        G("S1-NOSHOW"): dict(status="NO_SHOW"),
        G("S1-DEL"): dict(status="CANCELED", cancel_reason="deleted", canceled_at=t("2025-01-01 16:00")),
        G("S1-TYPO"): dict(status="SHOWED"),
    },
    rollups={
        "s1_cal": dict(primary=C("E1a", "I1a"), appointment_count=5, appointment_status="confirmed", appointment_provider="CALENDLY"),
        "s1_ghl": dict(primary=G("S1-NEW"), appointment_count=10, appointment_status="confirmed", appointment_provider="GHL"),
    },
))

# -- a 3-hop Calendly reschedule chain A -> B -> C -> D, its halves delivered newest first -------------------------
CHAIN_EMAIL = "chain.person@example.com"
SCENARIOS.append(Scenario(
    name="calendly_chain_out_of_order",
    leads=[lead("s2", email="  Chain.Person@Example.COM ", calendlyInviteeUri=invitee_uri("E2a", "I2a"),
                calendlyScheduledEventUri=event_uri("E2a"), appointmentProvider="CALENDLY", appointmentStatus="confirmed",
                appointmentStartAt="2025-01-05 15:00", appointmentBookedAt="2024-12-20 09:59", appointmentSource="webhook")],
    landing={
        ("calendly", DAY3): [calendly("E2d", "I2d", email=CHAIN_EMAIL, start="2025-01-15 15:00", created="2025-01-02 10:00",
                                      updated="2025-01-02 10:00", old=invitee_uri("E2c", "I2c"), webhook="invitee.created")],
        ("calendly", DAY4): [calendly("E2c", "I2c", email=CHAIN_EMAIL, start="2025-01-12 15:00", created="2024-12-28 10:00",
                                      updated="2025-01-02 10:00", status="canceled", event_status="canceled", canceler="invitee",
                                      canceled="2025-01-02 10:00", rescheduled=True, new=invitee_uri("E2d", "I2d"),
                                      webhook="invitee.canceled")],
        ("calendly", DAY5): [calendly("E2b", "I2b", email=CHAIN_EMAIL, start="2025-01-08 15:00", created="2024-12-22 10:00",
                                      updated="2024-12-28 10:00", status="canceled", event_status="canceled", canceler="invitee",
                                      canceled="2024-12-28 10:00", rescheduled=True, new=invitee_uri("E2c", "I2c"))],
        ("calendly", DAY6): [calendly("E2a", "I2a", email=CHAIN_EMAIL, start="2025-01-05 15:00", created="2024-12-20 10:00",
                                      updated="2024-12-22 10:00", status="canceled", event_status="canceled", canceler="invitee",
                                      canceled="2024-12-22 10:00", rescheduled=True, new=invitee_uri("E2b", "I2b"))],
    },
    appointments={
        C("E2a", "I2a"): dict(lead_id="s2", status="RESCHEDULED", cancel_reason="rescheduled", canceled_at=t("2024-12-22 10:00"),
                              rescheduled_from=None, reschedule_link_method=None, source="MIGRATION",
                              created_at=t("2024-12-20 09:59"), status_changed_at=t("2024-12-22 10:00"),
                              start_at=t("2025-01-05 15:00")),
        C("E2b", "I2b"): dict(lead_id="s2", status="RESCHEDULED", canceled_at=t("2024-12-28 10:00"), rescheduled_from=C("E2a", "I2a"),
                              reschedule_link_method="provider", source="MANUAL", created_at=t("2024-12-22 10:00")),
        C("E2c", "I2c"): dict(lead_id="s2", status="RESCHEDULED", canceled_at=t("2025-01-02 10:00"), rescheduled_from=C("E2b", "I2b"),
                              reschedule_link_method="provider"),
        C("E2d", "I2d"): dict(lead_id="s2", status="CONFIRMED", canceled_at=None, cancel_reason=None, rescheduled_from=C("E2c", "I2c"),
                              reschedule_link_method="provider", start_at=t("2025-01-15 15:00")),
    },
    history={
        C("E2a", "I2a"): [("RESCHEDULED", t("2025-01-05 15:00"), t("2024-12-22 10:00"), None, "calendly", DAY6)],
    },
    rollups={"s2": dict(primary=C("E2d", "I2d"), appointment_count=4, appointment_status="confirmed",
                        appointment_start_at=t("2025-01-15 15:00"), appointment_source="webhook",
                        calendly_invitee_uri=invitee_uri("E2d", "I2d"))},
))

# -- a group event with three invitees (three leads), one of whom cancels --------------------------------------------
SCENARIOS.append(Scenario(
    name="group_event",
    leads=[lead("s3_x", email="x3@example.com"), lead("s3_y", email="y3@example.com"), lead("s3_z", email="z3@example.com")],
    landing={
        ("calendly", DAY2): [
            calendly("E3", "I3x", email="x3@example.com", start="2025-01-20 16:00", created="2025-01-01 10:00", updated="2025-01-01 10:00"),
            calendly("E3", "I3y", email="y3@example.com", start="2025-01-20 16:00", created="2025-01-01 11:00", updated="2025-01-01 11:00"),
            calendly("E3", "I3z", email="z3@example.com", start="2025-01-20 16:00", created="2025-01-01 12:00", updated="2025-01-01 12:00"),
        ],
        ("calendly", DAY3): [
            calendly("E3", "I3x", email="x3@example.com", start="2025-01-20 16:00", created="2025-01-01 10:00", updated="2025-01-01 10:00"),
            calendly("E3", "I3y", email="y3@example.com", start="2025-01-20 16:00", created="2025-01-01 11:00", updated="2025-01-02 15:00",
                     status="canceled", canceler="invitee", canceled="2025-01-02 15:00"),
            calendly("E3", "I3z", email="z3@example.com", start="2025-01-20 16:00", created="2025-01-01 12:00", updated="2025-01-01 12:00"),
        ],
    },
    appointments={
        C("E3", "I3x"): dict(lead_id="s3_x", status="CONFIRMED", calendly_scheduled_event_uri=event_uri("E3")),
        C("E3", "I3y"): dict(lead_id="s3_y", status="CANCELED", cancel_reason="invitee", canceled_at=t("2025-01-02 15:00"),
                             status_changed_at=t("2025-01-02 15:00"), calendly_scheduled_event_uri=event_uri("E3")),
        C("E3", "I3z"): dict(lead_id="s3_z", status="CONFIRMED", calendly_scheduled_event_uri=event_uri("E3")),
    },
    history={
        C("E3", "I3x"): [("CONFIRMED", t("2025-01-20 16:00"), t("2025-01-01 10:00"), None, "calendly", DAY2)],
        C("E3", "I3y"): [("CONFIRMED", t("2025-01-20 16:00"), t("2025-01-01 11:00"), t("2025-01-02 15:00"), "calendly", DAY2),
                         ("CANCELED", t("2025-01-20 16:00"), t("2025-01-02 15:00"), None, "calendly", DAY3)],
    },
    rollups={"s3_y": dict(primary=C("E3", "I3y"), appointment_status="canceled", appointment_canceled_at=t("2025-01-02 15:00"))},
))

# -- GHL: in-place reschedule (same id, new time) then cancel ------------------------------------------------------
SCENARIOS.append(Scenario(
    name="ghl_in_place_reschedule_then_cancel",
    leads=[lead("s4", contact="CT-S4")],
    landing={
        ("ghl", DAY2): [ghl("S4-APPT", contact="CT-S4", start="2025-01-12 15:00", added="2025-01-01 09:00", updated="2025-01-01 09:00")],
        ("ghl", DAY3): [ghl("S4-APPT", contact="CT-S4", start="2025-01-14 15:00", added="2025-01-01 09:00", updated="2025-01-02 08:00", webhook="AppointmentUpdate")],
        ("ghl", DAY4): [ghl("S4-APPT", contact="CT-S4", start="2025-01-14 15:00", added="2025-01-01 09:00", updated="2025-01-03 07:00", status="cancelled")],
    },
    appointments={G("S4-APPT"): dict(lead_id="s4", status="CANCELED", start_at=t("2025-01-14 15:00"), end_at=t("2025-01-14 15:30"),
                                     canceled_at=t("2025-01-03 07:00"), cancel_reason=None, status_changed_at=t("2025-01-03 07:00"),
                                     created_at=t("2025-01-01 09:00"), updated_at=t("2025-01-03 07:00"), source="MANUAL",
                                     rescheduled_from=None)},
    history={G("S4-APPT"): [
        ("CONFIRMED", t("2025-01-12 15:00"), t("2025-01-01 09:00"), t("2025-01-02 08:00"), "ghl", DAY2),
        ("CONFIRMED", t("2025-01-14 15:00"), t("2025-01-02 08:00"), t("2025-01-03 07:00"), "ghl", DAY3),
        ("CANCELED", t("2025-01-14 15:00"), t("2025-01-03 07:00"), None, "ghl", DAY4),
    ]},
    rollups={"s4": dict(primary=G("S4-APPT"), appointment_status="canceled", appointment_start_at=t("2025-01-14 15:00"))},
))

# -- GHL delete --------------------------------------------------------------------------------------------------
SCENARIOS.append(Scenario(
    name="ghl_delete",
    leads=[lead("s5", contact="CT-S5")],
    landing={
        ("ghl", DAY2): [ghl("S5-APPT", contact="CT-S5", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00")],
        ("ghl", DAY3): [ghl("S5-APPT", contact="CT-S5", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-02 12:00", webhook="AppointmentDelete")],
    },
    appointments={G("S5-APPT"): dict(status="CANCELED", cancel_reason="deleted", canceled_at=t("2025-01-02 12:00"))},
    history={G("S5-APPT"): [
        ("CONFIRMED", t("2025-01-20 10:00"), t("2025-01-01 08:00"), t("2025-01-02 12:00"), "ghl", DAY2),
        ("CANCELED", t("2025-01-20 10:00"), t("2025-01-02 12:00"), None, "ghl", DAY3),
    ]},
))

# -- legacy partial data ------------------------------------------------------------------------------------------
SCENARIOS.append(Scenario(
    name="legacy_partial",
    leads=[
        lead("s6_start", appointmentStartAt="2025-01-25 10:00", appointmentProvider="calendly"),
        lead("s6_noprov", appointmentStartAt="2025-01-25 10:00"),
        lead("s6_canceled", ghlAppointmentId="S6-GHL-LEGACY", appointmentCanceledAt="2024-12-15 10:00",
             appointmentStartAt="2024-12-20 10:00", appointmentBookedAt="2024-12-10 10:00"),
        lead("s6_both", ghlAppointmentId="S6-BOTH-G", calendlyInviteeUri=invitee_uri("E6b", "I6b")),
        lead("s6_declared", ghlAppointmentId="S6-BD-G", calendlyInviteeUri=invitee_uri("E6c", "I6c"), appointmentProvider="Calendly",
             appointmentStatus="Cancelled", appointmentStartAt="2025-01-03 10:00"),
        lead("s6_pending", ghlAppointmentId="S6-PENDING", appointmentStatus="pending"),
        lead("s6_noshow", ghlAppointmentId="S6-NOSHOW", appointmentStatus="NOSHOW", appointmentStartAt="2024-12-28 10:00"),
        lead("s6_keyless", email="keyless@example.com", calendlyScheduledEventUri=event_uri("E6k"), appointmentStatus="confirmed",
             appointmentStartAt="2025-01-22 10:00", appointmentTimezone="Europe/Berlin", appointmentBookedAt="2024-12-30 10:00"),
        lead("s6_two", email="two@example.com", contact="CT-S6TWO"),
    ],
    landing={
        ("calendly", DAY2): [
            calendly("E6k", "I6k", email="keyless@example.com", start="2025-01-22 10:00", created="2025-01-01 10:00", updated="2025-01-01 10:00"),
            calendly("E6t", "I6t", email="two@example.com", start="2025-01-16 10:00", created="2025-01-01 10:00", updated="2025-01-01 10:00"),
        ],
        ("ghl", DAY2): [ghl("S6-TWO-G", contact="CT-S6TWO", start="2025-01-18 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00")],
    },
    appointments={
        ("CALENDLY", "legacy:s6_start"): dict(lead_id="s6_start", status="CONFIRMED", source="MIGRATION", start_at=t("2025-01-25 10:00"),
                                              created_at=t("2024-12-01 00:00"), ghl_appointment_id=None, calendly_invitee_uri=None),
        G("S6-GHL-LEGACY"): dict(lead_id="s6_canceled", status="CANCELED", cancel_reason="legacy", canceled_at=t("2024-12-15 10:00"),
                                 created_at=t("2024-12-10 10:00"), source="MIGRATION"),
        C("E6c", "I6c"): dict(lead_id="s6_declared", status="CANCELED", ghl_appointment_id=None, cancel_reason="legacy",
                              start_at=t("2025-01-03 10:00")),
        G("S6-NOSHOW"): dict(lead_id="s6_noshow", status="NO_SHOW"),
        C("E6k", "I6k"): dict(lead_id="s6_keyless", status="CONFIRMED", source="MIGRATION", timezone="America/Chicago",
                              created_at=t("2024-12-30 10:00"), calendly_scheduled_event_uri=event_uri("E6k")),
        C("E6t", "I6t"): dict(lead_id="s6_two", status="CONFIRMED", source="MANUAL"),
        G("S6-TWO-G"): dict(lead_id="s6_two", status="CONFIRMED"),
    },
    history={("CALENDLY", "legacy:s6_start"): [("CONFIRMED", t("2025-01-25 10:00"), t("2024-12-01 00:00"), None, "legacy", None)]},
    rollups={
        "s6_start": dict(primary=("CALENDLY", "legacy:s6_start"), appointment_source="migration", appointment_booked_at=t("2024-12-01 00:00")),
        "s6_keyless": dict(primary=C("E6k", "I6k"), appointment_count=1),
        "s6_two": dict(primary=C("E6t", "I6t"), appointment_count=2, appointment_provider="CALENDLY"),
    },
    rejects=[
        ("legacy", "Lead", None, "s6_noprov", "legacy_unknown_provider"),
        ("legacy", "Lead", None, "s6_both", "legacy_ambiguous_provider"),
        ("legacy", "Lead", None, "s6_pending", "legacy_unknown_status"),
    ],
))

# -- unmatched provider appointments -----------------------------------------------------------------------------
SCENARIOS.append(Scenario(
    name="unmatched",
    leads=[],
    landing={
        ("calendly", DAY2): [calendly("E8", "I8", email="nobody@example.com", start="2025-01-20 10:00", created="2025-01-01 10:00", updated="2025-01-01 10:00")],
        ("ghl", DAY2): [
            ghl("S8-G", contact="CT-NOBODY", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00"),
            ghl("S8-NOCONTACT", contact=None, start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00"),
        ],
        ("ghl", DAY3): [ghl("S8-G", contact="CT-NOBODY", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-02 08:00")],
    },
    unmatched=[
        ("CALENDLY", invitee_uri("E8", "I8"), DAY2, "no_lead_for_email"),
        ("GHL", "S8-G", DAY2, "no_lead_for_contact"),
        ("GHL", "S8-G", DAY3, "no_lead_for_contact"),
        ("GHL", "S8-NOCONTACT", DAY2, "missing_contact_id"),
    ],
))

# -- duplicate deliveries ----------------------------------------------------------------------------------------
_dup_ghl = ghl("S9-APPT", contact="CT-S9", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00", webhook="AppointmentCreate")
_dup_cal = calendly("E9", "I9", email="s9@example.com", start="2025-01-21 10:00", created="2025-01-01 09:00", updated="2025-01-01 09:00", webhook="invitee.created")
SCENARIOS.append(Scenario(
    name="duplicate_deliveries",
    leads=[lead("s9", email="s9@example.com", contact="CT-S9")],
    landing={
        ("ghl", DAY2): [_dup_ghl, _dup_ghl],
        ("ghl", DAY3): [ghl("S9-APPT", contact="CT-S9", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00")],
        ("calendly", DAY2): [_dup_cal, _dup_cal],
        ("calendly", DAY3): [calendly("E9", "I9", email="s9@example.com", start="2025-01-21 10:00", created="2025-01-01 09:00", updated="2025-01-01 09:00")],
    },
    appointments={G("S9-APPT"): dict(status="CONFIRMED", lead_id="s9"), C("E9", "I9"): dict(status="CONFIRMED", lead_id="s9")},
    history={
        G("S9-APPT"): [("CONFIRMED", t("2025-01-20 10:00"), t("2025-01-01 08:00"), None, "ghl", DAY2)],
        C("E9", "I9"): [("CONFIRMED", t("2025-01-21 10:00"), t("2025-01-01 09:00"), None, "calendly", DAY2)],
    },
    rollups={"s9": dict(primary=G("S9-APPT"), appointment_count=2)},
))

# -- the rollup rule's tiers and ties ------------------------------------------------------------------------------
SCENARIOS.append(Scenario(
    name="rollup_tiers_and_ties",
    leads=[lead("s10_a", contact="CT-S10A"), lead("s10_b", contact="CT-S10B"), lead("s10_c", contact="CT-S10C"),
           lead("s10_d", contact="CT-S10D"), lead("s10_e", contact="CT-S10E"), lead("s10_f", email="f10@example.com")],
    landing={
        ("ghl", DAY2): [
            # same start: the later booking wins
            ghl("S10-TIE-A", contact="CT-S10A", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00"),
            ghl("S10-TIE-B", contact="CT-S10A", start="2025-01-20 10:00", added="2025-01-01 09:00", updated="2025-01-01 09:00"),
            # same start and booking time: the smallest id wins (md5('GHL:S10-TIE-C') = 1e83... < md5('GHL:S10-TIE-D') = 76ed...)
            ghl("S10-TIE-D", contact="CT-S10B", start="2025-01-21 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00"),
            ghl("S10-TIE-C", contact="CT-S10B", start="2025-01-21 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00"),
            # an upcoming confirmed beats a past showed
            ghl("S10-UP", contact="CT-S10C", start="2025-02-01 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00"),
            ghl("S10-PAST", contact="CT-S10C", start="2025-01-05 10:00", added="2024-12-01 08:00", updated="2025-01-01 08:00", status="showed"),
            # nothing upcoming: the latest start among confirmed / showed / no-show
            ghl("S10-P1", contact="CT-S10D", start="2025-01-03 10:00", added="2024-12-01 08:00", updated="2024-12-01 08:00"),
            ghl("S10-P2", contact="CT-S10D", start="2025-01-06 10:00", added="2024-12-01 08:00", updated="2025-01-01 08:00", status="noshow"),
            # only canceled: the latest cancel time
            ghl("S10-X1", contact="CT-S10E", start="2025-01-20 10:00", added="2024-12-01 08:00", updated="2024-12-20 08:00", status="cancelled"),
            ghl("S10-X2", contact="CT-S10E", start="2025-01-25 10:00", added="2024-12-15 08:00", updated="2024-12-18 08:00", status="cancelled"),
        ],
        ("calendly", DAY2): [
            # only rescheduled: the latest status change
            calendly("E10f1", "I10f1", email="f10@example.com", start="2025-01-20 10:00", created="2024-12-01 10:00", updated="2024-12-05 10:00",
                     status="canceled", canceler="invitee", rescheduled=True, new=invitee_uri("E10g", "I10g")),
            calendly("E10f2", "I10f2", email="f10@example.com", start="2025-01-18 10:00", created="2024-12-01 10:00", updated="2024-12-06 10:00",
                     status="canceled", canceler="invitee", rescheduled=True, new=invitee_uri("E10h", "I10h")),
        ],
    },
    rollups={
        "s10_a": dict(primary=G("S10-TIE-B")),
        "s10_b": dict(primary=G("S10-TIE-C")),
        "s10_c": dict(primary=G("S10-UP")),
        "s10_d": dict(primary=G("S10-P2"), appointment_status="no_show"),
        "s10_e": dict(primary=G("S10-X1"), appointment_canceled_at=t("2024-12-20 08:00")),
        "s10_f": dict(primary=C("E10f2", "I10f2"), appointment_status="rescheduled"),
    },
))

# -- GHL heuristic reschedule link ---------------------------------------------------------------------------------
SCENARIOS.append(Scenario(
    name="ghl_heuristic_link",
    leads=[lead("s11", contact="CT-S11")],
    landing={
        ("ghl", DAY2): [ghl("S11-OLD", contact="CT-S11", start="2025-01-05 10:00", added="2024-12-20 08:00", updated="2025-01-01 10:00", status="cancelled")],
        ("ghl", DAY5): [
            ghl("S11-NEW", contact="CT-S11", start="2025-01-15 10:00", added="2025-01-04 09:00", updated="2025-01-04 09:00"),
            ghl("S11-OTHER", contact="CT-S11", start="2025-01-16 10:00", added="2025-01-04 10:00", updated="2025-01-04 10:00", calendar="CAL2"),
        ],
    },
    appointments={
        G("S11-NEW"): dict(rescheduled_from=G("S11-OLD"), reschedule_link_method="heuristic"),
        G("S11-OTHER"): dict(rescheduled_from=None, reschedule_link_method=None),
        G("S11-OLD"): dict(rescheduled_from=None, status="CANCELED"),
    },
))

# -- bad lines: counted and kept with file, line and reason --------------------------------------------------------
_good = ghl("S12-OK", contact="CT-S12", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00")
SCENARIOS.append(Scenario(
    name="bad_lines",
    leads=[lead("s12", contact="CT-S12")],
    landing={
        ("ghl", DAY2): [
            "this is not json",
            _good,
            '{"calendarId": "CAL1", "appointmentStatus": "confirmed", "startTime": "2025-01-20T10:00:00-06:00"}',
            _good.replace("2025-01-20T04:00:00-06:00", "2025-01-20 04:00:00"),
            _good.replace('"confirmed"', '"tentative"'),
            "",
        ],
        ("calendly", DAY2): [
            calendly("E12", "I12", email="s12@example.com", start="2025-01-20 10:00", created="2025-01-01 08:00", updated="2025-01-01 08:00").replace('"status": "active"', '"status": "pending"'),
            '{"payload": {"email": "s12@example.com"}, "event": "invitee.created"}',
        ],
    },
    appointments={G("S12-OK"): dict(status="CONFIRMED", lead_id="s12")},
    rejects=[
        ("ghl", f"ghl/{DAY2}/bad_lines.jsonl", 1, None, "malformed_json"),
        ("ghl", f"ghl/{DAY2}/bad_lines.jsonl", 3, None, "missing_key"),
        ("ghl", f"ghl/{DAY2}/bad_lines.jsonl", 4, "S12-OK", "bad_timestamp"),
        ("ghl", f"ghl/{DAY2}/bad_lines.jsonl", 5, "S12-OK", "unknown_status"),
        ("ghl", f"ghl/{DAY2}/bad_lines.jsonl", 6, None, "malformed_json"),
        ("calendly", f"calendly/{DAY2}/bad_lines.jsonl", 1, invitee_uri("E12", "I12"), "unknown_status"),
        ("calendly", f"calendly/{DAY2}/bad_lines.jsonl", 2, None, "missing_key"),
    ],
))

# -- a Calendly reschedule whose old booking is known only from the legacy columns ---------------------------------
SCENARIOS.append(Scenario(
    name="reschedule_from_legacy_only",
    # no appointmentBookedAt: the legacy booking time falls back to updatedAt, which is later than the new booking
    leads=[lead("s13", email="s13@example.com", updated="2025-01-06 00:00", calendlyInviteeUri=invitee_uri("E13a", "I13a"),
                appointmentStatus="rescheduled", appointmentStartAt="2025-01-04 10:00")],
    landing={("calendly", DAY3): [calendly("E13b", "I13b", email="s13@example.com", start="2025-01-12 10:00",
                                          created="2025-01-02 09:00", updated="2025-01-02 09:00", old=invitee_uri("E13a", "I13a"))]},
    appointments={
        C("E13a", "I13a"): dict(status="RESCHEDULED", source="MIGRATION", created_at=t("2025-01-06 00:00"), rescheduled_from=None),
        C("E13b", "I13b"): dict(status="CONFIRMED", rescheduled_from=C("E13a", "I13a"), reschedule_link_method="provider"),
    },
))

# -- two leads carry the same legacy GHL key: one owner, and its own legacy values -------------------------------
SCENARIOS.append(Scenario(
    name="shared_legacy_key",
    leads=[
        lead("s14_new", created="2024-11-05 00:00", updated="2024-11-06 00:00", ghlAppointmentId="S14-SHARED",
             appointmentTimezone="America/Denver", appointmentStartAt="2025-01-20 10:00"),
        lead("s14_old", created="2024-11-01 00:00", updated="2024-12-20 00:00", ghlAppointmentId="S14-SHARED",
             appointmentTimezone="Europe/Berlin", appointmentStartAt="2025-01-20 10:00"),
    ],
    landing={("ghl", DAY2): [ghl("S14-SHARED", contact=None, start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00")]},
    # lead resolution: the legacy key matches both leads -> latest createdAt wins; the legacy fill-ins come from it too
    appointments={G("S14-SHARED"): dict(lead_id="s14_new", timezone="America/Denver", source="MIGRATION")},
    rollups={"s14_new": dict(primary=G("S14-SHARED"), appointment_count=1)},
    # the other lead does not vanish: its claim is a reject, and its legacy columns show as drift
    rejects=[("legacy", "Lead", None, "s14_old", "legacy_duplicate_key")],
    drift={"s14_old": {"ghl_appointment_id": ("S14-SHARED", None), "appointment_timezone": ("Europe/Berlin", None)}},
))

# -- heuristic links that must not be made ---------------------------------------------------------------------------
SCENARIOS.append(Scenario(
    name="heuristic_negatives",
    leads=[lead("s15", contact="CT-S15"), lead("s15_other", contact="CT-S15-OTHER")],
    landing={("ghl", DAY2): [
        ghl("S15-CANCELED", contact="CT-S15", start="2024-12-10 10:00", added="2024-11-20 08:00", updated="2024-12-01 10:00", status="cancelled"),
        # booked 15 days after the cancel: outside the 14-day window
        ghl("S15-LATE", contact="CT-S15", start="2025-01-20 10:00", added="2024-12-16 10:01", updated="2024-12-16 10:01"),
        # booked before the cancel
        ghl("S15-BEFORE", contact="CT-S15", start="2025-01-21 10:00", added="2024-11-25 08:00", updated="2024-11-25 08:00"),
        # another lead, same calendar, inside the window
        ghl("S15-OTHER-LEAD", contact="CT-S15-OTHER", start="2025-01-22 10:00", added="2024-12-05 08:00", updated="2024-12-05 08:00"),
    ]},
    appointments={
        G("S15-CANCELED"): dict(status="CANCELED", rescheduled_from=None),
        G("S15-LATE"): dict(rescheduled_from=None, reschedule_link_method=None),
        G("S15-BEFORE"): dict(rescheduled_from=None, reschedule_link_method=None),
        G("S15-OTHER-LEAD"): dict(lead_id="s15_other", rescheduled_from=None, reschedule_link_method=None),
    },
))

# -- one email, two leads: the latest createdAt wins, then the smallest id -------------------------------------------
SCENARIOS.append(Scenario(
    name="email_hash_tie",
    leads=[
        lead("s16_a", email="shared16@example.com", created="2024-10-01 00:00"),
        lead("s16_b", email="Shared16@Example.com", created="2024-10-02 00:00"),
        lead("s17_a", email="same17@example.com", created="2024-10-01 00:00"),
        lead("s17_b", email="same17@example.com", created="2024-10-01 00:00"),
    ],
    landing={("calendly", DAY2): [
        calendly("E16", "I16", email="shared16@example.com", start="2025-01-20 10:00", created="2025-01-01 08:00", updated="2025-01-01 08:00"),
        calendly("E17", "I17", email="same17@example.com", start="2025-01-20 10:00", created="2025-01-01 08:00", updated="2025-01-01 08:00"),
    ]},
    appointments={C("E16", "I16"): dict(lead_id="s16_b"), C("E17", "I17"): dict(lead_id="s17_a")},
))

# -- Calendly's real shapes: invitees without their scheduled event, events on their own, other webhooks -------------
S18_EMAIL = "s18@example.com"
SCENARIOS.append(Scenario(
    name="calendly_invitee_without_event",
    leads=[lead("s18", email=S18_EMAIL)],
    landing={
        ("calendly", DAY2): [
            # Calendly's own invitee.created example: the payload names its event only by URI
            calendly("E18a", "I18a", email=S18_EMAIL, start="2025-01-20 15:00", created="2025-01-01 10:00",
                     updated="2025-01-01 10:00", webhook="invitee.created", embed_event=False),
            # an API invitee resource (GET .../invitees/{uuid}): never embeds the event
            calendly("E18b", "I18b", email=S18_EMAIL, start="2025-01-21 16:00", created="2025-01-01 11:00",
                     updated="2025-01-01 11:00", resource=True, embed_event=False),
            # a /invitees list item whose event no record ever describes
            calendly("E18c", "I18c", email=S18_EMAIL, start="2025-01-22 16:00", created="2025-01-01 12:00",
                     updated="2025-01-01 12:00", embed_event=False),
            calendly_other_webhook("routing_form_submission.created", {
                "uri": "https://api.calendly.com/routing_form_submissions/RF18",
                "questions_and_answers": [{"question": "Email", "answer": "rf18@example.com", "position": 0}],
                "tracking": {"utm_source": None}, "submitter": None, "submitter_type": None}),
            calendly_other_webhook("event_type.updated", {"uri": "https://api.calendly.com/event_types/TYPE1",
                                                          "name": "30 Minute Meeting", "active": True}),
        ],
        ("calendly", DAY3): [
            calendly_event("E18a", start="2025-01-20 15:00", updated="2025-01-01 10:00"),
            calendly_event("E18b", start="2025-01-21 16:00", updated="2025-01-02 09:00", status="canceled", canceler="host",
                           resource=True),
            '{"collection": [], "pagination": {"count": 0, "next_page": null}}',
            calendly_event("E18d", start="2025-01-23 16:00", updated="2025-01-02 09:00").replace('"start_time"', '"start"'),
        ],
    },
    appointments={
        C("E18a", "I18a"): dict(lead_id="s18", status="CONFIRMED", start_at=t("2025-01-20 15:00"), end_at=t("2025-01-20 15:30"),
                                timezone="America/Chicago", calendly_scheduled_event_uri=event_uri("E18a"), source="WEBHOOK",
                                created_at=t("2025-01-01 10:00")),
        # an active invitee on an event that another record says was canceled by the host
        C("E18b", "I18b"): dict(lead_id="s18", status="CANCELED", cancel_reason="host", canceled_at=t("2025-01-02 09:00"),
                                status_changed_at=t("2025-01-02 09:00"), start_at=t("2025-01-21 16:00"),
                                end_at=t("2025-01-21 16:30"), source="MANUAL"),
        C("E18c", "I18c"): dict(lead_id="s18", status="CONFIRMED", start_at=None, end_at=None, timezone="America/Chicago",
                                calendly_scheduled_event_uri=event_uri("E18c")),
    },
    history={
        C("E18a", "I18a"): [("CONFIRMED", t("2025-01-20 15:00"), t("2025-01-01 10:00"), None, "calendly", DAY2)],
        C("E18c", "I18c"): [("CONFIRMED", None, t("2025-01-01 12:00"), None, "calendly", DAY2)],
        # confirmed from the booking until the event's record says it was canceled
        C("E18b", "I18b"): [("CONFIRMED", t("2025-01-21 16:00"), t("2025-01-01 11:00"), t("2025-01-02 09:00"), "calendly", DAY2),
                            ("CANCELED", t("2025-01-21 16:00"), t("2025-01-02 09:00"), None, "calendly", DAY3)],
    },
    rollups={"s18": dict(primary=C("E18a", "I18a"), appointment_count=3, appointment_status="confirmed",
                         appointment_start_at=t("2025-01-20 15:00"), appointment_source="webhook")},
    # the two other webhooks are ignored, not rejected: only the list response and the event without a start are
    rejects=[
        ("calendly", f"calendly/{DAY3}/calendly_invitee_without_event.jsonl", 3, None, "malformed_json"),
        ("calendly", f"calendly/{DAY3}/calendly_invitee_without_event.jsonl", 4, event_uri("E18d"), "bad_timestamp"),
    ],
))

# -- a late re-delivery of an old state never rolls an appointment back; webhooks stamp WEBHOOK ---------------------
SCENARIOS.append(Scenario(
    name="late_redelivery",
    leads=[lead("s19", email="s19@example.com", contact="CT-S19")],
    landing={
        ("ghl", DAY2): [
            ghl("S19-APPT", contact="CT-S19", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00"),
            ghl("S19-WH", contact="CT-S19", start="2025-01-25 10:00", added="2025-01-01 09:00", updated="2025-01-01 09:00",
                webhook="AppointmentCreate"),
        ],
        ("ghl", DAY3): [ghl("S19-APPT", contact="CT-S19", start="2025-01-20 10:00", added="2025-01-01 08:00",
                            updated="2025-01-02 09:00", status="cancelled", webhook="AppointmentUpdate")],
        # an old copy of the first state, landed again three days later
        ("ghl", DAY5): [ghl("S19-APPT", contact="CT-S19", start="2025-01-20 10:00", added="2025-01-01 08:00", updated="2025-01-01 08:00")],
        ("calendly", DAY2): [calendly("E19", "I19", email="s19@example.com", start="2025-01-21 15:00", created="2025-01-01 10:00",
                                      updated="2025-01-02 10:00", status="canceled", canceler="invitee", canceled="2025-01-02 10:00")],
        ("calendly", DAY4): [calendly("E19", "I19", email="s19@example.com", start="2025-01-21 15:00", created="2025-01-01 10:00",
                                      updated="2025-01-01 10:00")],
    },
    appointments={
        G("S19-APPT"): dict(lead_id="s19", status="CANCELED", canceled_at=t("2025-01-02 09:00"), status_changed_at=t("2025-01-02 09:00"),
                            updated_at=t("2025-01-02 09:00"), source="MANUAL"),
        G("S19-WH"): dict(lead_id="s19", status="CONFIRMED", source="WEBHOOK"),
        C("E19", "I19"): dict(lead_id="s19", status="CANCELED", cancel_reason="invitee", canceled_at=t("2025-01-02 10:00"), source="MANUAL"),
    },
    history={
        G("S19-APPT"): [
            ("CONFIRMED", t("2025-01-20 10:00"), t("2025-01-01 08:00"), t("2025-01-02 09:00"), "ghl", DAY2),
            ("CANCELED", t("2025-01-20 10:00"), t("2025-01-02 09:00"), None, "ghl", DAY3),
        ],
        C("E19", "I19"): [
            ("CONFIRMED", t("2025-01-21 15:00"), t("2025-01-01 10:00"), t("2025-01-02 10:00"), "calendly", DAY4),
            ("CANCELED", t("2025-01-21 15:00"), t("2025-01-02 10:00"), None, "calendly", DAY2),
        ],
    },
))

# -- a booking seen before its event was canceled stays confirmed until the cancellation ----------------------------
S20_EMAIL = "s20@example.com"
SCENARIOS.append(Scenario(
    name="calendly_event_canceled_later",
    leads=[lead("s20", email=S20_EMAIL)],
    landing={
        ("calendly", DAY2): [
            calendly("E20a", "I20a", email=S20_EMAIL, start="2025-01-20 15:00", created="2025-01-01 10:00",
                     updated="2025-01-01 10:00", webhook="invitee.created", embed_event=False),
            calendly_event("E20a", start="2025-01-20 15:00", updated="2025-01-01 10:00"),
            calendly("E20b", "I20b", email=S20_EMAIL, start="2025-01-22 15:00", created="2025-01-01 11:00",
                     updated="2025-01-01 11:00", embed_event=False),
            calendly_event("E20b", start="2025-01-22 15:00", updated="2025-01-01 11:00"),
        ],
        ("calendly", DAY3): [
            calendly("E20a", "I20a", email=S20_EMAIL, start="2025-01-20 15:00", created="2025-01-01 10:00",
                     updated="2025-01-02 09:00", status="canceled", canceler="invitee", canceled="2025-01-02 09:00",
                     webhook="invitee.canceled", embed_event=False),
            calendly_event("E20a", start="2025-01-20 15:00", updated="2025-01-02 09:00", status="canceled", canceler="invitee"),
        ],
        # the host cancels the other event; only the event's record says so, the invitee is never delivered again
        ("calendly", DAY4): [calendly_event("E20b", start="2025-01-22 15:00", updated="2025-01-03 08:00", status="canceled",
                                            canceler="host")],
    },
    appointments={
        C("E20a", "I20a"): dict(status="CANCELED", cancel_reason="invitee", canceled_at=t("2025-01-02 09:00"),
                                status_changed_at=t("2025-01-02 09:00"), source="WEBHOOK"),
        C("E20b", "I20b"): dict(status="CANCELED", cancel_reason="host", canceled_at=t("2025-01-03 08:00"),
                                status_changed_at=t("2025-01-03 08:00"), updated_at=t("2025-01-03 08:00"), source="MANUAL"),
    },
    history={
        C("E20a", "I20a"): [("CONFIRMED", t("2025-01-20 15:00"), t("2025-01-01 10:00"), t("2025-01-02 09:00"), "calendly", DAY2),
                            ("CANCELED", t("2025-01-20 15:00"), t("2025-01-02 09:00"), None, "calendly", DAY3)],
        C("E20b", "I20b"): [("CONFIRMED", t("2025-01-22 15:00"), t("2025-01-01 11:00"), t("2025-01-03 08:00"), "calendly", DAY2),
                            ("CANCELED", t("2025-01-22 15:00"), t("2025-01-03 08:00"), None, "calendly", DAY4)],
    },
))
