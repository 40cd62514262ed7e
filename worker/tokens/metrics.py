"""``relay_token_expiry_seconds{token,target}``: seconds until each token expires.

Set by every check (the beat job and ``relay tokens check``) in the process that ran it, and by
``refresh_expiry_gauge`` from the store: a process that serves ``/metrics`` (the receiver) calls it on each scrape,
so the value is there whatever process ran the check. ``+Inf`` means the token never expires; a negative value
means it has expired; a token whose expiry is unknown has no sample. A multiprocess-safe registry (Prometheus'
multiprocess mode for the Celery pool) is out of scope: the store is the shared state instead.
"""

from __future__ import annotations

import contextlib
import math

from prometheus_client import Gauge

from worker.tokens.policy import never_expires, seconds_left
from worker.tokens.records import TokenRecord
from worker.tokens.store import TokenStore

TOKEN_EXPIRY = Gauge(
    "relay_token_expiry_seconds",
    "Seconds until the token expires (+Inf never, negative expired).",
    ["token", "target"],
)


def observe(record: TokenRecord, now: float) -> None:
    """Set the gauge for one token (or drop its sample when the expiry is unknown)."""
    if never_expires(record.expires_at):
        TOKEN_EXPIRY.labels(record.name, record.target).set(math.inf)
        return
    left = seconds_left(record.expires_at, now)
    if left is None:
        forget(record)
        return
    TOKEN_EXPIRY.labels(record.name, record.target).set(left)


def forget(record: TokenRecord) -> None:
    """Drop a token's sample (removed, or its expiry unknown)."""
    with contextlib.suppress(KeyError):
        TOKEN_EXPIRY.remove(record.name, record.target)


def refresh_expiry_gauge(store: TokenStore, now: float) -> None:
    """Set the gauge from the store's records, dropping tokens that are gone (no admin API call)."""
    records = store.all()
    keep = {(record.name, record.target) for record in records}
    for labels in list(_labelled()):
        if labels not in keep:
            TOKEN_EXPIRY.remove(*labels)
    for record in records:
        observe(record, now)


def _labelled() -> list[tuple[str, str]]:
    return [
        (sample.labels["token"], sample.labels["target"])
        for metric in TOKEN_EXPIRY.collect()
        for sample in metric.samples
    ]
