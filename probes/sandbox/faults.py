"""Fault injection for the sandbox: the grammar, every kind, and the pure data transforms.

A fault spec is ``KIND[@TARGET][=ARG]``::

    >>> parse_fault("swap@crm=firstname,email").fields
    ('firstname', 'email')
    >>> parse_fault("delay@invoice=2-5").seconds
    (2.0, 5.0)
    >>> parse_fault("cents").target           # some kinds have a default target
    'invoice'

Targets are either an *action* of the glue automation (``email``: the welcome mail via
SendGrid, ``crm``: the HubSpot contact, ``invoice``: the Stripe customer and invoice), an
*entry* (``glue``: the whole automation behind the catch hook, ``hsforms``: everything a
form submission sets off), or a *tool* (``hsforms``, ``hubspot``, ``sendgrid``, ``stripe``,
``glue``: its HTTP API).

| kind | targets | arg | what happens | finding |
| --- | --- | --- | --- | --- |
| drop | action, entry | ``1/N`` (optional) | never happens (or 1 record in N) | missing |
| delay | action, entry | ``SECONDS`` or ``A-B`` | happens late | late |
| duplicate | action, entry | ``N`` (default 2) | happens N times | duplicate |
| swap | action (crm) | ``F1,F2`` | two fields' values swapped | swapped |
| date_order | crm | – | signup_date read as mm/dd, not dd/mm | reformatted |
| strip_country | crm, invoice | – | phone without its country code | reformatted |
| case | action (crm) | ``FIELD[:upper/lower]`` | a field upper- or lower-cased | reformatted |
| whitespace | action (crm) | ``FIELD`` | trailing and doubled spaces | reformatted |
| truncate | action (crm) | ``FIELD:N`` | a field cut to N characters | truncated |
| mojibake | action (crm) | ``FIELD`` | UTF-8 read as latin-1 (Zoë → ZoÃ«) | encoding |
| cents | invoice | – | 49.00 billed as 49 cents | wrong_value |
| currency | invoice | ``CODE`` | invoice in another currency | wrong_value |
| ignore_consent | email | – | welcome mail without consent | unexpected |
| skip_paypal | invoice | – | no invoice when paying by paypal | missing |
| outage | tool | – | the stand-in answers 503 | unreachable |
| ratelimit | tool | ``N`` (default 2) | every N-th request 429, Retry-After: 1 | – |
| lag | hubspot, sendgrid, stripe | ``SECONDS`` | search / activity lags | late* |

``ratelimit`` shows no finding when the connector honours Retry-After; ``lag`` is late
only past the stage's deadline. ``outage`` also fails the glue's writes into that tool.

(crm) marks the default target when ``@TARGET`` is left out. Fields are named as the
target stores them: crm ``email firstname lastname phone company signup_date
payment_method``; email ``to_email from_email subject``; invoice ``email name phone
description payment_method`` (the Stripe customer's and invoice's fields).

Data faults are small pure functions (``swap``, ``misread_day_month``, ...) applied in the
order the faults were given, by ``FaultPlan.transform``.

Size: the fault grammar and every fault kind the glue can inject (drop, duplicate, swap,
reformat, truncate, encode, delay ...), which share one parser and one matcher.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..config.messages import did_you_mean
from ..errors import UsageError

__all__ = [
    "ACTIONS",
    "ACTION_FIELDS",
    "ENTRIES",
    "INDEXED_TOOLS",
    "KINDS",
    "TOOLS",
    "Fault",
    "FaultPlan",
    "FaultSpecError",
    "KindInfo",
    "add_whitespace",
    "cents_misread",
    "change_case",
    "grammar_help",
    "misread_day_month",
    "mojibake",
    "parse_fault",
    "parse_faults",
    "strip_country_code",
    "swap",
    "truncate",
]

#: The glue automation's actions, in the order a healthy run performs them.
ACTIONS = ("email", "crm", "invoice")
#: Entries: the whole automation behind one way in.
ENTRIES = ("glue", "hsforms")
#: Stand-ins with an HTTP API of their own.
TOOLS = ("hsforms", "hubspot", "sendgrid", "stripe", "glue")
#: Stand-ins whose search (or activity feed) lags behind writes.
INDEXED_TOOLS = ("hubspot", "sendgrid", "stripe")

#: Field names each action's data faults may name (as that target stores them).
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "crm": ("email", "firstname", "lastname", "phone", "company", "signup_date", "payment_method"),
    "email": ("to_email", "from_email", "subject"),
    "invoice": ("email", "name", "phone", "description", "payment_method"),
}
#: Other names people reach for; they are read as the canonical name.
_FIELD_ALIASES: dict[str, dict[str, str]] = {
    "crm": {"first_name": "firstname", "last_name": "lastname", "date": "signup_date"},
    "email": {"to": "to_email", "from": "from_email"},
    "invoice": {
        "customer_email": "email",
        "customer_name": "name",
        "customer_phone": "phone",
        "metadata.payment_method": "payment_method",
    },
}
#: What a tool-named target most likely meant, for error hints.
_TOOL_TO_ACTION = {"hubspot": "crm", "sendgrid": "email", "stripe": "invoice"}


class FaultSpecError(UsageError):
    """A fault spec that cannot be used; the message names the bad part and the valid ones."""

    def __init__(self, message: str, *, spec: str = "") -> None:
        self.spec = spec
        super().__init__(message)


ArgMode = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class KindInfo:
    """One fault kind: where it applies, what it takes, what Baton should report."""

    name: str
    targets: tuple[str, ...]
    default_target: str | None
    arg: ArgMode
    arg_help: str
    finding: str
    summary: str


#: Every fault kind, by name.
KINDS: dict[str, KindInfo] = {
    k.name: k
    for k in (
        KindInfo("drop", ACTIONS + ENTRIES, None, "optional", "1/N", "missing", "never happens"),
        KindInfo("delay", ACTIONS + ENTRIES, None, "required", "SECONDS or A-B", "late", "late"),
        KindInfo("duplicate", ACTIONS + ENTRIES, None, "optional", "N", "duplicate", "N times"),
        KindInfo("swap", ACTIONS, "crm", "required", "FIELD1,FIELD2", "swapped", "swaps values"),
        KindInfo("date_order", ("crm",), "crm", "none", "", "reformatted", "dd/mm as mm/dd"),
        KindInfo("strip_country", ("crm", "invoice"), "crm", "none", "", "reformatted", "+44→0"),
        KindInfo("case", ACTIONS, "crm", "required", "FIELD[:upper|:lower]", "reformatted", "Aa"),
        KindInfo("whitespace", ACTIONS, "crm", "required", "FIELD", "reformatted", "adds spaces"),
        KindInfo("truncate", ACTIONS, "crm", "required", "FIELD:N", "truncated", "cuts a field"),
        KindInfo("mojibake", ACTIONS, "crm", "required", "FIELD", "encoding", "UTF-8 as latin-1"),
        KindInfo("cents", ("invoice",), "invoice", "none", "", "wrong_value", "49.00 → 49¢"),
        KindInfo("currency", ("invoice",), "invoice", "required", "CODE", "wrong_value", "€"),
        KindInfo("ignore_consent", ("email",), "email", "none", "", "unexpected", "mails anyway"),
        KindInfo("skip_paypal", ("invoice",), "invoice", "none", "", "missing", "no paypal bill"),
        KindInfo("outage", TOOLS, None, "none", "", "unreachable", "503 to everything"),
        KindInfo("ratelimit", TOOLS, None, "optional", "N", "-", "every N-th request 429"),
        KindInfo("lag", INDEXED_TOOLS, None, "required", "SECONDS", "late", "search lags"),
    )
}


def grammar_help() -> str:
    """The fault grammar, every kind, target and argument, with examples (for --help)."""
    lines = [
        "Faults: --fault KIND[@TARGET][=ARG], once per fault; they apply in the order given.",
        "",
        f"  {'kind':<15} {'targets':<41} {'argument':<22} shows as",
    ]
    for info in KINDS.values():
        targets = ", ".join(
            f"{t} (default)" if t == info.default_target else t for t in info.targets
        )
        arg = {"none": "-", "optional": f"{info.arg_help} (optional)", "required": info.arg_help}
        lines.append(
            f"  {info.name:<15} {targets:<41} {arg[info.arg]:<22} {info.finding}: {info.summary}"
        )
    lines += [
        "",
        "Targets: actions of the glue's automation (email: the welcome mail via SendGrid;",
        "crm: the HubSpot contact; invoice: the Stripe customer and invoice), entries (glue:",
        "everything behind the catch hook; hsforms: everything a form submission sets off),",
        "or a stand-in's own API (hsforms, hubspot, sendgrid, stripe, glue).",
        "",
        "Examples:",
        "  baton sandbox --fault drop@crm=1/10          # one contact in ten never written",
        "  baton sandbox --fault 'delay@invoice=2-5'    # invoices 2 to 5 s late",
        "  baton sandbox --fault 'swap@crm=firstname,email' --fault cents",
        "  baton sandbox --fault outage@stripe --fault ratelimit@hubspot=3",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Fault:
    """One parsed fault. ``spec`` is its canonical text, e.g. ``"drop@crm=1/3"``."""

    kind: str
    target: str
    arg: str | None = None
    #: drop: 1 in ``every`` records; ratelimit: every ``every``-th request.
    every: int = 1
    #: duplicate: how many times the action happens.
    times: int = 1
    #: delay (a range; equal ends for a fixed delay) and lag (both ends equal).
    seconds: tuple[float, float] = (0.0, 0.0)
    #: swap: two fields; case, whitespace, truncate, mojibake: one.
    fields: tuple[str, ...] = ()
    #: truncate: the length kept.
    length: int = 0
    #: case: "upper", "lower" or "" (whichever changes the value); currency: the code.
    mode: str = ""

    @property
    def spec(self) -> str:
        text = f"{self.kind}@{self.target}"
        return f"{text}={self.arg}" if self.arg is not None else text

    @property
    def info(self) -> KindInfo:
        return KINDS[self.kind]

    def __str__(self) -> str:
        return self.spec


_SPEC_RE = re.compile(r"^(?P<kind>[^@=\s]+)(?:@(?P<target>[^=\s]*))?(?:=(?P<arg>.*))?$")
_EXAMPLE = "e.g. swap@crm=firstname,email, drop@invoice, delay@email=5"


def parse_fault(spec: str | Fault) -> Fault:
    """Parse ``KIND[@TARGET][=ARG]``; raise ``FaultSpecError`` naming the bad part.

    >>> parse_fault("truncate@crm=lastname:4").length
    4
    """
    if isinstance(spec, Fault):
        return spec
    text = str(spec).strip()
    if not text:
        raise FaultSpecError(
            f"empty fault spec; expected KIND[@TARGET][=ARG], {_EXAMPLE}", spec=text
        )
    m = _SPEC_RE.match(text)
    if m is None:
        raise FaultSpecError(
            f"fault {text!r}: expected KIND[@TARGET][=ARG] without spaces, {_EXAMPLE}", spec=text
        )
    kind_name = m["kind"].lower()
    info = KINDS.get(kind_name)
    if info is None:
        hint = did_you_mean(kind_name, KINDS)
        raise FaultSpecError(
            f"fault {text!r}: unknown kind {kind_name!r}{hint}; "
            f"valid kinds: {', '.join(sorted(KINDS))}",
            spec=text,
        )
    target = _parse_target(text, info, m["target"])
    arg = m["arg"]
    if arg is not None:
        arg = arg.strip()
        if not arg:
            raise FaultSpecError(
                f"fault {text!r}: nothing after '='; drop the '=' or give "
                f"{info.arg_help or 'no argument'}",
                spec=text,
            )
    if info.arg == "none" and arg is not None:
        raise FaultSpecError(
            f"fault {text!r}: {info.name} takes no argument (=...); write {info.name}@{target}",
            spec=text,
        )
    if info.arg == "required" and not arg:
        raise FaultSpecError(
            f"fault {text!r}: {info.name} needs ={info.arg_help}, "
            f"e.g. {_example_for(info, target)}",
            spec=text,
        )
    details = _ARG_PARSERS[info.name](text, info, target, arg)
    return Fault(kind=info.name, target=target, arg=arg, **details)


def parse_faults(specs: Iterable[str | Fault]) -> list[Fault]:
    """Parse several specs; the first bad one raises ``FaultSpecError``."""
    return [parse_fault(s) for s in specs]


def _parse_target(text: str, info: KindInfo, raw: str | None) -> str:
    if raw is None:
        if info.default_target is None:
            choices = ", ".join(f"{info.name}@{t}" for t in info.targets)
            raise FaultSpecError(
                f"fault {text!r}: {info.name} needs a target: {choices}", spec=text
            )
        return info.default_target
    target = raw.lower()
    if target in info.targets:
        return target
    hint = ""
    if target in _TOOL_TO_ACTION and _TOOL_TO_ACTION[target] in info.targets:
        hint = f" (did you mean {info.name}@{_TOOL_TO_ACTION[target]}?)"
    what = repr(target) if target else "an empty target"
    raise FaultSpecError(
        f"fault {text!r}: {info.name} cannot target {what}{hint}; "
        f"valid targets for {info.name}: {', '.join(info.targets)}",
        spec=text,
    )


def _example_for(info: KindInfo, target: str) -> str:
    examples = {
        "delay": "=5 or =2-10",
        "swap": "=firstname,email"
        if target == "crm"
        else f"={','.join(ACTION_FIELDS[target][:2])}",
        "case": f"={ACTION_FIELDS.get(target, ('email',))[0]}:upper",
        "whitespace": f"={ACTION_FIELDS.get(target, ('email',))[-1]}",
        "truncate": "=lastname:4" if target == "crm" else f"={ACTION_FIELDS[target][0]}:4",
        "mojibake": "=firstname" if target == "crm" else f"={ACTION_FIELDS[target][0]}",
        "currency": "=eur",
        "lag": "=30",
    }
    return f"{info.name}@{target}{examples.get(info.name, '')}"


def _field(text: str, target: str, name: str) -> str:
    name = name.strip()
    canonical = _FIELD_ALIASES.get(target, {}).get(name, name)
    if canonical in ACTION_FIELDS[target]:
        return canonical
    hint = did_you_mean(name, ACTION_FIELDS[target])
    raise FaultSpecError(
        f"fault {text!r}: unknown field {name!r} for {target}{hint}; "
        f"fields of {target}: {', '.join(ACTION_FIELDS[target])}",
        spec=text,
    )


def _positive_int(text: str, what: str, raw: str, minimum: int = 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise FaultSpecError(
            f"fault {text!r}: {what} must be a whole number ≥ {minimum}, got {raw!r}", spec=text
        )
    return value


def _seconds(text: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise FaultSpecError(
            f"fault {text!r}: {raw!r} is not a number of seconds (e.g. 5 or 0.5)", spec=text
        )
    return value


# Argument parsers: (spec text, kind, target, arg) -> Fault fields.
def _arg_none(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    return {}


def _arg_drop(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    if arg is None:
        return {"every": 1}
    m = re.fullmatch(r"1/(\d+)", arg)
    if m is None:
        raise FaultSpecError(
            f"fault {text!r}: drop takes =1/N (drop 1 record in N), got {arg!r}", spec=text
        )
    return {"every": _positive_int(text, "N in 1/N", m[1])}


def _arg_delay(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    assert arg is not None
    low, sep, high = arg.partition("-")
    a = _seconds(text, low)
    b = _seconds(text, high) if sep else a
    if b < a:
        raise FaultSpecError(f"fault {text!r}: range {arg!r} ends before it starts", spec=text)
    return {"seconds": (a, b)}


def _arg_lag(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    assert arg is not None
    s = _seconds(text, arg)
    return {"seconds": (s, s)}


def _arg_duplicate(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    return {"times": 2 if arg is None else _positive_int(text, "N (times)", arg, minimum=2)}


def _arg_ratelimit(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    return {"every": 2 if arg is None else _positive_int(text, "N (every N-th request)", arg)}


def _arg_swap(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    assert arg is not None
    names = arg.split(",")
    if len(names) != 2:
        raise FaultSpecError(
            f"fault {text!r}: swap needs exactly two fields, e.g. {_example_for(info, target)}",
            spec=text,
        )
    a, b = (_field(text, target, n) for n in names)
    if a == b:
        raise FaultSpecError(f"fault {text!r}: swap needs two different fields", spec=text)
    return {"fields": (a, b)}


def _arg_case(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    assert arg is not None
    name, _, mode = arg.partition(":")
    mode = mode.strip().lower()
    if mode not in ("", "upper", "lower"):
        raise FaultSpecError(
            f"fault {text!r}: case mode must be upper or lower, got {mode!r}", spec=text
        )
    return {"fields": (_field(text, target, name),), "mode": mode}


def _arg_field(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    assert arg is not None
    return {"fields": (_field(text, target, arg),)}


def _arg_truncate(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    assert arg is not None
    name, sep, n = arg.partition(":")
    if not sep:
        raise FaultSpecError(
            f"fault {text!r}: truncate needs =FIELD:N, e.g. {_example_for(info, target)}",
            spec=text,
        )
    return {
        "fields": (_field(text, target, name),),
        "length": _positive_int(text, "N (characters kept)", n.strip(), minimum=0),
    }


def _arg_currency(text: str, info: KindInfo, target: str, arg: str | None) -> dict[str, Any]:
    assert arg is not None
    if not re.fullmatch(r"[A-Za-z]{3}", arg):
        raise FaultSpecError(
            f"fault {text!r}: currency needs a 3-letter ISO code like eur, got {arg!r}", spec=text
        )
    return {"mode": arg.lower()}


_ARG_PARSERS = {
    "drop": _arg_drop,
    "delay": _arg_delay,
    "duplicate": _arg_duplicate,
    "swap": _arg_swap,
    "date_order": _arg_none,
    "strip_country": _arg_none,
    "case": _arg_case,
    "whitespace": _arg_field,
    "truncate": _arg_truncate,
    "mojibake": _arg_field,
    "cents": _arg_none,
    "currency": _arg_currency,
    "ignore_consent": _arg_none,
    "skip_paypal": _arg_none,
    "outage": _arg_none,
    "ratelimit": _arg_ratelimit,
    "lag": _arg_lag,
}
assert set(_ARG_PARSERS) == set(KINDS)


# ---------------------------------------------------------------------------------------
# Pure data transforms: one careless glue each.


def swap(data: Mapping[str, Any], a: str, b: str) -> dict[str, Any]:
    """``data`` with the values of ``a`` and ``b`` exchanged."""
    out = dict(data)
    out[a], out[b] = data.get(b), data.get(a)
    return {k: v for k, v in out.items() if v is not None}


def misread_day_month(iso_date: str) -> str:
    """A ``YYYY-MM-DD`` date as a glue reading dd/mm as mm/dd stores it (day and month
    exchanged). Dates that cannot be misread (day > 12) are left alone."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", iso_date)
    if m is None or int(m[3]) > 12:
        return iso_date
    return f"{m[1]}-{m[3]}-{m[2]}"


