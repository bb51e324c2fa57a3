"""The batch and list routes the connectors observe many records with, over real sockets:
HubSpot batch read / archive and search IN, Stripe lists by ``created`` with both cursors,
SendGrid activity queries over many recipients and a time window, and the request counters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from baton.probes.sandbox import Sandbox

AUTH = {"Authorization": "Bearer test-token"}
CONTACTS = "/crm/v3/objects/contacts"
#: 2026-11-29T10:00:00Z, where the fake clock starts.
T0 = 1_795_946_400


class Clock:
    """A wall clock the test moves by hand (the sandbox stamps objects with it)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sb(clock: Clock) -> Iterator[Sandbox]:
    with Sandbox(search_lag_s=0.0, glue_delay_s=(0.0, 0.0), seed=4, wall=clock) as sandbox:
        yield sandbox


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


# HubSpot ----------------------------------------------------------------------------------
def _contact(sb: Sandbox, http: httpx.Client, email: str, **props: str) -> dict[str, Any]:
    r = http.post(
        f"{sb.urls['hubspot']}{CONTACTS}",
        json={"properties": {"email": email, **props}},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _batch_read(
    sb: Sandbox,
    http: httpx.Client,
    ids: list[str],
    *,
    properties: list[str] | None = None,
    history: list[str] | None = None,
    id_property: str | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {
        "inputs": [{"id": i} for i in ids],
        "properties": properties or [],
        "propertiesWithHistory": history or [],
    }
    if id_property is not None:
        body["idProperty"] = id_property
    return http.post(
        f"{sb.urls['hubspot']}{CONTACTS}/batch/read", json=body, params=params, headers=AUTH
    )


def test_hubspot_batch_read_all_found_is_200_with_the_single_read_views(
    sb: Sandbox, http: httpx.Client
) -> None:
    ids = [
        _contact(sb, http, f"p{i}@example.com", firstname=f"P{i}", phone=f"+4477009001{i}")["id"]
        for i in range(3)
    ]
    r = _batch_read(sb, http, ids, properties=["email", "phone"])
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"status", "results", "startedAt", "completedAt"}
    assert body["status"] == "COMPLETE"
    assert body["startedAt"].endswith("Z") and body["completedAt"] >= body["startedAt"]
    singles = [
        http.get(
            f"{sb.urls['hubspot']}{CONTACTS}/{cid}",
            params={"properties": "email,phone"},
            headers=AUTH,
        ).json()
        for cid in ids
    ]
    assert body["results"] == singles
    # no properties named: the default set, as GET returns it
    plain = _batch_read(sb, http, ids[:1]).json()["results"][0]
    assert plain == http.get(f"{sb.urls['hubspot']}{CONTACTS}/{ids[0]}", headers=AUTH).json()
    # an id given twice is one result
    assert len(_batch_read(sb, http, [ids[0], ids[0]]).json()["results"]) == 1
    assert _batch_read(sb, http, []).json()["results"] == []


def test_hubspot_batch_read_some_missing_is_207_with_object_not_found(
    sb: Sandbox, http: httpx.Client
) -> None:
    found = _contact(sb, http, "here@example.com")["id"]
    r = _batch_read(sb, http, ["999991", found, "999992", "999991"], properties=["email"])
    assert r.status_code == 207
    body = r.json()
    assert body["status"] == "COMPLETE"
    assert [c["id"] for c in body["results"]] == [found]
    assert body["numErrors"] == 1
    assert body["errors"] == [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
            "Check that ids are valid.",
            "context": {"ids": ["999991", "999992"]},
            "errors": [],
            "links": {},
        }
    ]
    none = _batch_read(sb, http, ["1", "2"])
    assert none.status_code == 207
    assert none.json()["results"] == [] and none.json()["errors"][0]["context"]["ids"] == ["1", "2"]


