from __future__ import annotations

from typing import Any

import httpx
import pytest
from tenacity import wait_none

from baton.probes.config import StageConfig, ToolConfig
from baton.probes.connectors import RetryPolicy
from baton.probes.connectors.testing import FakeApi, body, connect
from baton.probes.errors import ApiError, AuthError, ConfigError, Unreachable
from baton.probes.record import make_record

RECORD = make_record("bt7k2xq9")
STAGE = StageConfig(name="leads", tool="leads")
LEADS = "/v2/leads"


def tool(*, credentials: dict[str, str] | None = None, **options: Any) -> ToolConfig:
    return ToolConfig(
        name="leads",
        type="http",
        credentials=credentials or {},
        options={"url": "https://api.example.com/v2/leads?email={email}", **options},
    )


LEAD = {
    "id": "L-1",
    "contact": {"email": RECORD.email, "name": {"first": "Ada", "last": "Probe-bt7k2xq9"}},
    "tags": ["web", "trial"],
    "notes": [],
}
FLAT_LEAD = {
    "id": "L-1",
    "contact.email": RECORD.email,
    "contact.name.first": "Ada",
    "contact.name.last": "Probe-bt7k2xq9",
    "tags.0": "web",
    "tags.1": "trial",
    "notes": [],
}


@pytest.mark.anyio
async def test_get_with_a_templated_url_and_records_path() -> None:
    cfg = tool(
        credentials={"token": "t0k"},
        records_path="data.items",
        headers={"X-Probe": "{marker}"},
    )
    api = FakeApi().on("GET", LEADS, httpx.Response(200, json={"data": {"items": [LEAD]}}))
    async with connect(cfg, api) as leads:
        found = await leads.observe(RECORD, STAGE)
    [req] = api.requests
    assert req.url.query == b"email=probe%2Bbt7k2xq9%40example.com"
    assert req.headers["x-probe"] == "bt7k2xq9"
    assert req.headers["authorization"] == "Bearer t0k"
    assert found == [{**FLAT_LEAD, "_id": "L-1", "_matched_by": "email"}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "records_path", "count"),
    [
        pytest.param([LEAD, LEAD], "", 2, id="top-level-list"),
        pytest.param(LEAD, "", 1, id="single-object"),
        pytest.param({"data": {"items": []}}, "data.items", 0, id="empty-list"),
        pytest.param({"data": None}, "data.items", 0, id="path-absent"),
        pytest.param({"results": [{"lead": LEAD}]}, "results.0.lead", 1, id="list-index"),
    ],
)
async def test_records_path_shapes(answer: Any, records_path: str, count: int) -> None:
    api = FakeApi().on("GET", LEADS, httpx.Response(200, json=answer))
    async with connect(tool(records_path=records_path), api) as leads:
        assert len(await leads.observe(RECORD, STAGE)) == count


@pytest.mark.anyio
async def test_404_means_not_there() -> None:
    api = FakeApi().on("GET", LEADS, httpx.Response(404, json={"error": "not found"}))
    async with connect(tool(), api) as leads:
        assert await leads.observe(RECORD, STAGE) == []


@pytest.mark.anyio
async def test_post_search_by_marker_with_a_json_template_and_custom_auth_header() -> None:
    cfg = tool(
        credentials={"token": "k3y"},
        url="https://api.example.com/v2/leads/search",
        method="post",
        json={"filter": {"text": "{marker}", "limit": 5}, "fields": ["{last_name}"]},
        id_field="lead.id",
        records_path="hits",
        auth_header="X-Api-Key",
        auth_scheme="",
    )
    hit = {"lead": {"id": 7}, "score": 1.5}
    api = FakeApi().on("POST", "/v2/leads/search", httpx.Response(200, json={"hits": [hit]}))
    async with connect(cfg, api) as leads:
        found = await leads.observe(RECORD, STAGE)
    [req] = api.requests
    assert body(req) == {"filter": {"text": "bt7k2xq9", "limit": 5}, "fields": ["Probe-bt7k2xq9"]}
    assert req.headers["x-api-key"] == "k3y"
    assert "authorization" not in req.headers
    assert found == [{"lead.id": 7, "score": 1.5, "_id": 7, "_matched_by": "marker"}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(httpx.Response(200, text="<html>ok</html>"), ApiError, id="not-json"),
        pytest.param(httpx.Response(200, json={"data": "x"}), ApiError, id="path-at-string"),
        pytest.param(httpx.Response(401), AuthError, id="401"),
        pytest.param(httpx.ConnectTimeout("slow"), Unreachable, id="timeout"),
    ],
)
async def test_errors_are_typed(answer: httpx.Response | Exception, error: type[Exception]) -> None:
    api = FakeApi().on("GET", LEADS, answer)
    async with connect(tool(records_path="data"), api) as leads:
        with pytest.raises(error):
            await leads.observe(RECORD, STAGE)


@pytest.mark.anyio
async def test_429_is_retried() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    api = FakeApi().on(
        "GET",
        LEADS,
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(200, json=[]),
    )
    async with connect(tool(), api, retry=RetryPolicy(wait=wait_none(), sleep=sleep)) as leads:
        assert await leads.observe(RECORD, STAGE) == []
    assert slept == [1.0]


@pytest.mark.anyio
async def test_cleanup_removes_each_found_record_once() -> None:
    cfg = tool(cleanup_url="https://api.example.com/v2/leads/{id}", records_path="data")
    other = {**LEAD, "id": "L/2"}
    first, then = httpx.Response(200, json={"data": [LEAD, other]}), httpx.Response(200, json={})
    api = (
        FakeApi()
        .on("GET", LEADS, first, then)
        .on("DELETE", "/v2/leads/L-1", httpx.Response(204))
        .on("DELETE", "/v2/leads/L/2", httpx.Response(404))
    )
    async with connect(cfg, api) as leads:
        assert await leads.cleanup(RECORD) == 1
        assert await leads.cleanup(RECORD) == 0
    deletes = api.sent("DELETE")
    assert [d.url.raw_path for d in deletes] == [b"/v2/leads/L-1", b"/v2/leads/L%2F2"]


@pytest.mark.anyio
async def test_no_cleanup_url_means_no_cleanup_requests() -> None:
    api = FakeApi()
    async with connect(tool(), api) as leads:
        assert await leads.cleanup(RECORD) == 0
    assert api.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("options", "key"),
    [
        pytest.param({"url": ""}, "url", id="no-url"),
        pytest.param({"method": "FETCH"}, "method", id="bad-method"),
        pytest.param({"cleanup_method": "WIPE"}, "cleanup_method", id="bad-cleanup-method"),
    ],
)
async def test_bad_config_is_refused(options: dict[str, str], key: str) -> None:
    cfg = ToolConfig(name="leads", type="http", options={**tool().options, **options})
    with pytest.raises(ConfigError, match=rf"tools\.leads\.{key}"):
        async with connect(cfg, FakeApi()):
            pass
