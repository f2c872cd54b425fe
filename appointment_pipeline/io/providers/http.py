"""The request helper both provider clients share: a ``requests`` session whose adapter carries urllib3's ``Retry``.

What urllib3 does (one :class:`RetryPolicy` turned into one ``Retry``): GETs that end in a connection error, a
timeout, ``429`` or ``5xx`` are tried again, at most ``max_attempts`` times in all, waiting what the answer's
``Retry-After`` asks for or else an exponential backoff (``backoff_factor``, ``backoff_max``).

What stays ours:

* the proactive throttle: when an answer says the rate-limit budget is used up, the next call waits for the
  window to reset, so that the providers' published limits (Calendly 500/min, GHL 100 per 10 s) are not hit;
* the provider-specific wait of a ``429`` without ``Retry-After`` (Calendly advertises it in ``X-RateLimit-Reset``,
  GHL in ``X-RateLimit-Interval-Milliseconds``), and refusing waits that cannot help (GHL's daily budget gone) or
  are longer than ``max_rate_limit_wait``;
* bounded pulls (:class:`PullLimits`): a page cap, one deadline per pull (every request, retry and wait) and one
  per response body, so that a server that trickles bytes cannot hold a run open;
* token hygiene: the token never appears in log records, exception messages or reprs, not even when the provider
  echoes the ``Authorization`` header. Logs carry provider, path (no query string), status and attempt; bodies are
  never logged and errors carry at most the provider's short error title/code.

Answers whose body cannot be read in time or is not JSON are not retried: urllib3 retries only what happens before
the headers arrive, and such an answer is a provider fault better reported than hidden.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError
from urllib3.util.retry import Retry

USER_AGENT = "appointment_pipeline/0.1 (+providers)"
MASK = "***"
RETRY_STATUSES = frozenset([429, *range(500, 600)])


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
    """How hard to try; :meth:`to_retry` turns it into urllib3's ``Retry``.

    ``max_attempts`` bounds the tries of one request (429, 5xx, connection errors, timeouts alike). Between tries
    urllib3 waits the advertised time, else ``base_delay * 2**(n-1)`` capped at ``max_delay`` (the first retry
    goes at once). ``timeout`` bounds connecting and each socket read. An advertised wait longer than
    ``max_rate_limit_wait`` seconds (e.g. an exhausted daily budget) is not slept through but raised.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0
    max_rate_limit_wait: float = 900.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_rate_limit_wait < 0:
            raise ValueError("delays must be >= 0")
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0")

    def to_retry(self, http: "JsonHttp | None" = None) -> Retry:
        return _ProviderRetry(
            total=self.max_attempts - 1,
            allowed_methods=frozenset(["GET"]),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.base_delay,
            backoff_max=self.max_delay,
            respect_retry_after_header=True,
            retry_after_max=10**9,  # long waits are refused by max_rate_limit_wait instead of shortened
            raise_on_status=False,  # the last answer reaches us: its status and error title go into the error
            http=http,
        )


@dataclass(frozen=True)
class PullLimits:
    """How long a pull may take, whatever the server does.

    ``max_pages`` bounds the pages of one paginated list (a server that keeps answering with a fresh next-page
    token would otherwise be followed forever); ``pull_seconds`` bounds one whole pull (one snapshot day: every
    request, retry and rate-limit wait); ``response_seconds`` bounds reading one response body, from its headers
    to its last byte (the ``timeout`` of :class:`RetryPolicy` only bounds each socket read). Each ends the pull.
    """

    max_pages: int = 1000
    pull_seconds: float = 3600.0
    response_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.max_pages < 1:
            raise ValueError("max_pages must be >= 1")
        if self.pull_seconds <= 0 or self.response_seconds <= 0:
            raise ValueError("deadlines must be > 0")


# --------------------------------------------------------------------------------------------------------------------
# Rate-limit header conventions
# --------------------------------------------------------------------------------------------------------------------


def header_float(headers: Mapping[str, str], name: str) -> float | None:
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


