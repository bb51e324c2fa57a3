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
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from .config import messages as msg
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

#: An extra field: ``x_`` and letters, digits or ``_`` (a template can name it: ``{x_note}``).
_EXTRA_FIELD = re.compile(r"x_\w{1,62}\Z")
#: Text-direction embeddings, overrides and isolates: they make a report show a value
#: other than the one sent ("Trojan Source"). Plain RTL text needs none of them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: What a character a record value may not hold is, by Unicode category.
_REFUSED_CATEGORIES = {
    "Cc": "a control character",  # line breaks, tabs, NUL, ESC
    "Zl": "a line break",
    "Zp": "a line break",
    "Cs": "an undecodable byte",  # a lone surrogate, e.g. from argv that is not UTF-8
}
#: A plain decimal amount in ASCII: 49, 49.00, .5, 1e3 (no sign, no _, no hex, no NaN).
_AMOUNT = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: ISO 4217, as Stripe writes it: three letters.
_CURRENCY = re.compile(r"[a-z]{3}")
#: A phone number: digits, a leading + and the usual separators; 3 to 32 characters.
_PHONE = re.compile(r"\+?[0-9 ()./-]{3,32}")
#: Characters an address may hold that route it on through another host
#: (``victim%gmail.com@example.com``, ``gmail.com!victim@example.com``).
_ROUTING = ("%", "!")


def make_record(
    marker: str,
    overrides: Mapping[str, Any] | None = None,
) -> TestRecord:
    """Build the record for ``marker``, then apply ``overrides`` (later layers win).

    ``email`` may be a template: ``"probe+{marker}@{domain}"`` is the default.
    """
    ov = dict(overrides or {})
    for key in ov:
        problem = _field_name_problem(key)
        if problem is not None:
            raise UsageError(problem)
    for key, value in ov.items():
        problem = _value_problem(key, str(value))
        if problem is not None:
            raise UsageError(problem)
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
    email = email_template.replace("{marker}", marker).replace("{domain}", domain)
    local = email.rpartition("@")[0]
    routed = [c for c in _ROUTING if c in local]
    if routed:
        raise UsageError(
            f"refusing to inject {msg.shown(email)}: an email with {routed[0]!r} before the @ "
            "can be routed on to another host; use a plain name such as probe+{marker}"
        )
    rec = TestRecord(
        marker=marker,
        email=email,
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
            changes[key] = _parse_currency(value)
        elif key == "phone":
            changes[key] = _parse_phone(value)
        else:
            changes[key] = str(value).replace("{marker}", marker)
    return replace(rec, **changes, extra=extra)


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise UsageError(f"date must be YYYY-MM-DD, got {msg.shown(value)}") from exc


def _field_name_problem(key: str) -> str | None:
    """Why ``key`` is not a record field a user may set, or ``None``."""
    if key in FIELD_NAMES:
        return None
    if key.startswith("x_"):
        if _EXTRA_FIELD.match(key):
            return None
        return (
            f"extra record field {msg.shown(key)}: after x_ use 1 to 62 letters, digits or _, "
            "e.g. x_note"
        )
    return (
        f"unknown record field {msg.shown(key)}; fields are: {', '.join(FIELD_NAMES)} "
        "(or x_anything for extra fields)"
    )


def _value_problem(key: str, text: str) -> str | None:
    """Why ``text`` cannot be the value of record field ``key``, or ``None``.

    A value is one line of printable text of at most ``MAX_VALUE_CHARS``: a line break,
    tab or NUL could split a header or a CSV row in some tool, a lone surrogate cannot be
    sent at all, and a text-direction override makes reports show another value.

    >>> _value_problem("first_name", "Zoë") is None
    True
    >>> _value_problem("phone", "+44\\r\\n7700")[:64]
    "record field 'phone' has a control character ('\\\\r', character 4)"
    """
    if len(text) > MAX_VALUE_CHARS:
        return (
            f"record field {key!r} is {len(text):,} characters long; "
            f"a test record's values are at most {MAX_VALUE_CHARS:,}"
        )
    for i, ch in enumerate(text):
        what = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if what is None and ch in _BIDI_CONTROLS:
            what = "a text-direction override"
        if what is not None:
            return (
                f"record field {key!r} has {what} ({ch!r}, character {i + 1}); "
                "a test record's values are one line of printable text"
            )
    return None


def _parse_currency(value: Any) -> str:
    text = str(value).lower()
    if not _CURRENCY.fullmatch(text):
        raise UsageError(
            f"currency must be a three-letter ISO 4217 code like usd, got {msg.shown(value)}"
        )
    return text


def _parse_phone(value: Any) -> str:
    text = str(value)
    if not _PHONE.fullmatch(text) or sum(c.isdigit() for c in text) < 3:
        raise UsageError(
            f"phone must be a phone number like +447700900123 (digits, a leading +, spaces, "
            f"-, ., parentheses), got {msg.shown(value)}"
        )
    return text


def _parse_amount(value: Any) -> Decimal:
    text = str(value).strip()
    if text.startswith("-") or text.lower().lstrip("+").startswith(("nan", "snan", "inf")):
        raise UsageError(f"amount must be a positive number like 49.00, got {msg.shown(value)}")
    if not _AMOUNT.fullmatch(text):
        raise UsageError(f"amount must be a number like 49.00, got {msg.shown(value)}")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise UsageError(f"amount must be a number like 49.00, got {msg.shown(value)}") from exc
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
    raise UsageError(f"marketing_consent must be true or false, got {msg.shown(value)}")
