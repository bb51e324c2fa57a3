"""``sendgrid``: watch SendGrid's Email Activity for mail sent to the test record.

Email Activity API, "Filter all messages":
https://www.twilio.com/docs/sendgrid/api-reference/email-activity/filter-all-messages
(query syntax: https://www.twilio.com/docs/sendgrid/for-developers/sending-email/getting-started-email-activity-api).
It needs the paid "additional email activity history" add-on and an API key with Email
Activity access (``credentials.token``, sent as ``Authorization: Bearer``).

Rate limit: Email Activity allows about 6 requests per minute, so the default is
``rate_limit: 0.1`` (one request every 10 s), which makes a probe's SendGrid stage slow to
confirm. Set ``tools.<name>.rate_limit`` higher to poll faster if your account allows it;
a 429 is retried after the time SendGrid asks for.

Messages are found by recipient (``to_email="<email>"``). The query language has no
substring match on ``subject`` or ``to_email`` (``CONTAINS`` works on arrays and maps only), so
there is no built-in search by marker; ``fallback_query`` lets you name one that fits how
your mails are built, e.g. ``subject="Welcome {first_name} {last_name}"``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..config import StageConfig, ToolConfig
from ..errors import ApiError, ConfigError, UsageError
from ..record import TestRecord
from . import register
from ._base import Connector, ObservedRecord
from ._http import ToolHttp
from ._util import json_body, option, render

MESSAGES = "/v3/messages"
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000


def quote_value(value: str) -> str:
    """A value for the query language, in double quotes. The docs define no escape for a
    quote inside a value, so such a value is refused rather than sent half-understood."""
    if '"' in value:
        raise UsageError(f'sendgrid: cannot search Email Activity for {value!r} (it has a ")')
    return f'"{value}"'


@register
class SendGrid(Connector):
    """Messages in Email Activity addressed to the test record."""

    type_name = "sendgrid"
    default_base_url = "https://api.sendgrid.com"
    default_rate_limit = 0.1  # ~6 requests per minute
    can_observe = True
    options_doc: ClassVar[dict[str, str]] = {
        "limit": f"messages to fetch per query, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})",
        "fallback_query": "Email Activity query (a record template) tried when nothing was "
        'sent to the record\'s email, e.g. subject="Welcome {first_name} {last_name}"',
    }
    required_credentials = ("token",)

    def __init__(self, tool: ToolConfig, http: ToolHttp) -> None:
        super().__init__(tool, http)
        limit = tool.options.get("limit", DEFAULT_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_LIMIT:
            raise ConfigError(
                f"tools.{tool.name}.limit: must be a whole number from 1 to {MAX_LIMIT}, "
                f"got {limit!r}"
            )

    async def messages(self, query: str, limit: int) -> list[dict[str, Any]]:
        """``GET /v3/messages?query=...&limit=...``; httpx URL-encodes the query exactly as the
        docs show (``to_email%3D%22example%40example.com%22``)."""
        resp = await self.http.request("GET", MESSAGES, params={"query": query, "limit": limit})
        data = json_body(resp, self.name)
        messages = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(messages, list):
            raise ApiError(f"{self.name}: Email Activity answer without messages", tool=self.name)
        return [m for m in messages if isinstance(m, dict)]

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[ObservedRecord]:
        limit = int(option(self.tool, stage, "limit", DEFAULT_LIMIT))
        found = await self.messages(f"to_email={quote_value(record.email)}", limit)
        matched_by = "email"
        fallback = option(self.tool, stage, "fallback_query")
        if not found and fallback:
            found = await self.messages(render(record, str(fallback)), limit)
            matched_by = "marker"
        return [{**m, "_id": m.get("msg_id"), "_matched_by": matched_by} for m in found]

    async def cleanup(self, record: TestRecord) -> int:
        """Sent mail cannot be unsent: nothing to remove."""
        return 0
