"""The stand-ins answer in the vendors' own shapes: checked against the published specs kept in
``tests/specs/`` (HubSpot and SendGrid OpenAPI files, Stripe's example objects)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _specs import load_json
from openapi_schema_validator import OAS30Validator, OAS31Validator

from baton.probes.sandbox import Sandbox

AUTH = {"Authorization": "Bearer test-token"}
EMAIL = "probe+bt1a2b3c@example.com"


def _load(name: str) -> dict[str, Any]:
    return load_json(name)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(search_lag_s=0, glue_delay_s=(0, 0), seed=9) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def _errors(validator: Any, instance: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


# HubSpot ------------------------------------------------------------------------------
def _hubspot(schema: str) -> OAS30Validator:
    spec = _load("hubspot.crm.contacts.v3.json")
    return OAS30Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}
    )


def test_hubspot_shapes(sb: Sandbox, http: httpx.Client) -> None:
    base = f"{sb.urls['hubspot']}/crm/v3/objects/contacts"
    created = http.post(
        base,
        json={"properties": {"email": EMAIL, "firstname": "Ada", "lastname": "Probe"}},
        headers=AUTH,
    )
    assert _errors(_hubspot("SimplePublicObject"), created.json()) == []
    read = http.get(f"{base}/{EMAIL}", params={"idProperty": "email"}, headers=AUTH)
    assert _errors(_hubspot("SimplePublicObjectWithAssociations"), read.json()) == []
    search = http.post(f"{base}/search", json={"query": "probe", "limit": 1}, headers=AUTH)
    assert _errors(_hubspot("CollectionResponseWithTotalSimplePublicObject"), search.json()) == []
    listed = http.get(base, params={"limit": "1"}, headers=AUTH)
    assert (
        _errors(
            _hubspot("CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"),
            listed.json(),
        )
        == []
    )
    for response in (
        http.get(f"{base}/nope", headers=AUTH),  # 404
        http.post(base, json={"properties": {"email": EMAIL}}, headers=AUTH),  # 409
        http.post(base, json={"properties": {"nope": "x"}}, headers=AUTH),  # 400
        http.get(base),  # 401
    ):
        assert response.status_code >= 400
        assert _errors(_hubspot("Error"), response.json()) == []


def test_hubspot_search_request_we_document_is_valid() -> None:
    """The request shape the docs and tests use is one the spec accepts."""
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": EMAIL}]}
        ],
        "properties": ["email"],
        "limit": 10,
        "after": "0",
        "sorts": [],
    }
    assert _errors(_hubspot("PublicObjectSearchRequest"), body) == []


def _hubspot_response(path: str, status: str) -> OAS30Validator:
    """The schema the spec gives ``POST path``'s ``status`` answer."""
    spec = _load("hubspot.crm.contacts.v3.json")
    answer = spec["paths"][path]["post"]["responses"][status]
    if "$ref" in answer:  # the shared error response
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    [media] = answer["content"].values()  # application/json, or */* for the error
    return OAS30Validator({**media["schema"], "components": spec["components"]})


def _hubspot_request(path: str) -> OAS30Validator:
    spec = _load("hubspot.crm.contacts.v3.json")
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return OAS30Validator({**schema, "components": spec["components"]})


