"""The test record: one per probe run, every field marked or derivable from the marker.

A record is generated deterministically from its marker, so anything that knows the
marker (a cleanup after a crash, a resumed run) can rebuild it::

    >>> rec = make_record("bt7k2xq9")
    >>> rec.email
    'probe+bt7k2xq9@example.com'
    >>> rec.render("{first_name} {last_name}")
    'Ada Probe-bt7k2xq9'

Fields can be overridden (per workflow, per variant, per run) with ``overrides``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from . import _messages as msg
from .errors import UsageError

MARKER_PREFIX = "bt"
_ALPHABET = string.ascii_lowercase + string.digits

#: Fields a user may set with ``record:`` in config or ``--set field=value``.
FIELD_NAMES = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "date",
    "company",
    "amount",
    "currency",
    "payment_method",
    "marketing_consent",
    "domain",
)


def new_marker(rng: random.Random | None = None) -> str:
    """A fresh marker: ``bt`` and six lowercase letters or digits, e.g. ``bt7k2xq9``."""
    r = rng or random.SystemRandom()
    return MARKER_PREFIX + "".join(r.choice(_ALPHABET) for _ in range(6))


MarkerFactory = Callable[[], str]


@dataclass(frozen=True)
class TestRecord:
    """What Baton injects at the entry of a workflow."""

    __test__ = False  # not a pytest test class

    marker: str
    email: str
    first_name: str
    last_name: str
    phone: str  # E.164, with country code: "+447700900123"
    date: dt.date  # day <= 12 and day != month, so dd/mm vs mm/dd mix-ups show
    company: str
    amount: Decimal  # in major units: Decimal("49.00")
    currency: str  # ISO 4217, lower case as Stripe writes it: "usd"
    payment_method: str  # card | paypal | ...
    marketing_consent: bool
    domain: str = "example.com"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def amount_cents(self) -> int:
        return int((self.amount * 100).to_integral_value())

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def phone_national(self) -> str:
        """The phone without its country code, as a careless tool would store it."""
        return "0" + self.phone[3:] if self.phone.startswith("+44") else self.phone.lstrip("+")

    def values(self) -> dict[str, Any]:
        """Every field, derived ones included, for rendering templates."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out.pop("extra")
        out.update(self.extra)
        out.update(
            amount_cents=self.amount_cents,
            full_name=self.full_name,
            phone_national=self.phone_national,
            currency_upper=self.currency.upper(),
            date_iso=self.date.isoformat(),
            # Templates render booleans as JSON and form backends write them: true/false.
            marketing_consent="true" if self.marketing_consent else "false",
            run_marker=self.marker,
        )
        return out

    def render(self, template: str) -> str:
        """Fill ``{field}`` and ``{field:format}`` (e.g. ``{date:%d/%m/%Y}``) from this record.

        Only plain fields with a small format are filled (``check_template_syntax``); any
        other template is a ``UsageError``, before anything is formatted.
        """
        check_template_syntax(template)
        try:
            return template.format_map(self.values())
        except KeyError as exc:
            raise UsageError(
                f"unknown record field {msg.shown(exc.args[0])} in {msg.shown(template)}"
            ) from exc
        except (ValueError, IndexError, AttributeError, TypeError) as exc:
            raise UsageError(msg.bad_template(template, str(exc))) from exc

    def to_json(self) -> dict[str, Any]:
        data = self.values()
        data["date"] = self.date.isoformat()
        data["amount"] = str(self.amount)
        data["marketing_consent"] = self.marketing_consent
        return {k: data[k] for k in (*(f.name for f in fields(self) if f.name != "extra"),)} | {
            "extra": dict(self.extra)
        }


#: The most characters a template's formats may pad to or show, all ``{...}`` of one
#: template together (``{first_name:>20}`` is 20): a render never allocates megabytes.
MAX_FORMAT_WIDTH = 1000
_SPEC_NUMBER = re.compile(r"[0-9]+")


