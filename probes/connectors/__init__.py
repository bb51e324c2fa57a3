"""Connectors: how Baton talks to each tool, and the registry that finds them.

Built-in connectors register through the same registry a third-party one would use::

    from baton.probes.connectors import Connector, register

    @register
    class Pipedrive(Connector):
        type_name = "pipedrive"
        ...

Every public module of this package is a built-in connector and is imported when the
registry is first asked; third-party packages expose theirs with the ``baton.connectors``
entry point.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from importlib import metadata

import httpx

from ..config import ToolConfig
from ..errors import PluginError
from ._base import Connector, Look, LookResult, ObservedRecord, Removal, RemovalResult
from ._http import RetryPolicy, ToolHttp, url_secrets

__all__ = [
    "Connector",
    "Look",
    "LookResult",
    "ObservedRecord",
    "Removal",
    "RemovalResult",
    "RetryPolicy",
    "ToolHttp",
    "build",
    "connector_types",
    "get",
    "register",
]

#: Public modules of this package that hold no connector.
NOT_CONNECTORS = frozenset({"testing"})

_REGISTRY: dict[str, type[Connector]] = {}
_loaded = False


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make ``cls`` available as ``type: <cls.type_name>`` in config.

    A name taken by another class is an error (``PluginError``), never a silent swap: a
    plugin cannot replace a built-in, nor two plugins each other."""
    name = cls.type_name
    if not name:
        raise PluginError(f"connector {_where(cls)} has no type_name")
    taken = _REGISTRY.get(name)
    if taken is not None and _where(taken) != _where(cls):
        raise PluginError(
            f"connector type {name!r} is registered twice: by {_where(taken)} and by "
            f"{_where(cls)}; uninstall one, or give one another type_name"
        )
    _REGISTRY[name] = cls
    return cls


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _load() -> None:
    global _loaded
    if _loaded:
        return
    # Built-ins register on import, as a plugin's module does: every public module of this
    # package is one (a new built-in is one new file here, listed nowhere else).
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name not in NOT_CONNECTORS:
            importlib.import_module(f"{__name__}.{module.name}")

    for ep in metadata.entry_points(group="baton.connectors"):
        dist = f" (from {ep.dist.name} {ep.dist.version})" if ep.dist is not None else ""
        try:
            ep.load()
        except PluginError:
            raise
        except Exception as exc:  # a broken plugin is named, never a traceback or a silence
            raise PluginError(
                f"connector plugin {ep.name!r} = {ep.value}{dist} failed to load: "
                f"{type(exc).__name__}: {exc}; fix or uninstall it"
            ) from exc
    _loaded = True


def get(type_name: str) -> type[Connector]:
    """The connector class for ``type_name``; ``KeyError`` when there is none."""
    _load()
    return _REGISTRY[type_name]


def connector_types() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def build(
    tool: ToolConfig,
    client: httpx.AsyncClient,
    *,
    retry: RetryPolicy | None = None,
    secrets: Iterable[str] = (),
) -> Connector:
    """The connector for ``tool``, talking through ``client``; ``secrets`` (the config's
    environment values) are masked in every message its requests produce."""
    cls = get(tool.type)
    rate = tool.rate_limit if tool.rate_limit is not None else cls.default_rate_limit
    http = ToolHttp(
        client,
        tool=tool.name,
        base_url=tool.base_url or cls.default_base_url,
        headers=cls.auth_headers(tool),
        rate_limit=rate,
        timeout_s=tool.timeout_s,
        retry=retry,
        # A key carried in a URL option (an http tool's ``?api_key=${ORDERS_KEY}``) is as
        # secret as a credential: masked in every message this tool's requests produce.
        secrets=[
            *secrets,
            *(
                secret
                for key in ("url", "cleanup_url")
                if isinstance(tool.options.get(key), str)
                for secret in url_secrets(tool.options[key])
            ),
        ],
    )
    return cls(tool, http)
