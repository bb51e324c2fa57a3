"""``webhook``: inject the test record as a JSON or form POST to any URL.

The entry point of most automations: a form backend, a Zapier "Catch Hook", a Make custom
webhook, or the sandbox glue (``/glue/hooks/catch/{id}``). Config::

    tools:
      signup-form:
        type: webhook
        url: https://hooks.zapier.com/hooks/catch/123/abc/
        format: json            # or form (application/x-www-form-urlencoded)
        fields:                 # payload key -> record template
          email: "{email}"
          signup_date: "{date:%d/%m/%Y}"
"""

from __future__ import annotations

from typing import ClassVar

from ..config import StageConfig, ToolConfig
from ..config import messages as msg
from ..record import TestRecord
from . import register
from ._base import Connector
from ._util import mapping_option, option, render

#: What a typical sign-up form posts. Booleans render as "true"/"false".
DEFAULT_FIELDS: dict[str, str] = {
    "email": "{email}",
    "first_name": "{first_name}",
    "last_name": "{last_name}",
    "phone": "{phone}",
    "signup_date": "{date:%d/%m/%Y}",
    "company": "{company}",
    "amount": "{amount}",
    "currency": "{currency}",
    "payment_method": "{payment_method}",
    "marketing_consent": "{marketing_consent}",
}

FORMATS = ("json", "form")


@register
class Webhook(Connector):
    """POST the record to ``url``; any 2xx answer means it was accepted."""

    type_name = "webhook"
    default_base_url = ""
    default_rate_limit = None
    can_inject = True
    options_doc: ClassVar[dict[str, str]] = {
        "url": "full URL to POST the record to (required)",
        "format": "json (default) or form (application/x-www-form-urlencoded)",
        "fields": "payload key -> record template; default: the usual sign-up form fields. "
        "A stage's options.fields replaces it",
        "headers": "extra request headers (literal values)",
    }
    required_options = ("url",)

    @classmethod
    def validate(cls, tool: ToolConfig) -> list[tuple[str, str]]:
        problems = super().validate(tool)
        url = tool.options.get("url")
        if url and not str(url).lower().startswith(("http://", "https://")):
            problems.append(("url", f"must start with http:// or https://, got {msg.shown(url)}"))
        fmt = tool.options.get("format", "json")
        if fmt not in FORMATS:
            problems.append(("format", f"must be json or form, got {msg.shown(fmt)}"))
        return problems

    def payload(self, record: TestRecord, stage: StageConfig | None = None) -> dict[str, str]:
        """The body that ``inject`` sends, as a flat mapping of strings."""
        fields = mapping_option(self.tool, stage, "fields", DEFAULT_FIELDS)
        return {key: render(record, template) for key, template in fields.items()}

    async def inject(self, record: TestRecord, stage: StageConfig) -> None:
        url = str(option(self.tool, stage, "url"))
        headers = mapping_option(self.tool, stage, "headers", {})
        body = self.payload(record, stage)
        if option(self.tool, stage, "format", "json") == "form":
            await self.http.request("POST", url, data=body, headers=headers)
        else:
            await self.http.request("POST", url, json=body, headers=headers)