def test_hubspot_batch_read_by_email_archived_are_missing(sb: Sandbox, http: httpx.Client) -> None:
    live = _contact(sb, http, "live@example.com", firstname="Live")
    gone = _contact(sb, http, "gone@example.com", firstname="Gone")
    r = http.post(
        f"{sb.urls['hubspot']}{CONTACTS}/batch/archive",
        json={"inputs": [{"id": gone["id"]}, {"id": "424242"}]},
        headers=AUTH,
    )
    assert r.status_code == 204 and r.content == b""
    emails = ["LIVE@example.com", "gone@example.com", "never@example.com"]
    r = _batch_read(sb, http, emails, properties=["email", "firstname"], id_property="email")
    assert r.status_code == 207
    body = r.json()
    assert [c["id"] for c in body["results"]] == [live["id"]]
    assert body["results"][0]["properties"]["firstname"] == "Live"
    assert body["errors"][0]["context"]["ids"] == ["gone@example.com", "never@example.com"]
    by_id = _batch_read(sb, http, [live["id"], gone["id"]])
    assert by_id.status_code == 207 and by_id.json()["errors"][0]["context"]["ids"] == [gone["id"]]
    # ?archived=true reads the archived ones, as GET does
    archived = _batch_read(sb, http, [gone["id"]], params={"archived": "true"})
    assert archived.status_code == 200
    assert archived.json()["results"][0]["archived"] is True
    assert archived.json()["results"][0]["archivedAt"]


def test_hubspot_batch_read_duplicates_give_the_oldest(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["duplicate@crm"])
    email = "twice@example.com"
    hook = http.post(
        f"{sb.urls['glue']}/hooks/catch/1/a",
        json={"email": email, "first_name": "Ada", "last_name": "Probe"},
    )
    assert hook.status_code == 200
    assert sb.wait_idle()
    assert sb.state()["counts"]["hubspot"]["contacts"] == 2
    r = _batch_read(sb, http, [email], properties=["email"], id_property="email")
    assert r.status_code == 200
    results = r.json()["results"]
    single = http.get(
        f"{sb.urls['hubspot']}{CONTACTS}/{email}",
        params={"idProperty": "email", "properties": "email"},
        headers=AUTH,
    ).json()
    assert results == [single]
    listed = http.get(f"{sb.urls['hubspot']}{CONTACTS}", headers=AUTH).json()["results"]
    assert results[0]["id"] == min((c["id"] for c in listed), key=int)


def test_hubspot_batch_read_validation(sb: Sandbox, http: httpx.Client) -> None:
    url = f"{sb.urls['hubspot']}{CONTACTS}/batch/read"
    too_many = _batch_read(sb, http, [str(i) for i in range(101)])
    assert too_many.status_code == 400
    assert too_many.json()["category"] == "VALIDATION_ERROR"
    assert "maximum number of inputs" in too_many.json()["message"]
    assert "correlationId" in too_many.json()
    assert _batch_read(sb, http, [str(i) for i in range(100)]).status_code == 207
    no_history = http.post(url, json={"inputs": [{"id": "1"}], "properties": []}, headers=AUTH)
    assert no_history.status_code == 400
    assert "[propertiesWithHistory]" in no_history.json()["message"]
    bad_bodies: list[Any] = [
        {"inputs": [{"nope": "1"}], "properties": [], "propertiesWithHistory": []},
        {"inputs": "1", "properties": [], "propertiesWithHistory": []},
        {"inputs": [], "properties": "email", "propertiesWithHistory": []},
        [],
    ]
    for body in bad_bodies:
        r = http.post(url, json=body, headers=AUTH)
        assert r.status_code == 400, body
        assert r.json()["category"] == "VALIDATION_ERROR"
    assert http.post(url, content=b"{", headers=AUTH).status_code == 400
    bad_id_prop = _batch_read(sb, http, ["x"], id_property="phone")
    assert bad_id_prop.status_code == 400
    history_cap = _batch_read(sb, http, [str(i) for i in range(51)], history=["email"])
    assert history_cap.status_code == 400 and "property histories is 50" in history_cap.text
    archive_many = http.post(
        f"{sb.urls['hubspot']}{CONTACTS}/batch/archive",
        json={"inputs": [{"id": str(i)} for i in range(101)]},
        headers=AUTH,
    )
    assert archive_many.status_code == 400


