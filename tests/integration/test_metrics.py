"""Worker metrics add up across processes: two real workers (concurrency 2 each), one scrape of the receiver."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.support import Stack, rule, stack_config
from tests.support import Sandbox, Server, github_delivery, wait_for

pytestmark = pytest.mark.integration
PUSHES, RELEASES = 24, 6


def _samples(receiver: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{receiver.url}/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_totals_from_two_worker_processes_add_up_exactly(stack: Callable[..., Stack], sandbox: Sandbox) -> None:
    receiver = stack(stack_config(sandbox, rule("groups", event="push")), workers=2, concurrency=2).receiver
    # The receiver's own counters live in this test process's registry, which earlier tests' receivers share:
    # count from here. The workers' counts live in this test's own Redis.
    accepted_before = _value(_samples(receiver), "relay_webhooks_accepted_total", source="github")

    with httpx.Client() as client:
        answers = [client.post(f"{receiver.url}/hooks/github", **github_delivery({"n": i})) for i in range(PUSHES)]
        answers += [client.post(f"{receiver.url}/hooks/github", **github_delivery({}, event="release"))
                    for _ in range(RELEASES)]  # fmt: skip
    assert [answer.status_code for answer in answers] == [202] * (PUSHES + RELEASES)

    finished = "relay_events_finished_total"
    wait_for(
        lambda: (
            _value(_samples(receiver), finished, source="github", status="done") >= PUSHES
            and _value(_samples(receiver), finished, source="github", status="skipped") >= RELEASES
        ),
        timeout=90,
        what="every event to finish",
    )
    samples = _samples(receiver)

    assert _value(samples, finished, source="github", status="done") == PUSHES
    assert _value(samples, finished, source="github", status="skipped") == RELEASES
    assert _value(samples, finished, source="github", status="failed") == 0
    assert _value(samples, "relay_event_duration_seconds_count", source="github") == PUSHES + RELEASES
    assert _value(samples, "relay_event_duration_seconds_bucket", source="github", le="+Inf") == PUSHES + RELEASES
    assert _value(samples, "relay_webhooks_accepted_total", source="github") - accepted_before == PUSHES + RELEASES
    calls = _value(samples, "relay_admin_calls_total", target="gw", method="GET", status_class="2xx")
    assert calls == PUSHES
    assert _value(samples, "relay_admin_call_duration_seconds_count", target="gw") == PUSHES
    status = httpx.get(f"{receiver.url}/status.json").json()
    assert status["overview"]["throughput"]["60m"]["finished"] == PUSHES + RELEASES
    assert status["parts"]["redis"]["level"] == "ok"
    assert httpx.get(f"{receiver.url}/readyz").json() == {"ready": True, "status": "ok", "redis": True}
