"""Which APPOINTMENT_HASH_KEY made the email hashes in the warehouse (no Dagster imports).

Invitees are matched to leads by comparing keyed email hashes, so every hash in the warehouse must come from one key:
a partition re-loaded with another key no longer matches any lead, and nothing fails. The warehouse therefore keeps,
per hashed table, a fingerprint of the key that wrote it (an HMAC of a fixed label under the key: it identifies the
key without revealing it), written in the same transaction as the rows.

- A write with a key whose fingerprint differs from any recorded one stops before touching anything
  (:class:`HashKeyMismatch`, the message says how to re-hash).
- A re-hash (``rehash: true`` in the run config) may switch a table to the new key only when it rewrites all of that
  table: ``raw_leads`` always does; a snapshot table only when the run's window covers every day it holds.
- Until every hashed table carries the same fingerprint, the model that matches hashes refuses to build
  (:func:`require_one_key`), so a half-finished re-hash never reaches the marts.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

FINGERPRINT_TABLE = "hash_key_fingerprints"
FINGERPRINT_COLUMNS = [("table_name", "text"), ("fingerprint", "text"), ("recorded_at", "timestamptz")]
# Tables holding HMAC email hashes; a test keeps this in step with the tables that have an email_hash column.
HASHED_TABLES = ("raw_leads", "raw_calendly_invitees")
_LABEL = b"appointment_pipeline key fingerprint v1"
REHASH_HINT = (
    "To re-hash with the new key, materialize every asset over every loaded day in one run with run config "
    "`rehash: true` for raw_leads and raw_calendly_invitees, e.g. `dagster asset materialize -m "
    "appointment_pipeline.definitions --select '*' --partition-range {first}...{last} -c deploy/rehash.yaml` "
    "(docs/operations.md, 'Changing APPOINTMENT_HASH_KEY'); otherwise run with the key that made them."
)


class HashKeyMismatch(RuntimeError):
    """The run's APPOINTMENT_HASH_KEY is not the one that made the warehouse's email hashes."""


def key_fingerprint(key: str) -> str:
    """16 hex characters identifying ``key``; the key cannot be recovered from it."""
    return hmac.new(key.encode(), _LABEL, hashlib.sha256).hexdigest()[:16]


def recorded_fingerprints(wh) -> dict[str, str]:
    """table -> fingerprint of the key that wrote it, for the hashed tables that exist."""
    if not wh.table_exists(FINGERPRINT_TABLE):
        return {}
    rows = wh.query(f"select table_name, fingerprint from {FINGERPRINT_TABLE}")
    return {table: fp for table, fp in rows if wh.table_exists(table)}


def loaded_days(wh, table: str) -> tuple[date, date] | None:
    """First and last snapshot day a snapshot table holds, or None when it is empty or missing."""
    if not wh.table_exists(table):
        return None
    first, last = wh.query(f"select min(snapshot_date), max(snapshot_date) from {table}")[0]
    return (first, last) if first is not None else None


def _hint(wh, window: tuple[date, date] | None) -> str:
    spans = [span for span in (loaded_days(wh, t) for t in HASHED_TABLES if t != "raw_leads") if span]
    if window:
        spans.append(window)
    if not spans:
        return REHASH_HINT.format(first="FIRST_DAY", last="LAST_DAY")
    return REHASH_HINT.format(first=min(s[0] for s in spans), last=max(s[1] for s in spans))


def check_key(
    wh, table: str, key: str, *, rehash: bool = False, window: tuple[date, date] | None = None
) -> str | None:
    """Before ``table`` is written with ``key``: return the fingerprint to record with the rows, or raise
    :class:`HashKeyMismatch` with what to do. ``window`` (first, last day) is what the run rewrites of the snapshot
    tables (None: a run without partitions, e.g. ``raw_leads`` alone). Returns None for a table without hashes."""
    if table not in HASHED_TABLES:
        return None
    mine = key_fingerprint(key)
    others = {t: fp for t, fp in recorded_fingerprints(wh).items() if fp != mine}
    if not others:
        return mine
    where = ", ".join(f"{t} (fingerprint {fp})" for t, fp in sorted(others.items()))
    if not rehash:
        raise HashKeyMismatch(
            f"{table}: the warehouse's email hashes were made with another APPOINTMENT_HASH_KEY: {where}; this "
            f"run's key has fingerprint {mine}. Nothing was written: rows hashed with two keys would silently stop "
            f"matching invitees to leads. {_hint(wh, window)}"
        )
    if window is not None:
        # A re-hash that cannot finish in this run would leave the tables on two keys: refuse it up front.
        for other in sorted(others):
            held = loaded_days(wh, other) if other != "raw_leads" else None
            if held and (held[0] < window[0] or held[1] > window[1]):
                raise HashKeyMismatch(
                    f"{table}: `rehash: true` rewrites {other} with the new key (fingerprint {mine}), so the run "
                    f"must cover every day it holds ({held[0]}...{held[1]}); this run covers "
                    f"{window[0]}...{window[1]}. Nothing was written. {_hint(wh, window)}"
                )
    return mine


def window_from_tags(tags: Mapping[str, str]) -> tuple[date, date] | None:
    """The snapshot days a run covers, from Dagster's partition tags; None for a run without partitions."""
    first = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    last = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    try:
        return (date.fromisoformat(first), date.fromisoformat(last)) if first and last else None
    except ValueError:
        return None


def record_fingerprint(wh, con: Any, table: str, fingerprint: str | None) -> None:
    """Inside the transaction that writes ``table``: remember which key hashed it."""
    if fingerprint is None:
        return
    wh.create_table_if_missing(con, FINGERPRINT_TABLE, FINGERPRINT_COLUMNS)
    wh.execute(con, f"delete from {FINGERPRINT_TABLE} where table_name = %s", [table])
    wh.execute(
        con,
        f"insert into {FINGERPRINT_TABLE} (table_name, fingerprint, recorded_at) values (%s, %s, current_timestamp)",
        [table, fingerprint],
    )


def matches_hashes(model_name: str, models: Mapping[str, Any], hashed: Iterable[str] = HASHED_TABLES) -> bool:
    """True for a model that reads email hashes and depends, directly or not, on more than one hashed table: the
    place where hashes of two keys would meet. ``models``: name -> object with ``sql`` and ``upstream_tables``."""
    model = models[model_name]
    if "email_hash" not in model.sql:
        return False
    seen: set[str] = set()
    todo = list(model.upstream_tables)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in models:
            todo.extend(models[name].upstream_tables)
    return len(seen & set(hashed)) > 1


def require_one_key(wh, model_name: str) -> None:
    """Refuse to build a hash-matching model while the hashed tables carry fingerprints of different keys."""
    recorded = recorded_fingerprints(wh)
    if len(set(recorded.values())) > 1:
        where = ", ".join(f"{t}: {fp}" for t, fp in sorted(recorded.items()))
        raise HashKeyMismatch(
            f"{model_name}: the warehouse holds email hashes of two keys ({where}); matching them would silently "
            f"lose matches, so the model was not rebuilt. Finish the re-hash: {_hint(wh, None)}"
        )