#: Country code -> national trunk prefix, for the numbers probe records use.
_TRUNK_PREFIX = {"44": "0", "353": "0", "33": "0", "49": "0", "61": "0", "1": ""}


def strip_country_code(phone: str) -> str:
    """``"+447700900123"`` -> ``"07700900123"``: the number as a careless glue stores it."""
    if not phone.startswith("+"):
        return phone
    digits = phone[1:]
    for code in sorted(_TRUNK_PREFIX, key=len, reverse=True):
        if digits.startswith(code):
            return _TRUNK_PREFIX[code] + digits[len(code) :]
    return digits


def change_case(value: str, mode: str = "") -> str:
    """Upper- or lower-case ``value``; with no mode, whichever changes it."""
    if mode == "lower":
        return value.lower()
    if mode == "upper":
        return value.upper()
    return value.upper() if value.upper() != value else value.lower()


def add_whitespace(value: str) -> str:
    """Double every inner space and add a trailing one: ``"Ada Probe"`` -> ``"Ada  Probe "``."""
    return value.replace(" ", "  ") + " "


def truncate(value: str, length: int) -> str:
    """The first ``length`` characters."""
    return value[:length]


def mojibake(value: str) -> str:
    """UTF-8 bytes decoded as latin-1: ``"Zoë"`` -> ``"ZoÃ«"`` (ASCII is unchanged)."""
    return value.encode("utf-8").decode("latin-1")