def test_hubspot_batch_read_history_lists_the_current_value(
    sb: Sandbox, http: httpx.Client
) -> None:
    cid = _contact(sb, http, "hist@example.com", firstname="Ada")["id"]
    result = _batch_read(sb, http, [cid], history=["firstname", "company"]).json()["results"][0]
    assert result["propertiesWithHistory"] == {
        "firstname": [{"value": "Ada", "timestamp": result["updatedAt"], "sourceType": "API"}],
        "company": [],
    }


def test_hubspot_batch_read_fault_hooks_and_no_lag(clock: Clock, http: httpx.Client) -> None:
    with Sandbox(search_lag_s=30.0, wall=clock) as sb:
        cid = _contact(sb, http, "fresh@example.com")["id"]
        search = http.post(
            f"{sb.urls['hubspot']}{CONTACTS}/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "email",
                                "operator": "EQ",
                                "value": "fresh@example.com",
                            }
                        ]
                    }
                ]
            },
            headers=AUTH,
        )
        assert search.json()["total"] == 0  # search lags
        assert _batch_read(sb, http, [cid]).status_code == 200  # the record store does not
        no_auth = http.post(
            f"{sb.urls['hubspot']}{CONTACTS}/batch/read",
            json={"inputs": [], "properties": [], "propertiesWithHistory": []},
        )
        assert no_auth.status_code == 401
        assert no_auth.json()["category"] == "INVALID_AUTHENTICATION"
        sb.set_faults(["outage@hubspot"])
        down = _batch_read(sb, http, [cid])
        assert down.status_code == 503 and down.json()["category"] == "SERVICE_UNAVAILABLE"
        sb.set_faults(["ratelimit@hubspot=1"])
        limited = _batch_read(sb, http, [cid])
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert limited.json()["errorType"] == "RATE_LIMIT"


def test_hubspot_search_in_and_not_in(sb: Sandbox, http: httpx.Client) -> None:
    for i in range(4):
        _contact(sb, http, f"in{i}@example.com")

    def search(flt: dict[str, Any]) -> httpx.Response:
        return http.post(
            f"{sb.urls['hubspot']}{CONTACTS}/search",
            json={"filterGroups": [{"filters": [flt]}], "properties": ["email"], "limit": 100},
            headers=AUTH,
        )

    hits = search(
        {
            "propertyName": "email",
            "operator": "IN",
            "values": ["IN0@example.com", "in2@example.com", "nobody@example.com"],
        }
    ).json()
    assert hits["total"] == 2
    assert sorted(c["properties"]["email"] for c in hits["results"]) == [
        "in0@example.com",
        "in2@example.com",
    ]
    others = search(
        {"propertyName": "email", "operator": "NOT_IN", "values": ["in0@example.com"]}
    ).json()
    assert sorted(c["properties"]["email"] for c in others["results"]) == [
        "in1@example.com",
        "in2@example.com",
        "in3@example.com",
    ]
    five_groups = http.post(
        f"{sb.urls['hubspot']}{CONTACTS}/search",
        json={
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "email",
                            "operator": "IN",
                            "values": [f"in{i}@example.com"],
                        }
                    ]
                }
                for i in range(5)
            ]
        },
        headers=AUTH,
    ).json()
    assert five_groups["total"] == 4
    for bad in (
        {"propertyName": "email", "operator": "IN", "value": "in0@example.com"},
        {"propertyName": "email", "operator": "IN", "values": []},
        {"propertyName": "email", "operator": "NOT_IN", "values": "in0@example.com"},
    ):
        r = search(bad)
        assert r.status_code == 400, bad
        assert r.json()["category"] == "VALIDATION_ERROR"


