"""Calendly API v2 client: scheduled events of an organization and their invitees (scope ``scheduled_events:read``).

Yields one dict per invitee with the full scheduled event embedded under ``"scheduled_event"``: the shape of a bare
landing-zone line (docs/data-contract.md#provider-landing-zone); parsing, status mapping and PII redaction happen
downstream. Not thread-safe: use one client per thread.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime
from typing import Any, Iterator, Mapping
from urllib.parse import parse_qs, quote, urlsplit

import requests

from appointment_pipeline.io.providers.http import (
    MASK,
    ClientBase,
    JsonHttp,
    ProviderApiError,
    PullLimits,
    RateLimitRules,
    RetryPolicy,
    header_float,
    require_aware,
)

CALENDLY_BASE_URL = "https://api.calendly.com"
CALENDLY_MAX_PAGE_SIZE = 100


class CalendlyRateLimitRules(RateLimitRules):
    """``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (seconds until the window resets)."""

    def proactive_wait(self, headers: Mapping[str, str]) -> float | None:
        remaining = header_float(headers, "X-RateLimit-Remaining")
        reset = header_float(headers, "X-RateLimit-Reset")
        if remaining is not None and remaining <= 0 and reset is not None:
            return max(0.0, reset)
        return None

    def throttled_wait(self, headers: Mapping[str, str]) -> float | None:
        reset = header_float(headers, "X-RateLimit-Reset")
        return None if reset is None else max(0.0, reset)


def _calendly_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uri_last_segment(uri: Any) -> str | None:
    if not isinstance(uri, str) or not uri:
        return None
    segment = urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1]
    return segment or None


def _check_page_size(page_size: int) -> None:
    if not (isinstance(page_size, int) and page_size >= 1):
        raise ValueError("page_size must be a positive integer")


class CalendlyClient(ClientBase):
    """Reads scheduled events and their invitees from Calendly API v2 (scope ``scheduled_events:read``).

    ``organization`` is the organization URI (``https://api.calendly.com/organizations/<uuid>``); listing by
    organization needs an admin/owner token.
    """

    def __init__(
        self,
        base_url: str = CALENDLY_BASE_URL,
        token: str = "",
        organization: str = "",
        *,
        page_size: int = CALENDLY_MAX_PAGE_SIZE,
        retry: RetryPolicy = RetryPolicy(),
        limits: PullLimits = PullLimits(),
        session: requests.Session | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        _check_page_size(page_size)
        if not organization:
            raise ValueError("organization (URI) is required")
        self.organization = organization
        self.page_size = min(page_size, CALENDLY_MAX_PAGE_SIZE)
        self._http = JsonHttp(
            provider="calendly",
            base_url=base_url or CALENDLY_BASE_URL,
            token=token,
            extra_headers={},
            rules=CalendlyRateLimitRules(),
            retry=retry,
            session=session,
            logger=logger or logging.getLogger(__name__),
            limits=limits,
        )

    def __repr__(self) -> str:
        return (
            f"CalendlyClient(base_url={self.base_url!r}, organization={self.organization!r}, "
            f"page_size={self.page_size}, token={MASK!r})"
        )

    def _iter_collection(self, path: str, params: dict[str, Any]) -> Iterator[dict]:
        """Yield the items of a paginated Calendly list, one page in memory at a time."""
        page_token: str | None = None
        seen_tokens: set[str] = set()
        pages = 0
        while True:
            if pages >= self._http.limits.max_pages:
                raise ProviderApiError(
                    f"calendly GET {path}: still more pages after {pages} (max_pages); stopping the pull",
                    provider="calendly", path=path,
                )
            pages += 1
            query = dict(params)
            if page_token:
                query["page_token"] = page_token
            body = self._http.get_json(path, query)
            collection = body.get("collection")
            if not isinstance(collection, list):
                raise ProviderApiError(
                    f"calendly GET {path}: malformed list response (no collection)", provider="calendly", path=path
                )
            for item in collection:
                if isinstance(item, dict):
                    yield item
            page_token = self._next_page_token(body.get("pagination"))
            if not page_token:
                return
            if page_token in seen_tokens:
                raise ProviderApiError(
                    f"calendly GET {path}: pagination loop (page token repeated)", provider="calendly", path=path
                )
            seen_tokens.add(page_token)

    @staticmethod
    def _next_page_token(pagination: Any) -> str | None:
        if not isinstance(pagination, dict):
            return None
        token = pagination.get("next_page_token")
        if isinstance(token, str) and token:
            return token
        next_page = pagination.get("next_page")  # fall back to the token inside the full next-page URI
        if isinstance(next_page, str) and next_page:
            values = parse_qs(urlsplit(next_page).query).get("page_token")
            if values and values[0]:
                return values[0]
        return None

    def iter_scheduled_events(self, min_start_time: datetime, max_start_time: datetime) -> Iterator[dict]:
        """Scheduled events of the organization with ``min_start_time <= start_time < max_start_time``."""
        lo = require_aware(min_start_time, "min_start_time")
        hi = require_aware(max_start_time, "max_start_time")
        if hi <= lo:
            return
        params = {
            "organization": self.organization,
            "min_start_time": _calendly_time(lo),
            "max_start_time": _calendly_time(hi),
            "sort": "start_time:asc",
            "count": self.page_size,
        }
        seen: set[str] = set()
        for event in self._iter_collection("/scheduled_events", params):
            uri = event.get("uri")
            if isinstance(uri, str):
                if uri in seen:  # the list shifted between pages: never yield an event twice
                    continue
                seen.add(uri)
            yield event

    def iter_event_invitees(self, event_uri_or_uuid: str) -> Iterator[dict]:
        """Invitees (active and canceled) of one scheduled event, oldest first."""
        uuid = _uri_last_segment(event_uri_or_uuid) if "/" in event_uri_or_uuid else event_uri_or_uuid
        if not uuid:
            raise ProviderApiError("calendly: scheduled event without a usable uri", provider="calendly")
        path = f"/scheduled_events/{quote(uuid, safe='')}/invitees"
        yield from self._iter_collection(path, {"count": self.page_size, "sort": "created_at:asc"})

    def iter_invitee_records(self, min_start_time: datetime, max_start_time: datetime) -> Iterator[dict]:
        """One dict per invitee of every scheduled event starting in ``[min_start_time, max_start_time)``: the
        invitee resource with the full scheduled event resource embedded under ``"scheduled_event"`` (the shape of
        a bare landing-zone line). Each record gets its own copy of the event. One pull: its deadline starts at
        the first record asked for."""
        self._http.begin_pull()
        for event in self.iter_scheduled_events(min_start_time, max_start_time):
            uuid = _uri_last_segment(event.get("uri"))
            if not uuid:
                raise ProviderApiError(
                    "calendly GET /scheduled_events: scheduled event without a usable uri", provider="calendly",
                    path="/scheduled_events",
                )
            for invitee in self.iter_event_invitees(uuid):
                record = dict(invitee)
                record["scheduled_event"] = copy.deepcopy(event)
                yield record
