"""Spec conformance of ``cleanup_batch``: every HubSpot request of a round (batch read by
email and by id, ``IN`` and full-text searches, batch archive) is what the published OpenAPI
document accepts; Stripe's sends only documented parameters."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from _specs import stripe_resources
from test_connectors_specs import (
    ADA,
    CONTACTS,
    CRM,
    HUBSPOT,
    RECORD,
    STRIPE_PARAMS,
    SWAPPED,
    RecordingApi,
    batch_read_answer,
    check,
    results,
)

from baton.probes.config import ToolConfig
from baton.probes.connectors import Removal
from baton.probes.connectors.testing import body, connect
from baton.probes.record import make_record


@pytest.mark.anyio
async def test_hubspot_cleanup_round_conforms() -> None:
    other = make_record("bt000002")
    by_email = batch_read_answer(ADA, missing=other.email)
    by_id = batch_read_answer(SWAPPED)
    api = RecordingApi()
    api.on("POST", f"{CONTACTS}/batch/read", by_email, by_id)
    api.on("POST", f"{CONTACTS}/search", results(ADA), results(SWAPPED))
    api.on("POST", f"{CONTACTS}/batch/archive", httpx.Response(204))
    async with connect(CRM, api) as crm:
        out = await crm.cleanup_batch(
            [Removal(RECORD, thorough=True, since=1.0), Removal(other, thorough=False, since=1.0)]
        )
    assert out == [2, 0]
    assert check(api, HUBSPOT) == [
        f"POST {CONTACTS}/batch/read",
        f"POST {CONTACTS}/search",
        f"POST {CONTACTS}/search",
        f"POST {CONTACTS}/batch/read",
        f"POST {CONTACTS}/batch/archive",
    ]
    assert body(api.requests[-1]) == {"inputs": [{"id": "512"}, {"id": "600"}]}


@pytest.mark.anyio
async def test_stripe_cleanup_round_sends_only_documented_parameters() -> None:
    fixtures = stripe_resources()
    now = int(time.time())
    customer = {**fixtures["customer"], "email": RECORD.email, "created": now}
    invoice = {**fixtures["invoice"], "customer": customer["id"], "created": now}
    item = {**fixtures["invoiceitem"], "customer": customer["id"], "date": now}

    def page(*data: dict[str, Any], more: bool = False) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "has_more": more, "data": list(data)})

    api = RecordingApi()
    api.on("GET", "/v1/customers", page(customer, more=True), page())
    api.on("GET", "/v1/invoices", page(invoice))
    api.on("GET", "/v1/invoiceitems", page(item))
    api.on(
        "GET",
        "/v1/invoices/in_other",
        httpx.Response(200, json={**invoice, "id": "in_other", "customer": "cus_other"}),
    )
    api.on("GET", "/v1/customers/cus_other", httpx.Response(200, json=fixtures["deleted_customer"]))
    api.on("DELETE", f"/v1/invoices/{invoice['id']}", httpx.Response(200))
    api.on("DELETE", f"/v1/invoiceitems/{item['id']}", httpx.Response(200))
    api.on("DELETE", f"/v1/customers/{customer['id']}", httpx.Response(200))
    cfg = ToolConfig(name="billing", type="stripe", credentials={"token": "sk_test_123"})
    async with connect(cfg, api) as billing:
        out = await billing.cleanup_batch(
            [Removal(RECORD, ("in_other", "cus_other"), since=now - 60)]
        )
    assert out == [3]
    for request in api.requests:
        assert request.headers["authorization"] == "Bearer sk_test_123"
        if request.method == "GET" and request.url.path in STRIPE_PARAMS:
            sent = {key.split("[", 1)[0] for key in request.url.params}
            assert sent <= STRIPE_PARAMS[request.url.path], request.url
            assert "created[gte]" in request.url.params
        else:  # retrieve, delete: https://docs.stripe.com/api/customers/retrieve etc.
            assert request.content == b"" and not request.url.params, request.url
    assert [r.url.path for r in api.sent("GET") if r.url.path not in STRIPE_PARAMS] == [
        "/v1/customers/cus_other",
        "/v1/invoices/in_other",
    ]