# Stripe -------------------------------------------------------------------------------------
def _stripe(sb: Sandbox, http: httpx.Client, method: str, path: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = http.request(
        method, f"{sb.urls['stripe']}{path}", headers=AUTH, **kw
    ).json()
    return body


def _customers(sb: Sandbox, http: httpx.Client, clock: Clock, n: int) -> list[str]:
    """``n`` customers created one second apart from T0; their ids oldest first."""
    ids = []
    for i in range(n):
        clock.now = T0 + i
        email = "even@example.com" if i % 2 == 0 else f"c{i}@example.com"
        ids.append(_stripe(sb, http, "POST", "/v1/customers", data={"email": email})["id"])
    return ids


def _list(sb: Sandbox, http: httpx.Client, path: str, params: Any) -> httpx.Response:
    return http.get(f"{sb.urls['stripe']}{path}", params=params, headers=AUTH)


def test_stripe_list_created_filters(sb: Sandbox, http: httpx.Client, clock: Clock) -> None:
    ids = _customers(sb, http, clock, 12)

    def listed(params: Any) -> list[str]:
        r = _list(sb, http, "/v1/customers", {"limit": "100", **dict(params)})
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["data"]]

    newest_first = ids[::-1]
    assert listed({}) == newest_first
    assert listed({"created": str(T0 + 5)}) == [ids[5]]
    assert listed({"created[gte]": str(T0 + 9)}) == [ids[11], ids[10], ids[9]]
    assert listed({"created[gt]": str(T0 + 9)}) == [ids[11], ids[10]]
    assert listed({"created[lt]": str(T0 + 2)}) == [ids[1], ids[0]]
    assert listed({"created[lte]": str(T0 + 2)}) == [ids[2], ids[1], ids[0]]
    window = {"created[gte]": str(T0 + 3), "created[lt]": str(T0 + 6)}
    assert listed(window) == [ids[5], ids[4], ids[3]]
    # with the other filters: even ones share one email
    assert listed({**window, "email": "even@example.com"}) == [ids[4]]
    assert listed({"created[gt]": str(T0 + 100)}) == []
    # limit still caps a filtered list, and has_more tells there is more
    page = _list(sb, http, "/v1/customers", {"created[gte]": str(T0 + 2), "limit": "3"}).json()
    assert [c["id"] for c in page["data"]] == [ids[11], ids[10], ids[9]]
    assert page["has_more"] is True and page["url"] == "/v1/customers"


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"created": "yesterday"}, "created", "parameter_invalid_integer"),
        ({"created": "--5"}, "created", "parameter_invalid_integer"),
        ({"created[]": "5"}, "created", "parameter_invalid_integer"),
        ({"created[gte]": "1.5"}, "created[gte]", "parameter_invalid_integer"),
        ({"created[since]": "1"}, "created[since]", "parameter_unknown"),
        ({"created[gt][x]": "1"}, "created[gt]", "parameter_invalid_integer"),
        ({"limit": "0"}, "limit", None),
        ({"limit": "101"}, "limit", None),
        ({"ending_before": "cus_nope"}, "ending_before", "resource_missing"),
        ({"starting_after": "cus_nope"}, "starting_after", "resource_missing"),
        ({"starting_after": "cus_a", "ending_before": "cus_b"}, "ending_before", None),
        ({"colour": "red"}, "colour", "parameter_unknown"),
    ],
)
def test_stripe_list_bad_parameters(
    sb: Sandbox, http: httpx.Client, params: dict[str, str], param: str, code: str | None
) -> None:
    r = _list(sb, http, "/v1/customers", params)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error.get("code") == code


