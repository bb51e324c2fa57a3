"""Baton's exceptions, one tree for the engine.

    BatonError
    ├── ConfigError          a config file Baton cannot use (names the key path and line)
    │   └── PluginError      a connector plugin fails to load or takes a name already taken
    ├── UsageError           a command asked for something that does not exist
    ├── StoreError           the SQLite store could not be opened or written
    ├── RunTakenOver         another process took a run this one was still working on
    └── ConnectorError       talking to one tool went wrong
        ├── AuthError        the tool refused our credentials (401/403)
        ├── RateLimited      429, carries ``retry_after`` in seconds
        ├── Unreachable      transport error, timeout or 5xx: Baton could not check
        │   └── NotListening nothing listens at the URL (connection refused): not retried
        └── ApiError         any other answer the connector cannot use
            └── BadUrl       404 on a route that always exists: the configured URL is wrong

httpx errors are translated once, at the connector boundary (``baton.probes.connectors._http``),
always ``from exc``. ``Unreachable`` and ``AuthError`` become the finding kind
``unreachable`` and the verdict ``error``; they are never reported as a leak.
"""

from __future__ import annotations


class BatonError(Exception):
    """Base of every error Baton raises on purpose."""


class ConfigError(BatonError):
    """A config file Baton cannot use.

    ``problems`` holds one line per problem, each starting with the key path,
    e.g. ``workflows.lead-intake.stages[2].tool: unknown tool 'hubspt' (did you mean 'hubspot'?)``.
    """

    def __init__(self, problems: list[str] | str, *, path: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.path = path
        super().__init__("\n".join(self.problems))


class PluginError(ConfigError):
    """A connector plugin that cannot be used: it fails to import, or takes a type name
    another connector has (exit 2, like a config problem: the installation needs fixing)."""


class UsageError(BatonError):
    """A command named something that does not exist (a workflow, a variant, a field)."""


class RunTakenOver(BatonError):
    """Another process took this run (``baton resume --takeover``) while this one still had
    work to do on it; that process closes and cleans it up."""


class StoreError(BatonError):
    """The run store could not be opened or written."""


class ConnectorError(BatonError):
    """Talking to a tool went wrong."""

    def __init__(self, message: str, *, tool: str = "", status_code: int | None = None) -> None:
        self.tool = tool
        self.status_code = status_code
        super().__init__(message)


class AuthError(ConnectorError):
    """The tool refused Baton's credentials."""


class RateLimited(ConnectorError):
    """The tool answered 429; ``retry_after`` is how long it asked us to wait."""

    def __init__(self, message: str, *, tool: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, tool=tool, status_code=429)
        self.retry_after = retry_after


class Unreachable(ConnectorError):
    """The tool could not be reached (transport error, timeout, 5xx)."""


class NotListening(Unreachable):
    """Nothing listens at the tool's URL (the connection was refused): asking again at once
    will not help, so a request is not retried."""


class ApiError(ConnectorError):
    """The tool answered with something the connector cannot use."""


class BadUrl(ApiError):
    """The tool answered 404 on a route that always exists (a list, a search, a batch read):
    the configured base URL or path is wrong. It is a configuration problem, never "not
    found", and it will not go away by asking again."""

    def __init__(self, message: str, *, tool: str = "", url: str = "") -> None:
        super().__init__(message, tool=tool, status_code=404)
        self.url = url
