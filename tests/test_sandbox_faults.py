"""The fault grammar, the pure data transforms and the plan's decisions (no server)."""

from __future__ import annotations

import pytest

from baton.probes.errors import BatonError, UsageError
from baton.probes.sandbox import KINDS, Fault, FaultPlan, FaultSpecError, parse_fault
from baton.probes.sandbox.faults import (
    add_whitespace,
    cents_misread,
    change_case,
    misread_day_month,
    mojibake,
    strip_country_code,
    swap,
    truncate,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("drop@crm", {"kind": "drop", "target": "crm", "every": 1}, id="drop"),
        pytest.param("drop@invoice=1/3", {"target": "invoice", "every": 3}, id="drop-1-in-n"),
        pytest.param("drop@glue", {"target": "glue"}, id="drop-entry"),
        pytest.param("delay@email=5", {"seconds": (5.0, 5.0)}, id="delay"),
        pytest.param("delay@crm=0.5-2", {"seconds": (0.5, 2.0)}, id="delay-range"),
        pytest.param("duplicate@email", {"times": 2}, id="duplicate-default"),
        pytest.param("duplicate@invoice=3", {"times": 3}, id="duplicate-n"),
        pytest.param("swap@crm=firstname,email", {"fields": ("firstname", "email")}, id="swap"),
        pytest.param("swap=first_name,last_name", {"target": "crm"}, id="swap-default-alias"),
        pytest.param("swap@invoice=customer_email,name", {"fields": ("email", "name")}, id="alias"),
        pytest.param("date_order@crm", {"kind": "date_order", "arg": None}, id="date_order"),
        pytest.param("strip_country", {"target": "crm"}, id="strip_country-default"),
        pytest.param("case@crm=lastname", {"fields": ("lastname",), "mode": ""}, id="case"),
        pytest.param("case@email=subject:lower", {"mode": "lower"}, id="case-mode"),
        pytest.param("whitespace@crm=company", {"fields": ("company",)}, id="whitespace"),
        pytest.param("truncate@crm=lastname:4", {"fields": ("lastname",), "length": 4}, id="trunc"),
        pytest.param("mojibake@crm=firstname", {"fields": ("firstname",)}, id="mojibake"),
        pytest.param("cents", {"kind": "cents", "target": "invoice"}, id="cents"),
        pytest.param("currency@invoice=EUR", {"mode": "eur"}, id="currency"),
        pytest.param("ignore_consent", {"target": "email"}, id="ignore_consent"),
        pytest.param("skip_paypal@invoice", {"kind": "skip_paypal"}, id="skip_paypal"),
        pytest.param("outage@stripe", {"kind": "outage", "target": "stripe"}, id="outage"),
        pytest.param("ratelimit@hubspot", {"every": 2}, id="ratelimit-default"),
        pytest.param("ratelimit@sendgrid=3", {"every": 3}, id="ratelimit-n"),
        pytest.param("lag@hubspot=30", {"seconds": (30.0, 30.0)}, id="lag"),
        pytest.param("  DROP@CRM  ", {"kind": "drop", "target": "crm"}, id="case-and-spaces"),
    ],
)
def test_parse_fault(spec: str, expected: dict[str, object]) -> None:
    fault = parse_fault(spec)
    for key, value in expected.items():
        assert getattr(fault, key) == value, key


