-- The application's "Appointment" model as Prisma creates it on PostgreSQL (a DateTime is timestamp(3) without
-- time zone holding UTC). The application owns this schema: the pipeline only runs this file for the demo and the
-- tests; in production it checks the live shape against it and stops when they differ.
create type "AppointmentStatus" as enum ('CONFIRMED', 'CANCELED', 'RESCHEDULED', 'SHOWED', 'NO_SHOW');
create type "AppointmentSource" as enum ('WEBHOOK', 'RECONCILE_CRON', 'BACKFILL', 'AUTO_BOOK', 'MANUAL', 'MIGRATION');
create type "MeetingBookingProvider" as enum ('GHL', 'CALENDLY');

create table "Appointment" (
    "id" text primary key,
    "leadId" text not null references "Lead" ("id") on delete cascade,
    "provider" "MeetingBookingProvider" not null,
    "ghlAppointmentId" text unique,
    "calendlyInviteeUri" text unique,
    "calendlyScheduledEventUri" text,
    "startAt" timestamp(3),
    "endAt" timestamp(3),
    "timezone" text,
    "status" "AppointmentStatus" not null,
    "statusChangedAt" timestamp(3) not null default current_timestamp,
    "canceledAt" timestamp(3),
    "cancelReason" text,
    "rescheduledFromId" text references "Appointment" ("id") on delete set null,
    "source" "AppointmentSource" not null,
    "createdAt" timestamp(3) not null default current_timestamp,
    "updatedAt" timestamp(3) not null
);

create index "Appointment_leadId_idx" on "Appointment" ("leadId");
create index "Appointment_leadId_status_idx" on "Appointment" ("leadId", "status");
create index "Appointment_startAt_idx" on "Appointment" ("startAt");
create index "Appointment_status_idx" on "Appointment" ("status");
create index "Appointment_provider_idx" on "Appointment" ("provider");
create index "Appointment_createdAt_idx" on "Appointment" ("createdAt" desc);
