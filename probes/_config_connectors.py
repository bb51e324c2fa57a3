"""What config validation knows about each connector type, read from the registry.

Kept apart from ``probes.connectors`` so the config loads (and its tests run) even while
a connector module is missing: the built-in types are then known by role only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ToolConfig


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


#: The built-in types' roles, used when a connector module cannot be imported.
_BUILTIN_ROLES = {
    "webhook": (True, False),
    "hubspot_forms": (True, False),
    "hubspot": (False, True),
    "sendgrid": (False, True),
    "stripe": (False, True),
    "http": (False, True),
}


def connector_specs() -> dict[str, ConnectorSpec]:
    """Every registered connector type, read from ``probes.connectors``.

    When the registry cannot be imported (a connector module missing or broken), the
    built-in types are still known by role, and their options are not checked.
    """
    specs = {name: ConnectorSpec(name, *role) for name, role in _BUILTIN_ROLES.items()}
    try:
        from . import connectors

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
    except ImportError:
        pass
    return specs
