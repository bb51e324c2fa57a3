"""``ToolHttp.request(route_must_exist=True)``: a 404 on a route the tool always serves is a
wrong base URL (``BadUrl``), unless ``object_missing`` recognises the tool's own "no such
object" answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tenacity import wait_none

from baton.probes.connectors import RetryPolicy, ToolHttp
from baton.probes.errors import ApiError, BadUrl

GONE = httpx.Response(404, json={"error": {"code": "resource_missing"}})
HTML = httpx.Response(404, html="<h1>Not Found</h1>")


def gone(resp: httpx.Response) -> bool:
    return bool(resp.json().get("error", {}).get("code") == "resource_missing")


async def ask(answer: httpx.Response, **kwargs: Any) -> httpx.Response:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        http = ToolHttp(
            client,
            tool="billing",
            base_url="https://api.example/",
            headers={"Authorization": "Bearer sk_test_0123456789"},
            retry=RetryPolicy(wait=wait_none()),
        )
        return await http.request("GET", "/v1/customers", params={"limit": 1}, **kwargs)


@pytest.mark.anyio
async def test_a_404_on_a_route_that_must_exist_is_a_bad_url_and_not_retried() -> None:
    with pytest.raises(BadUrl) as info:
        await ask(HTML, route_must_exist=True, ok=(404,))
    assert str(info.value) == (
        "billing: GET https://api.example/v1/customers answered 404: "
        "is tools.billing.base_url right?"
    )
    assert info.value.url == "https://api.example/v1/customers"
    assert info.value.tool == "billing" and info.value.status_code == 404
    assert isinstance(info.value, ApiError)


@pytest.mark.anyio
async def test_object_missing_lets_the_tools_own_not_found_through() -> None:
    resp = await ask(GONE, route_must_exist=True, object_missing=gone)
    assert resp.status_code == 404
    with pytest.raises(BadUrl):
        await ask(
            httpx.Response(404, json={"error": {"type": "invalid_request_error"}}),
            route_must_exist=True,
            object_missing=gone,
        )


@pytest.mark.anyio
async def test_without_the_flag_a_404_is_what_it_was() -> None:
    resp = await ask(HTML, ok=(404,))
    assert resp.status_code == 404
    with pytest.raises(ApiError) as info:
        await ask(HTML)
    assert not isinstance(info.value, BadUrl)


@pytest.mark.anyio
async def test_bad_url_is_raised_once_without_retries() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        http = ToolHttp(
            client, tool="crm", base_url="https://x.example", retry=RetryPolicy(wait=wait_none())
        )
        with pytest.raises(BadUrl):
            await http.request("POST", "/crm/v3/objects/contacts/search", route_must_exist=True)
    assert calls == 1