def template_syntax_problem(template: str) -> str | None:
    """Why ``template`` is not a plain record template, or ``None`` when it is.

    A plain template names fields only (``{email}``), each with an optional format of plain
    text (``{date:%d/%m/%Y}``, ``{amount:>10}``) whose widths and precisions add up to at
    most ``MAX_FORMAT_WIDTH``. Attributes and indexes (``{email.__class__}``,
    ``{email[0]}``), conversions (``{email!r}``) and nested fields (``{a:{b}}``) are refused.
    Whether the fields exist is the renderer's business.

    >>> template_syntax_problem("{first_name:>20} {date:%d/%m/%Y}") is None
    True
    >>> template_syntax_problem("{first_name:>50000000}")[:50]
    'its formats pad to or show millions of characters;'
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return str(exc)
    width = 0
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if "." in name or "[" in name:
            return msg.template_not_plain(name)
        if conversion:
            return msg.template_conversion(name, conversion)
        if not spec:
            continue
        if "{" in spec or "}" in spec:
            return msg.template_nested(spec)
        for number in _SPEC_NUMBER.findall(spec):
            digits = number.lstrip("0")
            width += int(digits or 0) if len(digits) <= 6 else 10**6
            if width > MAX_FORMAT_WIDTH:
                return msg.template_too_wide(min(width, 10**6), MAX_FORMAT_WIDTH)
    return None


def check_template_syntax(template: str) -> None:
    """``UsageError`` unless ``template`` is plain (see ``template_syntax_problem``)."""
    problem = template_syntax_problem(template)
    if problem is not None:
        raise UsageError(msg.bad_template(template, problem))


def _digits(marker: str, salt: str, n: int) -> str:
    h = hashlib.sha256(f"{salt}:{marker}".encode()).hexdigest()
    return "".join(str(int(c, 16) % 10) for c in h[:n])


def _ambiguous_date(marker: str) -> dt.date:
    h = int(hashlib.sha256(f"date:{marker}".encode()).hexdigest(), 16)
    month = h % 12 + 1
    day = (h // 12) % 11 + 1
    if day >= month:
        day += 1  # 1..12, never equal to the month
    return dt.date(2026, month, day)


#: The largest amount a test record may carry (in major units): a billion.
MAX_AMOUNT = Decimal(1_000_000_000)

#: The longest value a test record field may have (an email has at most 254 characters).
MAX_VALUE_CHARS = 1000


def make_record(
    marker: str,
    overrides: Mapping[str, Any] | None = None,
) -> TestRecord:
    """Build the record for ``marker``, then apply ``overrides`` (later layers win).

    ``email`` may be a template: ``"probe+{marker}@{domain}"`` is the default.
    """
    ov = dict(overrides or {})
    unknown = [k for k in ov if k not in FIELD_NAMES and not k.startswith("x_")]
    if unknown:
        raise UsageError(
            f"unknown record field {unknown[0]!r}; fields are: {', '.join(FIELD_NAMES)} "
            "(or x_anything for extra fields)"
        )
    for key, value in ov.items():
        if len(str(value)) > MAX_VALUE_CHARS:
            raise UsageError(
                f"record field {key!r} is {len(str(value)):,} characters long; "
                f"a test record's values are at most {MAX_VALUE_CHARS:,}"
            )
    domain = str(ov.pop("domain", "example.com"))
    email_template = str(ov.pop("email", "probe+{marker}@{domain}"))
    # Values are values, never format templates: only the literal {marker} and {domain}
    # are filled in, so "{marker:>3000000}" or "{0}" stay as typed (and are refused below
    # as no email address).
    placeholders = set(re.findall(r"\{([^{}]*)\}?", email_template)) - {"marker", "domain"}
    if placeholders or "}" in email_template.replace("{marker}", "").replace("{domain}", ""):
        name = sorted(placeholders)[0] if placeholders else "}"
        raise UsageError(
            f"bad template {email_template[:80]!r}: unknown placeholder {name[:40]!r}; "
            "it can use {marker}, {domain}"
        )
    rec = TestRecord(
        marker=marker,
        email=email_template.replace("{marker}", marker).replace("{domain}", domain),
        first_name="Ada",
        last_name=f"Probe-{marker}",
        phone="+447700900" + _digits(marker, "phone", 3),
        date=_ambiguous_date(marker),
        company=f"Baton Probe {marker}",
        amount=Decimal("49.00"),
        currency="usd",
        payment_method="card",
        marketing_consent=True,
        domain=domain,
    )
    changes: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for key, value in ov.items():
        if key.startswith("x_"):
            extra[key] = str(value).replace("{marker}", marker)
        elif key == "date":
            changes[key] = _parse_date(value)
        elif key == "amount":
            changes[key] = _parse_amount(value)
        elif key == "marketing_consent":
            changes[key] = _parse_bool(value)
        elif key == "currency":
            changes[key] = str(value).lower()
        else:
            changes[key] = str(value).replace("{marker}", marker)
    return replace(rec, **changes, extra=extra)


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise UsageError(f"date must be YYYY-MM-DD, got {value!r}") from exc


def _parse_amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise UsageError(f"amount must be a number like 49.00, got {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise UsageError(f"amount must be a positive number like 49.00, got {value!r}")
    if amount > MAX_AMOUNT:
        raise UsageError(f"amount must be at most {MAX_AMOUNT:,}, got {str(value)[:40]!r}")
    return amount.quantize(Decimal("0.01"))


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "on"}:
        return True
    if text in {"false", "no", "0", "off"}:
        return False
    raise UsageError(f"marketing_consent must be true or false, got {value!r}")
