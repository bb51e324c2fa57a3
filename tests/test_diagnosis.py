"""Diagnosis: which finding (and which sentence) each kind of damage gives, and which
look-alikes are no finding at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from baton.probes.config import Expectation, StageConfig, WorkflowConfig
from baton.probes.diagnosis import (
    compare,
    first_break,
    humanize,
    late_finding,
    missing_finding,
    unreachable_finding,
)
from baton.probes.model import Finding, FindingKind, StageResult
from baton.probes.record import make_record

MARKER = "bt7k2xq9"
REC = make_record(MARKER)  # date 2026-07-03, phone +447700900454

#: One tool showing every kind of field, named the way HubSpot and Stripe name them.
FIELDS = {
    "firstname": "{first_name}",
    "email": "{email}",
    "lastname": "{last_name}",
    "phone": "{phone}",
    "signup_date": "{date_iso}",
    "company": "{company}",
    "marketing_consent": "{marketing_consent}",
    "amount": "{amount}",
    "amount_due": "{amount_cents}",
    "currency": "{currency}",
    "metadata.payment_method": "{payment_method}",
}


def healthy(rec: Any = REC, **changes: Any) -> dict[str, Any]:
    """The record as a healthy tool shows it (types as the APIs return them)."""
    obs: dict[str, Any] = {
        "_id": "101",
        "_matched_by": "email",
        "firstname": rec.first_name,
        "email": rec.email,
        "lastname": rec.last_name,
        "phone": rec.phone,
        "signup_date": rec.date.isoformat(),
        "company": rec.company,
        "marketing_consent": "true",
        "amount": "49.00",
        "amount_due": 4900,
        "currency": "usd",
        "metadata.payment_method": "card",
        "hs_object_id": "101",
    }
    obs.update(changes)
    return obs


def check(
    changes: dict[str, Any],
    *,
    record: dict[str, Any] | None = None,
    fields: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> list[Finding]:
    rec = make_record(MARKER, record)
    obs = {k: v for k, v in healthy(rec, **changes).items() if k not in drop}
    expect = Expectation(fields=FIELDS | (fields or {}))
    return compare(rec, expect, [obs], seam="Form → CRM", where="CRM")


def case(
    changes: dict[str, Any],
    expected: list[tuple[str, tuple[str, ...]]],
    *,
    id: str,
    record: dict[str, Any] | None = None,
    fields: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    says: str = "",
) -> Any:
    return pytest.param(changes, expected, record, fields, drop, says, id=id)


NO_FINDING: list[tuple[str, tuple[str, ...]]] = []
#: HubSpot date properties: midnight UTC in epoch milliseconds.
EPOCH_MS = str(int(dt.datetime(2026, 7, 3, tzinfo=dt.UTC).timestamp() * 1000))

FIELD_CASES = [
    # -- look-alikes that are no finding
    case({}, NO_FINDING, id="identical"),
    case({"amount": 49}, NO_FINDING, id="amount-49.00-vs-int-49"),
    case({"amount": 49.0}, NO_FINDING, id="amount-float"),
    case({"amount": "$49.00"}, NO_FINDING, id="amount-with-currency-sign"),
    case({"amount_due": "4900"}, NO_FINDING, id="amount-due-as-string"),
    case({"marketing_consent": True}, NO_FINDING, id="bool-true-vs-True"),
    case({"marketing_consent": "TRUE"}, NO_FINDING, id="bool-upper-case"),
    case({"currency": "USD"}, NO_FINDING, id="currency-case"),
    case(
        {"email": "ada.probe+bt7k2xq9@example.com"},
        NO_FINDING,
        record={"email": "Ada.Probe+{marker}@Example.com"},
        id="email-lower-cased-by-crm",
    ),
    case({"phone": "+44 7700 900454"}, NO_FINDING, id="phone-spaced"),
    case({"phone": "0044 7700 900454"}, NO_FINDING, id="phone-00-prefix"),
    case({"phone": "+44 (0)7700 900454"}, NO_FINDING, id="phone-trunk-in-parens"),
    case({"phone": "447700900454"}, NO_FINDING, id="phone-plus-dropped-digits-intact"),
    case({"signup_date": "2026-07-03T00:00:00Z"}, NO_FINDING, id="date-as-timestamp"),
    case({"signup_date": EPOCH_MS}, NO_FINDING, id="date-as-epoch-ms"),
    case({"signup_date": "3 July 2026"}, NO_FINDING, id="date-in-words"),
    case(
        {"signup_date": "3/7/2026"},
        NO_FINDING,
        fields={"signup_date": "{date:%d/%m/%Y}"},
        id="date-dmy-without-padding",
    ),
    case(
        {"note": None},
        NO_FINDING,
        record={"x_note": ""},
        fields={"note": "{x_note}"},
        id="empty-expected-vs-None",
    ),
    case(
        {},
        NO_FINDING,
        record={"x_note": ""},
        fields={"note": "{x_note}"},
        id="empty-expected-vs-missing-field",
    ),
    case({}, NO_FINDING, record={"first_name": "Zoë"}, id="unicode-stored-intact"),
    case({"firstname": "Zoe\u0308"}, NO_FINDING, record={"first_name": "Zoë"}, id="unicode-nfd"),
    # -- swapped
    case(
        {"firstname": REC.email, "email": "Ada"},
        [("swapped", ("firstname", "email"))],
        id="swapped-name-email",
        says="Form → CRM: first name and email are swapped "
        "(CRM has firstname='probe+bt7k2xq9@example.com', email='Ada')",
    ),
    case(
        {"firstname": REC.last_name, "lastname": "ada"},
        [("swapped", ("firstname", "lastname"))],
        id="swapped-with-case-change",
    ),
    case(
        {"lastname": "Ada"},
        [("swapped", ("firstname", "lastname"))],
        drop=("firstname",),
        id="value-moved-into-other-field",
        says="Form → CRM: first name was written into last name "
        "(CRM has no firstname, lastname='Ada')",
    ),
    case(
        {"firstname": REC.company, "nickname": "Ada"},
        [("swapped", ("firstname", "nickname"))],
        id="swapped-with-unexpected-field",
    ),
    # -- reformatted
    case(
        {"signup_date": "2026-03-07"},
        [("reformatted", ("signup_date",))],
        id="date-day-month-swapped-iso",
        says="Form → CRM: signup date was read in the wrong day/month order "
        "(CRM has signup_date='2026-03-07', expected '2026-07-03': "
        "3 July 2026 became 7 March 2026)",
    ),
    case(
        {"signup_date": "07/03/2026"},
        [("reformatted", ("signup_date",))],
        fields={"signup_date": "{date:%d/%m/%Y}"},
        id="date-dmy-read-as-mdy",
    ),
    case(
        {"signup_date": "03/07/2026"},
        [("reformatted", ("signup_date",))],
        fields={"signup_date": "{date:%m/%d/%Y}"},
        id="date-mdy-written-dmy",
    ),
    case(
        {"signup_date": "03/07/2026"},
        [("reformatted", ("signup_date",))],
        id="date-iso-written-ambiguously",
    ),
    case(
        {"phone": "07700900454"},
        [("reformatted", ("phone",))],
        id="phone-country-code-stripped",
        says="Form → CRM: phone lost its country code +44 "
        "(CRM has phone='07700900454', expected '+447700900454')",
    ),
    case({"phone": "7700 900454"}, [("reformatted", ("phone",))], id="phone-bare-national"),
    case({"phone": "+1 7700900454"}, [("reformatted", ("phone",))], id="phone-cc-changed"),
    case(
        {"phone": "+447700900454"},
        [("reformatted", ("phone",))],
        fields={"phone": "{phone_national}"},
        id="phone-cc-added",
    ),
    case({"phone": "+44 07700 900454"}, [("reformatted", ("phone",))], id="phone-trunk-kept"),
    case(
        {"phone": 7700900454},
        [("reformatted", ("phone",))],
        fields={"phone": "{phone_national}"},
        id="phone-stored-as-number",
        says="Form → CRM: phone lost its leading 0 "
        "(CRM has phone=7700900454, expected '07700900454')",
    ),
    case({"firstname": "ADA"}, [("reformatted", ("firstname",))], id="case-only"),
    case({"email": REC.email.upper()}, [("reformatted", ("email",))], id="email-upper-cased"),
    case({"firstname": " Ada "}, [("reformatted", ("firstname",))], id="whitespace-padded"),
    case(
        {"company": f"Baton  Probe {MARKER}"},
        [("reformatted", ("company",))],
        id="whitespace-inside",
    ),
    case({"amount": "49,00"}, [("reformatted", ("amount",))], id="decimal-comma"),
    # -- truncated
    case(
        {"company": "Baton Probe bt7"},
        [("truncated", ("company",))],
        id="truncated",
        says="Form → CRM: company was cut off at 15 of 20 characters "
        "(CRM has company='Baton Probe bt7', expected 'Baton Probe bt7k2xq9')",
    ),
    case({"company": "Baton Probe…"}, [("truncated", ("company",))], id="truncated-ellipsis"),
    case({"phone": "+4477009"}, [("truncated", ("phone",))], id="truncated-phone"),
    # -- encoding
    case(
        {"firstname": "ZoÃ«"},
        [("encoding", ("firstname",))],
        record={"first_name": "Zoë"},
        id="mojibake-cp1252",
        says="Form → CRM: first name is garbled, UTF-8 read as Windows-1252 "
        "(CRM has firstname='ZoÃ«', expected 'Zoë')",
    ),
    case(
        {"firstname": "\u00c3\u0081gnes"},
        [("encoding", ("firstname",))],
        record={"first_name": "Ágnes"},
        id="mojibake-latin-1",
    ),
    case(
        {"firstname": "Zo?"},
        [("encoding", ("firstname",))],
        record={"first_name": "Zoë"},
        id="question-mark",
    ),
    case(
        {"firstname": "Zo\ufffd\ufffd"},
        [("encoding", ("firstname",))],
        record={"first_name": "Zoë"},
        id="replacement-char",
    ),
    case(
        {"firstname": "Zoe"},
        [("encoding", ("firstname",))],
        record={"first_name": "Zoë"},
        id="accents-dropped",
    ),
    case(
        {"lastname": "O&#x27;Brien"},
        [("encoding", ("lastname",))],
        record={"last_name": "O'Brien"},
        id="html-escaped",
    ),
    case(
        {"email": REC.email.replace("+", " ")},
        [("encoding", ("email",))],
        id="plus-became-space",
    ),
    case(
        {"email": "probe%2Bbt7k2xq9%40example.com"},
        [("encoding", ("email",))],
        id="url-encoded",
    ),
    # -- wrong values
    case(
        {"amount_due": 49},
        [("wrong_value", ("amount_due",))],
        id="cents-100-times-too-small",
        says="Form → CRM: amount due is 100 times too small "
        "(CRM has amount_due=49, expected 4900: 0.49 USD instead of 49.00 USD)",
    ),
    case({"amount": "4900"}, [("wrong_value", ("amount",))], id="amount-100-times-too-large"),
    case({"amount_due": 4800}, [("wrong_value", ("amount_due",))], id="amount-other"),
    case(
        {"currency": "eur"},
        [("wrong_value", ("currency",))],
        id="currency-differs",
        says="Form → CRM: currency is EUR instead of USD (CRM has currency='eur')",
    ),
    case({"firstname": "Bob"}, [("wrong_value", ("firstname",))], id="other-value"),
    case(
        {"firstname": None},
        [("wrong_value", ("firstname",))],
        id="missing-field",
        says="Form → CRM: first name is missing (CRM has no firstname, expected 'Ada')",
    ),
    case({"firstname": ""}, [("wrong_value", ("firstname",))], id="empty-field"),
    case(
        {"marketing_consent": False},
        [("wrong_value", ("marketing_consent",))],
        id="bool-flipped",
    ),
    case(
        {"signup_date": "2026-07-02"},
        [("wrong_value", ("signup_date",))],
        id="date-one-day-off",
    ),
    case({"signup_date": "2026-01-01"}, [("wrong_value", ("signup_date",))], id="date-other"),
    case({"phone": "+447700900999"}, [("wrong_value", ("phone",))], id="phone-other-number"),
    case(
        {"metadata.payment_method": "paypal"},
        [("wrong_value", ("metadata.payment_method",))],
        id="nested-field",
        says="Form → CRM: payment method is wrong "
        "(CRM has metadata.payment_method='paypal', expected 'card')",
    ),
    # -- several at once: one finding per problem, in expectation order
    case(
        {"firstname": REC.email, "email": "Ada", "amount_due": 49, "phone": "07700900454"},
        [
            ("swapped", ("firstname", "email")),
            ("reformatted", ("phone",)),
            ("wrong_value", ("amount_due",)),
        ],
        id="swap-and-others",
    ),
]


@pytest.mark.parametrize(("changes", "expected", "record", "fields", "drop", "says"), FIELD_CASES)
def test_field_comparison(
    changes: dict[str, Any],
    expected: list[tuple[str, tuple[str, ...]]],
    record: dict[str, Any] | None,
    fields: dict[str, str] | None,
    drop: tuple[str, ...],
    says: str,
) -> None:
    findings = check(changes, record=record, fields=fields, drop=drop)
    assert [(str(f.kind), f.fields) for f in findings] == expected
    for f in findings:
        assert f.message.startswith("Form → CRM: ")
        assert set(f.expected) <= set(f.fields) and set(f.observed) == set(f.fields)
    if says:
        assert findings[0].message == says


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        pytest.param({"signup_date": "2026-03-07"}, "day/month order", id="date"),
        pytest.param({"phone": "07700900454"}, "country code", id="phone"),
        pytest.param({"firstname": "ADA"}, "case", id="case"),
        pytest.param({"firstname": "Ada  "}, "whitespace", id="whitespace"),
        pytest.param({"amount": "0.49"}, "100 times too small", id="cents"),
        pytest.param({"amount": "4900"}, "4,900.00 USD instead of 49.00 USD", id="major-units"),
        pytest.param({"signup_date": "2026-07-02"}, "one day off", id="time-zone"),
        pytest.param({"phone": "+1 7700900454"}, "+1 instead of +44", id="cc-changed"),
    ],
)
def test_message_names_the_damage(changes: dict[str, Any], fragment: str) -> None:
    (finding,) = check(changes)
    assert fragment in finding.message


def test_evidence_keeps_the_tools_own_values() -> None:
    (finding,) = check({"amount_due": 49})
    assert finding.expected == {"amount_due": "4900"}
    assert finding.observed == {"amount_due": 49}
    (swap,) = check({"firstname": REC.email, "email": "Ada"})
    assert swap.expected == {"firstname": "Ada", "email": REC.email}
    assert swap.observed == {"firstname": REC.email, "email": "Ada"}


def test_found_by_marker_checks_the_email_even_when_not_expected() -> None:
    obs = {"_id": "1", "_matched_by": "marker", "firstname": REC.email, "email": "Ada"}
    expect = Expectation(fields={"firstname": "{first_name}"})
    (finding,) = compare(REC, expect, [obs], seam="Form → CRM", where="CRM")
    assert finding.kind == FindingKind.SWAPPED
    assert finding.fields == ("firstname", "email")
    assert finding.message == (
        "Form → CRM: first name and email are swapped "
        "(CRM has firstname='probe+bt7k2xq9@example.com', email='Ada')"
    )


def test_found_by_marker_with_a_damaged_recipient() -> None:
    obs = {"_id": "m1", "_matched_by": "marker", "to_email": REC.email.replace("+", " ")}
    (finding,) = compare(REC, Expectation(), [obs], seam="Form → Welcome email", where="Email")
    assert finding.kind == FindingKind.ENCODING
    assert finding.fields == ("to_email",)
    assert finding.message.startswith("Form → Welcome email: recipient had its '+' turned into")


def test_found_by_email_does_not_invent_an_email_check() -> None:
    obs = {"_id": "m1", "_matched_by": "email", "to_email": "someone-else@example.com"}
    assert compare(REC, Expectation(), [obs], seam="S", where="Email") == []


def test_many_markers_healthy_record_gives_no_finding() -> None:
    """No false alarms, whatever day, month and phone digits the marker gives."""
    for n in range(200):
        rec = make_record(f"bt{n:06d}")
        findings = compare(rec, Expectation(fields=FIELDS), [healthy(rec)], seam="S", where="W")
        assert findings == [], rec
        swapped = healthy(rec, signup_date=dt.date(2026, rec.date.day, rec.date.month).isoformat())
        (finding,) = compare(rec, Expectation(fields=FIELDS), [swapped], seam="S", where="W")
        assert finding.kind == FindingKind.REFORMATTED, rec


# ---------------------------------------------------------------------------- record level

SEAM, WHERE = "Form → Welcome email", "Email"
MAIL = Expectation(fields={"to_email": "{email}", "subject": "Welcome, {first_name}"})


def mail(**changes: Any) -> dict[str, Any]:
    return {
        "_id": "m1",
        "_matched_by": "email",
        "to_email": REC.email,
        "subject": "Welcome, Ada",
        **changes,
    }


@pytest.mark.parametrize(
    ("expect", "observed", "expected", "message"),
    [
        pytest.param(MAIL, [], [], None, id="nothing-found"),
        pytest.param(Expectation(absent=True), [], [], None, id="absent-and-nothing-found"),
        pytest.param(
            Expectation(absent=True),
            [mail()],
            [("unexpected", ())],
            "Form → Welcome email: the record showed up at Email although it should not (found 1)",
            id="absent-but-found",
        ),
        pytest.param(
            Expectation(fields=MAIL.fields, absent=True),
            [mail(subject="Welcome, Bob"), mail()],
            [("unexpected", ())],
            "Form → Welcome email: the record showed up at Email although it should not (found 2)",
            id="absent-fields-not-checked",
        ),
        pytest.param(
            MAIL,
            [mail(), mail(_id="m2")],
            [("duplicate", ())],
            "Form → Welcome email: the record arrived 2 times (expected 1)",
            id="duplicate",
        ),
        pytest.param(
            MAIL,
            [mail(subject="Welcome, Bob"), mail(_id="m2")],
            [("duplicate", ())],
            None,
            id="duplicate-best-copy-is-intact",
        ),
        pytest.param(
            MAIL,
            [mail(subject="Welcome, Bob"), mail(_id="m2", subject="Welcome, ADA")],
            [("duplicate", ()), ("reformatted", ("subject",))],
            None,
            id="duplicate-best-copy-is-compared",
        ),
        pytest.param(
            Expectation(fields={"firstname": "{first_name}", "email": "{email}"}),
            [
                {"_id": "1", "_matched_by": "marker", "firstname": REC.email, "email": "Ada"},
                {"_id": "2", "_matched_by": "marker", "firstname": REC.email, "email": "Ada"},
            ],
            [("duplicate", ()), ("swapped", ("firstname", "email"))],
            None,
            id="duplicate-and-swapped",
        ),
        pytest.param(
            Expectation(fields=MAIL.fields, count=2),
            [mail()],
            [("missing", ())],
            "Form → Welcome email: the record arrived only 1 time (expected 2)",
            id="fewer-than-expected",
        ),
        pytest.param(
            Expectation(fields=MAIL.fields, count=2),
            [mail(), mail(_id="m2")],
            [],
            None,
            id="count-two-as-expected",
        ),
    ],
)
def test_record_level(
    expect: Expectation,
    observed: list[dict[str, Any]],
    expected: list[tuple[str, tuple[str, ...]]],
    message: str | None,
) -> None:
    findings = compare(REC, expect, observed, seam=SEAM, where=WHERE)
    assert [(str(f.kind), f.fields) for f in findings] == expected
    if message is not None:
        assert findings[0].message == message


def test_duplicate_evidence_is_the_count() -> None:
    (finding,) = compare(REC, MAIL, [mail(), mail(), mail()], seam=SEAM, where=WHERE)
    assert finding.expected == {"count": 1}
    assert finding.observed == {"count": 3}


def test_unknown_template_field_is_a_usage_error() -> None:
    from baton.probes.errors import UsageError

    with pytest.raises(UsageError, match="nope"):
        compare(REC, Expectation(fields={"x": "{nope}"}), [mail()], seam=SEAM, where=WHERE)


# ---------------------------------------------------------------------------- timed findings


def test_timed_findings() -> None:
    missing = missing_finding(seam="Form → CRM", where="CRM", deadline_s=20.0)
    assert missing.kind == FindingKind.MISSING
    assert missing.message == "Form → CRM: the record never arrived in CRM within 20s"
    upstream = missing_finding(
        seam="CRM → Invoice", where="Invoice", deadline_s=2.5, upstream_missing="CRM"
    )
    assert upstream.message == (
        "CRM → Invoice: the record never arrived in Invoice within 2.5s; "
        "it was already missing in CRM"
    )
    late = late_finding(seam="Form → CRM", where="CRM", latency_s=34.4, deadline_s=20)
    assert late.kind == FindingKind.LATE
    assert (
        late.message == "Form → CRM: the record reached CRM after 34s, later than the 20s deadline"
    )
    down = unreachable_finding(seam="Form → CRM", where="CRM", error="hubspot: HTTP 503")
    assert down.kind == FindingKind.UNREACHABLE
    assert down.message == "Form → CRM: could not check CRM: hubspot: HTTP 503"
    assert "leak" not in down.message


@pytest.mark.parametrize(
    ("field", "words"),
    [
        pytest.param("firstname", "first name", id="glued"),
        pytest.param("amount_due", "amount due", id="snake"),
        pytest.param("metadata.payment_method", "payment method", id="dotted"),
        pytest.param("properties.signupDate", "signup date", id="camel"),
        pytest.param("lines.data.0.amount", "amount", id="list-index"),
        pytest.param("to_email", "recipient", id="recipient"),
    ],
)
def test_humanize(field: str, words: str) -> None:
    assert humanize(field) == words


# ---------------------------------------------------------------------------- first break

#: Form → CRM → Invoice, and Form → Welcome email: a tree with two branches.
TREE = WorkflowConfig(
    name="lead-to-invoice",
    stages=[
        StageConfig(name="form", tool="webhook", label="Form"),
        StageConfig(name="crm", tool="hubspot", after="form", label="CRM"),
        StageConfig(name="invoice", tool="stripe", after="crm", label="Invoice"),
        StageConfig(name="welcome", tool="sendgrid", after="form", label="Welcome email"),
    ],
)
_AFTER = {"form": None, "crm": "form", "invoice": "crm", "welcome": "form"}


def stage(name: str, status: str, *kinds: str) -> StageResult:
    findings = [Finding(FindingKind(k), f"{name}: {k}") for k in kinds]
    return StageResult(
        name=name,
        tool="t",
        after=_AFTER[name],
        status=status,
        found=1,
        latency_s=None,
        findings=findings,
    )


def ok(name: str) -> StageResult:
    return stage(name, "ok")


def broken(name: str, kind: str) -> StageResult:
    return stage(name, kind, kind)


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        pytest.param([ok("form"), ok("crm"), ok("invoice"), ok("welcome")], None, id="all-ok"),
        pytest.param(
            [ok("form"), ok("crm"), stage("invoice", "pending"), stage("welcome", "skipped")],
            None,
            id="pending-and-skipped-are-no-break",
        ),
        pytest.param(
            [ok("form"), broken("crm", "swapped"), broken("invoice", "missing"), ok("welcome")],
            ("CRM", "Form → CRM", "swapped"),
            id="upstream-first",
        ),
        pytest.param(
            [ok("form"), ok("crm"), broken("invoice", "wrong_value"), broken("welcome", "late")],
            ("Invoice", "CRM → Invoice", "wrong_value"),
            id="config-order-across-branches",
        ),
        pytest.param(
            [broken("welcome", "duplicate"), broken("invoice", "missing"), ok("crm"), ok("form")],
            ("Invoice", "CRM → Invoice", "missing"),
            id="results-in-any-order",
        ),
        pytest.param(
            [ok("form"), broken("crm", "unreachable"), ok("invoice"), broken("welcome", "late")],
            ("Welcome email", "Form → Welcome email", "late"),
            id="leak-beats-earlier-unreachable",
        ),
        pytest.param(
            [
                ok("form"),
                broken("crm", "unreachable"),
                broken("invoice", "unreachable"),
                ok("welcome"),
            ],
            ("CRM", "Form → CRM", "unreachable"),
            id="only-unreachable",
        ),
        pytest.param(
            [
                broken("form", "unreachable"),
                *(stage(n, "skipped") for n in ("crm", "invoice", "welcome")),
            ],
            ("Form", "Form", "unreachable"),
            id="entry-unreachable",
        ),
    ],
)
def test_first_break(stages: list[StageResult], expected: tuple[str, str, str] | None) -> None:
    fb = first_break(TREE, stages)
    if expected is None:
        assert fb is None
        return
    assert fb is not None
    label, seam, kind = expected
    assert (fb.seam, fb.kind) == (seam, kind)
    assert TREE.stage(fb.stage).display == label
    assert fb.message.endswith(f": {kind}")


def test_first_break_message_is_the_finding_that_set_the_status() -> None:
    crm = stage("crm", "swapped", "late", "duplicate", "swapped")
    fb = first_break(TREE, [ok("form"), crm, ok("invoice"), ok("welcome")])
    assert fb is not None
    assert fb.message == "crm: swapped"


def test_every_finding_kind_has_words_and_a_rank() -> None:
    """A new kind is added in one place for its words (``model.KIND_WORDS``)."""
    from baton.probes.model import _KIND_PRIORITY, KIND_WORDS, FindingKind

    assert set(KIND_WORDS) == {str(k) for k in FindingKind}
    assert set(_KIND_PRIORITY) == set(FindingKind)
    assert KIND_WORDS["swapped"].verb_for(("firstname", "email")) == "swaps firstname and email in"
