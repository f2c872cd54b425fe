"""HTTP clients that pull snapshot records from the Calendly API v2 and the GHL (LeadConnector) API v2.

Plain Python on top of ``requests`` (no Dagster imports): the Dagster resources wrap these classes.

Both clients yield records in the providers' own shapes, the same shapes as a bare landing-zone line
(docs/data-contract.md#provider-landing-zone); parsing, status mapping and PII redaction happen downstream.

* :class:`CalendlyClient` yields one dict per invitee, with the full scheduled event embedded under
  ``"scheduled_event"``.
* :class:`GhlClient` yields the calendar event dicts as ``GET /calendars/events`` returns them, untouched.

Both share a single request helper (:class:`_JsonHttp`) that

* honours the rate-limit headers proactively (sleeps before the next call when the budget is exhausted),
* waits out ``429`` answers for the advertised time (a separate, generous cap: ``RetryPolicy.max_throttle_retries``),
* retries 5xx answers, connection errors, timeouts and unreadable bodies with capped exponential backoff and full
  jitter, then raises :class:`ProviderApiError`,
* raises :class:`ProviderApiError` immediately on any other non-2xx answer,
* bounds every pull (:class:`PullLimits`): at most ``max_pages`` pages per list, one deadline for a whole pull
  (a snapshot day) and one per response, counted from the request to the body's last byte, so that a server
  that trickles bytes (each socket read succeeding just in time) cannot hold a run open.

The API token never appears in log records, exception messages or reprs: every message is masked before it
leaves the client, also text the provider sent back (a server that echoes the ``Authorization`` header). Debug logs carry only the provider,
method, path (never the query string), status and attempt number; response bodies are never logged, and errors
carry at most the provider's short error title/code.

The clients are not thread-safe: use one instance per thread.
"""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import parse_qs, quote, urlsplit

import requests
import urllib3

__all__ = [
    "CALENDLY_BASE_URL",
    "GHL_BASE_URL",
    "GHL_CALENDAR_API_VERSION",
    "CalendlyClient",
    "GhlClient",
    "ProviderApiError",
    "PullLimits",
    "RetryPolicy",
]

CALENDLY_BASE_URL = "https://api.calendly.com"
GHL_BASE_URL = "https://services.leadconnectorhq.com"
GHL_CALENDAR_API_VERSION = "2021-04-15"
CALENDLY_MAX_PAGE_SIZE = 100

_USER_AGENT = "appointment_pipeline/0.1 (+provider_api)"
_MASK = "***"


class ProviderApiError(RuntimeError):
    """A permanent failure talking to a provider API.

    The message names the provider, method, path (no query string), HTTP status and, when the provider sent one,
    its short error title/code. It never contains the token, query strings or response bodies.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        method: str = "GET",
        path: str = "",
        status_code: int | None = None,
        error_code: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.method = method
        self.path = path
        self.status_code = status_code
        self.error_code = error_code
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.

    ``max_attempts`` bounds tries for transient failures (5xx, connection errors, timeouts, unreadable bodies);
    the wait before retry ``n`` (0-based) is ``rng.uniform(0, min(max_delay, base_delay * 2**n))``.
    ``429`` answers are waited out for the advertised time and counted separately, up to ``max_throttle_retries``
    per request; an advertised wait longer than ``max_rate_limit_wait`` seconds (e.g. an exhausted daily budget) is
    not slept through but raised as :class:`ProviderApiError`.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0
    max_throttle_retries: int = 20
    max_rate_limit_wait: float = 900.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0")
        if self.max_throttle_retries < 0:
            raise ValueError("max_throttle_retries must be >= 0")

    def backoff_delay(self, retry_index: int, rng: random.Random) -> float:
        """Full-jitter delay before retry number ``retry_index`` (0-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** min(retry_index, 62)))
        return rng.uniform(0, cap)


