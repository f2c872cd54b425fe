"""HTTP clients that pull snapshot records from the Calendly API v2 and the GHL (LeadConnector) API v2.

Plain Python on top of ``requests`` and urllib3's ``Retry`` (no Dagster imports): the Dagster resources wrap these
classes. ``http`` holds the shared request helper (retries, proactive throttle, bounded pulls, token masking);
``calendly`` and ``ghl`` hold one client each.
"""

from appointment_pipeline.io.providers.calendly import CALENDLY_BASE_URL, CALENDLY_MAX_PAGE_SIZE, CalendlyClient
from appointment_pipeline.io.providers.ghl import GHL_BASE_URL, GHL_CALENDAR_API_VERSION, GhlClient
from appointment_pipeline.io.providers.http import ProviderApiError, PullLimits, RetryPolicy

__all__ = [
    "CALENDLY_BASE_URL",
    "CALENDLY_MAX_PAGE_SIZE",
    "GHL_BASE_URL",
    "GHL_CALENDAR_API_VERSION",
    "CalendlyClient",
    "GhlClient",
    "ProviderApiError",
    "PullLimits",
    "RetryPolicy",
]
