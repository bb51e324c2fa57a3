"""Hatch build hook: the wheel carries config.example.yaml as
baton/probes/examples/config.example.yaml (``baton demo`` reads it with importlib.resources).

Only in the standard wheel. In an editable wheel any file under baton/ would create a
site-packages/baton/ folder, a namespace package that Python finds before the editable import
hook and that hides the real ``baton``; an editable install reads the example from the
checkout instead (``baton.probes.demo.example_config_text``).
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ExampleConfigHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"]["config.example.yaml"] = (
                "baton/probes/examples/config.example.yaml"
            )
