"""API7's envelopes and paging over httpx.MockTransport."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.worker.targets.helpers import Recorder, listing, make_client
from worker.errors import PermanentError, RetryableError
from worker.targets import ListPage, iter_list, unwrap_list, unwrap_value
from worker.targets.envelopes import object_id


def test_unwrap_value_returns_the_resource() -> None:
    assert unwrap_value({"value": {"id": "a"}, "key": "/apisix/services/a", "warning_msg": "w"}) == {"id": "a"}


@pytest.mark.parametrize("body", [None, [], {"id": "a"}, {"value": None}, {"value": [1]}, "text"])
def test_unwrap_value_refuses_other_shapes(body: Any) -> None:
    with pytest.raises(PermanentError, match=re.escape('expected a {"value"')):
        unwrap_value(body, where="gw: GET /x")


def test_unwrap_list_returns_total_and_items() -> None:
    assert unwrap_list({"total": 7, "list": [{"id": "a"}]}) == ListPage(7, [{"id": "a"}])


def test_unwrap_list_reads_a_null_list_as_empty() -> None:
    assert unwrap_list({"total": 0, "list": None}) == ListPage(0, [])


def test_unwrap_list_without_total_counts_the_items() -> None:
    assert unwrap_list({"list": [{"id": "a"}, {"id": "b"}]}) == ListPage(2, [{"id": "a"}, {"id": "b"}])


@pytest.mark.parametrize("body", [None, [], {"total": 1}, {"value": {}}, {"list": {}}, {"list": [1, 2]}])
def test_unwrap_list_refuses_other_shapes(body: Any) -> None:
    with pytest.raises(PermanentError):
        unwrap_list(body)


def pages_of(items: list[dict[str, Any]]) -> Recorder:
    """A list endpoint that honours page and page_size."""

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = int(request.url.params["page_size"])
        return listing(items[(page - 1) * size : page * size], total=len(items))

    return Recorder([answer])


def test_paging_walks_every_page_until_total() -> None:
    items = [{"id": f"t{i}"} for i in range(7)]
    recorder = pages_of(items)

    got = list(iter_list(make_client(recorder), "/api/gateway_groups", params={"search": "x"}, page_size=3))

    assert got == items
    assert [(r.url.params["page"], r.url.params["page_size"]) for r in recorder.requests] == [
        ("1", "3"),
        ("2", "3"),
        ("3", "3"),
    ]
    assert all(r.url.params["search"] == "x" for r in recorder.requests)


def test_paging_stops_when_total_is_reached_on_a_full_page() -> None:
    recorder = pages_of([{"id": f"t{i}"} for i in range(6)])

    assert len(list(iter_list(make_client(recorder), "/x", page_size=3))) == 6
    assert len(recorder.requests) == 2  # no third request for an empty page


def test_paging_stops_at_an_empty_page_even_if_total_says_more() -> None:
    recorder = Recorder([listing([{"id": "a"}], total=10), listing([], total=10)])

    assert list(iter_list(make_client(recorder), "/x", page_size=1)) == [{"id": "a"}]
    assert len(recorder.requests) == 2


def test_a_short_page_does_not_end_the_list_when_the_server_caps_page_size() -> None:
    items = [{"id": f"t{i}"} for i in range(5)]

    def capped(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return listing(items[(page - 1) * 2 : page * 2], total=5)  # the server serves 2 whatever was asked

    assert list(iter_list(make_client(Recorder([capped])), "/x", page_size=100)) == items


def test_paging_ends_when_a_server_ignores_page() -> None:
    recorder = Recorder([listing([{"id": "a"}, {"id": "b"}], total=3)])

    got = list(iter_list(make_client(recorder), "/x", page_size=2))

    assert len(recorder.requests) == 2  # the count of items seen reaches total, so the loop ends
    assert len(got) == 4


def test_an_empty_list_is_one_request() -> None:
    recorder = Recorder([listing([])])

    assert list(iter_list(make_client(recorder), "/x")) == []
    assert len(recorder.requests) == 1


def test_a_failing_page_raises_the_mapped_error() -> None:
    recorder = Recorder([listing([{"id": "a"}], total=2), httpx.Response(503)])

    iterator = iter_list(make_client(recorder), "/x", page_size=1)
    assert next(iterator) == {"id": "a"}
    with pytest.raises(RetryableError):
        next(iterator)


def test_page_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="page_size"):
        list(iter_list(make_client(Recorder()), "/x", page_size=0))


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "a b", "a?b=c", "%2e%2e"])
def test_object_ids_that_could_escape_a_path_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        object_id(bad)


def test_object_id_accepts_the_descriptions_pattern() -> None:
    assert object_id("a-Z_0.9") == "a-Z_0.9"