def test_spec_round_trips() -> None:
    for spec in ["drop@crm=1/3", "swap@crm=firstname,email", "cents@invoice", "lag@stripe=2"]:
        assert parse_fault(spec).spec == spec
        assert parse_fault(parse_fault(spec).spec) == parse_fault(spec)
    assert parse_fault("cents").spec == "cents@invoice"  # the default target is written out
    fault = parse_fault("outage@glue")
    assert parse_fault(fault) is fault
    assert str(fault) == "outage@glue"


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        pytest.param("", ["empty fault spec", "KIND[@TARGET][=ARG]"], id="empty"),
        pytest.param(
            "dorp@crm", ["unknown kind 'dorp'", "did you mean 'drop'", "valid kinds:"], id="typo"
        ),
        pytest.param("explode", ["unknown kind 'explode'", "cents, currency"], id="unknown"),
        pytest.param("drop", ["drop needs a target", "drop@email", "drop@hsforms"], id="no-target"),
        pytest.param(
            "drop@stripe", ["cannot target 'stripe'", "drop@invoice"], id="tool-as-action"
        ),
        pytest.param(
            "outage@crm", ["cannot target 'crm'", "hsforms, hubspot"], id="action-as-tool"
        ),
        pytest.param("date_order@email", ["date_order cannot target 'email'", "crm"], id="target"),
        pytest.param("delay@crm", ["delay needs =SECONDS or A-B", "delay@crm=5"], id="no-arg"),
        pytest.param("delay@crm=soon", ["'soon' is not a number of seconds"], id="bad-seconds"),
        pytest.param("delay@crm=5-2", ["ends before it starts"], id="bad-range"),
        pytest.param("drop@crm=half", ["drop takes =1/N"], id="bad-drop"),
        pytest.param("drop@crm=1/0", ["N in 1/N must be a whole number ≥ 1"], id="drop-zero"),
        pytest.param("drop@crm=", ["nothing after '='"], id="empty-arg"),
        pytest.param("duplicate@crm=1", ["N (times) must be a whole number ≥ 2"], id="dup-1"),
        pytest.param("swap@crm=firstname", ["swap needs exactly two fields"], id="swap-one"),
        pytest.param("swap@crm=email,email", ["two different fields"], id="swap-same"),
        pytest.param(
            "swap@crm=frstname,email", ["unknown field 'frstname'", "'firstname'"], id="f"
        ),
        pytest.param("truncate@crm=lastname", ["truncate needs =FIELD:N"], id="trunc-no-n"),
        pytest.param("truncate@crm=lastname:x", ["N (characters kept)"], id="trunc-bad-n"),
        pytest.param("case@crm=email:title", ["case mode must be upper or lower"], id="case-mode"),
        pytest.param("mojibake@email=body", ["fields of email: to_email, from_email"], id="field"),
        pytest.param("currency@invoice=euro", ["3-letter ISO code"], id="currency"),
        pytest.param("cents@invoice=2", ["cents takes no argument"], id="extra-arg"),
        pytest.param("lag@glue=3", ["valid targets for lag: hubspot, sendgrid, stripe"], id="lag"),
        pytest.param("drop crm", ["without spaces"], id="spaces"),
    ],
)
def test_bad_specs_name_the_bad_part(spec: str, fragments: list[str]) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_fault(spec)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert info.value.spec == spec.strip()


def test_fault_spec_error_is_a_usage_error() -> None:
    assert issubclass(FaultSpecError, UsageError)
    assert issubclass(FaultSpecError, BatonError)


def test_every_kind_is_documented_with_its_finding() -> None:
    import baton.probes.sandbox.faults as module

    assert module.__doc__ is not None
    findings = {"missing", "late", "duplicate", "swapped", "reformatted", "truncated"}
    findings |= {"encoding", "wrong_value", "unexpected", "unreachable", "-"}
    for name, info in KINDS.items():
        assert f"| {name} |" in module.__doc__
        assert info.finding in findings


# Pure transforms ---------------------------------------------------------------------
def test_swap() -> None:
    assert swap({"a": "1", "b": "2", "c": "3"}, "a", "b") == {"a": "2", "b": "1", "c": "3"}
    assert swap({"a": "1"}, "a", "b") == {"b": "1"}


