"""What config validation knows about each connector type, read from the registry.

Built-ins and plugins are read the same way: a connector declares its roles, options and
credentials, and checks its own options (``Connector.validate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import ToolConfig


@dataclass(frozen=True)
class ConnectorSpec:
    """What config validation needs to know about one connector type."""

    type_name: str
    can_inject: bool
    can_observe: bool
    #: Option keys the connector reads; ``None`` when unknown (then any key is accepted).
    options: frozenset[str] | None = None
    required_options: tuple[str, ...] = ()
    required_credentials: tuple[str, ...] = ()
    #: The connector's own option checks (``Connector.validate``); ``None`` when unknown.
    validate: Callable[[ToolConfig], list[tuple[str, str]]] | None = None


def connector_specs() -> dict[str, ConnectorSpec]:
    """Every registered connector type, built-in or plugin alike, read from
    ``baton.probes.connectors``. A plugin that fails to load raises ``PluginError`` naming it."""
    from .. import connectors

    specs: dict[str, ConnectorSpec] = {}
    for name in connectors.connector_types():
        cls = connectors.get(name)
        specs[name] = ConnectorSpec(
            type_name=name,
            can_inject=cls.can_inject,
            can_observe=cls.can_observe,
            options=frozenset(cls.options_doc),
            required_options=tuple(cls.required_options),
            required_credentials=tuple(cls.required_credentials),
            validate=cls.validate,
        )
    return specs
