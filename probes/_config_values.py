"""Small parsers for config values: env references, durations, rates, names, key paths.

>>> parse_duration("1m30s")
90.0
>>> parse_rate("6/min")
0.1
>>> expand_env("${BASE:-http://127.0.0.1:8765}/hubspot", {})
('http://127.0.0.1:8765/hubspot', [])
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ._config_yaml import KeyPath

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
#: ``${NAME}``, ``${NAME:-default}``, and ``$${`` for a literal ``${``. Defaults cannot
#: hold ``$``, ``{`` or ``}``, so a nested ``${A:-${B}}`` is reported, not half-expanded.
_REF = re.compile(r"\$\$(?=\{)|\$\{(" + _NAME + r")(?::-([^${}]*))?\}")
_SINGLE_REF = re.compile(r"\$\{(" + _NAME + r")(?::-([^${}]*))?\}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")

_DURATION_PART = re.compile(
    r"\s*(\d+(?:\.\d+)?)\s*(ms|secs|sec|s|mins|min|m|hrs|hr|h|days|day|d|weeks|week|w)\s*"
)
_UNIT_S = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "d": 86_400.0,
    "day": 86_400.0,
    "days": 86_400.0,
    "w": 604_800.0,
    "week": 604_800.0,
    "weeks": 604_800.0,
}
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*")
_PER_S = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
}


class EnvMalformed(ValueError):
    """A ``${`` that is not a well-formed reference."""


def expand_env(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand ``${NAME}`` / ``${NAME:-default}``; return the text and the unset names.

    As in a shell, the default is used when the variable is unset *or empty*. An unset
    variable without a default expands to ``""`` and is listed, so the caller can report it.
    """
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            missing.append(name)
        return ""

    if "${" in _REF.sub("", text):
        raise EnvMalformed(text)
    return _REF.sub(replace, text), missing


def single_ref(text: str) -> str | None:
    """The variable name when ``text`` is exactly one ``${NAME}`` / ``${NAME:-default}``."""
    match = _SINGLE_REF.fullmatch(text.strip())
    return match.group(1) if match else None


def env_var_hint(*parts: str) -> str:
    """A conventional variable name: ``env_var_hint("stripe", "token") == "STRIPE_TOKEN"``."""
    return re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


def parse_duration(value: object) -> float | None:
    """Seconds from ``30``, ``1.5``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1m30s"``, ``"500ms"``,
    ``"7d"``, ``"1w"``.

    ``None`` when ``value`` is not a duration; negative values are returned for the
    caller to refuse.
    """
    number, text = _number_or_text(value)
    if text is None:
        return number
    total, pos = 0.0, 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match or match.end() == pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    return total if text else None


def parse_rate(value: object) -> float | None:
    """Requests per second from ``10``, ``0.5``, ``"10/s"``, ``"6/min"``, ``"100/hour"``.

    ``None`` when ``value`` is not a rate.
    """
    number, text = _number_or_text(value)
    if text is None:
        return number
    match = _RATE.fullmatch(text)
    if not match:
        return None
    unit = match.group(2)
    per = _PER_S.get(unit) or _PER_S.get(unit.removesuffix("s"))
    if per is None:
        return None
    return float(match.group(1)) / per


def _number_or_text(value: object) -> tuple[float | None, str | None]:
    """A plain number as ``(number, None)``; else ``(None, text)`` with the lower-cased text
    to parse with units (``(None, None)`` when it is neither)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None, None
    if isinstance(value, int | float):
        return _finite(float(value)), None
    text = value.strip().lower()
    try:
        return _finite(float(text)), None
    except ValueError:
        return None, text


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def is_slug(name: str) -> bool:
    """``lead-intake``, ``crm``, ``step_2``: lower case, digits, ``-``, ``_``."""
    return bool(_SLUG.fullmatch(name))


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and len(text) > len("https://")


def dotted(path: KeyPath) -> str:
    """``workflows.lead.stages[2].expect.fields["metadata.plan"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out
