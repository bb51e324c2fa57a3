from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
from tenacity import wait_none

from baton.probes.config import StageConfig, ToolConfig
from baton.probes.connectors import RetryPolicy
from baton.probes.connectors.testing import FakeApi, body, connect
from baton.probes.errors import ApiError, AuthError, ConfigError, Unreachable, UsageError
from baton.probes.record import make_record

HOOK = "https://hooks.example.com/hooks/catch/123/abc/"
RECORD = make_record("bt7k2xq9")
STAGE = StageConfig(name="form", tool="form")


def tool(**options: object) -> ToolConfig:
    return ToolConfig(name="form", type="webhook", options={"url": HOOK, **options})


def hook_api(*answers: httpx.Response) -> FakeApi:
    return FakeApi().on("POST", "/hooks/catch/123/abc/", *(answers or (httpx.Response(200),)))


@pytest.mark.anyio
async def test_posts_the_default_fields_as_json() -> None:
    api = hook_api(httpx.Response(200, json={"status": "success"}))
    async with connect(tool(), api) as form:
        await form.inject(RECORD, STAGE)
    [req] = api.requests
    assert req.method == "POST"
    assert str(req.url) == HOOK
    assert req.headers["content-type"] == "application/json"
    assert "authorization" not in req.headers
    assert body(req) == {
        "email": "probe+bt7k2xq9@example.com",
        "first_name": "Ada",
        "last_name": "Probe-bt7k2xq9",
        "phone": RECORD.phone,
        "signup_date": RECORD.date.strftime("%d/%m/%Y"),
        "company": "Baton Probe bt7k2xq9",
        "amount": "49.00",
        "currency": "usd",
        "payment_method": "card",
        "marketing_consent": "true",
    }


@pytest.mark.anyio
async def test_form_format_is_urlencoded_and_booleans_are_lower_case() -> None:
    api = hook_api()
    record = make_record("bt7k2xq9", {"marketing_consent": False})
    async with connect(tool(format="form"), api) as form:
        await form.inject(record, STAGE)
    [req] = api.requests
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    sent = parse_qs(req.content.decode())
    assert sent["email"] == ["probe+bt7k2xq9@example.com"]
    assert sent["marketing_consent"] == ["false"]


@pytest.mark.anyio
async def test_stage_fields_replace_tool_fields_and_headers_and_token_are_sent() -> None:
    api = hook_api()
    cfg = ToolConfig(
        name="form",
        type="webhook",
        credentials={"token": "s3cret"},
        options={"url": HOOK, "fields": {"mail": "{email}"}, "headers": {"X-Source": "baton"}},
    )
    stage = StageConfig(
        name="form", tool="form", options={"fields": {"Email": "{email}", "when": "{date_iso}"}}
    )
    async with connect(cfg, api) as form:
        await form.inject(RECORD, stage)
    [req] = api.requests
    assert body(req) == {"Email": RECORD.email, "when": RECORD.date.isoformat()}
    assert req.headers["authorization"] == "Bearer s3cret"
    assert req.headers["x-source"] == "baton"


@pytest.mark.anyio
async def test_429_is_retried_after_the_time_asked_for() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    api = hook_api(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200))
    async with connect(tool(), api, retry=RetryPolicy(wait=wait_none(), sleep=sleep)) as form:
        await form.inject(RECORD, STAGE)
    assert len(api.requests) == 2
    assert slept == [3.0]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(httpx.Response(401), AuthError, id="401"),
        pytest.param(httpx.Response(403), AuthError, id="403"),
        pytest.param(httpx.Response(410, text="hook disabled"), ApiError, id="410"),
        pytest.param(httpx.Response(503), Unreachable, id="503-after-retries"),
        pytest.param(httpx.ConnectError("refused"), Unreachable, id="transport"),
    ],
)
async def test_errors_are_typed(answer: httpx.Response | Exception, error: type[Exception]) -> None:
    api = FakeApi().on("POST", "/hooks/catch/123/abc/", answer)
    async with connect(tool(), api) as form:
        with pytest.raises(error):
            await form.inject(RECORD, STAGE)


@pytest.mark.anyio
async def test_unknown_template_field_is_a_usage_error() -> None:
    async with connect(tool(fields={"x": "{nickname}"}), hook_api()) as form:
        with pytest.raises(UsageError, match="nickname"):
            await form.inject(RECORD, STAGE)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"url": ""}, r"tools\.form\.url", id="no-url"),
        pytest.param({"format": "xml"}, r"tools\.form\.format", id="bad-format"),
    ],
)
async def test_bad_config_is_refused_at_build(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        async with connect(tool(**options), FakeApi()):
            pass


@pytest.mark.anyio
async def test_cleanup_has_nothing_to_do() -> None:
    api = FakeApi()
    async with connect(tool(), api) as form:
        assert await form.cleanup(RECORD) == 0
    assert api.requests == []


def test_a_url_that_is_not_http_is_refused_when_built() -> None:
    import httpx

    from baton.probes.config import ToolConfig
    from baton.probes.connectors import build
    from baton.probes.errors import ConfigError

    tool = ToolConfig(name="form", type="webhook", options={"url": "ftp://example.com/x"})
    with pytest.raises(ConfigError, match=r"tools\.form\.url: must start with http"):
        build(tool, httpx.AsyncClient())
