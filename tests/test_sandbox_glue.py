"""The glue automation and the HubSpot form entry, end to end over real sockets, with every
fault kind changing what the stand-ins store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from baton.probes.record import TestRecord, make_record
from baton.probes.sandbox import Sandbox

AUTH = {"Authorization": "Bearer test-token"}
MARKER = "bt7k2xq9"
CRM_PROPS = "email,firstname,lastname,phone,company,signup_date,payment_method,amount,currency"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(search_lag_s=0.0, glue_delay_s=(0.0, 0.0), seed=3) as sandbox:
        yield sandbox


def hook_payload(rec: TestRecord) -> dict[str, str]:
    """What the web form posts to the catch hook."""
    return {
        "email": rec.email,
        "first_name": rec.first_name,
        "last_name": rec.last_name,
        "phone": rec.phone,
        "signup_date": rec.render("{date:%d/%m/%Y}"),
        "company": rec.company,
        "amount": str(rec.amount),
        "currency": rec.currency,
        "payment_method": rec.payment_method,
        "marketing_consent": str(rec.marketing_consent).lower(),
    }


def form_submission(rec: TestRecord, **extra_fields: str) -> dict[str, Any]:
    """What a HubSpot Forms submission carries (contact property names)."""
    values = {
        "email": rec.email,
        "firstname": rec.first_name,
        "lastname": rec.last_name,
        "phone": rec.phone,
        "company": rec.company,
        "signup_date": rec.date.isoformat(),
        "amount": str(rec.amount),
        "currency": rec.currency,
        "payment_method": rec.payment_method,
        **extra_fields,
    }
    return {
        "fields": [{"objectTypeId": "0-1", "name": k, "value": v} for k, v in values.items()],
        "context": {"pageUri": "https://example.com/signup", "pageName": "Signup"},
    }


@dataclass
class Observed:
    """Everything the stand-ins hold, read through their (immediately consistent) APIs."""

    contacts: list[dict[str, Any]]
    mails: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    invoices: list[dict[str, Any]]

    @property
    def contact(self) -> dict[str, Any]:
        assert len(self.contacts) == 1, self.contacts
        return self.contacts[0]

    @property
    def invoice(self) -> dict[str, Any]:
        assert len(self.invoices) == 1, self.invoices
        return self.invoices[0]


def observe(sb: Sandbox, http: httpx.Client) -> Observed:
    hub = http.get(
        f"{sb.urls['hubspot']}/crm/v3/objects/contacts",
        params={"properties": CRM_PROPS, "limit": "100"},
        headers=AUTH,
    ).json()["results"]
    mails = http.get(
        f"{sb.urls['sendgrid']}/v3/messages",
        params={"query": 'msg_id LIKE "%"', "limit": "1000"},
        headers=AUTH,
    ).json()["messages"]
    customers = http.get(f"{sb.urls['stripe']}/v1/customers", params={"limit": "100"}, headers=AUTH)
    invoices = http.get(f"{sb.urls['stripe']}/v1/invoices", params={"limit": "100"}, headers=AUTH)
    return Observed(
        contacts=[c["properties"] for c in hub],
        mails=mails,
        customers=customers.json()["data"],
        invoices=invoices.json()["data"],
    )


def run_glue(
    sb: Sandbox, http: httpx.Client, rec: TestRecord, faults: list[str] | None = None
) -> Observed:
    if faults is not None:
        sb.set_faults(faults)
    r = http.post(f"{sb.urls['glue']}/hooks/catch/123456/abcdef", json=hook_payload(rec))
    assert r.status_code == 200
    assert sb.wait_idle(5)
    sb.set_faults([])  # observe without the faults getting in the way (outage, rate limit)
    return observe(sb, http)


# The healthy automation ------------------------------------------------------------------
def test_healthy_glue_writes_everything_right(sb: Sandbox, http: httpx.Client) -> None:
    rec = make_record(MARKER)
    r = http.post(f"{sb.urls['glue']}/hooks/catch/123456/abcdef", json=hook_payload(rec))
    body = r.json()
    assert body["status"] == "success"
    assert set(body) == {"attempt", "id", "request_id", "status"}
    assert sb.wait_idle(5)
    seen = observe(sb, http)
    assert {k: seen.contact[k] for k in ("email", "firstname", "lastname", "phone")} == {
        "email": rec.email,
        "firstname": "Ada",
        "lastname": f"Probe-{MARKER}",
        "phone": rec.phone,
    }
    assert seen.contact["company"] == rec.company
    assert seen.contact["signup_date"] == rec.date.isoformat()  # dd/mm/yyyy in, ISO stored
    assert seen.contact["payment_method"] == "card"
    [mail] = seen.mails
    assert (mail["to_email"], mail["from_email"], mail["subject"]) == (
        rec.email,
        "hello@example.com",
        "Welcome, Ada!",
    )
    [customer] = seen.customers
    assert (customer["email"], customer["name"], customer["phone"]) == (
        rec.email,
        rec.full_name,
        rec.phone,
    )
    assert customer["metadata"]["payment_method"] == "card"
    inv = seen.invoice
    assert inv["amount_due"] == rec.amount_cents == 4900
    assert inv["currency"] == "usd"
    assert inv["customer"] == customer["id"]
    assert (inv["customer_email"], inv["customer_name"]) == (rec.email, rec.full_name)
    assert inv["status"] == "open"
    assert inv["metadata"] == {"payment_method": "card"}
    assert inv["description"] == f"Welcome plan for {rec.company}"
    assert inv["lines"]["data"][0]["amount"] == 4900
    [run] = sb.state()["glue_runs"]
    assert run["done"] and set(run["steps"]) == {"email", "crm", "invoice"}
    assert run["id"] == body["id"]


def test_glue_takes_form_bodies_lists_and_query_strings(sb: Sandbox, http: httpx.Client) -> None:
    a, b, c = (make_record(m) for m in ("bt000001", "bt000002", "bt000003"))
    hook = f"{sb.urls['glue']}/hooks/catch/123456/abcdef"
    assert http.post(hook, data=hook_payload(a)).status_code == 200
    assert http.post(hook, json=[hook_payload(b), hook_payload(c)]).status_code == 200
    assert http.get(hook, params=hook_payload(make_record("bt000004"))).status_code == 200
    assert http.post(f"{sb.urls['glue']}/hooks/catch/123456", content=b"").status_code == 200
    assert sb.wait_idle(5)
    seen = observe(sb, http)
    emails = sorted(c["email"] for c in seen.contacts)
    assert emails == sorted(
        make_record(m).email for m in ("bt000001", "bt000002", "bt000003", "bt000004")
    )
    assert len(seen.invoices) == 4
    [empty] = [r for r in sb.state()["glue_runs"] if r["email"] == ""]
    assert empty["steps"]["crm"] == "error: no email address in the payload"
    assert "invoice" not in empty["steps"]


def test_no_consent_no_mail(sb: Sandbox, http: httpx.Client) -> None:
    rec = make_record(MARKER, {"marketing_consent": False})
    seen = run_glue(sb, http, rec)
    assert seen.mails == []
    assert len(seen.contacts) == 1 and len(seen.invoices) == 1
    assert sb.state()["glue_runs"][0]["steps"]["email"] == "skipped: no marketing consent"


# Every fault kind, visibly ------------------------------------------------------------------
Getter = Callable[[Observed], Any]
Expected = Any  # a value, or a function of the record giving it


def counts(o: Observed) -> tuple[int, int, int]:
    """(contacts, mails, invoices)"""
    return len(o.contacts), len(o.mails), len(o.invoices)


def contact(*names: str) -> Getter:
    return lambda o: tuple(o.contact[n] for n in names)


def invoice(*names: str) -> Getter:
    return lambda o: tuple(o.invoice[n] for n in names)


def mail(*names: str) -> Getter:
    return lambda o: tuple(m[n] for m in o.mails for n in names)


def customer(*names: str) -> Getter:
    return lambda o: tuple(c[n] for c in o.customers for n in names)


def _swapped_date(r: TestRecord) -> tuple[str]:
    return (f"{r.date.year}-{r.date.day:02d}-{r.date.month:02d}",)


ZOE = {"first_name": "Zoë"}
FAULT_CASES = [
    pytest.param(["drop@crm"], {}, counts, (0, 1, 1), id="drop-crm"),
    pytest.param(["drop@email"], {}, counts, (1, 0, 1), id="drop-email"),
    pytest.param(["drop@invoice"], {}, customer("id"), (), id="drop-invoice"),
    pytest.param(["drop@glue"], {}, counts, (0, 0, 0), id="drop-glue"),
    pytest.param(["duplicate@email"], {}, counts, (1, 2, 1), id="duplicate-email"),
    pytest.param(["duplicate@crm=3"], {}, counts, (3, 1, 1), id="duplicate-crm"),
    pytest.param(
        ["duplicate@invoice"], {}, customer("email"), lambda r: (r.email,) * 2, id="dup-inv"
    ),
    pytest.param(["duplicate@glue"], {}, counts, (1, 2, 2), id="duplicate-glue"),
    pytest.param(
        ["swap@crm=firstname,email"],
        {},
        contact("email", "firstname"),
        lambda r: ("Ada", r.email),
        id="swap-crm",
    ),
    pytest.param(
        ["swap@invoice=email,name"],
        {},
        invoice("customer_email", "customer_name"),
        lambda r: (r.full_name, r.email),
        id="swap-invoice",
    ),
    pytest.param(["date_order@crm"], {}, contact("signup_date"), _swapped_date, id="date_order"),
    pytest.param(
        ["strip_country@crm"], {}, contact("phone"), lambda r: (r.phone_national,), id="strip-crm"
    ),
    pytest.param(
        ["strip_country@invoice"],
        {},
        customer("phone"),
        lambda r: (r.phone_national,),
        id="strip-inv",
    ),
    pytest.param(
        ["case@crm=lastname"], {}, contact("lastname"), (f"PROBE-{MARKER.upper()}",), id="case"
    ),
    pytest.param(
        ["case@email=subject:upper"], {}, mail("subject"), ("WELCOME, ADA!",), id="case-email"
    ),
    pytest.param(
        ["whitespace@crm=company"], {}, contact("company"), (f"Baton  Probe  {MARKER} ",), id="ws"
    ),
    pytest.param(
        ["whitespace@invoice=name"],
        {},
        invoice("customer_name"),
        (f"Ada  Probe-{MARKER} ",),
        id="ws-inv",
    ),
    pytest.param(["truncate@crm=lastname:5"], {}, contact("lastname"), ("Probe",), id="truncate"),
    pytest.param(
        ["truncate@email=subject:7"], {}, mail("subject"), ("Welcome",), id="truncate-mail"
    ),
    pytest.param(["mojibake@crm=firstname"], ZOE, contact("firstname"), ("ZoÃ«",), id="mojibake"),
    pytest.param(
        ["mojibake@invoice=name"],
        ZOE,
        invoice("customer_name"),
        (f"ZoÃ« Probe-{MARKER}",),
        id="moji-inv",
    ),
    pytest.param(["cents@invoice"], {}, invoice("amount_due"), (49,), id="cents"),
    pytest.param(
        ["currency@invoice=eur"], {}, invoice("currency", "amount_due"), ("eur", 4900), id="eur"
    ),
    pytest.param(
        ["ignore_consent@email"],
        {"marketing_consent": False},
        mail("to_email"),
        lambda r: (r.email,),
        id="consent",
    ),
    pytest.param(
        ["skip_paypal@invoice"], {"payment_method": "paypal"}, counts, (1, 1, 0), id="skip_paypal"
    ),
    pytest.param(["outage@hubspot"], {}, counts, (0, 1, 0), id="outage-hubspot-halts-invoice"),
    pytest.param(["outage@sendgrid"], {}, counts, (1, 0, 1), id="outage-sendgrid"),
    pytest.param(["outage@stripe"], {}, counts, (1, 1, 0), id="outage-stripe"),
]


@pytest.mark.parametrize(("faults", "overrides", "getter", "expected"), FAULT_CASES)
def test_fault_changes_stored_data(
    sb: Sandbox,
    http: httpx.Client,
    faults: list[str],
    overrides: dict[str, Any],
    getter: Getter,
    expected: Expected,
) -> None:
    rec = make_record(MARKER, overrides)
    seen = run_glue(sb, http, rec, faults)
    assert getter(seen) == (expected(rec) if callable(expected) else expected)
    healthy = run_glue_fresh(rec)
    assert getter(healthy) != getter(seen), "the fault left no trace"


def run_glue_fresh(rec: TestRecord) -> Observed:
    """The same record through a sandbox with no faults."""
    with Sandbox(search_lag_s=0, glue_delay_s=(0, 0), seed=3) as clean, httpx.Client() as http:
        return run_glue(clean, http, rec, [])


@pytest.mark.parametrize(
    ("faults", "overrides"),
    [
        pytest.param(["skip_paypal@invoice"], {}, id="skip_paypal-card"),
        pytest.param(["ignore_consent@email"], {}, id="ignore_consent-with-consent"),
        pytest.param(["ratelimit@hubspot=1", "lag@stripe=60", "lag@hubspot=60"], {}, id="api-only"),
        pytest.param(["mojibake@crm=firstname"], {}, id="mojibake-ascii"),
    ],
)
def test_faults_that_leave_this_record_alone(
    sb: Sandbox, http: httpx.Client, faults: list[str], overrides: dict[str, Any]
) -> None:
    rec = make_record(MARKER, overrides)
    seen = run_glue(sb, http, rec, faults)
    assert counts(seen) == (1, 1, 1)
    assert seen.contact["firstname"] == "Ada"
    assert seen.invoice["amount_due"] == 4900


def test_outage_is_logged_in_the_glue_run(sb: Sandbox, http: httpx.Client) -> None:
    run_glue(sb, http, make_record(MARKER), ["outage@hubspot"])
    steps = sb.state()["glue_runs"][0]["steps"]
    assert steps["crm"] == "error: hubspot answered 503 Service Unavailable (outage@hubspot)"
    assert "invoice" not in steps


def test_drop_one_in_n_is_deterministic(http: httpx.Client) -> None:
    markers = [f"bt{i:06d}" for i in range(12)]

    def dropped(seed: int) -> set[str]:
        with Sandbox(faults=["drop@crm=1/2"], seed=seed, search_lag_s=0, glue_delay_s=(0, 0)) as sb:
            for m in markers:
                http.post(f"{sb.urls['glue']}/hooks/catch/1/a", json=hook_payload(make_record(m)))
            assert sb.wait_idle(5)
            stored = {c["email"] for c in observe(sb, http).contacts}
        return {m for m in markers if make_record(m).email not in stored}

    first = dropped(11)
    assert 0 < len(first) < len(markers)
    assert dropped(11) == first


def test_delay_makes_one_action_late(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["delay@email=0.6"])
    rec = make_record(MARKER)
    started = time.monotonic()
    http.post(f"{sb.urls['glue']}/hooks/catch/1/a", json=hook_payload(rec))
    deadline = time.monotonic() + 3
    while not observe(sb, http).invoices and time.monotonic() < deadline:
        time.sleep(0.02)
    early = observe(sb, http)
    assert len(early.contacts) == 1 and len(early.invoices) == 1
    assert early.mails == []
    assert sb.wait_idle(5)
    assert len(observe(sb, http).mails) == 1
    assert time.monotonic() - started >= 0.6


def test_delay_of_the_crm_step_delays_the_invoice_too(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["delay@crm=0.4"])
    http.post(f"{sb.urls['glue']}/hooks/catch/1/a", json=hook_payload(make_record(MARKER)))
    time.sleep(0.2)
    early = observe(sb, http)
    assert (len(early.mails), len(early.contacts), len(early.invoices)) == (1, 0, 0)
    assert sb.wait_idle(5)
    late = observe(sb, http)
    assert (len(late.contacts), len(late.invoices)) == (1, 1)


def test_index_lag_faults(sb: Sandbox, http: httpx.Client) -> None:
    rec = make_record(MARKER)
    sb.set_faults(["lag@stripe=30", "lag@sendgrid=30"])
    http.post(f"{sb.urls['glue']}/hooks/catch/1/a", json=hook_payload(rec))
    assert sb.wait_idle(5)
    search = http.get(
        f"{sb.urls['stripe']}/v1/customers/search",
        params={"query": f"email:'{rec.email}'"},
        headers=AUTH,
    )
    assert search.json()["data"] == []
    listed = http.get(
        f"{sb.urls['stripe']}/v1/customers", params={"email": rec.email}, headers=AUTH
    )
    assert len(listed.json()["data"]) == 1  # lists are immediately consistent
    activity = http.get(
        f"{sb.urls['sendgrid']}/v3/messages",
        params={"query": f'to_email="{rec.email}"'},
        headers=AUTH,
    )
    assert activity.json()["messages"] == []
    sb.set_faults([])
    assert (
        len(
            http.get(
                f"{sb.urls['sendgrid']}/v3/messages",
                params={"query": f'to_email="{rec.email}"'},
                headers=AUTH,
            ).json()["messages"]
        )
        == 1
    )


def test_glue_hook_ratelimit(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["ratelimit@glue"])
    hook = f"{sb.urls['glue']}/hooks/catch/1/a"
    codes = [
        http.post(hook, json=hook_payload(make_record(f"bt00000{i}"))).status_code for i in range(4)
    ]
    assert codes == [200, 429, 200, 429]
    assert sb.wait_idle(5)
    assert sb.state()["counts"]["glue"]["runs"] == 2


# HubSpot forms entry -------------------------------------------------------------------
def _submit(
    sb: Sandbox,
    http: httpx.Client,
    body: Any,
    *,
    secure: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    kind = "secure/submit" if secure else "submit"
    url = f"{sb.urls['hsforms']}/submissions/v3/integration/{kind}/12345678/0a1b2c3d-form"
    return http.post(url, json=body, headers=headers or {})


def test_form_submission_runs_the_workflow(sb: Sandbox, http: httpx.Client) -> None:
    rec = make_record(MARKER)
    body = form_submission(rec, marketing_consent="true", website="https://example.com")
    r = _submit(sb, http, body)
    assert r.status_code == 200
    assert r.json() == {"inlineMessage": "Thanks for submitting the form."}
    assert sb.wait_idle(5)
    seen = observe(sb, http)
    contact = seen.contact
    assert (contact["email"], contact["firstname"], contact["lastname"]) == (
        rec.email,
        "Ada",
        rec.last_name,
    )
    assert contact["signup_date"] == rec.date.isoformat()
    assert contact["amount"] == "49.00"
    assert [m["subject"] for m in seen.mails] == ["Welcome, Ada!"]
    assert seen.invoice["amount_due"] == 4900
    assert sb.state()["glue_runs"][0]["source"] == "hsforms"


def test_form_consent_from_legal_consent_options(sb: Sandbox, http: httpx.Client) -> None:
    rec = make_record(MARKER)
    body = form_submission(rec)
    body["legalConsentOptions"] = {
        "consent": {
            "consentToProcess": True,
            "text": "I agree",
            "communications": [{"value": True, "subscriptionTypeId": 999, "text": "Marketing"}],
        }
    }
    _submit(sb, http, body)
    unticked = make_record("bt000000")
    body = form_submission(unticked)
    body["legalConsentOptions"] = {
        "consent": {
            "consentToProcess": True,
            "text": "I agree",
            "communications": [{"value": False, "subscriptionTypeId": 999, "text": "Marketing"}],
        }
    }
    _submit(sb, http, body)
    explicit_no = make_record("bt000001")
    _submit(sb, http, form_submission(explicit_no, marketing_consent="false"))
    not_asked = make_record("bt000002")
    _submit(sb, http, form_submission(not_asked))  # the form has no consent box
    assert sb.wait_idle(5)
    seen = observe(sb, http)
    assert sorted(m["to_email"] for m in seen.mails) == sorted([rec.email, not_asked.email])
    assert len(seen.contacts) == 4


def test_form_submission_updates_an_existing_contact(sb: Sandbox, http: httpx.Client) -> None:
    rec = make_record(MARKER)
    _submit(sb, http, form_submission(rec))
    assert sb.wait_idle(5)
    _submit(sb, http, form_submission(make_record(MARKER, {"company": "Renamed Ltd"})))
    assert sb.wait_idle(5)
    assert observe(sb, http).contact["company"] == "Renamed Ltd"


def test_crm_faults_apply_to_form_submissions(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["truncate@crm=lastname:5", "drop@invoice"])
    _submit(sb, http, form_submission(make_record(MARKER)))
    assert sb.wait_idle(5)
    seen = observe(sb, http)
    assert seen.contact["lastname"] == "Probe"
    assert seen.invoices == []


def test_form_entry_faults(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["drop@hsforms"])
    assert _submit(sb, http, form_submission(make_record(MARKER))).status_code == 200
    assert sb.wait_idle(5)
    assert observe(sb, http).contacts == []
    sb.set_faults(["outage@hsforms"])
    r = _submit(sb, http, form_submission(make_record(MARKER)))
    assert r.status_code == 503 and r.json()["status"] == "error"


@pytest.mark.parametrize(
    ("body", "error_type", "fragment"),
    [
        ({"fields": []}, "REQUIRED_FIELD", "At least one field"),
        (
            {"fields": [{"name": "firstname", "value": "Ada"}]},
            "REQUIRED_FIELD",
            "Required field 'email' is missing",
        ),
        (
            {"fields": [{"name": "email", "value": "nope"}]},
            "INVALID_EMAIL",
            "Error in 'fields.email'. Invalid email address",
        ),
        (
            {
                "fields": [
                    {"name": "email", "value": "a@b.co"},
                    {"name": "first_name", "value": "Ada"},
                ]
            },
            "FIELD_NOT_IN_FORM_DEFINITION",
            "fields.first_name",
        ),
        (
            {"fields": [{"objectTypeId": "0-2", "name": "email", "value": "a@b.co"}]},
            "INVALID_OBJECT_TYPE_ID",
            "0-2",
        ),
        ({"fields": ["email"]}, "INVALID_FIELD", "fields[0]"),
        (["not", "an", "object"], "INVALID_JSON", "expected an object"),
    ],
)
def test_form_validation_errors(
    sb: Sandbox, http: httpx.Client, body: Any, error_type: str, fragment: str
) -> None:
    r = _submit(sb, http, body)
    assert r.status_code == 400
    payload = r.json()
    assert payload["status"] == "error" and payload["message"] == "The request is not valid"
    assert payload["correlationId"]
    assert payload["errors"][0]["errorType"] == error_type
    assert fragment in payload["errors"][0]["message"]
    assert sb.wait_idle(1)
    assert sb.state()["counts"]["glue"]["runs"] == 0


def test_secure_form_submission_needs_a_token(sb: Sandbox, http: httpx.Client) -> None:
    body = form_submission(make_record(MARKER))
    refused = _submit(sb, http, body, secure=True)
    assert refused.status_code == 401 and refused.json()["category"] == "INVALID_AUTHENTICATION"
    assert _submit(sb, http, body, secure=True, headers=AUTH).status_code == 200
    bad_json = http.post(
        f"{sb.urls['hsforms']}/submissions/v3/integration/submit/1/f", content=b"{nope"
    )
    assert (
        bad_json.status_code == 400 and bad_json.json()["errors"][0]["errorType"] == "INVALID_JSON"
    )
    bad_portal = _submit_url(sb, http, "/submissions/v3/integration/submit/portal/f", body)
    assert bad_portal.json()["errors"][0]["errorType"] == "INVALID_PORTAL_ID"


def _submit_url(sb: Sandbox, http: httpx.Client, path: str, body: Any) -> httpx.Response:
    return http.post(sb.urls["hsforms"] + path, json=body)


def test_entry_delay_and_duplicate(sb: Sandbox, http: httpx.Client) -> None:
    sb.set_faults(["delay@hsforms=0.4", "duplicate@hsforms"])
    rec = make_record(MARKER)
    _submit(sb, http, form_submission(rec, marketing_consent="true"))
    time.sleep(0.2)
    assert counts(observe(sb, http)) == (0, 0, 0)
    assert sb.wait_idle(5)
    # HubSpot dedupes the contact by email; the workflow's mail and invoice happen twice
    assert counts(observe(sb, http)) == (1, 2, 2)


def test_the_sandbox_logs_when_the_glue_stored_each_record(sb: Sandbox, http: httpx.Client) -> None:
    rec = make_record("btcreat1", {})
    before = time.time()
    run_glue(sb, http, rec, faults=["drop@email"])
    created = http.get(f"{sb.control_url}/created").json()
    assert sorted(c["tool"] for c in created) == ["hubspot", "stripe"]  # the mail was dropped
    assert all(c["email"] == rec.email and before <= c["at"] <= time.time() for c in created)
    http.post(f"{sb.control_url}/reset")
    assert http.get(f"{sb.control_url}/created").json() == []