def test_stripe_list_pagination_both_ways(sb: Sandbox, http: httpx.Client, clock: Clock) -> None:
    ids = _customers(sb, http, clock, 130)
    newest_first = ids[::-1]
    # forwards (older) with starting_after
    first = _list(sb, http, "/v1/customers", {"limit": "100"}).json()
    assert [c["id"] for c in first["data"]] == newest_first[:100] and first["has_more"]
    rest = _list(
        sb, http, "/v1/customers", {"limit": "100", "starting_after": first["data"][-1]["id"]}
    ).json()
    assert [c["id"] for c in rest["data"]] == newest_first[100:] and not rest["has_more"]
    # backwards (newer) with ending_before: the page just newer, still newest first
    back = _list(sb, http, "/v1/customers", {"limit": "100", "ending_before": ids[0]}).json()
    assert [c["id"] for c in back["data"]] == newest_first[29:129]
    assert back["has_more"] is True
    top = _list(
        sb, http, "/v1/customers", {"limit": "100", "ending_before": back["data"][0]["id"]}
    ).json()
    assert [c["id"] for c in top["data"]] == newest_first[:29] and top["has_more"] is False
    near = _list(sb, http, "/v1/customers", {"limit": "2", "ending_before": ids[5]}).json()
    assert [c["id"] for c in near["data"]] == [ids[7], ids[6]] and near["has_more"] is True
    assert _list(sb, http, "/v1/customers", {"ending_before": ids[-1]}).json() == {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": "/v1/customers",
    }
    # a cursor with created: pages within the filtered set
    since = {"created[gte]": str(T0 + 120), "limit": "4"}
    page = _list(sb, http, "/v1/customers", since).json()
    assert [c["id"] for c in page["data"]] == newest_first[:4] and page["has_more"]
    tail = _list(
        sb, http, "/v1/customers", {**since, "starting_after": page["data"][-1]["id"]}
    ).json()
    assert [c["id"] for c in tail["data"]] == newest_first[4:8] and tail["has_more"]
    older = _list(
        sb, http, "/v1/customers", {**since, "limit": "100", "starting_after": ids[125]}
    ).json()
    assert [c["id"] for c in older["data"]] == [ids[124], ids[123], ids[122], ids[121], ids[120]]


def test_stripe_invoices_and_items_by_created(
    sb: Sandbox, http: httpx.Client, clock: Clock
) -> None:
    cus = _stripe(sb, http, "POST", "/v1/customers", data={"email": "bill@example.com"})["id"]
    other = _stripe(sb, http, "POST", "/v1/customers", data={"email": "other@example.com"})["id"]
    items, invoices = [], []
    for i in range(4):
        clock.now = T0 + 60 * i
        items.append(
            _stripe(
                sb,
                http,
                "POST",
                "/v1/invoiceitems",
                data={"customer": cus, "amount": "100", "currency": "usd"},
            )["id"]
        )
        invoices.append(_stripe(sb, http, "POST", "/v1/invoices", data={"customer": cus})["id"])
    clock.now = T0 + 60
    _stripe(sb, http, "POST", "/v1/invoices", data={"customer": other})

    window = {"created[gte]": str(T0 + 60), "created[lte]": str(T0 + 120)}
    got = _list(sb, http, "/v1/invoices", {**window, "customer": cus}).json()["data"]
    assert [i["id"] for i in got] == [invoices[2], invoices[1]]
    assert len(_list(sb, http, "/v1/invoices", window).json()["data"]) == 3
    got = _list(sb, http, "/v1/invoiceitems", {"created[gt]": str(T0 + 60)}).json()["data"]
    assert [i["id"] for i in got] == [items[3], items[2]]
    exact = _list(sb, http, "/v1/invoiceitems", {"created": str(T0), "customer": cus}).json()
    assert [i["id"] for i in exact["data"]] == [items[0]]
    page = _list(sb, http, "/v1/invoices", {"customer": cus, "ending_before": invoices[1]}).json()
    assert [i["id"] for i in page["data"]] == [invoices[3], invoices[2]]


# SendGrid -----------------------------------------------------------------------------------
def _send(sb: Sandbox, http: httpx.Client, to: str, subject: str = "Welcome") -> None:
    mail = {
        "personalizations": [{"to": [{"email": to}]}],
        "from": {"email": "hello@example.com"},
        "subject": subject,
        "content": [{"type": "text/plain", "value": "Hi"}],
    }
    r = http.post(f"{sb.urls['sendgrid']}/v3/mail/send", json=mail, headers=AUTH)
    assert r.status_code == 202


