"""Test helpers for connectors: a scripted vendor API behind ``httpx.MockTransport``.

Used by Baton's own tests, and handy for a third-party connector's::

    api = FakeApi()
    api.on("GET", "/v1/customers", httpx.Response(200, json={"data": []}))
    async with connect(ToolConfig(name="billing", type="stripe"), api) as stripe:
        assert await stripe.observe(record, stage) == []
    assert api.requests[0].url.params["email"] == record.email
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from tenacity import wait_none

from ..config import ToolConfig
from . import build
from ._base import Connector
from ._http import RetryPolicy

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response] | BaseException


class FakeApi:
    """Records every request; answers each ``(method, path)`` from a queue (the last answer
    repeats). An unscripted request fails the test with the request in the message."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._routes: dict[tuple[str, str], list[Answer]] = {}

    def on(self, method: str, path: str, *answers: Answer) -> FakeApi:
        """Script ``answers`` for ``method path`` (path without the query string)."""
        self._routes.setdefault((method.upper(), path), []).extend(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self._routes.get((request.method, request.url.path))
        if not queue:
            raise AssertionError(f"unexpected request: {request.method} {request.url}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, httpx.Response):
            # A fresh copy each time: a response object is consumed once it is read.
            return httpx.Response(
                answer.status_code, headers=answer.headers, content=answer.content
            )
        return answer(request)

    def sent(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        """The recorded requests, optionally only those for ``method`` and/or ``path``."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.url.path == path)
        ]


def body(request: httpx.Request) -> Any:
    """The JSON body of a recorded request."""
    return json.loads(request.content)


@asynccontextmanager
async def connect(
    tool: ToolConfig,
    api: FakeApi,
    *,
    retry: RetryPolicy | None = None,
    rate_limit: bool = False,
) -> AsyncIterator[Connector]:
    """The connector for ``tool`` talking to ``api``. Retries do not wait and the rate
    limiter is off unless asked for, so tests never sleep."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        conn = build(tool, client, retry=retry or RetryPolicy(wait=wait_none()))
        if not rate_limit:
            conn.http.limiter = None
        yield conn
