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
import string
import unicodedata
import urllib.parse
from collections.abc import Mapping

import httpx

from . import messages as msg
from .document import KeyPath
from .model import MAX_NAME_CHARS

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


def env_values_in(text: str, env: Mapping[str, str]) -> list[str]:
    """The values ``text``'s ``${NAME}`` references take from ``env`` (not their defaults,
    which are written in the file).

    >>> env_values_in("${A:-x}/${B}?k=${C}", {"B": "b-value", "C": ""})
    ['b-value']
    """
    return [v for m in _REF.finditer(text) if m.group(1) and (v := env.get(m.group(1)))]


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
    caller to refuse, and ``math.inf`` for a number too large for a float (``"1e400"``,
    a 400-digit number), for the caller to refuse against its cap.
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


def parse_period(text: str) -> float | None:
    """Seconds a digest looks back, in the config's duration grammar, read the same by the
    config, ``baton digest --period`` and ``/baton digest``: ``7d``, ``24h``, ``2w``,
    ``90m``, ``1d12h``. ``None`` when ``text`` is not a positive duration (a workflow name,
    ``0d``, digits other than ASCII ones); the caller checks it against ``MAX_PERIOD_S``.

    >>> parse_period("7d"), parse_period("1d12h"), parse_period("lead-to-invoice")
    (604800.0, 129600.0, None)
    """
    text = unicodedata.normalize("NFKC", text).strip()
    if not text.isascii():
        return None
    seconds = parse_duration(text)
    return seconds if seconds is not None and seconds > 0 else None