class RateLimitRules:
    """Reads one provider's rate-limit headers."""

    def proactive_wait(self, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait before the next call (budget used up), or None."""
        raise NotImplementedError

    def throttled_wait(self, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait after a 429 that carries no ``Retry-After``, or None (urllib3's backoff then)."""
        raise NotImplementedError


class _RefusedWait(Exception):
    """A retry wait that must not be slept: past the pull deadline or over ``max_rate_limit_wait``."""

    def __init__(self, reason: str, status: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class _ProviderRetry(Retry):
    """urllib3's ``Retry`` that also reads the provider's own rate-limit headers on a 429 and reports to the
    request helper (attempt count, logs, waits it refuses)."""

    def __init__(self, *args: Any, http: "JsonHttp | None" = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.http = http

    def new(self, **kw: Any) -> "_ProviderRetry":
        kw.setdefault("http", self.http)
        return super().new(**kw)

    def get_retry_after(self, response: Any) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:  # an unreadable Retry-After: fall back to the provider's headers, then the backoff
            seconds = None
        if seconds is None and self.http is not None and response.status == 429:
            seconds = self.http.rules.throttled_wait(response.headers)
        return seconds

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if self.http is not None:
            self.http.note_failed_attempt(url, response, error)
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: Any = None) -> None:
        if self.http is not None:
            wait = self.get_retry_after(response) if response is not None else None
            self.http.allow_wait(wait if wait else self.get_backoff_time(), getattr(response, "status", None))
        super().sleep(response)


def short_error_code(content: bytes | None, mask) -> str | None:
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


def _failure_name(exc: BaseException) -> str:
    """What went wrong, from a requests exception that may wrap urllib3's MaxRetryError."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if isinstance(exc, (requests.Timeout, Urllib3TimeoutError)) or isinstance(reason, Urllib3TimeoutError):
        return "timeout"
    if isinstance(reason, ResponseError):
        return str(reason)
    return type(reason).__name__ if isinstance(reason, BaseException) else type(exc).__name__


class _BodyDeadline(Exception):
    """The response body did not arrive completely within its deadline."""


class JsonHttp:
    """GET JSON from one provider: urllib3 retries, a proactive throttle, bounded pulls and token hygiene."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        token: str,
        extra_headers: Mapping[str, str],
        rules: RateLimitRules,
        retry: RetryPolicy,
        limits: PullLimits,
        session: requests.Session | None,
        logger: logging.Logger,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError(f"{provider} API token must be a non-empty string")
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{provider} base_url must be an http(s) URL")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **dict(extra_headers)}
        self.rules = rules
        self.retry = retry
        self.limits = limits
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        # the retrying adapter serves this provider's URLs only, also on a session passed in
        self._session.mount(self.base_url + "/", HTTPAdapter(max_retries=retry.to_retry(self)))
        self._log = logger
        self._not_before: float | None = None  # monotonic time before which the next call must not start
        self._pull_ends: float | None = None  # monotonic time at which the current pull must stop
        self._pull_requests = 0
        self._path = ""
        self._failed_attempts = 0

    def __repr__(self) -> str:
        return f"JsonHttp(provider={self.provider!r}, base_url={self.base_url!r}, token={MASK!r})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def begin_pull(self) -> None:
        """Start the deadline of one pull (one snapshot day); every request until the next call counts against it."""
        self._pull_ends = time.monotonic() + self.limits.pull_seconds
        self._pull_requests = 0

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of the token (also URL-encoded) replaced by ``***``."""
        for secret in {self._token, quote(self._token, safe=""), self._token.strip()}:
            if secret:
                text = text.replace(secret, MASK)
        return text

    # -- called by _ProviderRetry from inside urllib3 ------------------------------------------------------------------

    def note_failed_attempt(self, url: str | None, response: Any, error: BaseException | None) -> None:
        self._failed_attempts += 1
        what = f"HTTP {response.status}" if response is not None else _failure_name(error) if error else "failure"
        path = urlsplit(url or "").path or self._path
        self._emit(logging.WARNING, "%s GET %s: %s (attempt %d of %d)", self.provider, path, what,
                   self._failed_attempts, self.retry.max_attempts)

    def allow_wait(self, seconds: float, status: int | None) -> None:
        """Raise _RefusedWait when a retry wait is too long to sleep through."""
        if seconds > self.retry.max_rate_limit_wait:
            daily = " (daily budget exhausted)" if math.isinf(seconds) else ""
            raise _RefusedWait(f"HTTP {status}, rate-limit wait exceeds max_rate_limit_wait{daily}", status)
        self._check_pull_deadline(upcoming_wait=seconds, why="retry", status=status)
        if seconds > 0:
            self._emit(logging.INFO, "%s GET %s: waiting %.3fs before the next attempt", self.provider, self._path,
                       seconds)

    # -- internals ---------------------------------------------------------------------------------------------------

    def _emit(self, level: int, message: str, *args: Any) -> None:
        if self._log.isEnabledFor(level):
            self._log.log(level, "%s", self.mask(message % args))

    def _check_pull_deadline(self, upcoming_wait: float = 0.0, why: str = "", status: int | None = None) -> None:
        if self._pull_ends is None or time.monotonic() + upcoming_wait <= self._pull_ends:
            return
        raise _RefusedWait(self._pull_deadline_message(upcoming_wait, why), status)

    def _pull_deadline_message(self, upcoming_wait: float = 0.0, why: str = "") -> str:
        waiting = f" (a {why} wait of {upcoming_wait:.1f}s would pass it)" if upcoming_wait > 0 else ""
        return (
            f"pull deadline of {self.limits.pull_seconds:g}s (pull_seconds) reached after {self._pull_requests} "
            f"requests{waiting}; nothing of this pull is kept"
        )

    def _wait_for_budget(self) -> None:
        if self._not_before is None:
            return
        remaining = self._not_before - time.monotonic()
        self._not_before = None
        if remaining > 0:
            self._check_pull_deadline(upcoming_wait=remaining, why="rate-limit budget")
            self._emit(logging.DEBUG, "%s GET %s: sleeping %.3fs (rate-limit budget used up)", self.provider,
                       self._path, remaining)
            time.sleep(remaining)

    def _error(self, message: str, **kw: Any) -> ProviderApiError:
        return ProviderApiError(
            self.mask(f"{self.provider} GET {self._path}: {message}"), provider=self.provider, path=self._path, **kw
        )

    def _body_deadline(self) -> tuple[float, bool]:
        """time.monotonic() by which the body must be complete, and whether the pull's end set it."""
        deadline = time.monotonic() + self.limits.response_seconds
        if self._pull_ends is not None and self._pull_ends < deadline:
            return self._pull_ends, True
        return deadline, False

    @staticmethod
    def _read_body(response: requests.Response, deadline: float) -> bytes:
        """The whole (decoded) body, read as bytes arrive; raises _BodyDeadline past ``deadline``."""
        chunks: list[bytes] = []
        try:
            while True:
                if time.monotonic() > deadline:
                    raise _BodyDeadline()
                data = response.raw.read1(64 * 1024, decode_content=True)
                if not data:
                    return b"".join(chunks)
                chunks.append(data)
        finally:
            response.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict:
        """GET ``base_url + path`` and return the decoded JSON object. ``path`` must not carry a query string."""
        self._path = path
        self._failed_attempts = 0
        try:
            self._wait_for_budget()
            self._check_pull_deadline()
            self._pull_requests += 1
            read_timeout = self.retry.timeout
            if self._pull_ends is not None:
                read_timeout = max(0.001, min(read_timeout, self._pull_ends - time.monotonic()))
            response = self._session.get(
                self.base_url + path,
                params=params,
                headers={**self._headers, "Authorization": f"Bearer {self._token}"},
                timeout=(self.retry.timeout, read_timeout),
                stream=True,
            )
        except _RefusedWait as exc:
            raise self._error(exc.reason, status_code=exc.status, attempts=self._failed_attempts + 1) from None
        except requests.RequestException as exc:
            raise self._error(
                f"{_failure_name(exc)}, giving up after {max(1, self._failed_attempts)} attempts",
                attempts=max(1, self._failed_attempts),
            ) from None
        attempts = self._failed_attempts + (0 if response.status_code in RETRY_STATUSES else 1)
        status = response.status_code
        self._emit(logging.DEBUG, "%s GET %s -> %d (attempt %d)", self.provider, path, status, max(1, attempts))
        proactive = self.rules.proactive_wait(response.headers)
        if proactive is not None:
            self._not_before = time.monotonic() + proactive
        deadline, pull_ends_first = self._body_deadline()
        if not 200 <= status < 300:
            try:
                content = self._read_body(response, deadline)
            except (_BodyDeadline, urllib3.exceptions.HTTPError, OSError):
                content = None
            code = short_error_code(content, self.mask)
            suffix = f" ({code})" if code else ""
            if status in RETRY_STATUSES:
                suffix += f", giving up after {attempts} attempts"
            raise self._error(f"HTTP {status}{suffix}", status_code=status, error_code=code, attempts=attempts)
        try:
            body = json.loads(self._read_body(response, deadline))
        except _BodyDeadline:
            problem = (self._pull_deadline_message() if pull_ends_first else
                       f"response not complete within {self.limits.response_seconds:g}s (response_seconds)")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            problem = "timeout" if "timed out" in str(exc).lower() else type(exc).__name__
        except ValueError:
            problem = "unreadable JSON body"
        else:
            if isinstance(body, dict):
                return body
            problem = "response body is not a JSON object"
        raise self._error(problem, status_code=status, attempts=attempts)


# --------------------------------------------------------------------------------------------------------------------
# Shared by both clients
# --------------------------------------------------------------------------------------------------------------------


def require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (naive datetimes are never guessed)")
    return value.astimezone(timezone.utc)


class ClientBase:
    _http: JsonHttp

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
