"""Diagnosis: what went wrong at one stage, as findings with one plain-English sentence each.

The engine calls

- ``compare(record, expect, observed, seam=..., where=...)`` once a stage shows the test
  record (or shows it where it must not be);
- ``missing_finding``, ``late_finding`` and ``unreachable_finding`` for what it times itself;

Where the chain broke first, for the whole run, is :mod:`baton.probes.diagnosis.localise`.

Every message starts with the seam and quotes the tool's own field names and values::

    >>> from baton.probes.record import make_record
    >>> from baton.probes.config import Expectation
    >>> rec = make_record("bt7k2xq9")
    >>> expect = Expectation(fields={"firstname": "{first_name}", "email": "{email}"})
    >>> seen = {"firstname": rec.email, "email": "Ada", "_id": "1", "_matched_by": "marker"}
    >>> (finding,) = compare(rec, expect, [seen], seam="Form → CRM", where="CRM")
    >>> str(finding.kind), finding.fields
    ('swapped', ('firstname', 'email'))
    >>> for part in finding.message.split(" (", 1):
    ...     print(part)
    Form → CRM: first name and email are swapped
    CRM has firstname='probe+bt7k2xq9@example.com', email='Ada')

Value-level checks (dates, phones, amounts, encodings...) live in
:mod:`baton.probes.diagnosis.classify`.
Everything here is pure: no I/O, no clock.

Size: compare and its helpers (swaps, best copy, field checks) and the finding builders,
which share the field wording and quoting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..config import Expectation
from ..model import Finding, FindingKind
from ..record import TestRecord
from .classify import Hints, Mismatch, as_number, as_text, classify, loosely_same

__all__ = [
    "compare",
    "humanize",
    "late_finding",
    "missing_finding",
    "unreachable_finding",
]

#: field -> (template, the template rendered for the test record)
_Wanted = dict[str, tuple[str, str]]

#: Field names people would not read as English on their own (matched on the last segment).
_FIELD_NAMES = {
    "firstname": "first name",
    "lastname": "last name",
    "mobilephone": "mobile phone",
    "jobtitle": "job title",
    "to_email": "recipient",
    "from_email": "sender",
    "msg_id": "message id",
}

#: How far a finding puts a copy from the record, to pick the closest of several copies.
_DAMAGE = {FindingKind.REFORMATTED: 1, FindingKind.TRUNCATED: 2, FindingKind.ENCODING: 2}

#: Where a tool keeps the address the record was sent to or filed under.
_EMAIL_KEYS = {"email", "to_email", "customer_email", "recipient_email"}


# ---------------------------------------------------------------------------- compare


def compare(
    record: TestRecord,
    expect: Expectation,
    observed: list[dict[str, Any]],
    *,
    seam: str,
    where: str,
) -> list[Finding]:
    """Findings for what a stage shows of the test record (``[]``: all as expected).

    ``observed`` is every record the tool holds for the test record, each a flat dict of the
    tool's field names plus ``_id`` and ``_matched_by`` (``"email"`` or ``"marker"``).
    ``where`` is the stage's display name ("CRM"), ``seam`` the handoff ("Form → CRM").

    - ``expect.absent``: finding the record at all is ``unexpected`` (nothing else is checked).
    - More copies than ``expect.count`` is ``duplicate``; fewer (but some) is ``missing``.
    - ``expect.fields`` is checked on the copy that matches best; each broken field gives one
      finding (``swapped`` covers both of its fields).

    Raises ``UsageError`` when a template names a field the record does not have.
    """
    if not observed:
        return []
    found = len(observed)
    if expect.absent or expect.count <= 0:
        return [
            Finding(
                FindingKind.UNEXPECTED,
                f"{seam}: the record showed up at {where} although it should not (found {found})",
                expected={"count": 0},
                observed={"count": found},
            )
        ]
    findings: list[Finding] = []
    if found != expect.count:
        kind = FindingKind.DUPLICATE if found > expect.count else FindingKind.MISSING
        only = "" if found > expect.count else "only "
        findings.append(
            Finding(
                kind,
                f"{seam}: the record arrived {only}{_times(found)} (expected {expect.count})",
                expected={"count": expect.count},
                observed={"count": found},
            )
        )
    wanted = {name: (tpl, record.render(tpl)) for name, tpl in expect.fields.items()}
    findings.extend(_best_match(record, wanted, observed, seam=seam, where=where))
    return findings


def _times(n: int) -> str:
    return f"{n} time" if n == 1 else f"{n} times"


def _best_match(
    record: TestRecord,
    wanted: _Wanted,
    observed: list[dict[str, Any]],
    *,
    seam: str,
    where: str,
) -> list[Finding]:
    """The field findings of the copy with the most matching fields (then the fewest and
    mildest findings, then one found by email, then the first)."""
    best: list[Finding] = []
    best_key: tuple[int, int, int, bool, int] | None = None
    for index, obs in enumerate(observed):
        fields = {**wanted, **_implicit_email(record, wanted, obs)}
        matches, findings = _check_fields(record, fields, obs, seam=seam, where=where)
        damage = sum(_DAMAGE.get(f.kind, 3) for f in findings)
        key = (matches, -len(findings), -damage, obs.get("_matched_by") != "marker", -index)
        if best_key is None or key > best_key:
            best, best_key = findings, key
    return best


def _implicit_email(record: TestRecord, wanted: _Wanted, obs: Mapping[str, Any]) -> _Wanted:
    """A copy found only by its marker was not found by its email: check the email too,
    even when the expectation does not list it (that is where swaps and '+' → ' ' show)."""
    if obs.get("_matched_by") != "marker":
        return {}
    if any(expected == record.email for _, expected in wanted.values()):
        return {}
    for key in obs:
        if key not in wanted and key.rsplit(".", 1)[-1].lower() in _EMAIL_KEYS:
            return {key: ("{email}", record.email)}
    return {}


def _hints(record: TestRecord, field: str, template: str) -> Hints:
    unit: Literal["major", "minor"] | None = None
    if "{amount_cents" in template:
        unit = "minor"
    elif re.search(r"\{amount[:}!]", template):
        unit = "major"
    return Hints(
        date=record.date,
        currency=record.currency.upper(),
        unit=unit,
        is_currency="currency" in field.lower() or "{currency" in template,
    )


def _check_fields(
    record: TestRecord,
    wanted: _Wanted,
    obs: Mapping[str, Any],
    *,
    seam: str,
    where: str,
) -> tuple[int, list[Finding]]:
    """``(fields that match, findings)`` for one observed copy."""
    problems: dict[str, Mismatch] = {}
    for name, (template, expected) in wanted.items():
        mismatch = classify(expected, obs.get(name), hints=_hints(record, name, template))
        if mismatch is not None:
            problems[name] = mismatch
    swaps = _find_swaps(record, wanted, obs, list(problems))
    swap_of = {name: swap for swap in swaps for name in (swap.a, swap.b)}
    findings: list[Finding] = []
    reported: set[_Swap] = set()
    for name in wanted:
        swap = swap_of.get(name)
        if swap is not None:
            if swap not in reported:
                reported.add(swap)
                findings.append(_swap_finding(swap, wanted, obs, seam=seam, where=where))
        elif name in problems:
            expected = wanted[name][1]
            findings.append(
                _field_finding(name, expected, obs.get(name), problems[name], seam, where)
            )
    return len(wanted) - len(problems), findings


# ---------------------------------------------------------------------------- swaps


@dataclass(frozen=True)
class _Swap:
    """``a``'s value is in ``b``; ``both``: and ``b``'s (or another record value) in ``a``."""

    a: str
    b: str
    both: bool


def _distinctive(value: str) -> bool:
    """Long enough, and not a yes/no, to say it moved rather than coincided."""
    text = value.strip()
    return len(text) >= 2 and text.lower() not in ("true", "false")


def _find_swaps(
    record: TestRecord, wanted: _Wanted, obs: Mapping[str, Any], broken: list[str]
) -> list[_Swap]:
    """Values that moved between fields, most certain first:

    1. two expected fields hold each other's values;
    2. a field's value is in another expected field (which lost its own);
    3. a field's value is in a field nobody expected, and it holds another record value
       instead (``firstname='probe+…@example.com'`` with the first name in ``nickname``).
    """
    swaps: list[_Swap] = []
    used: set[str] = set()

    def value(name: str) -> str:
        return wanted[name][1]

    for i, a in enumerate(broken):
        for b in broken[i + 1 :]:
            if a in used or b in used:
                continue
            ea, eb = value(a), value(b)
            if (
                _distinctive(ea)
                and _distinctive(eb)
                and not loosely_same(ea, eb)
                and loosely_same(ea, obs.get(b))
                and loosely_same(eb, obs.get(a))
            ):
                swaps.append(_Swap(a, b, both=True))
                used |= {a, b}
    for a in broken:
        if a in used or not _distinctive(value(a)) or as_number(value(a)) is not None:
            continue
        if loosely_same(value(a), obs.get(a)):
            continue  # only reformatted where it is: it did not move
        for b in broken:
            if b == a or b in used or loosely_same(value(a), value(b)):
                continue
            if loosely_same(value(a), obs.get(b)):
                swaps.append(_Swap(a, b, both=False))
                used |= {a, b}
                break
    record_values = [v for v in record.values().values() if isinstance(v, str) and _distinctive(v)]
    for a in broken:
        held = obs.get(a)
        if a in used or not _distinctive(value(a)) or loosely_same(value(a), held):
            continue
        if not any(loosely_same(v, held) for v in record_values):
            continue
        for b, other in obs.items():
            if b.startswith("_") or b in wanted or b in used:
                continue
            if loosely_same(value(a), other):
                swaps.append(_Swap(a, b, both=False))
                used |= {a, b}
                break
    return swaps


def _swap_finding(
    swap: _Swap, wanted: _Wanted, obs: Mapping[str, Any], *, seam: str, where: str
) -> Finding:
    a, b = swap.a, swap.b
    evidence = _has(where, [(a, obs.get(a)), (b, obs.get(b))])
    if swap.both:
        what = f"{humanize(a)} and {humanize(b)} are swapped"
    else:
        what = f"{humanize(a)} was written into {humanize(b)}"
    expected = {name: wanted[name][1] for name in (a, b) if name in wanted}
    return Finding(
        FindingKind.SWAPPED,
        f"{seam}: {what} ({evidence})",
        fields=(a, b),
        expected=expected,
        observed={a: obs.get(a), b: obs.get(b)},
    )


# ---------------------------------------------------------------------------- messages


def _field_finding(
    name: str, expected: str, value: Any, mismatch: Mismatch, seam: str, where: str
) -> Finding:
    evidence = _has(where, [(name, value)])
    if mismatch.show_expected:
        evidence += f", expected {_quote_expected(expected, value)}"
    return Finding(
        mismatch.kind,
        f"{seam}: {humanize(name)} {mismatch.problem} ({evidence}{mismatch.note})",
        fields=(name,),
        expected={name: expected},
        observed={name: value},
    )


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return as_text(value) or repr(value)


def _quote_expected(expected: str, value: Any) -> str:
    """Unquoted when comparing numbers with numbers (``amount_due=49, expected 4900``)."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return expected if is_number and as_number(expected) is not None else repr(expected)


