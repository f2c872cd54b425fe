-- The same "Appointment" model for the embedded SQLite demo. SQLite has no enum types: the enum columns are text
-- limited by CHECK constraints. A DateTime is ISO-8601 UTC text with milliseconds, e.g. 2025-01-02T10:30:00.000Z
-- (fixed width, so text order is time order).
create table "Appointment" (
    "id" text primary key not null,
    "leadId" text not null references "Lead" ("id") on delete cascade,
    "provider" text not null check ("provider" in ('GHL', 'CALENDLY')),
    "ghlAppointmentId" text unique,
    "calendlyInviteeUri" text unique,
    "calendlyScheduledEventUri" text,
    "startAt" datetime,
    "endAt" datetime,
    "timezone" text,
    "status" text not null check ("status" in ('CONFIRMED', 'CANCELED', 'RESCHEDULED', 'SHOWED', 'NO_SHOW')),
    "statusChangedAt" datetime not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    "canceledAt" datetime,
    "cancelReason" text,
    "rescheduledFromId" text references "Appointment" ("id") on delete set null,
    "source" text not null
        check ("source" in ('WEBHOOK', 'RECONCILE_CRON', 'BACKFILL', 'AUTO_BOOK', 'MANUAL', 'MIGRATION')),
    "createdAt" datetime not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    "updatedAt" datetime not null
);

create index "Appointment_leadId_idx" on "Appointment" ("leadId");
create index "Appointment_leadId_status_idx" on "Appointment" ("leadId", "status");
create index "Appointment_startAt_idx" on "Appointment" ("startAt");
create index "Appointment_status_idx" on "Appointment" ("status");
create index "Appointment_provider_idx" on "Appointment" ("provider");
create index "Appointment_createdAt_idx" on "Appointment" ("createdAt" desc);
