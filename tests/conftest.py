from __future__ import annotations

import pytest

_SECRET_PREFIXES = ("SLACK_", "HUBSPOT_", "SENDGRID_", "STRIPE_", "BATON_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real token from the developer's shell."""
    import os

    for key in list(os.environ):
        if key.startswith(_SECRET_PREFIXES):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