def parse_rate(value: object) -> float | None:
    """Requests per second from ``10``, ``0.5``, ``"10/s"``, ``"6/min"``, ``"100/hour"``.

    ``None`` when ``value`` is not a rate; ``math.inf`` when it is too large for a float.
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
    if isinstance(value, int):
        try:
            return float(value), None
        except OverflowError:  # a 400-digit number
            return math.inf, None
    if isinstance(value, float):
        return (value if math.isfinite(value) else None), None
    text = value.strip().lower()
    try:
        number = float(text)
    except ValueError:
        return None, text
    # "inf" and "nan" are no numbers; digits too many for a float are, too large ones.
    return (None if "n" in text else number), None


def is_slug(name: str) -> bool:
    """``lead-intake``, ``crm``, ``step_2``: lower case, digits, ``-``, ``_``."""
    return bool(_SLUG.fullmatch(name))


def name_problem(kind: str, name: str) -> str | None:
    """Why ``name`` cannot name a tool, workflow, stage or variant, or ``None``: a slug of
    at most ``MAX_NAME_CHARS`` (names show in reports and in Slack)."""
    if not is_slug(name):
        return msg.bad_slug(kind, name)
    if len(name) > MAX_NAME_CHARS:
        return msg.name_too_long(kind, name, MAX_NAME_CHARS)
    return None


def url_problem(text: str, max_chars: int) -> str | None:
    """Why ``text`` is not a URL Baton may send requests to, or ``None`` when it is.

    An http(s) URL with a host, at most ``max_chars`` long, one line of printable text
    without spaces, that both ``urllib`` and ``httpx`` read (a port in range, brackets
    closed around an IPv6 address)::

        >>> url_problem("http://[::1/x", 2000)
        "is not a valid URL (Invalid IPv6 URL): 'http://[::1/x'"
        >>> url_problem("https://api.example.com/v1?q=1", 2000) is None
        True
    """
    if len(text) > max_chars:
        return msg.url_too_long(len(text), max_chars)
    for char in text:
        if char.isspace() or not char.isprintable():
            return msg.url_character(ord(char))
    if not text.lower().startswith(("http://", "https://")):
        return msg.bad_url(text)
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
        url = httpx.URL(text)
    except (ValueError, httpx.InvalidURL) as exc:
        return msg.url_invalid(text, str(exc) or type(exc).__name__)
    if not parts.hostname or not url.host:
        return msg.url_no_host(text)
    return None


def template_as_url(template: str) -> str | None:
    """A URL template (``https://x/leads?email={email}``) with each field as ``x``, to check
    as a URL; ``None`` when it is no template (its own check reports that)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    return "".join(literal + ("x" if name is not None else "") for literal, name, _, _ in parsed)


# -- secrets in text -------------------------------------------------------------------

#: Prefixes of real credentials: Stripe, Slack, HubSpot, SendGrid, GitHub, GitLab, AWS,
#: Google, OpenAI-style keys, JWTs.
_SECRET_PREFIX = re.compile(
    r"(?:sk|rk|whsec)_(?:live|test)_|sk-[A-Za-z0-9_-]{16}|xox[abeprs]-|xapp-|pat-(?:na|eu)\d-|"
    r"SG\.|gh[pousr]_|github_pat_|glpat-|(?:AKIA|ASIA)[A-Z0-9]{12}|AIza|eyJ[A-Za-z0-9_-]{8,}\."
)
#: A long run of letters and digits, like a generated key: 20+ characters with both.
_RANDOM_TOKEN = re.compile(
    r"(?=[A-Za-z0-9_.+/=-]*[0-9])(?=[A-Za-z0-9_.+/=-]*[A-Za-z])[A-Za-z0-9_.+/=-]{20,}"
)
_WORD_BREAK = re.compile(r"[\s:;,&=?/@'\"]+")
#: Words that name a secret as the last part of a key, parameter or header name.
_SECRET_WORDS = frozenset(
    [
        "key",
        "apikey",
        "hapikey",
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "auth",
        "authorization",
        "signature",
        "sig",
        "credential",
        "credentials",
        "cookie",
        "session",
    ]
)
#: Words a secret header may hold besides the secret: ``Authorization: Bearer ${TOKEN}``.
_AUTH_SCHEMES = frozenset(["bearer", "basic", "token", "digest", "apikey", "key"])
_TEMPLATE_FIELD = re.compile(r"\{[^{}]*\}")
_PLACEHOLDER = re.compile("\x00([0-9]+)\x00")


def has_secret_prefix(text: str) -> bool:
    """Whether ``text`` holds a word with a known credential prefix (``sk_live_``,
    ``xoxb-``, ``pat-na1-``, ``SG.``...): a real key, wherever it is written."""
    return any(_SECRET_PREFIX.match(word) for word in _WORD_BREAK.split(text))


def looks_like_secret(text: str) -> bool:
    """Whether ``text``, written where a secret goes, looks like a real one: a known
    prefix, or a long generated-looking token. ``sandbox-token`` or ``t`` do not.

    >>> looks_like_secret("sk_live_51HxYz"), looks_like_secret("sandbox-token")
    (True, False)
    >>> looks_like_secret("9f86d081884c7d659a2feaa0c55ad015")
    True
    """
    return has_secret_prefix(text) or any(
        _RANDOM_TOKEN.fullmatch(word) for word in _WORD_BREAK.split(text)
    )


def names_a_secret(name: str) -> bool:
    """``api_key``, ``X-Api-Key``, ``access_token``, ``Authorization``: a name for a secret."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    return bool(words) and (words[-1] in _SECRET_WORDS or "".join(words) in _SECRET_WORDS)


def secret_default(text: str) -> bool:
    """Whether a ``${NAME:-default}`` in ``text`` has a real-looking secret as default."""
    return any(m.group(2) and looks_like_secret(m.group(2)) for m in _SINGLE_REF.finditer(text))


def _placeholders(raw: str) -> tuple[str, list[str]]:
    """``raw`` with each ``${...}`` as ``\\x00N\\x00``, and the defaults by ``N``."""
    defaults: list[str] = []

    def swap(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        defaults.append(match.group(2) or "")
        return f"\x00{len(defaults) - 1}\x00"

    return _REF.sub(swap, raw), defaults


def _written_secret(value: str, defaults: list[str], *, named: bool) -> bool:
    """Whether ``value`` (with placeholders) holds a secret written in the file: for a
    ``named`` secret any literal word besides an auth scheme, or a default that looks like
    a secret; elsewhere, a word with a known credential prefix."""
    used = [defaults[int(n)] for n in _PLACEHOLDER.findall(value)]
    literal = _TEMPLATE_FIELD.sub("", _PLACEHOLDER.sub(" ", value))
    if not named:
        return has_secret_prefix(literal) or any(has_secret_prefix(d) for d in used)
    words = [w for w in _WORD_BREAK.split(literal) if w and w.lower() not in _AUTH_SCHEMES]
    return bool(words) or any(looks_like_secret(d) for d in used)


def header_secret(name: str, raw: str) -> bool:
    """Whether header ``name: raw`` (before ``${ENV}`` expansion) holds a secret written
    in the file rather than taken from the environment."""
    value, defaults = _placeholders(raw)
    return _written_secret(value, defaults, named=names_a_secret(name))


def url_secret(raw: str) -> tuple[str, str] | None:
    """Where raw URL text (``${ENV}`` not yet expanded) holds a secret written in the file,
    and a word for it: ``("query parameter 'api_key'", "api_key")`` or ``("user:password@",
    "password")``; ``None`` when there is none.

    A password (``user:pass@host``), a query parameter named like a secret (``api_key``,
    ``token``, ``sig``...) or anything with a credential prefix (``sk_live_...``) must come
    from ``${ENV}``, whose default may not look like a secret either::

        >>> url_secret("https://api.example.com/x?api_key=abc123")
        ("query parameter 'api_key'", 'api_key')
        >>> url_secret("https://api.example.com/x?api_key=${ORDERS_KEY}&email={email}")
    """
    text, defaults = _placeholders(raw)
    for default in defaults:
        if "://" in default and (found := url_secret(default)):
            return found
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return None  # reported as an invalid URL
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    if _written_secret(password, defaults, named=True) or (
        user and _written_secret(user, defaults, named=False)
    ):
        return "user:password@", "password"
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if _written_secret(value, defaults, named=names_a_secret(name)):
            return f"query parameter {msg.shown(name)}", name if _PLAIN_KEY.fullmatch(
                name
            ) else "key"
    if _written_secret(f"{parts.netloc} {parts.path} {parts.fragment}", defaults, named=False):
        return "a key in the URL", "key"
    return None


def dotted(path: KeyPath) -> str:
    """``workflows.lead.stages[2].expect.fields["metadata.plan"]``.

    A key that is not plain is quoted, with quotes, backslashes and control characters
    escaped and a very long one cut short, so the path is always one short line.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part) and len(part) <= msg.SHOWN_CHARS:
            out += f".{part}" if out else part
        else:
            out += f'["{_escape_key(part)}"]'
    return out


def _escape_key(key: str) -> str:
    cut = key[: msg.SHOWN_CHARS]
    out = "".join(
        c if c.isprintable() and c not in '"\\' else repr(c)[1:-1] if c != '"' else '\\"'
        for c in cut
    )
    return out if cut == key else f"{out}…"