def test_hubspot_batch_shapes(sb: Sandbox, http: httpx.Client) -> None:
    base = f"{sb.urls['hubspot']}/crm/v3/objects/contacts"
    read_path = "/crm/v3/objects/contacts/batch/read"
    ids = [
        http.post(
            base,
            json={"properties": {"email": f"batch{i}@example.com", "firstname": "Ada"}},
            headers=AUTH,
        ).json()["id"]
        for i in range(2)
    ]
    # properties the contacts have: the spec types property values as strings, not null
    by_id: dict[str, Any] = {
        "inputs": [{"id": i} for i in ids],
        "properties": ["email", "firstname"],
        "propertiesWithHistory": [],
    }
    by_email = {**by_id, "inputs": [{"id": "BATCH0@example.com"}], "idProperty": "email"}
    with_history = {**by_id, "propertiesWithHistory": ["firstname"]}
    missing = {**by_id, "inputs": [*by_id["inputs"], {"id": "999999"}]}
    for body in (by_id, by_email, with_history, missing):
        assert _errors(_hubspot_request(read_path), body) == []
    for body, status in ((by_id, 200), (by_email, 200), (with_history, 200), (missing, 207)):
        r = http.post(f"{sb.url}/hubspot{read_path}", json=body, headers=AUTH)
        assert r.status_code == status
        assert _errors(_hubspot_response(read_path, str(status)), r.json()) == [], body
    too_many = {**by_id, "inputs": [{"id": str(i)} for i in range(101)]}
    refused = http.post(f"{sb.url}/hubspot{read_path}", json=too_many, headers=AUTH)
    assert refused.status_code == 400
    assert _errors(_hubspot_response(read_path, "default"), refused.json()) == []

    archive_path = "/crm/v3/objects/contacts/batch/archive"
    archive = {"inputs": [{"id": ids[0]}, {"id": "999999"}]}
    assert _errors(_hubspot_request(archive_path), archive) == []
    done = http.post(f"{sb.url}/hubspot{archive_path}", json=archive, headers=AUTH)
    assert done.status_code == 204 and done.content == b""


def test_hubspot_search_in_request_is_valid() -> None:
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "email", "operator": "IN", "values": [EMAIL, "b@example.com"]}
                ]
            }
        ],
        "properties": ["email"],
        "limit": 100,
        "after": "0",
        "sorts": [],
    }
    assert _errors(_hubspot("PublicObjectSearchRequest"), body) == []


# SendGrid -----------------------------------------------------------------------------
def test_sendgrid_shapes(sb: Sandbox, http: httpx.Client) -> None:
    activity = _load("sendgrid.email_activity.v3.json")
    op = activity["paths"]["/v3/messages"]["get"]["responses"]
    ok_schema = {
        **op["200"]["content"]["application/json"]["schema"],
        "components": activity["components"],
    }
    mail = {
        "personalizations": [{"to": [{"email": EMAIL}]}],
        "from": {"email": "hello@example.com"},
        "subject": "Hi",
        "content": [{"type": "text/plain", "value": "Hi"}],
    }
    assert (
        http.post(f"{sb.urls['sendgrid']}/v3/mail/send", json=mail, headers=AUTH).status_code == 202
    )
    found = http.get(
        f"{sb.urls['sendgrid']}/v3/messages", params={"query": f'to_email="{EMAIL}"'}, headers=AUTH
    ).json()
    assert found["messages"]
    assert _errors(OAS31Validator(ok_schema), found) == []
    bad = http.get(
        f"{sb.urls['sendgrid']}/v3/messages", params={"query": 'nope="x"'}, headers=AUTH
    ).json()
    assert _errors(OAS31Validator(op["400"]["content"]["application/json"]["schema"]), bad) == []

    send = _load("sendgrid.mail_send.v3.json")
    error_schema = {"$ref": "#/components/schemas/ErrorResponse", "components": send["components"]}
    refused = http.post(
        f"{sb.urls['sendgrid']}/v3/mail/send", json={**mail, "personalizations": []}, headers=AUTH
    )
    assert _errors(OAS31Validator(error_schema), refused.json()) == []
    request_schema = {
        **send["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"][
            "schema"
        ],
        "components": send["components"],
    }
    assert _errors(OAS31Validator(request_schema), mail) == []


