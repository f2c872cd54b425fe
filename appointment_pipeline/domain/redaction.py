"""What may leave extraction: the keyed email hash, and the patterns that find PII-looking text (no Dagster imports)."""

from __future__ import annotations

import hashlib
import hmac
import re

import pyarrow as pa
import pyarrow.compute as pc

# Written for both Python's re and the warehouses' regex engines (PostgreSQL ARE, DuckDB RE2): the warehouse-wide
# PII check runs them in SQL, tests run them in Python.
EMAIL_REGEX = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
# +1 555-010-0000, (555) 010-0000, 555.010.0000 ... but not ISO timestamps, UUIDs or ids.
PHONE_REGEX = r"(^|[^0-9A-Za-z:/_-])(\+?[0-9]{1,3}[ .-]?)?\(?[0-9]{3}\)?[ .-]?[0-9]{3,4}[ .-][0-9]{4}($|[^0-9A-Za-z_-])"
# Either of the two in one pattern: a scan then runs one regex per value instead of two (half the time).
PII_REGEX = f"(?:{EMAIL_REGEX})|(?:{PHONE_REGEX})"

_EMAIL = re.compile(EMAIL_REGEX)
_PHONE = re.compile(PHONE_REGEX)


def email_hash(email: str | None, key: str) -> str | None:
    """HMAC-SHA256(key, lower(trim(email))) as hex; None for a missing or blank email."""
    if email is None:
        return None
    normalized = email.strip().lower()
    if not normalized:
        return None
    return hmac.new(key.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def looks_like_pii(text: str) -> bool:
    """True for text holding an email address or a phone number; hashes, URIs and timestamps do not match."""
    return bool(_EMAIL.search(text) or _PHONE.search(text))


_ENUM_TOKEN = re.compile(r"^[a-z][a-z_]{0,19}$")
_LETTER_OR_DIGIT = re.compile(r"[^\W\d_]|\d")


def describe_value(text: str) -> str:
    """A value safe to keep in a reject's detail: an enum-like lower-case token as is, anything else by its shape
    only (letters as 'a', digits as '9'), so that free text and personal data never reach the warehouse."""
    if _ENUM_TOKEN.match(text):
        return repr(text)
    shape = _LETTER_OR_DIGIT.sub(lambda m: "9" if m.group().isdigit() else "a", text[:40])
    return f"shape {shape!r}" + ("..." if len(text) > 40 else "")


class IdentifierLooksLikePii(ValueError):
    """An id-like field (URI, provider id, contact id) holds something shaped like an email address or phone number.

    The message names the field only, never the value. Parsers turn it into a reject (reason ``pii_in_identifier``)."""

    reason = "pii_in_identifier"

    def __init__(self, field: str):
        super().__init__(f"{field} looks like an email address or a phone number")
        self.field = field


def check_identifier(field: str, value: str | None) -> str | None:
    """``value`` unchanged when it may be stored as an identifier; raises :class:`IdentifierLooksLikePii` when it
    looks like an email address or a phone number (an id field must never carry personal data into the warehouse)."""
    if isinstance(value, str) and looks_like_pii(value):
        raise IdentifierLooksLikePii(field)
    return value


# Python's str.strip() on ASCII text: these characters, the control separators \x1c-\x1f included.
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_BLOCK = 64  # SHA-256 block size, in bytes


def email_hashes(emails: pa.Array, key: str) -> pa.Array:
    """:func:`email_hash` of a whole column, computed by the engines: Arrow normalizes ASCII emails and an in-process
    DuckDB computes the HMAC from SHA-256 with the key pads (RFC 2104). Emails with non-ASCII characters are rare and
    Unicode lower-casing has special cases (e.g. 'İ'): they go through :func:`email_hash` itself."""
    import duckdb

    emails = pc.cast(emails, pa.string())
    ascii_mask = pc.fill_null(pc.string_is_ascii(emails), True)
    normalized = pc.ascii_lower(pc.ascii_trim(emails, characters=_ASCII_WHITESPACE))
    normalized = pc.if_else(pc.and_(ascii_mask, pc.not_equal(normalized, "")), normalized, pa.scalar(None, pa.string()))
    secret = key.encode()
    if len(secret) > _BLOCK:
        secret = hashlib.sha256(secret).digest()
    secret = secret.ljust(_BLOCK, b"\x00")
    inner_pad, outer_pad = bytes(b ^ 0x36 for b in secret), bytes(b ^ 0x5C for b in secret)
    con = duckdb.connect()
    try:
        con.register("emails", pa.table({"email": normalized}))
        hashed = con.sql(
            "select sha256($outer::blob || unhex(sha256($inner::blob || encode(email)))) from emails",
            params={"outer": outer_pad, "inner": inner_pad},
        ).to_arrow_table().column(0)
    finally:
        con.close()
    hashed = pc.if_else(pc.is_valid(normalized), hashed.combine_chunks(), pa.scalar(None, pa.string()))
    others = pc.invert(ascii_mask)
    if not pc.any(others).as_py():
        return hashed
    by_python = [email_hash(email, key) for email in pc.filter(emails, others).to_pylist()]
    return pc.replace_with_mask(hashed, others, pa.array(by_python, type=pa.string()))
