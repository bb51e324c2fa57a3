"""``cleanup_batch`` end to end against the sandbox's stand-ins: the glue creates the records
(HubSpot contacts, Stripe customers with finalized invoices), the connectors observe them and
then remove a whole round in a few requests; a second round removes nothing."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
import pytest
from test_sandbox_glue import hook_payload

from baton.probes.config import StageConfig, ToolConfig
from baton.probes.connectors import Connector, Look, Removal, build
from baton.probes.record import TestRecord, make_record
from baton.probes.sandbox import Sandbox

AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(search_lag_s=0.0, glue_delay_s=(0.0, 0.0), seed=5) as sandbox:
        yield sandbox


class Sent:
    """Requests the connectors sent, as ``METHOD /path`` with ids replaced by ``{id}``."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    async def __call__(self, request: httpx.Request) -> None:
        parts = request.url.path.split("/")[2:]  # drop the sandbox's /hubspot, /stripe
        if parts[-1] == "void":
            parts[-2] = "{id}"
        elif parts[-1].startswith(("cus_", "in_", "ii_")):
            parts[-1] = "{id}"
        self.seen[f"{request.method} /{'/'.join(parts)}"] += 1

    def take(self) -> dict[str, int]:
        out = dict(self.seen)
        self.seen.clear()
        return out


@pytest.fixture
async def tools(sb: Sandbox) -> AsyncIterator[tuple[Connector, Connector, Connector, Sent]]:
    sent = Sent()
    async with httpx.AsyncClient(event_hooks={"request": [sent]}) as client:
        built = [
            build(
                ToolConfig(name=n, type=n, base_url=sb.urls[n], credentials={"token": "t"}), client
            )
            for n in ("hubspot", "stripe", "sendgrid")
        ]
        for conn in built:
            conn.http.limiter = None  # the stand-ins do not rate limit unless asked
        yield built[0], built[1], built[2], sent


def run_glue(sb: Sandbox, recs: Sequence[TestRecord], faults: Sequence[str] = ()) -> None:
    sb.set_faults(list(faults))
    with httpx.Client(timeout=5.0) as http:
        for rec in recs:
            hook = f"{sb.urls['glue']}/hooks/catch/1/x"
            assert http.post(hook, json=hook_payload(rec)).status_code == 200
    assert sb.wait_idle(10)
    sb.set_faults([])


async def seen_ids(conn: Connector, recs: Sequence[TestRecord], since: float) -> list[list[str]]:
    stage = StageConfig(name="s", tool=conn.name)
    out = await conn.observe_batch([Look(r, stage, since=since, thorough=True) for r in recs])
    assert all(isinstance(o, list) for o in out), out
    return [[str(x["_id"]) for x in o] for o in out if isinstance(o, list)]


def stripe_objects(sb: Sandbox) -> tuple[int, list[str]]:
    with httpx.Client(timeout=5.0, headers=AUTH) as http:
        customers = http.get(f"{sb.urls['stripe']}/v1/customers", params={"limit": "100"})
        invoices = http.get(f"{sb.urls['stripe']}/v1/invoices", params={"limit": "100"})
    return len(customers.json()["data"]), [i["status"] for i in invoices.json()["data"]]


@pytest.mark.anyio
async def test_a_healthy_round_is_three_hubspot_requests_and_three_stripe_reads(
    sb: Sandbox, tools: tuple[Connector, Connector, Connector, Sent]
) -> None:
    crm, billing, mail, sent = tools
    since = time.time()
    recs = [make_record(f"bt{i:06d}") for i in range(20)]
    run_glue(sb, recs)
    contacts = await seen_ids(crm, recs, since)
    invoices = await seen_ids(billing, recs, since)
    sent.take()

    def removals(ids: list[list[str]]) -> list[Removal]:
        return [Removal(r, tuple(ids[i]), thorough=False, since=since) for i, r in enumerate(recs)]

    assert await crm.cleanup_batch(removals(contacts)) == [1] * 20
    assert sent.take() == {
        "POST /crm/v3/objects/contacts/batch/read": 1,
        "POST /crm/v3/objects/contacts/search": 1,
        "POST /crm/v3/objects/contacts/batch/archive": 1,
    }
    assert await billing.cleanup_batch(removals(invoices)) == [2] * 20
    assert sent.take() == {
        "GET /v1/customers": 1,
        "GET /v1/invoices": 1,
        "GET /v1/invoiceitems": 1,
        "POST /v1/invoices/{id}/void": 20,
        "DELETE /v1/customers/{id}": 20,
    }
    assert await mail.cleanup_batch(removals([[] for _ in recs])) == [0] * 20
    assert sent.take() == {}
    counts = sb.state()["counts"]
    assert counts["hubspot"] == {"contacts": 0, "archived": 20}
    assert stripe_objects(sb) == (0, ["void"] * 20)

    # Again: nothing left, nothing written.
    assert await crm.cleanup_batch(removals(contacts)) == [0] * 20
    assert sent.take() == {"POST /crm/v3/objects/contacts/batch/read": 2}  # by email, by id
    assert await billing.cleanup_batch(removals(invoices)) == [0] * 20
    assert sent.take() == {"GET /v1/customers": 1, "GET /v1/invoices": 1}


@pytest.mark.anyio
async def test_duplicates_and_mangled_emails_are_removed_and_nothing_else(
    sb: Sandbox, tools: tuple[Connector, Connector, Connector, Sent]
) -> None:
    crm, billing, _, sent = tools
    since = time.time()
    stranger, dup, swapped, crashed = (
        make_record(m) for m in ("bt000000", "bt000001", "bt000002", "bt000003")
    )
    run_glue(sb, [stranger])  # another run's records: never touched
    run_glue(sb, [dup], ["duplicate@crm", "duplicate@invoice"])
    run_glue(sb, [swapped], ["swap@crm=firstname,email", "swap@invoice=email,name"])
    run_glue(sb, [crashed], ["swap@crm=company,email", "swap@invoice=email,name"])
    contacts = await seen_ids(crm, [dup, swapped], since)
    invoices = await seen_ids(billing, [dup, swapped], since)
    assert [len(c) for c in contacts] == [2, 1] and [len(i) for i in invoices] == [2, 1]
    sent.take()
    removals = [
        Removal(dup, tuple(contacts[0]), thorough=False, since=since),
        # The run saw the contact with its mangled email: known id, no search needed.
        Removal(swapped, tuple(contacts[1]), thorough=False, since=since),
        # A crash: no ids kept; the marker search finds it.
        Removal(crashed, (), thorough=True, since=since),
    ]
    assert await crm.cleanup_batch(removals) == [2, 1, 1]
    assert sb.state()["counts"]["hubspot"] == {"contacts": 1, "archived": 4}
    sent.take()
    stripe_removals = [
        Removal(dup, tuple(invoices[0]), thorough=False, since=since),
        Removal(swapped, tuple(invoices[1]), thorough=False, since=since),
        Removal(crashed, (), thorough=True, since=since),
    ]
    assert await billing.cleanup_batch(stripe_removals) == [4, 2, 2]
    assert sent.take()["GET /v1/customers"] == 1  # the marker is matched locally, no search
    customers, statuses = stripe_objects(sb)
    assert customers == 1 and sorted(statuses) == ["open"] + ["void"] * 4
