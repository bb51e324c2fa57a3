"""Slack gives up on a request after 3 s and closes the connection; the request is claimed by
then (a retry of it is ignored as a duplicate), so its work must run even though the ack
could not be written. Through the real endpoint, with a client that leaves before the ack."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest
from bot_support import SECRET
from slack_standin import signed_headers
from test_bot_http import harness

pytestmark = pytest.mark.anyio


async def test_a_run_claimed_before_slack_hung_up_still_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with harness() as h:
        # The listener acks and claims; then, before the ack is written, Slack hangs up.
        gone = asyncio.Event()
        dispatch = h.bot.app.async_dispatch

        async def slow_dispatch(request: Any) -> Any:
            response = await dispatch(request)
            await asyncio.wait_for(gone.wait(), 10)
            await asyncio.sleep(0.2)  # the server sees the connection go
            return response

        h.bot.app.async_dispatch = slow_dispatch  # type: ignore[method-assign]
        body = h.body("run lead-to-invoice")
        headers = signed_headers(SECRET, body)  # a form, as Slack posts a command
        port = h.http.base_url.port
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        while not h.bot.store.db.execute("SELECT count(*) FROM bot_requests").fetchone()[0]:
            await asyncio.sleep(0.01)  # claimed
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()  # a reset, as when Slack's side times out
        gone.set()
        for _ in range(500):
            if h.engine.starts:
                break
            await asyncio.sleep(0.01)
        await h.bot.drain()
        assert [s["workflow"] for s in h.engine.starts] == ["lead-to-invoice"]
        assert "could not send the ack" in caplog.text
        assert "Traceback" not in caplog.text
        # Slack's retry of it is a duplicate: acked, nothing started twice
        retry = await h.send(body, signed_headers(SECRET, body, **{"X-Slack-Retry-Num": "1"}))
        assert (retry.status, retry.body) == (200, "")
        await h.bot.drain()
        assert len(h.engine.starts) == 1