@pytest.mark.parametrize(
    ("iso", "expected"),
    [("2026-03-04", "2026-04-03"), ("2026-12-01", "2026-01-12"), ("2026-03-25", "2026-03-25")],
)
def test_misread_day_month(iso: str, expected: str) -> None:
    assert misread_day_month(iso) == expected


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+447700900123", "07700900123"),
        ("+14155550100", "4155550100"),
        ("+353861234567", "0861234567"),
        ("+81312345678", "81312345678"),
        ("07700900123", "07700900123"),
    ],
)
def test_strip_country_code(phone: str, expected: str) -> None:
    assert strip_country_code(phone) == expected


def test_small_transforms() -> None:
    assert change_case("Probe-bt1") == "PROBE-BT1"
    assert change_case("ABC") == "abc"  # whichever changes it
    assert change_case("Ada", "lower") == "ada"
    assert add_whitespace("Baton Probe bt1") == "Baton  Probe  bt1 "
    assert truncate("Probe-bt1", 5) == "Probe"
    assert mojibake("Zoë") == "ZoÃ«"
    assert mojibake("Ada") == "Ada"
    assert cents_misread("49.00") == 49
    assert cents_misread("nope") == 0


# The plan ----------------------------------------------------------------------------
def test_plan_transform_applies_faults_in_order() -> None:
    plan = FaultPlan(["truncate@crm=lastname:5", "case@crm=lastname:upper", "date_order"])
    out = plan.transform("crm", {"lastname": "Probe-bt1", "signup_date": "2026-03-04"})
    assert out == {"lastname": "PROBE", "signup_date": "2026-04-03"}
    assert plan.transform("email", {"subject": "Hi"}) == {"subject": "Hi"}


def test_plan_invoice_transforms() -> None:
    plan = FaultPlan(["cents", "currency@invoice=eur", "strip_country@invoice"])
    out = plan.transform("invoice", {"amount": "49.00", "amount_cents": 4900, "currency": "usd"})
    assert out["amount_cents"] == 49
    assert out["currency"] == "eur"


def test_drop_one_in_n_is_deterministic_per_seed_and_record() -> None:
    keys = [f"probe+bt{i:06d}@example.com" for i in range(60)]
    a = FaultPlan(["drop@crm=1/3"], seed=42)
    b = FaultPlan(["drop@crm=1/3"], seed=42)
    dropped = [k for k in keys if a.dropped("crm", k)]
    assert dropped == [k for k in reversed(keys) if b.dropped("crm", k)][::-1]
    assert 5 < len(dropped) < 40
    other = FaultPlan(["drop@crm=1/3"], seed=43)
    assert dropped != [k for k in keys if other.dropped("crm", k)]
    assert FaultPlan(["drop@crm"]).dropped("crm", "x") == Fault("drop", "crm")
    assert FaultPlan(["drop@crm"]).dropped("email", "x") is None


def test_ratelimit_counts_requests_per_tool() -> None:
    plan = FaultPlan(["ratelimit@stripe=3"])
    assert [plan.rate_limited("stripe") for _ in range(6)] == [False, False, True] * 2
    assert not any(plan.rate_limited("hubspot") for _ in range(4))
    plan.reset_counters()
    assert not plan.rate_limited("stripe")


def test_plan_lookups() -> None:
    plan = FaultPlan(
        ["lag@hubspot=7", "duplicate@email=3", "delay@crm=0.2-0.4", "outage@sendgrid"], seed=1
    )
    assert plan.lag("hubspot", 1.0) == 7.0
    assert plan.lag("stripe", 1.0) == 1.0
    assert plan.times("email") == 3
    assert plan.times("crm") == 1
    assert 0.2 <= plan.delay_s("crm") <= 0.4
    assert plan.delay_s("email") == 0
    assert plan.outage("sendgrid")
    assert not plan.outage("stripe")
    assert plan.specs == [
        "lag@hubspot=7",
        "duplicate@email=3",
        "delay@crm=0.2-0.4",
        "outage@sendgrid",
    ]
    assert "seed=1" in repr(plan)


def test_plan_rejects_bad_specs() -> None:
    with pytest.raises(FaultSpecError, match="unknown kind 'nope'"):
        FaultPlan(["drop@crm", "nope"])
