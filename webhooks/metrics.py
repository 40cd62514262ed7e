"""The receiver's Prometheus metrics."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import Counter

RECEIVED = Counter("relay_webhooks_received_total", "Webhook deliveries received", ["source"])
ACCEPTED = Counter("relay_webhooks_accepted_total", "Deliveries stored and queued", ["source"])
DUPLICATES = Counter("relay_webhooks_duplicate_total", "Deliveries already seen", ["source"])
REJECTED = Counter("relay_webhooks_rejected_total", "Deliveries refused", ["source", "reason"])

# Unknown source names come from the URL: one label value for all of them keeps cardinality bounded.
UNKNOWN_SOURCE = "_unknown"


@dataclass(frozen=True, slots=True)
class SourceCounters:
    """One source's received, accepted and duplicate counters (``labels`` looked up once, not per delivery)."""

    received: Counter
    accepted: Counter
    duplicates: Counter


@functools.cache
def counters(source: str) -> SourceCounters:
    """The counters of ``source`` (a configured name or ``UNKNOWN_SOURCE``: a bounded set)."""
    return SourceCounters(RECEIVED.labels(source), ACCEPTED.labels(source), DUPLICATES.labels(source))
