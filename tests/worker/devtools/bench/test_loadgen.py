"""The load generator's deliveries are what the receiver verifies: GitHub-signed, each with its own id."""

from __future__ import annotations

import time

import pytest

from webhooks.sources import build_verifier
from worker.config import SourceConfig
from worker.devtools.bench.loadgen import percentile, signed_requests
from worker.errors import Rejected

SECRET = "a-benchmark-secret-0123456789"


def _split(raw: bytes) -> tuple[dict[str, str], bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")[1:]
    return {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}, body


def test_every_delivery_verifies_and_has_its_own_id() -> None:
    verify = build_verifier(SourceConfig(kind="github", secret=SECRET))
    made = signed_requests(50, 8000, SECRET)

    ids = set()
    for delivery in made:
        headers, body = _split(delivery.raw)
        assert int(headers["content-length"]) == len(body)
        verified = verify(headers, body, time.time())
        assert verified.delivery_id == delivery.delivery_id  # GitHub's own header, not a digest of the body
        ids.add(verified.delivery_id)
    assert len(ids) == 50


def test_a_delivery_signed_with_another_secret_is_refused() -> None:
    verify = build_verifier(SourceConfig(kind="github", secret=SECRET))
    headers, body = _split(signed_requests(1, 8000, "another-secret-0123456789")[0].raw)

    with pytest.raises(Rejected):
        verify(headers, body, time.time())


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([], 0.5, 0.0), ([3.0, 1.0, 2.0], 0.5, 2.0), (list(range(1000)), 0.99, 990), (list(range(1000)), 0.999, 999)],
)
def test_percentile_is_the_nearest_rank(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == expected
