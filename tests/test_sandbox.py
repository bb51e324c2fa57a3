"""The sandbox over real sockets: lifecycle, control endpoints, and each stand-in's API."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from baton.probes.sandbox import FaultSpecError, Sandbox

AUTH = {"Authorization": "Bearer test-token"}
EMAIL = "probe+bt1a2b3c@example.com"


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(search_lag_s=0.0, glue_delay_s=(0.0, 0.0), seed=1) as sandbox:
        yield sandbox


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def eventually(check: Callable[[], Any], timeout: float = 3.0) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


# Lifecycle ---------------------------------------------------------------------------
def _sandbox_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "baton-sandbox"]


def test_start_stop_leaves_no_thread(http: httpx.Client) -> None:
    before = set(threading.enumerate())
    sb = Sandbox()
    sb.start()
    assert sb.running
    assert sb.url.startswith("http://127.0.0.1:")
    assert sb.urls == {
        name: f"{sb.url}/{name}" for name in ("hsforms", "hubspot", "sendgrid", "stripe", "glue")
    }
    state_url = f"{sb.control_url}/state"
    assert http.get(state_url).status_code == 200
    sb.stop()
    sb.stop()  # idempotent
    assert not sb.running
    assert set(threading.enumerate()) <= before
    with pytest.raises(httpx.ConnectError):
        http.get(state_url)


def test_context_manager_and_restart(http: httpx.Client) -> None:
    sb = Sandbox(search_lag_s=0)
    with sb:
        first = sb.url
        with pytest.raises(RuntimeError, match="already started"):
            sb.start()
    with pytest.raises(RuntimeError, match="not started"):
        _ = sb.url
    with sb:  # a stopped sandbox starts again, on a fresh port
        assert http.get(f"{sb.url}/_sandbox/state").status_code == 200
        assert sb.url.startswith("http://127.0.0.1:") and first
    assert not _sandbox_threads()


def test_port_in_use_raises_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            Sandbox(port=port).start()
    assert not _sandbox_threads()


def test_bad_faults_fail_before_start() -> None:
    with pytest.raises(FaultSpecError, match="unknown kind"):
        Sandbox(faults=["nope@crm"])
    with pytest.raises(ValueError, match="glue_delay_s"):
        Sandbox(glue_delay_s=(1.0, 0.5))


def test_stop_cancels_pending_glue_work(http: httpx.Client) -> None:
    sb = Sandbox(faults=["delay@glue=30"], glue_delay_s=(0, 0)).start()
    http.post(f"{sb.urls['glue']}/hooks/catch/1/a", json={"email": EMAIL})
    assert sb.state()["counts"]["glue"]["pending"] == 1
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 3
    assert not _sandbox_threads()


def test_methods_work_while_stopped() -> None:
    sb = Sandbox(faults=["outage@stripe"], seed=5)
    assert sb.faults == ["outage@stripe"]
    sb.set_faults(["lag@hubspot=2"])
    assert sb.state()["faults"] == ["lag@hubspot=2"]
    sb.reset()
    assert sb.requests() == []
    assert "stopped" in repr(sb)


# Control -----------------------------------------------------------------------------
def test_control_faults(sb: Sandbox, http: httpx.Client) -> None:
    url = f"{sb.control_url}/faults"
    assert http.get(url).json()["faults"] == []
    r = http.put(url, json=["swap@crm=firstname,email", "cents"])
    assert r.status_code == 200
    assert r.json()["faults"] == ["swap@crm=firstname,email", "cents@invoice"]
    assert sb.faults == ["swap@crm=firstname,email", "cents@invoice"]
    bad = http.put(url, json=["drop@stripe"])
    assert bad.status_code == 400
    assert "did you mean drop@invoice?" in bad.json()["error"]
    assert http.put(url, content=b"not json").status_code == 400
    assert http.put(url, json={"faults": "drop@crm"}).status_code == 400
    assert http.put(url, json={"faults": []}).json()["faults"] == []
    sb.set_faults(["outage@glue"])
    assert http.get(url).json()["faults"] == ["outage@glue"]
    with pytest.raises(FaultSpecError):
        sb.set_faults(["outage@crm"])
    assert sb.faults == ["outage@glue"]


def test_request_log_hides_authorization(sb: Sandbox, http: httpx.Client) -> None:
    http.post(
        f"{sb.urls['stripe']}/v1/customers",
        data={"email": EMAIL, "metadata[marker]": "bt1a2b3c"},
        headers={**AUTH, "X-Trace": "t1"},
    )
    http.get(
        f"{sb.urls['hubspot']}/crm/v3/objects/contacts/1",
        params={"properties": "email"},
        headers=AUTH,
    )
    log = http.get(f"{sb.control_url}/requests").json()["requests"]
    assert [(e["tool"], e["method"], e["status"]) for e in log] == [
        ("stripe", "POST", 200),
        ("hubspot", "GET", 404),
    ]
    first = log[0]
    assert first["path"] == "/stripe/v1/customers"
    assert first["body"] == {"email": EMAIL, "metadata[marker]": "bt1a2b3c"}
    assert first["headers"]["X-Trace"] == "t1"
    assert not any(k.lower() == "authorization" for k in first["headers"])
    assert log[1]["query"] == {"properties": "email"}
    assert [e["tool"] for e in sb.requests("hubspot")] == ["hubspot"]
    only = http.get(f"{sb.control_url}/requests", params={"tool": "stripe"}).json()["requests"]
    assert len(only) == 1
    assert http.delete(f"{sb.control_url}/requests").status_code == 204
    assert sb.requests() == []


def test_reset_and_state(sb: Sandbox, http: httpx.Client) -> None:
    http.post(
        f"{sb.urls['hubspot']}/crm/v3/objects/contacts",
        json={"properties": {"email": EMAIL}},
        headers=AUTH,
    )
    http.post(f"{sb.urls['stripe']}/v1/customers", data={"email": EMAIL}, headers=AUTH)
    counts = http.get(f"{sb.control_url}/state").json()["counts"]
    assert counts["hubspot"]["contacts"] == 1
    assert counts["stripe"]["customers"] == 1
    assert counts["requests"] == 2
    r = http.post(f"{sb.control_url}/reset")
    assert r.json()["counts"]["hubspot"]["contacts"] == 0
    assert sb.state()["counts"]["stripe"]["customers"] == 0
    assert sb.requests() == []
    sb.reset()


def test_unknown_paths(sb: Sandbox, http: httpx.Client) -> None:
    r = http.get(f"{sb.url}/nowhere")
    assert r.status_code == 404
    r = http.get(f"{sb.urls['stripe']}/v1/charges", headers=AUTH)
    assert r.status_code == 404
    assert "Unrecognized request URL (GET: /v1/charges)" in r.json()["error"]["message"]
    r = http.put(f"{sb.urls['hubspot']}/crm/v3/objects/contacts", headers=AUTH)
    assert r.status_code == 405
    assert r.json()["status"] == "error"


# Tool faults: outage, rate limit -------------------------------------------------------
@pytest.mark.parametrize(
    ("tool", "method", "path", "check"),
    [
        ("hubspot", "GET", "/crm/v3/objects/contacts/1", lambda b: b["status"] == "error"),
        (
            "hsforms",
            "POST",
            "/submissions/v3/integration/submit/1/f",
            lambda b: b["status"] == "error",
        ),
        ("sendgrid", "GET", "/v3/messages?query=x", lambda b: b["errors"][0]["message"]),
        ("stripe", "GET", "/v1/customers", lambda b: b["error"]["type"] == "api_error"),
        ("glue", "POST", "/hooks/catch/1/a", lambda b: b["status"] == "error"),
    ],
)
def test_outage_answers_503_in_vendor_shape(
    sb: Sandbox, http: httpx.Client, tool: str, method: str, path: str, check: Callable[[Any], Any]
) -> None:
    sb.set_faults([f"outage@{tool}"])
    r = http.request(method, sb.urls[tool] + path, headers=AUTH)
    assert r.status_code == 503
    assert check(r.json())
    # other tools are untouched
    other = "stripe" if tool != "stripe" else "hubspot"
    ok = http.get(
        sb.urls[other] + ("/v1/customers" if other == "stripe" else "/crm/v3/objects/contacts"),
        headers=AUTH,
    )
    assert ok.status_code == 200


def test_ratelimit_every_nth_request(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["ratelimit@stripe"])
    statuses = [http.get(f"{sb.urls['stripe']}/v1/customers", headers=AUTH) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 429, 200, 429]
    limited = statuses[1]
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["error"]["code"] == "rate_limit"
    sb.set_faults(["ratelimit@sendgrid=3"])
    codes = [
        http.get(
            f"{sb.urls['sendgrid']}/v3/messages",
            params={"query": 'to_email="a@b.co"'},
            headers=AUTH,
        ).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_hubspot_search_ratelimit_has_no_body(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["ratelimit@hubspot=1"])
    search = http.post(
        f"{sb.urls['hubspot']}/crm/v3/objects/contacts/search", json={}, headers=AUTH
    )
    assert search.status_code == 429
    assert search.headers["Retry-After"] == "1"
    assert search.content == b""
    read = http.get(f"{sb.urls['hubspot']}/crm/v3/objects/contacts/1", headers=AUTH)
    assert read.status_code == 429
    assert read.json()["errorType"] == "RATE_LIMIT"


@pytest.mark.parametrize(
    ("tool", "path", "check"),
    [
        (
            "hubspot",
            "/crm/v3/objects/contacts",
            lambda b: b["category"] == "INVALID_AUTHENTICATION",
        ),
        (
            "sendgrid",
            "/v3/messages?query=x",
            lambda b: b == {"errors": [{"field": None, "message": "authorization required"}]},
        ),
        (
            "stripe",
            "/v1/customers",
            lambda b: "did not provide an API key" in b["error"]["message"],
        ),
    ],
)
def test_auth_required(
    sb: Sandbox, http: httpx.Client, tool: str, path: str, check: Callable[[Any], Any]
) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Token abc"}):
        r = http.get(sb.urls[tool] + path, headers=headers)
        assert r.status_code == 401
        assert check(r.json())


# HubSpot CRM ---------------------------------------------------------------------------
def _create_contact(sb: Sandbox, http: httpx.Client, **props: str) -> httpx.Response:
    return http.post(
        f"{sb.urls['hubspot']}/crm/v3/objects/contacts", json={"properties": props}, headers=AUTH
    )


def test_hubspot_create_read_archive(sb: Sandbox, http: httpx.Client) -> None:
    base = f"{sb.urls['hubspot']}/crm/v3/objects/contacts"
    r = _create_contact(
        sb, http, email=EMAIL, firstname="Ada", lastname="Probe-bt1a2b3c", phone="+447700900123"
    )
    assert r.status_code == 201
    created = r.json()
    cid = created["id"]
    assert created["archived"] is False
    assert created["properties"]["hs_object_id"] == cid
    assert created["properties"]["phone"] == "+447700900123"
    assert created["createdAt"].endswith("Z")

    by_id = http.get(f"{base}/{cid}", headers=AUTH).json()
    assert set(by_id["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    by_email = http.get(
        f"{base}/{EMAIL.upper()}",
        params={"idProperty": "email", "properties": "phone,company"},
        headers=AUTH,
    ).json()
    assert by_email["id"] == cid
    assert by_email["properties"]["phone"] == "+447700900123"
    assert by_email["properties"]["company"] is None
    repeated = http.get(
        f"{base}/{cid}", params=[("properties", "phone"), ("properties", "email")], headers=AUTH
    ).json()
    assert {"phone", "email"} <= set(repeated["properties"])

    dup = _create_contact(sb, http, email=EMAIL)
    assert dup.status_code == 409
    assert dup.json()["category"] == "CONFLICT"
    assert dup.json()["message"] == f"Contact already exists. Existing ID: {cid}"
    assert "correlationId" in dup.json()

    patched = http.patch(f"{base}/{cid}", json={"properties": {"company": "Baton"}}, headers=AUTH)
    assert patched.status_code == 200
    assert patched.json()["properties"]["company"] == "Baton"

    assert http.delete(f"{base}/{cid}", headers=AUTH).status_code == 204
    assert http.delete(f"{base}/{cid}", headers=AUTH).status_code == 204  # idempotent
    assert http.delete(f"{base}/999999", headers=AUTH).status_code == 204
    gone = http.get(f"{base}/{cid}", headers=AUTH)
    assert gone.status_code == 404
    assert gone.json()["category"] == "OBJECT_NOT_FOUND"
    archived = http.get(f"{base}/{cid}", params={"archived": "true"}, headers=AUTH).json()
    assert archived["archived"] is True and archived["archivedAt"]
    assert _create_contact(sb, http, email=EMAIL).status_code == 201  # the email is free again


def test_hubspot_validation_errors(sb: Sandbox, http: httpx.Client) -> None:
    r = _create_contact(sb, http, email=EMAIL, first_name="Ada")
    assert r.status_code == 400
    body = r.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert 'Property \\"first_name\\" does not exist' in body["message"]
    assert "PROPERTY_DOESNT_EXIST" in body["message"]
    bad_email = _create_contact(sb, http, email="not-an-email")
    assert "INVALID_EMAIL" in bad_email.json()["message"]
    not_json = http.post(
        f"{sb.urls['hubspot']}/crm/v3/objects/contacts", content=b"{", headers=AUTH
    )
    assert not_json.status_code == 400
    bad_id_prop = http.get(
        f"{sb.urls['hubspot']}/crm/v3/objects/contacts/x",
        params={"idProperty": "phone"},
        headers=AUTH,
    )
    assert bad_id_prop.status_code == 400


def _search(sb: Sandbox, http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return http.post(
        f"{sb.urls['hubspot']}/crm/v3/objects/contacts/search", json=body, headers=AUTH
    )


def test_hubspot_search_filters_query_paging(sb: Sandbox, http: httpx.Client) -> None:
    for i in range(3):
        _create_contact(
            sb,
            http,
            email=f"probe+bt00000{i}@example.com",
            firstname="Ada",
            lastname=f"Probe-bt00000{i}",
            company="Baton Probe",
        )
    _create_contact(sb, http, email="someone@else.org", firstname="Grace", lastname="Hopper")

    eq = _search(
        sb,
        http,
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "email",
                            "operator": "EQ",
                            "value": "PROBE+BT000001@example.com",
                        }
                    ]
                }
            ]
        },
    ).json()
    assert eq["total"] == 1
    assert eq["results"][0]["properties"]["email"] == "probe+bt000001@example.com"
    assert set(eq["results"][0]) == {"id", "properties", "createdAt", "updatedAt", "archived"}

    token = _search(
        sb,
        http,
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "lastname",
                            "operator": "CONTAINS_TOKEN",
                            "value": "bt000002",
                        }
                    ]
                }
            ]
        },
    ).json()
    assert [r["properties"]["lastname"] for r in token["results"]] == ["Probe-bt000002"]
    wildcard = _search(
        sb,
        http,
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "email",
                            "operator": "CONTAINS_TOKEN",
                            "value": "*bt00000*",
                        }
                    ]
                }
            ]
        },
    ).json()
    assert wildcard["total"] == 3

    either = _search(
        sb,
        http,
        {
            "filterGroups": [
                {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "grace"}]},
                {
                    "filters": [
                        {
                            "propertyName": "email",
                            "operator": "EQ",
                            "value": "probe+bt000000@example.com",
                        }
                    ]
                },
            ],
            "properties": ["email", "company"],
        },
    ).json()
    assert either["total"] == 2
    assert set(either["results"][0]["properties"]) == {
        "email",
        "company",
        "createdate",
        "hs_object_id",
        "lastmodifieddate",
    }

    assert _search(sb, http, {"query": "bt000001"}).json()["total"] == 1
    assert _search(sb, http, {"query": "baton probe"}).json()["total"] == 3
    assert _search(sb, http, {"query": "hopper"}).json()["total"] == 1

    page1 = _search(sb, http, {"query": "probe", "limit": 2}).json()
    assert page1["total"] == 3 and len(page1["results"]) == 2
    after = page1["paging"]["next"]["after"]
    page2 = _search(sb, http, {"query": "probe", "limit": 2, "after": after}).json()
    assert len(page2["results"]) == 1 and "paging" not in page2
    desc = _search(
        sb,
        http,
        {"query": "probe", "sorts": [{"propertyName": "lastname", "direction": "DESCENDING"}]},
    ).json()
    assert desc["results"][0]["properties"]["lastname"] == "Probe-bt000002"

    bad = _search(
        sb,
        http,
        {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}
            ]
        },
    )
    assert bad.status_code == 400 and "operator" in bad.json()["message"]
    assert _search(sb, http, {"limit": 500}).status_code == 400


def test_hubspot_search_is_eventually_consistent(http: httpx.Client) -> None:
    with Sandbox(search_lag_s=0.3) as sb:
        cid = _create_contact(sb, http, email=EMAIL, lastname="Probe-bt1a2b3c").json()["id"]
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": EMAIL}]}
            ]
        }
        assert _search(sb, http, body).json() == {"total": 0, "results": []}
        # reads by id and by email are immediately consistent
        assert (
            http.get(
                f"{sb.urls['hubspot']}/crm/v3/objects/contacts/{EMAIL}",
                params={"idProperty": "email"},
                headers=AUTH,
            ).status_code
            == 200
        )
        assert eventually(lambda: _search(sb, http, body).json()["total"] == 1)
        # an update shows the old value until the index catches up
        http.patch(
            f"{sb.urls['hubspot']}/crm/v3/objects/contacts/{cid}",
            json={"properties": {"lastname": "Renamed"}},
            headers=AUTH,
        )
        hit = _search(sb, http, {**body, "properties": ["lastname"]}).json()["results"][0]
        assert hit["properties"]["lastname"] == "Probe-bt1a2b3c"
        assert eventually(
            lambda: (
                _search(sb, http, {**body, "properties": ["lastname"]}).json()["results"][0][
                    "properties"
                ]["lastname"]
                == "Renamed"
            )
        )
        sb.set_faults(["lag@hubspot=60"])
        assert _search(sb, http, body).json()["total"] == 0


# SendGrid ------------------------------------------------------------------------------
def _mail(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": EMAIL, "name": "Ada"}]}],
        "from": {"email": "hello@example.com"},
        "subject": "Welcome, Ada!",
        "content": [{"type": "text/plain", "value": "Hi"}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _activity(sb: Sandbox, http: httpx.Client, query: str, **params: Any) -> httpx.Response:
    return http.get(
        f"{sb.urls['sendgrid']}/v3/messages", params={"query": query, **params}, headers=AUTH
    )


def test_sendgrid_send_and_activity(sb: Sandbox, http: httpx.Client) -> None:
    r = http.post(f"{sb.urls['sendgrid']}/v3/mail/send", json=_mail(), headers=AUTH)
    assert r.status_code == 202
    assert r.content == b""
    assert r.headers["X-Message-Id"]
    http.post(f"{sb.urls['sendgrid']}/v3/mail/send", json=_mail(subject="Second"), headers=AUTH)
    found = _activity(sb, http, f'to_email="{EMAIL.upper()}"').json()["messages"]
    assert [m["subject"] for m in found] == ["Second", "Welcome, Ada!"]  # newest first
    msg = found[1]
    assert set(msg) == {
        "from_email",
        "msg_id",
        "subject",
        "to_email",
        "status",
        "opens_count",
        "clicks_count",
        "last_event_time",
    }
    assert msg["msg_id"].startswith(r.headers["X-Message-Id"])
    assert msg["status"] == "delivered" and msg["from_email"] == "hello@example.com"
    assert (
        _activity(sb, http, f'to_email="{EMAIL}" AND subject="Second"').json()["messages"][0][
            "subject"
        ]
        == "Second"
    )
    assert len(_activity(sb, http, f'msg_id="{msg["msg_id"]}"').json()["messages"]) == 1
    assert len(_activity(sb, http, 'subject LIKE "%Ada%"').json()["messages"]) == 1
    assert len(_activity(sb, http, f'to_email="{EMAIL}"', limit=1).json()["messages"]) == 1
    assert _activity(sb, http, 'to_email="nobody@example.com"').json() == {"messages": []}


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        (_mail(personalizations=[]), "personalizations", "personalizations field is required"),
        (_mail(personalizations=[{"to": []}]), "personalizations.0.to", "to array is required"),
        (
            _mail(personalizations=[{"to": [{"email": "nope"}]}]),
            "personalizations.0.to.0.email",
            "valid address",
        ),
        (_mail(**{"from": {}}), "from.email", "from object must be provided"),
        (_mail(subject=None), "subject", "subject is required"),
        (_mail(content=None), "content", "content parameter is required"),
    ],
)
def test_sendgrid_send_validation(
    sb: Sandbox, http: httpx.Client, body: dict[str, Any], field: str, fragment: str
) -> None:
    r = http.post(f"{sb.urls['sendgrid']}/v3/mail/send", json=body, headers=AUTH)
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["field"] == field
    assert fragment in error["message"]


def test_sendgrid_template_needs_no_subject_or_content(sb: Sandbox, http: httpx.Client) -> None:
    body = _mail(subject=None, content=None, template_id="d-123")
    assert (
        http.post(f"{sb.urls['sendgrid']}/v3/mail/send", json=body, headers=AUTH).status_code == 202
    )


def test_sendgrid_activity_errors_and_lag(http: httpx.Client) -> None:
    with Sandbox(search_lag_s=0.3) as sb:
        http.post(f"{sb.urls['sendgrid']}/v3/mail/send", json=_mail(), headers=AUTH)
        assert _activity(sb, http, f'to_email="{EMAIL}"').json()["messages"] == []
        assert eventually(lambda: _activity(sb, http, f'to_email="{EMAIL}"').json()["messages"])
        bad = _activity(sb, http, 'bad_field="x"')
        assert bad.status_code == 400
        assert (
            bad.json()["errors"][0]["message"] == "invalid syntax: 'bad_field' is not a known field"
        )
        assert _activity(sb, http, "to_email=unquoted").status_code == 400
        assert _activity(sb, http, 'to_email="a" AND').status_code == 400
        assert _activity(sb, http, f'to_email="{EMAIL}"', limit=0).status_code == 400
        assert http.get(f"{sb.urls['sendgrid']}/v3/messages", headers=AUTH).status_code == 400


# Stripe --------------------------------------------------------------------------------
def _stripe(sb: Sandbox, http: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
    return http.request(method, f"{sb.urls['stripe']}{path}", headers=AUTH, **kw)


def test_stripe_customers(sb: Sandbox, http: httpx.Client) -> None:
    r = _stripe(
        sb,
        http,
        "POST",
        "/v1/customers",
        data={"email": EMAIL, "name": "Ada Probe", "metadata[marker]": "bt1a2b3c"},
    )
    assert r.status_code == 200
    cus = r.json()
    assert cus["id"].startswith("cus_") and cus["object"] == "customer"
    assert cus["metadata"] == {"marker": "bt1a2b3c"}
    assert _stripe(sb, http, "GET", f"/v1/customers/{cus['id']}").json() == cus
    listed = _stripe(sb, http, "GET", "/v1/customers", params={"email": EMAIL}).json()
    assert listed["object"] == "list" and [c["id"] for c in listed["data"]] == [cus["id"]]
    assert (
        _stripe(sb, http, "GET", "/v1/customers", params={"email": EMAIL.upper()}).json()["data"]
        == []
    )

    search = _stripe(
        sb,
        http,
        "GET",
        "/v1/customers/search",
        params={"query": f"email:'{EMAIL}' AND metadata['marker']:'bt1a2b3c'"},
    ).json()
    assert search["object"] == "search_result" and search["data"][0]["id"] == cus["id"]
    for query in [
        "name~'Probe'",
        "-name:'Someone Else'",
        f'email:"{EMAIL}" OR name:"x"',
        "phone:null",
    ]:
        assert (
            len(
                _stripe(sb, http, "GET", "/v1/customers/search", params={"query": query}).json()[
                    "data"
                ]
            )
            == 1
        ), query

    deleted = _stripe(sb, http, "DELETE", f"/v1/customers/{cus['id']}").json()
    assert deleted == {"id": cus["id"], "object": "customer", "deleted": True}
    assert _stripe(sb, http, "GET", f"/v1/customers/{cus['id']}").json() == deleted
    assert _stripe(sb, http, "DELETE", f"/v1/customers/{cus['id']}").status_code == 404
    assert _stripe(sb, http, "GET", "/v1/customers", params={"email": EMAIL}).json()["data"] == []


def test_stripe_basic_auth_and_errors(sb: Sandbox, http: httpx.Client) -> None:
    r = http.get(f"{sb.urls['stripe']}/v1/customers", auth=("sk_test_123", ""))
    assert r.status_code == 200
    missing = _stripe(sb, http, "GET", "/v1/customers/cus_nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "message": "No such customer: 'cus_nope'",
        "type": "invalid_request_error",
        "param": "id",
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
    }
    unknown = _stripe(sb, http, "POST", "/v1/customers", data={"emial": EMAIL})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "parameter_unknown"
    assert unknown.json()["error"]["param"] == "emial"
    as_json = _stripe(sb, http, "POST", "/v1/customers", json={"email": EMAIL})
    assert as_json.status_code == 400 and "form-encoded" in as_json.json()["error"]["message"]
    bad_email = _stripe(sb, http, "POST", "/v1/customers", data={"email": "nope"})
    assert bad_email.json()["error"]["param"] == "email"
    for query, fragment in [
        ("colour:'red'", "unsupported search field"),
        ("email='x'", "unable to parse"),
        ("name~'ab'", "at least 3 characters"),
        ("email:'a' AND name:'b' OR phone:'c'", "cannot combine AND and OR"),
        ("email:'a' AND", "dangling"),
    ]:
        r = _stripe(sb, http, "GET", "/v1/customers/search", params={"query": query})
        assert r.status_code == 400, query
        assert fragment in r.json()["error"]["message"], query
        assert r.json()["error"]["param"] == "query"
    assert (
        _stripe(sb, http, "GET", "/v1/customers/search").json()["error"]["code"]
        == "parameter_missing"
    )


def test_stripe_invoice_lifecycle(sb: Sandbox, http: httpx.Client) -> None:
    cus = _stripe(
        sb, http, "POST", "/v1/customers", data={"email": EMAIL, "name": "Ada Probe"}
    ).json()
    item = _stripe(
        sb,
        http,
        "POST",
        "/v1/invoiceitems",
        data={"customer": cus["id"], "amount": "4900", "currency": "usd", "description": "Plan"},
    ).json()
    assert item["id"].startswith("ii_") and item["invoice"] is None
    excluded = _stripe(sb, http, "POST", "/v1/invoices", data={"customer": cus["id"]}).json()
    assert (
        excluded["lines"]["data"] == [] and excluded["amount_due"] == 0
    )  # Stripe's default: exclude

    inv = _stripe(
        sb,
        http,
        "POST",
        "/v1/invoices",
        data={
            "customer": cus["id"],
            "pending_invoice_items_behavior": "include",
            "collection_method": "send_invoice",
            "days_until_due": "30",
            "description": "Welcome plan",
            "metadata[payment_method]": "card",
        },
    ).json()
    assert inv["status"] == "draft" and inv["amount_due"] == 4900
    assert inv["customer_email"] == EMAIL and inv["customer_name"] == "Ada Probe"
    assert inv["metadata"] == {"payment_method": "card"}
    line = inv["lines"]["data"][0]
    assert line["object"] == "line_item" and line["amount"] == 4900 and line["invoice"] == inv["id"]
    assert inv["due_date"] == inv["created"] + 30 * 86400

    listed = _stripe(sb, http, "GET", "/v1/invoices", params={"customer": cus["id"]}).json()["data"]
    assert {i["id"] for i in listed} == {inv["id"], excluded["id"]}
    hits = _stripe(
        sb,
        http,
        "GET",
        "/v1/invoices/search",
        params={"query": f"customer:'{cus['id']}' AND total>=4900"},
    ).json()["data"]
    assert [i["id"] for i in hits] == [inv["id"]]
    items = _stripe(sb, http, "GET", "/v1/invoiceitems", params={"invoice": inv["id"]}).json()[
        "data"
    ]
    assert [i["id"] for i in items] == [item["id"]]

    void_draft = _stripe(sb, http, "POST", f"/v1/invoices/{inv['id']}/void")
    assert (
        void_draft.status_code == 400
        and "open or uncollectible" in void_draft.json()["error"]["message"]
    )

    final = _stripe(sb, http, "POST", f"/v1/invoices/{inv['id']}/finalize").json()
    assert final["status"] == "open" and final["number"].endswith("-0001")
    assert final["status_transitions"]["finalized_at"] and final["hosted_invoice_url"]
    again = _stripe(sb, http, "POST", f"/v1/invoices/{inv['id']}/finalize")
    assert again.status_code == 400 and again.json()["error"]["code"] == "invoice_not_editable"
    delete_open = _stripe(sb, http, "DELETE", f"/v1/invoices/{inv['id']}")
    assert delete_open.status_code == 400 and "draft" in delete_open.json()["error"]["message"]
    add_late = _stripe(
        sb,
        http,
        "POST",
        "/v1/invoiceitems",
        data={"customer": cus["id"], "amount": "1", "currency": "usd", "invoice": inv["id"]},
    )
    assert add_late.json()["error"]["code"] == "invoice_not_editable"

    voided = _stripe(sb, http, "POST", f"/v1/invoices/{inv['id']}/void").json()
    assert voided["status"] == "void" and voided["status_transitions"]["voided_at"]

    assert _stripe(sb, http, "DELETE", f"/v1/invoices/{excluded['id']}").json() == {
        "id": excluded["id"],
        "object": "invoice",
        "deleted": True,
    }
    assert _stripe(sb, http, "GET", f"/v1/invoices/{excluded['id']}").status_code == 404


def test_stripe_invoice_errors(sb: Sandbox, http: httpx.Client) -> None:
    no_customer = _stripe(sb, http, "POST", "/v1/invoices", data={})
    assert no_customer.json()["error"] == {
        "message": "Missing required param: customer.",
        "type": "invalid_request_error",
        "param": "customer",
        "code": "parameter_missing",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
    }
    ghost = _stripe(
        sb,
        http,
        "POST",
        "/v1/invoiceitems",
        data={"customer": "cus_ghost", "amount": "1", "currency": "usd"},
    )
    assert ghost.status_code == 400 and ghost.json()["error"]["code"] == "resource_missing"
    cus = _stripe(sb, http, "POST", "/v1/customers", data={"email": EMAIL}).json()
    not_int = _stripe(
        sb,
        http,
        "POST",
        "/v1/invoiceitems",
        data={"customer": cus["id"], "amount": "49.00", "currency": "usd"},
    )
    assert not_int.json()["error"]["code"] == "parameter_invalid_integer"
    send = _stripe(
        sb,
        http,
        "POST",
        "/v1/invoices",
        data={"customer": cus["id"], "collection_method": "send_invoice"},
    )
    assert send.json()["error"]["param"] == "days_until_due"
    draft = _stripe(
        sb, http, "POST", "/v1/invoices", data={"customer": cus["id"], "currency": "usd"}
    ).json()
    attached = _stripe(
        sb,
        http,
        "POST",
        "/v1/invoiceitems",
        data={"customer": cus["id"], "amount": "500", "currency": "usd", "invoice": draft["id"]},
    ).json()
    assert _stripe(sb, http, "GET", f"/v1/invoices/{draft['id']}").json()["amount_due"] == 500
    assert (
        _stripe(sb, http, "DELETE", f"/v1/invoiceitems/{attached['id']}").json()["deleted"] is True
    )
    assert _stripe(sb, http, "GET", f"/v1/invoices/{draft['id']}").json()["amount_due"] == 0
    wrong_currency = _stripe(
        sb,
        http,
        "POST",
        "/v1/invoiceitems",
        data={"customer": cus["id"], "amount": "5", "currency": "eur", "invoice": draft["id"]},
    )
    assert (
        wrong_currency.status_code == 400 and wrong_currency.json()["error"]["param"] == "currency"
    )
    assert _stripe(sb, http, "GET", "/v1/invoices", params={"limit": "500"}).status_code == 400
    assert (
        _stripe(sb, http, "GET", "/v1/invoices/in_nope").json()["error"]["code"]
        == "resource_missing"
    )


def test_stripe_list_pagination_and_search_lag(http: httpx.Client) -> None:
    with Sandbox(search_lag_s=0.3) as sb:
        ids = [
            _stripe(
                sb,
                http,
                "POST",
                "/v1/customers",
                data={"email": f"p{i}@example.com", "name": "Pager"},
            ).json()["id"]
            for i in range(3)
        ]
        page = _stripe(sb, http, "GET", "/v1/customers", params={"limit": "2"}).json()
        assert page["has_more"] is True and len(page["data"]) == 2
        rest = _stripe(
            sb,
            http,
            "GET",
            "/v1/customers",
            params={"limit": "2", "starting_after": page["data"][-1]["id"]},
        ).json()
        assert not rest["has_more"]
        assert {c["id"] for c in page["data"] + rest["data"]} == set(ids)
        query = {"query": "name:'Pager'", "limit": "2"}
        assert _stripe(sb, http, "GET", "/v1/customers/search", params=query).json()["data"] == []

        def all_indexed() -> dict[str, Any] | None:
            body: dict[str, Any] = _stripe(
                sb, http, "GET", "/v1/customers/search", params=query
            ).json()
            return body if body["has_more"] else None

        first = eventually(all_indexed)
        assert first is not None and first["next_page"]
        second = _stripe(
            sb, http, "GET", "/v1/customers/search", params={**query, "page": first["next_page"]}
        ).json()
        assert len(second["data"]) == 1 and second["next_page"] is None


@pytest.mark.anyio
async def test_async_clients_work_against_the_sandbox(sb: Sandbox) -> None:
    """How connector tests use it: an ``httpx.AsyncClient`` on the test's own loop."""
    async with httpx.AsyncClient(base_url=sb.urls["stripe"], headers=AUTH) as client:
        created = await client.post("/v1/customers", data={"email": EMAIL})
        listed = await client.get("/v1/customers", params={"email": EMAIL})
    assert listed.json()["data"][0]["id"] == created.json()["id"]
    assert [e["method"] for e in sb.requests("stripe")] == ["POST", "GET"]
