"""The token lifecycle's admin calls: whether a regenerate's failure may hide a rotation that happened."""

from __future__ import annotations

import httpx
import pytest

from tests.worker.targets.helpers import Handler, make_client, value
from worker.errors import TargetError
from worker.http_answer import Acted, acted
from worker.tokens import admin


def _answered(status: int) -> Handler:
    return lambda request: httpx.Response(status, json={"error_msg": "no"})


def _raises(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("lost", request=request)

    return handler


def _no_secret(request: httpx.Request) -> httpx.Response:
    return value({"id": "tok-1", "expires_at": 0})  # a 2xx without the new secret


@pytest.mark.parametrize(
    ("answer", "lost"),
    [
        (_answered(500), True),  # a 5xx says it failed, not that it did nothing
        (_answered(502), True),
        (_answered(503), True),
        (_answered(504), True),  # a proxy gave up on an upstream that may have acted
        (_raises(httpx.ReadTimeout), True),
        (_raises(httpx.RemoteProtocolError), True),
        (_raises(httpx.ConnectError), True),  # no answer at all: the probe settles it
        (_no_secret, True),  # the server acted; its answer is unusable
        (_answered(429), False),  # rate limited: refused before acting
        (_answered(400), False),
        (_answered(401), False),
        (_answered(403), False),
        (_answered(404), False),
        (_answered(409), False),
    ],
)
def test_a_regenerate_failure_is_a_lost_answer_unless_the_server_said_it_did_nothing(
    answer: Handler, lost: bool
) -> None:
    client = make_client(answer)
    with pytest.raises(TargetError) as caught:
        admin.rotate(client, "tok-1", 0, now=0.0)
    client.close()

    assert admin.answer_lost(caught.value) is lost
    if caught.value.status_code is not None:  # an HTTP answer: http_answer decided
        assert lost is (acted(caught.value.status_code) != Acted.NO)
