"""Instants as the pipeline reads them from configuration and payloads."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant that must carry an offset; returned in UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"instant without an offset: {text!r}")
    return value.astimezone(timezone.utc)