def test_sendgrid_many_recipients_and_window_shapes(sb: Sandbox, http: httpx.Client) -> None:
    activity = _load("sendgrid.email_activity.v3.json")
    responses = activity["paths"]["/v3/messages"]["get"]["responses"]
    ok = OAS31Validator(
        {
            **responses["200"]["content"]["application/json"]["schema"],
            "components": activity["components"],
        }
    )
    refused = OAS31Validator(responses["400"]["content"]["application/json"]["schema"])
    for to in ("shape1@example.com", "shape2@example.com"):
        mail = {
            "personalizations": [{"to": [{"email": to}]}],
            "from": {"email": "hello@example.com"},
            "subject": "Hi",
            "content": [{"type": "text/plain", "value": "Hi"}],
        }
        http.post(f"{sb.urls['sendgrid']}/v3/mail/send", json=mail, headers=AUTH)
    query = (
        '(to_email="shape1@example.com" OR to_email="shape2@example.com") AND last_event_time '
        'BETWEEN TIMESTAMP "2000-01-01T00:00:00Z" AND TIMESTAMP "2100-01-01T00:00:00Z"'
    )
    found = http.get(
        f"{sb.urls['sendgrid']}/v3/messages", params={"query": query, "limit": "1000"}, headers=AUTH
    )
    assert len(found.json()["messages"]) == 2
    assert _errors(ok, found.json()) == []
    bad = http.get(
        f"{sb.urls['sendgrid']}/v3/messages",
        params={"query": 'to_email="a@example.com" AND subject="x" OR subject="y"'},
        headers=AUTH,
    )
    assert bad.status_code == 400
    assert _errors(refused, bad.json()) == []


# Stripe -------------------------------------------------------------------------------
def test_stripe_objects_have_the_fixtures_field_sets(sb: Sandbox, http: httpx.Client) -> None:
    fixtures = _load("stripe.fixtures3.json")["resources"]

    def post(path: str, **data: str) -> dict[str, Any]:
        body: dict[str, Any] = http.post(
            f"{sb.urls['stripe']}{path}", data=data, headers=AUTH
        ).json()
        return body

    customer = post("/v1/customers", email=EMAIL, name="Ada Probe")
    item = post("/v1/invoiceitems", customer=customer["id"], amount="4900", currency="usd")
    invoice = post(
        "/v1/invoices", customer=customer["id"], pending_invoice_items_behavior="include"
    )
    line = invoice["lines"]["data"][0]
    deleted_invoice = http.delete(
        f"{sb.urls['stripe']}/v1/invoices/{invoice['id']}", headers=AUTH
    ).json()
    deleted_customer = http.delete(
        f"{sb.urls['stripe']}/v1/customers/{customer['id']}", headers=AUTH
    ).json()

    for name, obj in [
        ("customer", customer),
        ("invoiceitem", item),
        ("invoice", invoice),
        ("line_item", line),
        ("deleted_invoice", deleted_invoice),
        ("deleted_customer", deleted_customer),
    ]:
        assert set(obj) == set(fixtures[name]), name
    assert set(invoice["lines"]) == set(fixtures["invoice"]["lines"])
    assert set(customer["invoice_settings"]) == set(fixtures["customer"]["invoice_settings"])
    assert set(invoice["status_transitions"]) == set(fixtures["invoice"]["status_transitions"])


def test_stripe_lists_have_the_fixtures_list_shape(sb: Sandbox, http: httpx.Client) -> None:
    """A list page has the keys of a list object in Stripe's examples (an invoice's lines)."""
    fixtures = _load("stripe.fixtures3.json")["resources"]
    list_keys = set(fixtures["invoice"]["lines"])
    http.post(f"{sb.urls['stripe']}/v1/customers", data={"email": "list@example.com"}, headers=AUTH)
    for path, params in (
        ("/v1/customers", {"created[gte]": "0", "limit": "1"}),
        ("/v1/invoices", {"created[lt]": "9999999999"}),
        ("/v1/invoiceitems", {"created": "0"}),
    ):
        page = http.get(f"{sb.urls['stripe']}{path}", params=params, headers=AUTH).json()
        assert set(page) == list_keys, path
        assert page["object"] == "list" and page["url"] == path
    customers = http.get(
        f"{sb.urls['stripe']}/v1/customers", params={"limit": "1"}, headers=AUTH
    ).json()
    first = customers["data"][0]
    assert set(first) == set(fixtures["customer"])
    page = http.get(
        f"{sb.urls['stripe']}/v1/customers", params={"ending_before": first["id"]}, headers=AUTH
    ).json()
    assert set(page) == list_keys
    error = http.get(
        f"{sb.urls['stripe']}/v1/customers", params={"created[gt]": "soon"}, headers=AUTH
    ).json()["error"]
    assert set(error) <= {"type", "message", "param", "code", "doc_url"}
    assert error["param"] == "created[gt]"