def _activity(
    sb: Sandbox, http: httpx.Client, query: str, limit: int | None = None
) -> httpx.Response:
    params = {"query": query, **({"limit": str(limit)} if limit is not None else {})}
    return http.get(f"{sb.urls['sendgrid']}/v3/messages", params=params, headers=AUTH)


def _stamp(seconds: int) -> str:
    return dt.datetime.fromtimestamp(T0 + seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_sendgrid_query_over_several_recipients(
    sb: Sandbox, http: httpx.Client, clock: Clock
) -> None:
    for i in range(5):
        clock.now = T0 + 60 * i
        _send(sb, http, f"r{i}@example.com", subject="Welcome" if i % 2 == 0 else "Other")

    def recipients(query: str) -> list[str]:
        r = _activity(sb, http, query, limit=1000)
        assert r.status_code == 200, r.text
        return [m["to_email"] for m in r.json()["messages"]]

    assert recipients('to_email="r0@example.com" OR to_email="R3@example.com"') == [
        "r3@example.com",
        "r0@example.com",
    ]
    assert recipients(
        '(to_email="r0@example.com" OR to_email="r1@example.com" OR to_email="r2@example.com")'
        ' AND subject="Welcome"'
    ) == ["r2@example.com", "r0@example.com"]
    assert recipients(
        'subject="Other" AND (to_email="r1@example.com" OR to_email="r4@example.com")'
    ) == ["r1@example.com"]
    assert recipients('to_email IN ("r1@example.com", "r4@example.com", "x@example.com")') == [
        "r4@example.com",
        "r1@example.com",
    ]
    assert recipients('to_email NOT IN ("r1@example.com") AND subject="Other"') == [
        "r3@example.com"
    ]
    # a window: inclusive at both ends
    window = f'last_event_time BETWEEN TIMESTAMP "{_stamp(60)}" AND TIMESTAMP "{_stamp(180)}"'
    assert recipients(window) == ["r3@example.com", "r2@example.com", "r1@example.com"]
    assert recipients(
        f'({window}) AND (to_email="r1@example.com" OR to_email="r4@example.com")'
    ) == ["r1@example.com"]
    assert recipients(f'last_event_time > TIMESTAMP "{_stamp(180)}"') == ["r4@example.com"]
    assert recipients(f'last_event_time <= TIMESTAMP "{_stamp(60)}"') == [
        "r1@example.com",
        "r0@example.com",
    ]


def test_sendgrid_long_query_of_100_recipients(
    sb: Sandbox, http: httpx.Client, clock: Clock
) -> None:
    emails = [
        f"probe+bt1a2b3c4d-run0042-{i:03d}@probes.baton-sandbox.example.com" for i in range(100)
    ]
    for i, email in enumerate(emails[:30]):
        clock.now = T0 + i
        _send(sb, http, email)
    query = " OR ".join(f'to_email="{e}"' for e in emails)
    r = _activity(sb, http, query, limit=1000)
    assert len(str(r.request.url)) > 8190  # past aiohttp's default request line
    assert r.status_code == 200, r.text
    assert [m["to_email"] for m in r.json()["messages"]] == emails[:30][::-1]
    window = f'last_event_time BETWEEN TIMESTAMP "{_stamp(0)}" AND TIMESTAMP "{_stamp(9)}"'
    r = _activity(sb, http, f"({query}) AND {window}", limit=1000)
    assert len(r.json()["messages"]) == 10


@pytest.mark.parametrize(
    "query",
    [
        'to_email="a@example.com" AND to_email="b@example.com" OR to_email="c@example.com"',
        '(to_email="a@example.com"',
        'to_email="a@example.com")',
        'to_email IN "a@example.com"',
        "to_email IN ()",
        'to_email > "a@example.com"',
        'last_event_time BETWEEN "2026-11-29T10:00:00Z" AND "2026-11-29T10:05:00Z"',
        'last_event_time BETWEEN TIMESTAMP "2026-11-29T10:00:00Z"',
        'last_event_time = TIMESTAMP "yesterday"',
        'to_email="a@example.com" OR',
        'NOT to_email="a@example.com"',
        "to_email='a@example.com'",
    ],
)
def test_sendgrid_unsupported_syntax_is_a_400(sb: Sandbox, http: httpx.Client, query: str) -> None:
    r = _activity(sb, http, query)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["message"].startswith("invalid syntax")


def test_sendgrid_limit_up_to_1000(sb: Sandbox, http: httpx.Client) -> None:
    assert _activity(sb, http, 'status="delivered"', limit=1000).status_code == 200
    too_many = _activity(sb, http, 'status="delivered"', limit=1001)
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["field"] == "limit"


# Counters and the request log ----------------------------------------------------------------
def test_counts_by_tool_and_route_and_reset(sb: Sandbox, http: httpx.Client) -> None:
    assert sb.counts() == {}
    cid = _contact(sb, http, "count@example.com")["id"]
    for _ in range(3):
        _batch_read(sb, http, [cid])
    http.get(f"{sb.urls['hubspot']}{CONTACTS}/{cid}", headers=AUTH)
    http.get(f"{sb.urls['hubspot']}{CONTACTS}/999", headers=AUTH)
    http.get(f"{sb.urls['stripe']}/v1/customers", headers=AUTH)
    http.get(f"{sb.urls['stripe']}/v1/customers/cus_x", headers=AUTH)
    http.get(f"{sb.urls['stripe']}/v1/charges", headers=AUTH)
    _activity(sb, http, 'to_email="a@example.com"')
    sb.set_faults(["outage@sendgrid"])
    assert _activity(sb, http, 'to_email="a@example.com"').status_code == 503
    expected = {
        "hubspot": {
            f"POST {CONTACTS}": 1,
            f"POST {CONTACTS}/batch/read": 3,
            f"GET {CONTACTS}/{{contactId}}": 2,
        },
        "stripe": {
            "GET /v1/customers": 1,
            "GET /v1/customers/{id}": 1,
            "GET (no route)": 1,
        },
        "sendgrid": {"GET /v3/messages": 2},
    }
    assert sb.counts() == expected
    assert http.get(f"{sb.control_url}/counts").json() == expected
    assert sb.requests("hubspot")[-1]["route"] == f"GET {CONTACTS}/{{contactId}}"
    # control calls are not counted
    assert sb.counts() == expected
    assert http.post(f"{sb.control_url}/reset").status_code == 200
    assert sb.counts() == {} and http.get(f"{sb.control_url}/counts").json() == {}
    http.get(f"{sb.urls['stripe']}/v1/invoices", headers=AUTH)
    assert sb.counts() == {"stripe": {"GET /v1/invoices": 1}}
    sb.reset()
    assert sb.counts() == {}
    http.get(f"{sb.urls['stripe']}/v1/invoices", headers=AUTH)
    assert http.delete(f"{sb.control_url}/counts").status_code == 204
    assert sb.counts() == {}
    assert len(sb.requests()) == 1  # clearing the counters leaves the log


def test_request_log_keeps_the_newest_and_counts_keep_all(http: httpx.Client) -> None:
    with pytest.raises(ValueError, match="request_log_size"):
        Sandbox(request_log_size=-1)
    with Sandbox(request_log_size=5) as sb:
        for i in range(12):
            http.get(
                f"{sb.urls['stripe']}/v1/customers", params={"limit": str(i + 1)}, headers=AUTH
            )
        log = sb.requests()
        assert [e["query"]["limit"] for e in log] == [str(i) for i in range(8, 13)]
        assert len(http.get(f"{sb.control_url}/requests").json()["requests"]) == 5
        assert sb.state()["counts"]["requests"] == 5
        assert sb.counts() == {"stripe": {"GET /v1/customers": 12}}
