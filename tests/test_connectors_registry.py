from __future__ import annotations

import httpx
import pytest

from baton.probes.config import ToolConfig
from baton.probes.connectors import build, connector_types, get
from baton.probes.connectors._http import parse_rate_limit_reset

BUILT_IN = {
    # type: (can_inject, can_observe, default base URL, default rate limit)
    "webhook": (True, False, "", None),
    "hubspot_forms": (True, False, "https://api.hsforms.com", 5.0),
    "hubspot": (False, True, "https://api.hubapi.com", 4.0),
    "sendgrid": (False, True, "https://api.sendgrid.com", 0.1),
    "stripe": (False, True, "https://api.stripe.com", 20.0),
    "http": (False, True, "", None),
}


def test_every_built_in_connector_is_registered() -> None:
    assert set(BUILT_IN) <= set(connector_types())


@pytest.mark.parametrize("type_name", sorted(BUILT_IN))
def test_connector_declares_what_it_can_do(type_name: str) -> None:
    cls = get(type_name)
    can_inject, can_observe, base_url, rate = BUILT_IN[type_name]
    assert cls.type_name == type_name
    assert (cls.can_inject, cls.can_observe) == (can_inject, can_observe)
    assert cls.default_base_url == base_url
    assert cls.default_rate_limit == rate
    assert cls.__doc__ and cls.options_doc
    assert set(cls.required_options) <= set(cls.options_doc)


@pytest.mark.anyio
async def test_config_rate_limit_overrides_the_default() -> None:
    async with httpx.AsyncClient() as client:
        slow = build(ToolConfig(name="mail", type="sendgrid"), client)
        fast = build(ToolConfig(name="mail", type="sendgrid", rate_limit=1.0), client)
    assert slow.http.limiter is not None and slow.http.limiter.rate == 0.1
    assert fast.http.limiter is not None and fast.http.limiter.rate == 1.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("1700000030", 30.0, id="unix-time"),
        pytest.param("1699999990", 0.0, id="past"),
        pytest.param("12", 12.0, id="seconds"),
        pytest.param("soon", None, id="garbage"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_rate_limit_reset_header(value: str | None, expected: float | None) -> None:
    assert parse_rate_limit_reset(value, now=1_700_000_000.0) == expected


@pytest.mark.anyio
async def test_a_token_echoed_back_by_a_tool_never_reaches_the_error_message() -> None:
    import httpx

    from baton.probes.connectors import ToolHttp
    from baton.probes.errors import ApiError

    token = "pat-na1-0123456789abcdef"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": f"bad request with token {token}"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        http = ToolHttp(
            client,
            tool="crm",
            base_url="https://api.example.com",
            headers={"Authorization": f"Bearer {token}"},
        )
        with pytest.raises(ApiError) as info:
            await http.request("GET", "/x")
    assert token not in str(info.value)
    assert "***" in str(info.value)


# -- one contract: the loader asks each connector to validate its tool --------------------

PLUGIN_CONFIG = """\
tools:
  form:
    type: webhook
    url: http://127.0.0.1:9/form
    format: {form_format}
  mail:
    type: {mail_type}
    limit: 5
workflows:
  w:
    stages:
      - name: form
        tool: form
      - name: mail
        tool: mail
        after: form
"""


def test_load_config_refuses_what_the_connector_refuses_with_file_and_line() -> None:
    from baton.probes.config import load_config_text
    from baton.probes.errors import ConfigError

    text = PLUGIN_CONFIG.format(form_format="xml", mail_type="sendgrid")
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, path="b.yaml", env={"SENDGRID_TOKEN": "t"})
    assert "b.yaml:5: tools.form.format: must be json or form, got 'xml'" in caught.value.problems


def test_a_plugin_whose_validate_crashes_is_named_not_a_traceback() -> None:
    from baton.probes import connectors
    from baton.probes.config import load_config_text
    from baton.probes.connectors import Connector, register
    from baton.probes.errors import ConfigError

    class Broken(Connector):
        """A plugin with a bug in its option checks."""

        type_name = "broken_plugin"
        can_observe = True
        options_doc = {"limit": "how many"}  # noqa: RUF012

        @classmethod
        def validate(cls, tool: ToolConfig) -> list[tuple[str, str]]:
            raise KeyError("oops")

    register(Broken)
    try:
        text = PLUGIN_CONFIG.format(form_format="json", mail_type="broken_plugin")
        with pytest.raises(ConfigError) as caught:
            load_config_text(text, path="b.yaml", env={})
    finally:
        connectors._REGISTRY.pop("broken_plugin")
    (problem,) = caught.value.problems
    assert problem.startswith("b.yaml:7: tools.mail.type: the broken_plugin connector failed")
    assert "KeyError" in problem
