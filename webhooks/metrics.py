"""The receiver's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter

RECEIVED = Counter("relay_webhooks_received_total", "Webhook deliveries received", ["source"])
ACCEPTED = Counter("relay_webhooks_accepted_total", "Deliveries stored and queued", ["source"])
DUPLICATES = Counter("relay_webhooks_duplicate_total", "Deliveries already seen", ["source"])
REJECTED = Counter("relay_webhooks_rejected_total", "Deliveries refused", ["source", "reason"])

# Unknown source names come from the URL: one label value for all of them keeps cardinality bounded.
UNKNOWN_SOURCE = "_unknown"