def cents_misread(amount: str) -> int:
    """The cents a glue bills when it takes a major-unit amount as cents: ``"49.00"`` -> 49."""
    try:
        return int(Decimal(amount))
    except (InvalidOperation, ValueError):
        return 0


def _transform_one(fault: Fault, data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    name = fault.fields[0] if fault.fields else ""
    value = out.get(name)
    if fault.kind == "swap":
        return swap(out, *fault.fields)
    if fault.kind == "date_order" and isinstance(out.get("signup_date"), str):
        out["signup_date"] = misread_day_month(out["signup_date"])
    elif fault.kind == "strip_country" and isinstance(out.get("phone"), str):
        out["phone"] = strip_country_code(out["phone"])
    elif fault.kind == "cents" and "amount" in out:
        out["amount_cents"] = cents_misread(str(out["amount"]))
    elif fault.kind == "currency":
        out["currency"] = fault.mode
    elif isinstance(value, str):
        if fault.kind == "case":
            out[name] = change_case(value, fault.mode)
        elif fault.kind == "whitespace":
            out[name] = add_whitespace(value)
        elif fault.kind == "truncate":
            out[name] = truncate(value, fault.length)
        elif fault.kind == "mojibake":
            out[name] = mojibake(value)
    return out


_TRANSFORM_KINDS = frozenset(
    {"swap", "date_order", "strip_country", "case", "whitespace", "truncate", "mojibake"}
    | {"cents", "currency"}
)


# ---------------------------------------------------------------------------------------
# The plan: the active faults, and the decisions the stand-ins and the glue ask of them.


class FaultPlan:
    """The faults in force, with the few counters and the seed they need.

    >>> plan = FaultPlan(["drop@crm=1/2", "ratelimit@stripe"], seed=7)
    >>> plan.transform("crm", {"firstname": "Ada"})
    {'firstname': 'Ada'}
    """

    def __init__(self, faults: Iterable[str | Fault] = (), *, seed: int | None = None) -> None:
        self.faults: tuple[Fault, ...] = tuple(parse_faults(faults))
        self.seed: int = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self._requests: dict[str, int] = {}
        self._rng = random.Random(self.seed)

    def __repr__(self) -> str:
        return f"FaultPlan({self.specs!r}, seed={self.seed})"

    @property
    def specs(self) -> list[str]:
        return [f.spec for f in self.faults]

    def find(self, kind: str, target: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind and f.target == target]

    def has(self, kind: str, target: str) -> bool:
        return any(f.kind == kind and f.target == target for f in self.faults)

    # Tool faults ---------------------------------------------------------------------
    def outage(self, tool: str) -> bool:
        return self.has("outage", tool)

    def rate_limited(self, tool: str) -> bool:
        """Count one request to ``tool``; true when this one must be answered 429."""
        faults = self.find("ratelimit", tool)
        if not faults:
            return False
        n = self._requests[tool] = self._requests.get(tool, 0) + 1
        return any(n % f.every == 0 for f in faults)

    def lag(self, tool: str, default: float) -> float:
        lags = self.find("lag", tool)
        return lags[-1].seconds[0] if lags else default

    def reset_counters(self) -> None:
        self._requests.clear()

    # Action faults -------------------------------------------------------------------
    def dropped(self, target: str, key: str) -> Fault | None:
        """The drop fault that swallows the record ``key`` at ``target``, if any.

        ``drop=1/N`` is decided per record from the seed, so the same record (the same
        marker) meets the same fate in every run with the same seed.
        """
        for f in self.find("drop", target):
            digest = hashlib.sha256(f"{self.seed}:{f.spec}:{key}".encode()).hexdigest()
            if f.every == 1 or int(digest, 16) % f.every == 0:
                return f
        return None

    def delay_s(self, target: str) -> float:
        return sum(self._rng.uniform(*f.seconds) for f in self.find("delay", target))

    def times(self, target: str) -> int:
        return max([1, *(f.times for f in self.find("duplicate", target))])

    def transform(self, target: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` as the faulty glue writes it to ``target`` (faults in given order)."""
        out = dict(data)
        for f in self.faults:
            if f.target == target and f.kind in _TRANSFORM_KINDS:
                out = _transform_one(f, out)
        return out
