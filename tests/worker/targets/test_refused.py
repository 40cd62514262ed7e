"""The refusal decision is made once, where the failure is classified: ``AuthError.refused``."""

from __future__ import annotations

import httpx
import pytest

from tests.worker.targets.helpers import Recorder, make_client
from worker.errors import AuthError


def _envelope(code: str) -> httpx.Response:
    return httpx.Response(200, json={"Response": {"Error": {"Code": code, "Message": "no"}, "RequestId": "r"}})


@pytest.mark.parametrize(
    ("kind", "answer", "refused"),
    [
        ("api7", httpx.Response(401), True),
        ("api7", httpx.Response(403), False),
        ("bearer", httpx.Response(401), True),
        ("bearer", httpx.Response(403), False),
        ("coding", httpx.Response(401), True),
        ("coding", httpx.Response(403), False),
        ("coding", _envelope("AuthFailure.TokenFailure"), True),
        ("coding", _envelope("UnauthorizedOperation.NoPermission"), False),
    ],
)
def test_an_auth_error_says_whether_the_token_itself_was_refused(
    kind: str, answer: httpx.Response, refused: bool
) -> None:
    with pytest.raises(AuthError) as caught:
        make_client(Recorder([answer]), kind=kind).call("POST", "/open-api", json={"Action": "X"})
    assert caught.value.refused is refused
