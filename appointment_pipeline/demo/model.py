"""The demo's public data types: the ``"Lead"`` columns, the returned data and its ground-truth manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

#: The legacy columns of the "Lead" table, in table order.
LEAD_COLUMNS: tuple[str, ...] = (
    "id",
    "email",
    "phone",
    "firstName",
    "lastName",
    "ghlContactId",
    "ghlAppointmentId",
    "calendlyInviteeUri",
    "calendlyScheduledEventUri",
    "appointmentProvider",
    "appointmentStatus",
    "appointmentSource",
    "appointmentStartAt",
    "appointmentEndAt",
    "appointmentBookedAt",
    "appointmentCanceledAt",
    "appointmentTimezone",
    "createdAt",
    "updatedAt",
)
#: The one extra column that the pipeline must ignore.
EXTRA_LEAD_COLUMN = "companyName"
TIMESTAMP_COLUMNS: tuple[str, ...] = (
    "appointmentStartAt",
    "appointmentEndAt",
    "appointmentBookedAt",
    "appointmentCanceledAt",
    "createdAt",
    "updatedAt",
)


@dataclass(frozen=True)
class DemoSummary:
    leads: int
    landing_files: int
    landing_lines: int  # total lines written to every landing file
    malformed_lines: int  # lines deliberately bad (not JSON / missing key / bad time / unknown status)
    ignored_lines: int  # valid lines about something else than an appointment (other Calendly webhooks)
    first_day: date
    last_day: date
    # every email, first/last name, full name, phone (and street address) string written anywhere, plus the trimmed
    # and lower-cased form of every email (what a leaking pipeline would most likely store)
    pii_values: frozenset[str]


@dataclass(frozen=True)
class DemoAppointment:
    """Ground truth for one real appointment (what the pipeline should end up with), from the generator's view.

    ``status`` is the contract status of the provider's final state (legacy-only appointments: the normalized legacy
    status). ``key`` is the idempotency key (GHL id, Calendly invitee URI, or ``legacy:<leadId>``).
    """

    provider: str  # GHL | CALENDLY
    key: str
    lead_id: str | None  # None: matches no lead (goes to unmatched_provider_appointments)
    scenario: str
    status: str  # CONFIRMED | CANCELED | RESCHEDULED | SHOWED | NO_SHOW
    cancel_reason: str | None  # invitee | host | rescheduled | invalid | deleted | legacy | None
    rescheduled_from: str | None  # key of the appointment this one replaced (Calendly chains)
    scheduled_event_uri: str | None
    start_at: datetime | None
    end_at: datetime | None
    created_at: datetime | None
    canceled_at: datetime | None
    legacy_only: bool  # no provider line at all: known only from the "Lead" table


@dataclass(frozen=True)
class DemoData:
    summary: DemoSummary
    lead_rows: tuple[dict, ...]  # "Lead" rows; timestamps as aware UTC datetimes
    files: Mapping[str, tuple[str, ...]]  # relative landing path ("calendly/2025-01-01/webhooks-000.jsonl") -> lines
    scenarios: Mapping[str, tuple[str, ...]]  # scenario -> lead ids (``*_unmatched``: provider keys)
    appointments: tuple[DemoAppointment, ...]
    malformed: tuple[tuple[str, int, str], ...]  # (relative path, 1-based line number, reason code)
    ignored: tuple[tuple[str, int, str], ...]  # (relative path, 1-based line number, "not_an_appointment")
    drift: Mapping[str, tuple[str, ...]]  # lead id -> "Lead" columns deliberately disagreeing with the provider data
    reference_time: datetime  # end of the last snapshot day: the "now" the legacy rollups were computed for


#: Every scenario name that ``DemoData.scenarios`` can hold (with the default arguments all are non-empty).
SCENARIOS: tuple[str, ...] = (
    # Calendly
    "cal_plain",  # one active invitee, legacy keys point to it
    "cal_cancel_invitee",  # canceled, cancellation.canceler_type = invitee
    "cal_cancel_host",  # canceled, cancellation.canceler_type = host
    "cal_event_canceled_invitee_active",  # host canceled the event, the invitee still "active" -> CANCELED (host)
    "cal_reschedule",  # chain old -> new invitee, 1..3 hops (see cal_reschedule_1hop/_2hop/_3hop)
    "cal_reschedule_1hop",
    "cal_reschedule_2hop",
    "cal_reschedule_3hop",
    "cal_reschedule_split_days",  # the two halves of a hop delivered on different days
    "cal_reschedule_new_first",  # the new half delivered on an EARLIER day than the old half's cancel
    "cal_group",  # group event: 2-4 leads share one scheduled event URI, one of them cancels
    "cal_group_canceler",  # the group member who canceled
    "cal_no_show",  # active invitee with a no_show object
    "cal_email_only",  # lead has no calendly keys: matched by email hash only
    "cal_email_shared",  # two leads share an email; the later createdAt owns the invitee (both ids listed, owner last)
    "cal_event_uri_only",  # legacy has calendlyScheduledEventUri but no invitee URI: keyless, merges into provider
    # GHL
    "ghl_new",
    "ghl_confirmed",
    "ghl_cancelled",
    "ghl_showed",
    "ghl_noshow",
    "ghl_invalid",
    "ghl_reschedule",  # in place: same id, new startTime, later dateUpdated
    "ghl_delete",  # AppointmentDelete webhook
    "ghl_contact_only",  # lead has ghlContactId but no legacy appointment: matched by contactId
    "ghl_typo_status_key",  # at least one line uses "appoinmentStatus"
    # both / legacy
    "both_providers",  # a GHL appointment and a Calendly invitee for the same lead
    "legacy_start_only",  # appointmentStartAt + appointmentProvider only
    "legacy_canceled_only",  # no status, appointmentCanceledAt set -> CANCELED
    "legacy_odd_status",  # Cancelled, NOSHOW, Showed, CONFIRMED, ... (case variants)
    "legacy_unknown_status",  # "pending" -> reject legacy_unknown_status
    "legacy_ambiguous_provider",  # keys of both providers, no appointmentProvider -> reject
    "legacy_both_keys_with_provider",  # keys of both providers, appointmentProvider set
    "legacy_unknown_provider",  # appointmentStartAt but no provider and no key -> reject
    "legacy_drift",  # legacy rollup deliberately disagrees with the provider data (see DemoData.drift)
    "email_variant",  # lead email with upper case / surrounding whitespace
    "no_appointment",  # lead without any appointment data
    # no lead (values are provider keys)
    "cal_unmatched",  # invitee email matches no lead
    "ghl_unmatched",  # contactId matches no lead
)
