"""The problem collector and typed getters the config loader validates with.

A ``Checker`` never stops at the first problem: every getter records what is wrong under
its key path (with the line from the YAML document) and returns a usable fallback, so
one run of the loader reports everything at once::

    ck = Checker("baton.yaml", doc, env={})
    timeout = ck.duration(("tools", "crm", "timeout"), "ten", default=10.0)
    ck.raise_if_any()   # ConfigError: baton.yaml:7: tools.crm.timeout: must be a duration...
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from ..record import make_record
from ..redact import Redactor
from . import messages as msg
from .document import Document, KeyPath
from .model import (
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_RATE_PER_S,
    MAX_URL_CHARS,
    MIN_RATE_PER_S,
)
from .values import (
    EnvMalformed,
    dotted,
    env_values_in,
    env_var_hint,
    expand_env,
    parse_duration,
    parse_rate,
    template_as_url,
    url_problem,
    url_secret,
)

_RECORD_NAMES = frozenset(make_record("bt0000aa").values())

#: After this many problems the rest are summed up in one line.
MAX_PROBLEMS = 50


def location(file: str, line: int | None) -> str:
    """``baton.yaml:14: `` or ``baton.yaml: ``."""
    return f"{file}:{line}: " if line is not None else f"{file}: "


class Checker:
    """Collects problems as ``<file>:<line>: <key path>: <message>`` lines."""

    def __init__(self, file: str, doc: Document, env: Mapping[str, str]) -> None:
        self.file = file
        self.doc = doc
        self.env = env
        self._problems: list[tuple[int, int, str]] = []
        self._paths: set[KeyPath] = set()
        #: Every value taken from the environment, with where: masked wherever Baton
        #: writes text (``env_values``), these problem messages included.
        self.env_used: list[tuple[KeyPath, str]] = []

    # -- reporting ---------------------------------------------------------------------

    def add(self, path: KeyPath, message: str) -> None:
        line = self.doc.line(path) if path else None
        where = f"{dotted(path)}: " if path else ""
        entry = (line or 0, len(self._problems), f"{location(self.file, line)}{where}{message}")
        self._problems.append(entry)
        self._paths.add(path)

    def reported(self, path: KeyPath) -> bool:
        """Whether a problem is already reported at ``path`` (its value is not checked
        again: a URL refused for a secret is not echoed by a template check)."""
        return path in self._paths

    @property
    def problem_count(self) -> int:
        return len(self._problems)

    @property
    def problems(self) -> list[str]:
        """Every problem, in file order."""
        mask = Redactor(v for _, v in self.env_used)
        ordered = [mask.text(text) for _, _, text in sorted(self._problems)]
        if len(ordered) > MAX_PROBLEMS:
            rest = len(ordered) - MAX_PROBLEMS
            ordered = [*ordered[:MAX_PROBLEMS], f"{self.file}: ... and {rest} more problems"]
        return ordered

    def raise_if_any(self) -> None:
        if self._problems:
            raise ConfigError(self.problems, path=self.file)

    # -- structure ---------------------------------------------------------------------

    def mapping(
        self,
        path: KeyPath,
        value: Any,
        keys: Collection[str] | None = None,
        *,
        required: Iterable[str] = (),
    ) -> dict[str, Any] | None:
        """``value`` when it is a mapping; unknown and missing keys are reported."""
        if not isinstance(value, dict):
            self.add(path, msg.wrong_type("a mapping", value))
            return None
        if keys is not None:
            for key in value:
                if key not in keys:
                    self.add((*path, key), msg.unknown_key(key, keys))
        for key in required:
            if key not in value:
                self.add((*path, key), msg.missing_key())
        return value

    def text(self, path: KeyPath, value: Any, *, required: bool = False) -> str | None:
        """Text with ``${ENV}`` expanded; numbers become text. ``None`` when absent."""
        if value is None:
            if required:
                self.add(path, msg.needs_value())
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.add(path, msg.wrong_type("text", value))
            return None
        return self.expand(path, str(value))

    def expand(self, path: KeyPath, text: str) -> str:
        """``text`` with ``${NAME}`` / ``${NAME:-default}`` expanded from the environment."""
        try:
            out, missing = expand_env(text, self.env)
        except EnvMalformed:
            self.add(path, msg.env_malformed())
            return text
        self.env_used.extend((path, v) for v in env_values_in(text, self.env))
        for name in missing:
            self.add(path, msg.env_unset(name, looks_like_field=name in _RECORD_NAMES))
        return out

    def expand_tree(self, path: KeyPath, value: Any) -> Any:
        """Expand ``${ENV}`` in every string inside free-form ``value`` (connector options)."""
        if isinstance(value, str):
            return self.expand(path, value)
        if isinstance(value, dict):
            return {k: self.expand_tree((*path, k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.expand_tree((*path, i), v) for i, v in enumerate(value)]
        return value

    # -- scalars -----------------------------------------------------------------------

    def _scalar_text(self, path: KeyPath, value: Any) -> Any:
        return self.expand(path, value) if isinstance(value, str) else value

    def duration(
        self,
        path: KeyPath,
        value: Any,
        *,
        default: float,
        zero_ok: bool = False,
        maximum: float = MAX_DURATION_S,
    ) -> float:
        """Seconds from a number or ``"30s"``/``"5m"``/``"2h"``, at most ``maximum``;
        ``default`` when absent."""
        if value is None:
            return default
        seconds = parse_duration(self._scalar_text(path, value))
        if seconds is None:
            self.add(path, msg.bad_duration(value))
            return default
        if seconds < 0 or (seconds == 0 and not zero_ok):
            self.add(path, msg.must_be_positive(value, zero_ok=zero_ok))
            return default
        if seconds > maximum:  # infinity too
            self.add(path, msg.duration_too_long(value, maximum))
            return default
        return seconds

    def rate(self, path: KeyPath, value: Any) -> float | None:
        """Requests per second from a number or ``"10/s"``/``"6/min"``, from one an hour to
        ``MAX_RATE_PER_S``; ``None`` when absent."""
        if value is None:
            return None
        rate = parse_rate(self._scalar_text(path, value))
        if rate is None:
            self.add(path, msg.bad_rate(value))
            return None
        if rate <= 0:
            self.add(path, msg.must_be_positive(value))
            return None
        if not MIN_RATE_PER_S <= rate <= MAX_RATE_PER_S:
            self.add(path, msg.rate_out_of_range(value, MIN_RATE_PER_S * 3600, MAX_RATE_PER_S))
            return None
        return rate

    def count(
        self, path: KeyPath, value: Any, *, default: int = 1, maximum: int = MAX_COUNT
    ) -> int:
        """A whole number from 1 to ``maximum``."""
        if value is None:
            return default
        value = self._scalar_text(path, value)
        if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,20}\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.add(path, msg.bad_count(value))
            return default
        if value > maximum:
            self.add(path, msg.count_too_large(value, maximum))
            return default
        return value

    def url(self, path: KeyPath, value: Any, *, template: bool = False) -> str | None:
        """An http(s) URL (``url_problem``), with ``${ENV}`` expanded; ``None`` when absent
        or wrong, ``""`` when empty (``${SLACK_API_URL:-}`` unset).

        No secret may be written in it (``url_secret``): a password, a query parameter like
        ``api_key=`` or a key must come from ``${ENV}``. A ``template`` (a record template,
        ``?email={email}``) is checked with its fields filled in."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str):
            self.add(path, msg.wrong_type("an http:// or https:// URL", value))
            return None
        found = url_secret(value)
        if found is not None:
            # Never echo the URL: it holds the secret.
            where, word = found
            owner = str(path[1]) if path[0] == "tools" and len(path) > 1 else str(path[0])
            self.add(path, msg.url_secret(where, env_var_hint(owner, word)))
            return None
        before = self.problem_count
        text = self.expand(path, value).strip()
        if self.problem_count != before:
            return None
        if not text:
            return ""
        checked = template_as_url(text) if template else text
        problem = url_problem(checked, MAX_URL_CHARS) if checked is not None else None
        if problem is not None:
            self.add(path, problem)
            return None
        return text

    def boolean(self, path: KeyPath, value: Any, *, default: bool = False) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(path, msg.wrong_type("true or false", value))
            return default
        return value

    def text_list(self, path: KeyPath, value: Any) -> list[str]:
        """A list of text, or one text of comma-separated items (handy from ``${ENV}``)."""
        if value is None:
            return []
        if isinstance(value, str):
            return [item.strip() for item in self.expand(path, value).split(",") if item.strip()]
        if not isinstance(value, list):
            self.add(path, msg.wrong_type("a list of text", value))
            return []
        out = []
        for index, item in enumerate(value):
            text = self.text((*path, index), item, required=True)
            if text:
                out.append(text)
        return out
