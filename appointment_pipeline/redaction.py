"""What may leave extraction: the keyed email hash, and a guard that finds PII-looking text (no Dagster imports)."""

from __future__ import annotations

import hashlib
import hmac
import re

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Digits in phone-like runs: +1 555-010-0000, (555) 010 0000, 5550100000 ...
PHONE_PATTERN = re.compile(r"(?<![\w/-])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,4}(?![\w/-])")


def email_hash(email: str | None, key: str) -> str | None:
    """HMAC-SHA256(key, lower(trim(email))) as hex; None for a missing or blank email."""
    if email is None:
        return None
    normalized = email.strip().lower()
    if not normalized:
        return None
    return hmac.new(key.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def looks_like_pii(text: str) -> bool:
    """True for an email address or a phone-number-like run of digits.

    Used by the warehouse-wide PII check; hex hashes, URIs and ISO timestamps do not match.
    """
    if EMAIL_PATTERN.search(text):
        return True
    for match in PHONE_PATTERN.finditer(text):
        if sum(ch.isdigit() for ch in match.group()) >= 10 and any(c in match.group() for c in " -.()+"):
            return True
    return False