def _has(where: str, pairs: list[tuple[str, Any]]) -> str:
    """``CRM has firstname='Ada', no email``."""
    shown = [f"no {name}" if value is None else f"{name}={_quote(value)}" for name, value in pairs]
    return f"{where} has {', '.join(shown)}"


def humanize(field: str) -> str:
    """A tool's field name as people say it.

    >>> [humanize(f) for f in ("firstname", "amount_due", "metadata.payment_method")]
    ['first name', 'amount due', 'payment method']
    """
    parts = [p for p in field.split(".") if p and not p.isdigit()]
    last = parts[-1] if parts else field
    if last.lower() in _FIELD_NAMES:
        return _FIELD_NAMES[last.lower()]
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", last)
    return re.sub(r"[\s_\-]+", " ", spaced).strip().lower() or field


def _seconds(value: float) -> str:
    """``20s``, ``2.5s``: whole seconds from ten up."""
    if value >= 10:
        return f"{value:.0f}s"
    return f"{value:.1f}".removesuffix(".0") + "s"


# ---------------------------------------------------------------------------- timed findings


def missing_finding(
    *,
    seam: str,
    where: str,
    deadline_s: float,
    upstream_missing: str | None = None,
    grace_s: float | None = None,
) -> Finding:
    """The record never showed up within ``deadline_s`` (the stage's deadline plus its grace;
    with ``grace_s``, the sentence names both as configured). ``upstream_missing`` names
    the previous stage when it is missing there too, so the reader looks upstream first.

    >>> missing_finding(seam="Form → CRM", where="CRM", deadline_s=20).message
    'Form → CRM: the record never arrived in CRM within 20s'
    >>> missing_finding(seam="Form → CRM", where="CRM", deadline_s=30, grace_s=10).message
    'Form → CRM: the record never arrived in CRM within 30s (its 20s deadline and 10s of grace)'
    """
    message = f"{seam}: the record never arrived in {where} within {_seconds(deadline_s)}"
    if grace_s:
        message += (
            f" (its {_seconds(deadline_s - grace_s)} deadline and {_seconds(grace_s)} of grace)"
        )
    if upstream_missing:
        message += f"; it was already missing in {upstream_missing}"
    return Finding(
        FindingKind.MISSING,
        message,
        expected={"within_s": deadline_s},
        observed={"count": 0},
    )


def late_finding(*, seam: str, where: str, latency_s: float, deadline_s: float) -> Finding:
    """The record showed up, but after the stage's deadline.

    >>> late_finding(seam="CRM → Invoice", where="Invoice", latency_s=34.2, deadline_s=20).message
    'CRM → Invoice: the record reached Invoice after 34s, later than the 20s deadline'
    """
    return Finding(
        FindingKind.LATE,
        f"{seam}: the record reached {where} after {_seconds(latency_s)}, "
        f"later than the {_seconds(deadline_s)} deadline",
        expected={"within_s": deadline_s},
        observed={"latency_s": round(latency_s, 3)},
    )


def unreachable_finding(*, seam: str, where: str, error: str) -> Finding:
    """Baton could not look: a verdict of ``error``, never phrased as a leak.

    >>> unreachable_finding(seam="Form → CRM", where="CRM", error="HTTP 503.").message
    'Form → CRM: could not check CRM: HTTP 503'
    """
    reason = error.strip().rstrip(".")
    message = f"{seam}: could not check {where}" + (f": {reason}" if reason else "")
    return Finding(FindingKind.UNREACHABLE, message, observed={"error": error} if error else {})
