"""Synthetic people: names, emails, phones and time zones of leads and of invitees that match no lead.

The names are distinctive so that a scan for personal data has no false positives.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appointment_pipeline.demo.timeline import DemoBuild
    from appointment_pipeline.demo.timeline import Appointment

FIRST_NAMES = (
    "Avery", "Bronwyn", "Casimir", "Delphine", "Evander", "Florentyna", "Gideon", "Henrietta", "Ignatius",
    "Jocasta", "Leopold", "Marisol", "Nikolai", "Ottilie", "Peregrine", "Quintessa", "Rosalind", "Soren",
    "Thaddeus", "Ursula", "Valentin", "Wilhelmina", "Xiomara", "Yevgeny", "Zenobia",
)  # fmt: skip
LAST_NAMES = (
    "Testworth", "Samplesen", "Fakerley", "Demoski", "Mockford", "Placewell", "Dummond", "Pretendo", "Fictera",
    "Madeupson", "Notrealis", "Phonyman", "Shamwell", "Bogusky", "Invental", "Spoofield",
)  # fmt: skip
#: Calendly hosts (name, email)
HOSTS = (("Morgan Hostwell", "morgan.hostwell@example.com"), ("Rafferty Calenda", "rafferty.calenda@example.com"),
         ("Sunniva Bookerly", "sunniva.bookerly@example.com"))  # fmt: skip
COMPANIES = ("Acme Dental", "Globex Clinics", "Initech Realty", "Umbrella Fitness", "Hooli Legal", None)
TIMEZONES = (
    "America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles", "America/Phoenix",
    "Europe/London", "Asia/Kolkata",
)  # fmt: skip
STREETS = ("Testworth Lane", "Placeholder Ave", "Sample Street", "Mockingbird Row")


class Person:
    __slots__ = ("idx", "first", "last", "full", "email", "phone", "tz")

    def __init__(self, idx: int, first: str, last: str, email: str, phone: str, tz: str) -> None:
        self.idx = idx
        self.first = first
        self.last = last
        self.full = f"{first} {last}"
        self.email = email  # canonical (lower-case) address
        self.phone = phone
        self.tz = tz


class Lead:
    """One row of the "Lead" table while it is being built (``legacy`` holds its legacy rollup columns)."""

    def __init__(self, person: Person, lead_id: str) -> None:
        self.person = person
        self.id = lead_id
        self.email_db = person.email
        self.phone_db: str | None = person.phone
        self.contact_id: str | None = None
        self.company: str | None = None
        self.created_at: datetime | None = None
        self.updated_at: datetime | None = None
        self.legacy: dict = {}
        self.legacy_agree: dict = {}  # the legacy rollup before any deliberate drift
        self.appts: list[Appointment] = []


def email_variant(email: str, k: int) -> str:
    """The address as a user might have typed it: capitals and/or surrounding whitespace."""
    local, _, domain = email.partition("@")
    variant = k % 3
    if variant == 0:
        first, _, rest = local.partition(".")
        return f"  {first.capitalize()}.{rest.capitalize()}@{domain.capitalize()} "
    if variant == 1:
        return email.upper()
    return f"{email}  "


def new_lead(b: DemoBuild, idx: int, width: int) -> Lead:
    rng = b.rng
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}{idx}@example.com"
    phone = f"+1 555-01{(idx // 10000) % 100:02d}-{idx % 10000:04d}"
    person = Person(idx, first, last, email, phone, rng.choice(TIMEZONES))
    lead = Lead(person, f"lead_{idx:0{width}d}")
    lead.company = rng.choice(COMPANIES)
    if rng.random() < 0.08:
        lead.phone_db = None
    if rng.random() < 0.3:
        lead.contact_id = f"ctc{idx:017d}"
    if rng.random() < 0.08:
        lead.email_db = email_variant(email, idx)
    return lead


def stranger(b: DemoBuild) -> Person:
    """A person matching no lead (``@example.org``, phones ``+1 555-09..``)."""
    b.stranger_counter += 1
    n = b.stranger_counter
    first, last = b.rng.choice(FIRST_NAMES), b.rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}.x{n}@example.org"
    phone = f"+1 555-09{(n // 10000) % 100:02d}-{n % 10000:04d}"
    return Person(n, first, last, email, phone, b.rng.choice(TIMEZONES))
