"""``http``: watch any JSON API that has no built-in connector.

Describe the lookup in config; every string is a record template::

    tools:
      leads-api:
        type: http
        url: "https://api.example.com/leads?email={email}"
        headers: {Accept: application/json}
        records_path: data.items        # where the list of records is in the answer
        id_field: id
        cleanup_url: "https://api.example.com/leads/{id}"   # optional; {id}: the record's id
        credentials: {token: "${LEADS_TOKEN}"}   # sent as Authorization: Bearer <token>

Values filled into URLs are percent-encoded. A 404 answer means "not there". Records are
flattened with dots (``{"owner": {"name": ..}}`` becomes ``owner.name``). A record counts as
found by marker when the URL and body mention ``{marker}`` but not ``{email}``; set
``matched_by`` to say otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..config import StageConfig, ToolConfig
from ..config import messages as msg
from ..errors import ApiError
from ..record import TestRecord
from . import register
from ._base import Connector, ObservedRecord
from ._util import (
    dig,
    flatten,
    json_body,
    mapping_option,
    option,
    render,
    render_tree,
    render_url,
)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@register
class Http(Connector):
    """A configurable JSON lookup: one request per observation, records at ``records_path``."""

    type_name = "http"
    default_base_url = ""
    can_observe = True
    options_doc: ClassVar[dict[str, str]] = {
        "url": "lookup URL, a record template, e.g. https://api.example.com/leads?email={email}",
        "method": "HTTP method of the lookup (default GET)",
        "headers": "request headers, each value a record template",
        "json": "JSON body to send (strings inside are record templates); optional",
        "records_path": "dotted path to the list of records in the answer, e.g. data.items; "
        "empty: the answer itself (a list, or one object)",
        "id_field": "dotted path of a record's id (default id)",
        "matched_by": "email or marker: how a found record was matched (default: guessed "
        "from the templates)",
        "cleanup_url": "URL template to remove one found record; {id} is its id (optional)",
        "cleanup_method": "HTTP method for cleanup_url (default DELETE)",
        "auth_header": "header that carries credentials.token (default Authorization)",
        "auth_scheme": "prefix of the token in that header (default Bearer; empty: none)",
    }
    required_options = ("url",)

    @classmethod
    def auth_headers(cls, tool: ToolConfig) -> dict[str, str]:
        token = tool.credentials.get("token")
        if not token:
            return {}
        scheme = str(tool.options.get("auth_scheme", "Bearer"))
        header = str(tool.options.get("auth_header", "Authorization"))
        return {header: f"{scheme} {token}" if scheme else token}

    @classmethod
    def validate(cls, tool: ToolConfig) -> list[tuple[str, str]]:
        problems = super().validate(tool)
        for key, default in (("method", "GET"), ("cleanup_method", "DELETE")):
            method = str(tool.options.get(key, default)).upper()
            if method not in METHODS:
                problems.append(
                    (key, f"must be one of {', '.join(METHODS)}, got {msg.shown(method)}")
                )
        return problems

    async def fetch(self, record: TestRecord, stage: StageConfig | None) -> list[dict[str, Any]]:
        """Send the configured lookup and return the raw records at ``records_path``."""
        method = str(option(self.tool, stage, "method", "GET")).upper()
        url = render_url(record, str(option(self.tool, stage, "url")))
        headers = {
            k: render(record, v) for k, v in mapping_option(self.tool, stage, "headers", {}).items()
        }
        kwargs: dict[str, Any] = {"headers": headers}
        body = option(self.tool, stage, "json")
        if body is not None:
            kwargs["json"] = render_tree(record, body)
        resp = await self.http.request(method, url, ok=(404,), **kwargs)
        if resp.status_code == 404:
            return []
        data = json_body(resp, self.name)
        path = str(option(self.tool, stage, "records_path", "") or "")
        found = dig(data, path)
        if found is None:
            return []
        if isinstance(found, Mapping):
            return [dict(found)]
        if isinstance(found, list):
            return [dict(r) for r in found if isinstance(r, Mapping)]
        raise ApiError(
            f"{self.name}: records_path {path!r} points at a {type(found).__name__}, "
            "not a list or an object",
            tool=self.name,
        )

    def matched_by(self, stage: StageConfig | None) -> str:
        configured = option(self.tool, stage, "matched_by")
        if configured:
            return str(configured)
        templates = str(option(self.tool, stage, "url")) + str(option(self.tool, stage, "json"))
        return "marker" if "{marker" in templates and "{email" not in templates else "email"

    def record_id(self, raw: Mapping[str, Any], stage: StageConfig | None) -> Any:
        return dig(raw, str(option(self.tool, stage, "id_field", "id")))

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[ObservedRecord]:
        how = self.matched_by(stage)
        return [
            {**flatten(raw), "_id": self.record_id(raw, stage), "_matched_by": how}
            for raw in await self.fetch(record, stage)
        ]

    async def cleanup(self, record: TestRecord) -> int:
        """With ``cleanup_url``: one request per found record (404 counts as already gone)."""
        template = self.tool.options.get("cleanup_url")
        if not template:
            return 0
        method = str(self.tool.options.get("cleanup_method", "DELETE")).upper()
        removed = 0
        for raw in await self.fetch(record, None):
            record_id = self.record_id(raw, None)
            if record_id is None:
                continue
            url = render_url(record, str(template), {"id": record_id})
            resp = await self.http.request(method, url, ok=(404,))
            removed += resp.status_code != 404
        return removed
