"""Keep secrets out of everything Baton writes: output, the store, Slack, logs.

Two nets: the exact values Baton was configured with (tool credentials, Slack tokens, the
signing secret, and every value a config took from the environment), and the shapes of
well-known tokens (Slack ``xoxb-…``, Stripe ``sk_live_…``, SendGrid ``SG.…``, HubSpot
``pat-…``, ``Bearer …``), in case a tool echoes one back in an error message.

    >>> Redactor(["s3cret-value"]).text("key=s3cret-value, tok=xoxb-1-2-abc")
    'key=[redacted], tok=[redacted]'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config

MASK = "[redacted]"
#: Shorter configured values are not masked: they would blank out ordinary words.
MIN_SECRET = 6

_PATTERNS = re.compile(
    r"(?:xox[abeoprs]|xoxe\.xox[bp]|xapp)-[A-Za-z0-9-]{6,}"
    r"|\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|\bwhsec_[A-Za-z0-9]{8,}"
    r"|\bSG\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\bpat-(?:na|eu)\d-[0-9a-fA-F-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
)


class Redactor:
    """Masks secrets in text and in JSON-like payloads."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET}
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(values, key=len, reverse=True)

    @classmethod
    def from_config(cls, config: Config, *extra: str | None) -> Redactor:
        """Every credential, Slack secret and environment value in ``config``, plus ``extra``."""
        values: list[str | None] = [*extra, *config.env_values]
        for tool in config.tools.values():
            values.extend(tool.credentials.values())
        s = config.slack
        values.extend([s.bot_token, s.signing_secret, s.app_token])
        return cls(values)

    def text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _PATTERNS.sub(MASK, text)

    def scrub(self, data: Any) -> Any:
        """A copy of ``data`` (dicts, lists, strings) with every string masked."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {k: self.scrub(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub(v) for v in data]
        return data


__all__ = ["MASK", "MIN_SECRET", "Redactor"]