@dataclass(frozen=True)
class PullLimits:
    """How long a pull may take, whatever the server does.

    ``max_pages`` bounds the pages of one paginated list (a server that keeps answering with a fresh next-page
    token would otherwise be followed forever); ``pull_seconds`` bounds one whole pull (one snapshot day: every
    request, retry and rate-limit wait); ``response_seconds`` bounds one response from sending the request to its
    last body byte (the ``timeout`` of :class:`RetryPolicy` only bounds each socket read). A response over its
    deadline counts as a transient failure (retried within ``max_attempts``); the other two end the pull.
    """

    max_pages: int = 1000
    pull_seconds: float = 3600.0
    response_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.max_pages < 1:
            raise ValueError("max_pages must be >= 1")
        if self.pull_seconds <= 0 or self.response_seconds <= 0:
            raise ValueError("deadlines must be > 0")


class _ResponseDeadline(Exception):
    """The response did not arrive completely within its deadline."""


# --------------------------------------------------------------------------------------------------------------------
# Rate-limit header conventions
# --------------------------------------------------------------------------------------------------------------------


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(str(raw).strip())
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return value


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    seconds = _header_float(headers, "Retry-After")
    if seconds is not None:
        return max(0.0, seconds)
    try:  # HTTP-date form
        when = email.utils.parsedate_to_datetime(str(raw))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class _RateLimitRules:
    """Reads one provider's rate-limit headers."""

    def proactive_wait(self, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait before the next call (budget exhausted), or None."""
        raise NotImplementedError

    def throttled_wait(self, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait after a 429, or None when the answer advertises nothing."""
        raise NotImplementedError


class _CalendlyRateLimitRules(_RateLimitRules):
    # X-RateLimit-Limit / X-RateLimit-Remaining / X-RateLimit-Reset (seconds until the window resets).
    def proactive_wait(self, headers: Mapping[str, str]) -> float | None:
        remaining = _header_float(headers, "X-RateLimit-Remaining")
        reset = _header_float(headers, "X-RateLimit-Reset")
        if remaining is not None and remaining <= 0 and reset is not None:
            return max(0.0, reset)
        return None

    def throttled_wait(self, headers: Mapping[str, str]) -> float | None:
        reset = _header_float(headers, "X-RateLimit-Reset")
        if reset is not None:
            return max(0.0, reset)
        return _retry_after_seconds(headers)


class _GhlRateLimitRules(_RateLimitRules):
    # X-RateLimit-Max / X-RateLimit-Remaining / X-RateLimit-Interval-Milliseconds (burst window),
    # X-RateLimit-Limit-Daily / X-RateLimit-Daily-Remaining.
    def _interval(self, headers: Mapping[str, str]) -> float | None:
        interval_ms = _header_float(headers, "X-RateLimit-Interval-Milliseconds")
        return None if interval_ms is None else max(0.0, interval_ms / 1000.0)

    def proactive_wait(self, headers: Mapping[str, str]) -> float | None:
        remaining = _header_float(headers, "X-RateLimit-Remaining")
        if remaining is not None and remaining <= 0:
            return self._interval(headers)
        return None

    def throttled_wait(self, headers: Mapping[str, str]) -> float | None:
        daily_remaining = _header_float(headers, "X-RateLimit-Daily-Remaining")
        if daily_remaining is not None and daily_remaining <= 0:
            return math.inf  # the daily budget is gone: waiting a burst interval will not help
        retry_after = _retry_after_seconds(headers)
        if retry_after is not None:
            return retry_after
        return self._interval(headers)


# --------------------------------------------------------------------------------------------------------------------
# The one request helper
# --------------------------------------------------------------------------------------------------------------------

_TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def _short_error_code(content: bytes | None, mask: Callable[[str], str] = lambda text: text) -> str | None:
    """The provider's short error title/code (Calendly ``title``, GHL ``error``), never free-text messages; masked
    before it is cut short, so that an echoed token cannot survive as a prefix."""
    if not content:
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for key in ("title", "error", "code", "error_code"):
        value = body.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            text = mask(" ".join(str(value).split()))[:80]
            if text and "@" not in text:
                return text
    return None


class _JsonHttp:
    """GET JSON from one provider with rate-limit politeness, retries, bounded pulls and token hygiene."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        token: str,
        extra_headers: Mapping[str, str],
        rules: _RateLimitRules,
        retry: RetryPolicy,
        session: requests.Session | None,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random | None,
        logger: logging.Logger,
        limits: PullLimits = PullLimits(),
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError(f"{provider} API token must be a non-empty string")
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{provider} base_url must be an http(s) URL")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._headers = {
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
            **dict(extra_headers),
        }
        self._rules = rules
        self.retry = retry
        self.limits = limits
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._log = logger
        self._not_before: float | None = None  # clock() value before which the next call must not start
        self._pull_ends: float | None = None  # clock() value at which the current pull must stop
        self._pull_requests = 0

    def __repr__(self) -> str:
        return f"_JsonHttp(provider={self.provider!r}, base_url={self.base_url!r}, token={_MASK!r})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def begin_pull(self) -> None:
        """Start the deadline of one pull (one snapshot day); every request until the next call counts against it."""
        self._pull_ends = self._clock() + self.limits.pull_seconds
        self._pull_requests = 0

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of the token (also URL-encoded) replaced by ``***``."""
        for secret in {self._token, quote(self._token, safe=""), self._token.strip()}:
            if secret:
                text = text.replace(secret, _MASK)
        return text

    # -- internals ---------------------------------------------------------------------------------------------------

    def _emit(self, level: int, message: str, *args: Any) -> None:
        if self._log.isEnabledFor(level):
            self._log.log(level, "%s", self.mask(message % args))

    def _pause(self, seconds: float, why: str, path: str) -> None:
        if seconds > 0:
            self._check_pull_deadline(path, upcoming_wait=seconds, why=why)
            self._emit(logging.DEBUG, "%s GET %s: sleeping %.3fs (%s)", self.provider, path, seconds, why)
            self._sleep(seconds)

    def _check_pull_deadline(self, path: str, upcoming_wait: float = 0.0, why: str = "") -> None:
        if self._pull_ends is None:
            return
        if self._clock() + upcoming_wait > self._pull_ends:
            waiting = f" (a {why} wait of {upcoming_wait:.1f}s would pass it)" if upcoming_wait > 0 else ""
            raise self._error(
                f"pull deadline of {self.limits.pull_seconds:g}s (pull_seconds) reached after "
                f"{self._pull_requests} requests{waiting}; nothing of this pull is kept",
                path,
            )

    def _wait_for_budget(self, path: str) -> None:
        if self._not_before is None:
            return
        remaining = self._not_before - self._clock()
        self._not_before = None
        self._pause(remaining, "rate-limit budget exhausted", path)

    def _error(self, message: str, path: str, **kw: Any) -> ProviderApiError:
        return ProviderApiError(
            self.mask(f"{self.provider} GET {path}: {message}"), provider=self.provider, path=path, **kw
        )

    def _response_deadline(self) -> float:
        """time.monotonic() value by which the response must be complete (the pull's end, if sooner)."""
        seconds = self.limits.response_seconds
        if self._pull_ends is not None:
            seconds = min(seconds, max(0.0, self._pull_ends - self._clock()))
        return time.monotonic() + seconds

    @staticmethod
    def _read_body(response: requests.Response, deadline: float) -> bytes:
        """The whole (decoded) body, read as bytes arrive; raises _ResponseDeadline past ``deadline``."""
        chunks: list[bytes] = []
        raw = response.raw
        try:
            while True:
                if time.monotonic() > deadline:
                    raise _ResponseDeadline()
                data = raw.read1(64 * 1024, decode_content=True)
                if not data:
                    return b"".join(chunks)
                chunks.append(data)
        finally:
            response.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict:
        """GET ``base_url + path`` and return the decoded JSON object. ``path`` must not carry a query string."""
        url = self.base_url + path
        headers = {**self._headers, "Authorization": f"Bearer {self._token}"}
        failures = 0  # transient failures so far (bounded by max_attempts)
        throttles = 0  # 429 answers so far (bounded by max_throttle_retries)
        while True:
            self._wait_for_budget(path)
            self._check_pull_deadline(path)
            attempt = failures + throttles + 1
            problem: str
            last_status: int | None = None
            deadline = self._response_deadline()
            self._pull_requests += 1
            try:
                read_timeout = max(0.001, min(self.retry.timeout, deadline - time.monotonic()))
                response = self._session.get(
                    url, params=params, headers=headers, timeout=(self.retry.timeout, read_timeout), stream=True
                )
            except _TRANSIENT_EXCEPTIONS as exc:
                problem = "timeout" if isinstance(exc, requests.Timeout) else type(exc).__name__
                self._emit(logging.DEBUG, "%s GET %s -> %s (attempt %d)", self.provider, path, problem, attempt)
            except requests.RequestException as exc:
                raise self._error(f"request failed ({type(exc).__name__})", path, attempts=attempt) from None
            else:
                status = response.status_code
                self._emit(logging.DEBUG, "%s GET %s -> %d (attempt %d)", self.provider, path, status, attempt)
                proactive = self._rules.proactive_wait(response.headers)
                if proactive is not None and status != 429:
                    self._not_before = self._clock() + proactive
                if status == 429:
                    response.close()
                    throttles += 1
                    wait = self._rules.throttled_wait(response.headers)
                    if wait is None:  # nothing advertised: be conservative
                        wait = max(1.0, min(self.retry.max_delay, self.retry.base_delay * 2**throttles))
                    if throttles > self.retry.max_throttle_retries:
                        raise self._error(
                            f"HTTP 429, still rate limited after {throttles} waits",
                            path, status_code=429, attempts=attempt,
                        )
                    if wait > self.retry.max_rate_limit_wait:
                        raise self._error(
                            "HTTP 429, rate-limit wait exceeds max_rate_limit_wait"
                            + (" (daily budget exhausted)" if math.isinf(wait) else ""),
                            path, status_code=429, attempts=attempt,
                        )
                    self._emit(logging.INFO, "%s GET %s: rate limited (429), waiting %.3fs", self.provider, path, wait)
                    self._not_before = None
                    self._pause(wait, "429", path)
                    continue
                if status >= 500:
                    problem = f"HTTP {status}"
                    last_status = status
                    response.close()
                elif not 200 <= status < 300:
                    try:
                        content = self._read_body(response, deadline)
                    except (_ResponseDeadline, urllib3.exceptions.HTTPError, OSError):
                        content = None
                    code = _short_error_code(content, self.mask)
                    suffix = f" ({code})" if code else ""
                    raise self._error(
                        f"HTTP {status}{suffix}", path, status_code=status, error_code=code, attempts=attempt
                    )
                else:
                    try:
                        body = json.loads(self._read_body(response, deadline))
                    except _ResponseDeadline:
                        problem = f"response not complete within {self.limits.response_seconds:g}s (response_seconds)"
                    except (urllib3.exceptions.HTTPError, OSError) as exc:
                        problem = "timeout" if "timed out" in str(exc).lower() else type(exc).__name__
                    except ValueError:
                        problem = "unreadable JSON body"
                    else:
                        if not isinstance(body, dict):
                            raise self._error("response body is not a JSON object", path, status_code=status,
                                              attempts=attempt)
                        return body
            # transient failure
            failures += 1
            if failures >= self.retry.max_attempts:
                raise self._error(
                    f"{problem}, giving up after {failures} attempts", path, status_code=last_status, attempts=attempt
                )
            delay = self.retry.backoff_delay(failures - 1, self._rng)
            self._emit(
                logging.WARNING,
                "%s GET %s: %s (attempt %d of %d), retrying in %.3fs",
                self.provider, path, problem, failures, self.retry.max_attempts, delay,
            )
            self._pause(delay, "backoff", path)


# --------------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------------


def _require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (naive datetimes are never guessed)")
    return value.astimezone(timezone.utc)


def _calendly_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch_ms(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _uri_last_segment(uri: Any) -> str | None:
    if not isinstance(uri, str) or not uri:
        return None
    segment = urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1]
    return segment or None


def _loose_instant(value: Any) -> float | None:
    """Best-effort POSIX seconds for a GHL time (ISO with offset, or epoch ms); None when unknown or naive."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text) / 1000.0
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return parsed.timestamp()
    return None


def _check_client_kwargs(page_size: int | None = None, slice_hours: int | None = None) -> None:
    if page_size is not None and not (isinstance(page_size, int) and page_size >= 1):
        raise ValueError("page_size must be a positive integer")
    if slice_hours is not None and not (isinstance(slice_hours, int) and slice_hours >= 1):
        raise ValueError("slice_hours must be a positive integer")


class _ClientBase:
    _http: _JsonHttp

    def close(self) -> None:
        """Close the HTTP session if the client created it."""
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def retry(self) -> RetryPolicy:
        return self._http.retry

    @property
    def limits(self) -> PullLimits:
        return self._http.limits


# --------------------------------------------------------------------------------------------------------------------
# Calendly
# --------------------------------------------------------------------------------------------------------------------


class CalendlyClient(_ClientBase):
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
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        _check_client_kwargs(page_size=page_size)
        if not organization:
            raise ValueError("organization (URI) is required")
        self.organization = organization
        self.page_size = min(page_size, CALENDLY_MAX_PAGE_SIZE)
        self._http = _JsonHttp(
            provider="calendly",
            base_url=base_url or CALENDLY_BASE_URL,
            token=token,
            extra_headers={},
            rules=_CalendlyRateLimitRules(),
            retry=retry,
            session=session,
            sleep=sleep,
            clock=clock,
            rng=rng,
            logger=logger or logging.getLogger(__name__ + ".calendly"),
            limits=limits,
        )

    def __repr__(self) -> str:
        return (
            f"CalendlyClient(base_url={self.base_url!r}, organization={self.organization!r}, "
            f"page_size={self.page_size}, token={_MASK!r})"
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
        lo = _require_aware(min_start_time, "min_start_time")
        hi = _require_aware(max_start_time, "max_start_time")
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


# --------------------------------------------------------------------------------------------------------------------
# GHL / LeadConnector
# --------------------------------------------------------------------------------------------------------------------


class GhlClient(_ClientBase):
    """Reads calendar events (appointments) from GHL API v2 (scope ``calendars/events.readonly``)."""

    def __init__(
        self,
        base_url: str = GHL_BASE_URL,
        token: str = "",
        location_id: str = "",
        calendar_ids: Sequence[str] = (),
        *,
        slice_hours: int = 24,
        retry: RetryPolicy = RetryPolicy(),
        limits: PullLimits = PullLimits(),
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        _check_client_kwargs(slice_hours=slice_hours)
        if not location_id:
            raise ValueError("location_id is required")
        if isinstance(calendar_ids, str):
            calendar_ids = [calendar_ids]
        ids = tuple(dict.fromkeys(c for c in calendar_ids if c))
        if not ids:
            raise ValueError("at least one calendar id is required")
        self.location_id = location_id
        self.calendar_ids = ids
        self.slice_hours = slice_hours
        self._http = _JsonHttp(
            provider="ghl",
            base_url=base_url or GHL_BASE_URL,
            token=token,
            extra_headers={"Version": GHL_CALENDAR_API_VERSION},
            rules=_GhlRateLimitRules(),
            retry=retry,
            session=session,
            sleep=sleep,
            clock=clock,
            rng=rng,
            logger=logger or logging.getLogger(__name__ + ".ghl"),
            limits=limits,
        )

    def __repr__(self) -> str:
        return (
            f"GhlClient(base_url={self.base_url!r}, location_id={self.location_id!r}, "
            f"calendar_ids={self.calendar_ids!r}, slice_hours={self.slice_hours}, token={_MASK!r})"
        )

    def time_slices(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """``[start, end)`` cut into consecutive half-open slices of at most ``slice_hours``."""
        lo = _require_aware(start, "start")
        hi = _require_aware(end, "end")
        step = timedelta(hours=self.slice_hours)
        slices = []
        cursor = lo
        while cursor < hi:
            nxt = min(cursor + step, hi)
            slices.append((cursor, nxt))
            cursor = nxt
        return slices

    def fetch_events(self, calendar_id: str, start: datetime, end: datetime) -> list[dict]:
        """One ``GET /calendars/events`` call for ``[start, end)`` (endTime is sent inclusive: end - 1 ms)."""
        lo_ms = _epoch_ms(_require_aware(start, "start"))
        hi_ms = _epoch_ms(_require_aware(end, "end"))
        params = {
            "locationId": self.location_id,
            "calendarId": calendar_id,
            "startTime": str(lo_ms),
            "endTime": str(max(lo_ms, hi_ms - 1)),
        }
        body = self._http.get_json("/calendars/events", params)
        events = body.get("events")
        if not isinstance(events, list):
            raise ProviderApiError(
                "ghl GET /calendars/events: malformed response (no events list)", provider="ghl",
                path="/calendars/events",
            )
        return [e for e in events if isinstance(e, dict)]

    def iter_appointment_records(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Every calendar event of the configured calendars that overlaps ``[start, end)``, as returned.

        The endpoint does not paginate, so the window is cut into ``slice_hours`` slices. An event returned by
        several slices is yielded once, in its version with the latest ``dateUpdated``: it is held back until the
        slice that contains its end time has been read, so memory stays bounded by the events crossing a slice
        boundary. (Only if the provider returns a strictly newer version of an already-yielded event in a later
        slice, i.e. it changed during the pull, is that newer state yielded too.)
        """
        self._http.begin_pull()  # one pull: its deadline starts at the first record asked for
        slices = self.time_slices(start, end)
        yielded: dict[str, float | None] = {}  # id -> dateUpdated (POSIX s) of the yielded version
        for calendar_id in self.calendar_ids:
            pending: dict[str, tuple[dict, float | None]] = {}
            for lo, hi in slices:
                for event in self.fetch_events(calendar_id, lo, hi):
                    event_id = event.get("id")
                    if not isinstance(event_id, str) or not event_id:
                        yield event  # keyless: pass through, the parser rejects it (missing_key)
                        continue
                    updated = _loose_instant(event.get("dateUpdated"))
                    if event_id in yielded:
                        before = yielded[event_id]
                        if updated is not None and before is not None and updated > before:
                            yielded[event_id] = updated
                            yield event
                        continue
                    held = pending.get(event_id)
                    if held is not None and held[1] is not None and (updated is None or updated < held[1]):
                        continue  # keep the newer version already held
                    pending[event_id] = (event, updated)
                hi_s = hi.timestamp()
                for event_id in [k for k, (ev, _) in pending.items() if self._ends_by(ev, hi_s)]:
                    event, updated = pending.pop(event_id)
                    yielded[event_id] = updated
                    yield event
            for event_id, (event, updated) in pending.items():
                yielded[event_id] = updated
                yield event

    @staticmethod
    def _ends_by(event: dict, boundary_s: float) -> bool:
        end_s = _loose_instant(event.get("endTime"))
        return end_s is not None and end_s <= boundary_s
