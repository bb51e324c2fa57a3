"""Value-level comparison for ``baton.probes.diagnosis``: is an observed value the expected one,
and if not, which kind of damage explains the difference.

Everything here is a pure function over one expected string and one observed value::

    >>> classify("Ada", "ADA", hints=Hints()).problem
    'differs only in case'
    >>> classify("49.00", 49, hints=Hints()) is None   # numerically equal: no finding
    True

``classify`` returns ``None`` when the values are the same (allowing for harmless format
differences: ``"49.00"`` vs ``49``, ``"true"`` vs ``True``, ``"+44 7700 900123"`` vs
``"+447700900123"``, an ISO timestamp of the right day) and a ``Mismatch`` otherwise.
Checks run from the most specific explanation to the least: numbers, currency codes, dates,
phone numbers, encoding damage, case and whitespace, truncation, and finally a plain wrong
value.

Size: one pure check per kind of damage (numbers, currency codes, dates, phones, encoding,
case and whitespace, truncation), tried in order; they share the normalisers.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal
from urllib.parse import unquote

from ..model import FindingKind

#: A sub-check's answer when the values are equal after all (``None``: the check does not apply).
_SAME: Final = "same"


@dataclass(frozen=True)
class Hints:
    """What the caller knows beyond the two strings.

    ``date``: the test record's date, which resolves the order of an expected ``04/03/2026``;
    ``currency``: upper-case ISO code, for amounts in messages; ``unit``: whether the field
    holds the record's amount in ``"major"`` units (49.00) or ``"minor"`` ones (4900).
    """

    date: dt.date | None = None
    currency: str = ""
    unit: Literal["major", "minor"] | None = None
    is_currency: bool = False


@dataclass(frozen=True)
class Mismatch:
    """Why an observed value is not the expected one.

    ``problem`` completes a sentence about the field ("first name *differs only in case*");
    ``note`` follows the evidence (``": 0.49 USD instead of 49.00 USD"``);
    ``show_expected`` is false when ``problem`` already names the expected value.
    """

    kind: FindingKind
    problem: str
    note: str = ""
    show_expected: bool = True


# ---------------------------------------------------------------------------- plain values


def as_text(value: Any) -> str | None:
    """An observed value as text: ``None`` stays ``None``, booleans as JSON writes them."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def as_bool(value: Any) -> bool | None:
    """``True``/``False`` for a boolean or the words true/false (any case), else ``None``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None


# No leading zeros and no leading "+": "07700900123" and "+447700900123" are not numbers.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")
_GROUPED = re.compile(r"-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"-?(?:0|[1-9]\d*),\d{2}")
_CURRENCY_SIGNS = "$€£¥"


def as_number(value: Any) -> Decimal | None:
    """The number ``value`` spells (``49``, ``"49.00"``, ``"$1,049.00"``), else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
        return number if number.is_finite() else None
    text = str(value).strip().lstrip(_CURRENCY_SIGNS).strip()
    if _GROUPED.fullmatch(text):
        text = text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        return None


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _is_email(text: str) -> bool:
    return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text.strip()) is not None


def _is_currency_code(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z]{3}", text.strip()) is not None


def same(expected: str, observed: Any, *, hints: Hints | None = None) -> bool:
    """Whether ``observed`` is ``expected`` up to formats no reader would mind.

    Equal are: identical text; ``None``/missing and ``""``; booleans in any spelling;
    numbers of equal value; Unicode NFC forms; an email lower-cased; a currency code in any
    case.
    """
    hints = hints or Hints()
    text = as_text(observed)
    if text is None or not text.strip():
        return not expected.strip()
    if text == expected or _nfc(text) == _nfc(expected):
        return True
    want_bool, got_bool = as_bool(expected), as_bool(observed)
    if want_bool is not None and got_bool is not None:
        return want_bool == got_bool
    want_num, got_num = as_number(expected), as_number(observed)
    if want_num is not None and got_num is not None:
        return want_num == got_num
    if _is_email(expected) and text.strip() == expected.strip().lower():
        return True  # CRMs store addresses lower-cased; any other case change is reported
    is_code = hints.is_currency and _is_currency_code(expected) and _is_currency_code(text)
    return is_code and text.strip().casefold() == expected.strip().casefold()


def loosely_same(expected: str, observed: Any) -> bool:
    """``same``, or equal but for case and whitespace (used to spot values in the wrong field)."""
    if same(expected, observed):
        return True
    text = as_text(observed)
    if text is None:
        return False
    return _squash(text).casefold() == _squash(expected).casefold() != ""


def _squash(text: str) -> str:
    return "".join(_nfc(text).split())


# ---------------------------------------------------------------------------- classify

#: A specific check: a ``Mismatch``, ``"same"`` after all, or ``None`` when it does not apply.
_Check = Callable[[str, str, Hints], Mismatch | Literal["same"] | None]


def classify(expected: str, observed: Any, *, hints: Hints) -> Mismatch | None:
    """``None`` when ``observed`` is ``expected``; otherwise the most specific ``Mismatch``.

    ``expected`` is the rendered template; ``observed`` is the tool's value as it came
    (``str``, ``int``, ``bool``, ``None`` for a missing field...).
    """
    if same(expected, observed, hints=hints):
        return None
    text = as_text(observed)
    if text is None:
        return Mismatch(FindingKind.WRONG_VALUE, "is missing")
    if not text.strip():
        return Mismatch(FindingKind.WRONG_VALUE, "is empty")
    checks: tuple[_Check, ...] = (_numbers, _currency, _dates, _phones)
    for check in checks:
        answer = check(expected, text, hints)
        if answer == _SAME:
            return None
        if isinstance(answer, Mismatch):
            return answer
    return (
        _encoding(expected, text)
        or _case_and_whitespace(expected, text)
        or _truncation(expected, text)
        or Mismatch(FindingKind.WRONG_VALUE, "is wrong")
    )


def _numbers(expected: str, text: str, hints: Hints) -> Mismatch | None:
    want = as_number(expected)
    if want is None:
        return None
    if _DECIMAL_COMMA.fullmatch(text.strip()) and Decimal(text.strip().replace(",", ".")) == want:
        return Mismatch(FindingKind.REFORMATTED, "is written with a decimal comma")
    got = as_number(text)
    if got is None:
        return None
    if got * 100 == want:
        problem = "is 100 times too small"
    elif got == want * 100:
        problem = "is 100 times too large"
    else:
        return Mismatch(FindingKind.WRONG_VALUE, "is wrong")
    return Mismatch(FindingKind.WRONG_VALUE, problem, note=_money_note(want, got, hints))


def _money_note(want: Decimal, got: Decimal, hints: Hints) -> str:
    """``": 0.49 USD instead of 49.00 USD"`` when the field holds the record's amount."""
    if hints.unit is None:
        return ""
    scale = Decimal(100) if hints.unit == "minor" else Decimal(1)
    unit = f" {hints.currency}" if hints.currency else ""
    return f": {got / scale:,.2f}{unit} instead of {want / scale:,.2f}{unit}"


def _currency(expected: str, text: str, hints: Hints) -> Mismatch | None:
    if not (hints.is_currency and _is_currency_code(expected) and _is_currency_code(text)):
        return None
    return Mismatch(
        FindingKind.WRONG_VALUE,
        f"is {text.strip().upper()} instead of {expected.strip().upper()}",
        show_expected=False,
    )


# ---------------------------------------------------------------------------- dates

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_SLASH_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")
_WORD_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y")
_EPOCH = re.compile(r"\d{10}|\d{13}")

DateOrder = Literal["dmy", "mdy"]
DateLayout = Literal["iso", "dmy", "mdy"]


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _unambiguous_date(text: str, *, epoch: bool) -> dt.date | None:
    """ISO dates and timestamps, dates in words, and (observed only) epoch s / ms."""
    t = text.strip()
    m = _ISO_DATE.fullmatch(t)
    if m:
        return _date(int(m[1]), int(m[2]), int(m[3]))
    if "-" in t[:10] and len(t) > 10:
        try:
            return dt.datetime.fromisoformat(t.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    for fmt in _WORD_FORMATS:
        try:
            return dt.datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    if epoch and _EPOCH.fullmatch(t):
        seconds = int(t) / (1000 if len(t) == 13 else 1)
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).date()
    return None


def _slash_readings(text: str) -> dict[DateOrder, dt.date]:
    """``04/03/2026`` read day first and month first (only the valid readings)."""
    m = _SLASH_DATE.fullmatch(text.strip())
    if not m:
        return {}
    a, b, year = int(m[1]), int(m[3]), int(m[4])
    readings: dict[DateOrder, dt.date] = {}
    day_first, month_first = _date(year, b, a), _date(year, a, b)
    if day_first is not None:
        readings["dmy"] = day_first
    if month_first is not None:
        readings["mdy"] = month_first
    return readings


def _expected_date(expected: str, record_date: dt.date | None) -> tuple[dt.date, DateLayout] | None:
    """The date ``expected`` stands for and how it is written: ``iso``, ``dmy`` or ``mdy``."""
    d = _unambiguous_date(expected, epoch=False)
    if d is not None:
        return d, "iso"
    readings = _slash_readings(expected)
    for order, value in readings.items():
        if value == record_date:
            return value, order
    if len(readings) == 1:
        ((order, value),) = readings.items()
        return value, order
    return None


def _swap_day_month(d: dt.date) -> dt.date | None:
    return _date(d.year, d.day, d.month)


def _spell(d: dt.date) -> str:
    return f"{d.day} {d:%B} {d.year}"


def _dates(expected: str, text: str, hints: Hints) -> Mismatch | Literal["same"] | None:
    want = _expected_date(expected, hints.date)
    if want is None:
        return None
    date, order = want
    swapped = _swap_day_month(date)
    got = _unambiguous_date(text, epoch=True)
    if got is None:
        readings = _slash_readings(text)
        if not readings:
            return None
        if order != "iso" and order in readings:
            got = readings[order]
        elif date in readings.values():
            if len(readings) == 1:
                return _SAME
            other = next(v for v in readings.values() if v != date)
            return Mismatch(
                FindingKind.REFORMATTED,
                "is written in an ambiguous day/month order",
                note=f": it reads as {_spell(date)} or as {_spell(other)}",
            )
        else:
            return Mismatch(FindingKind.WRONG_VALUE, "is wrong")
    change = f": {_spell(date)} became {_spell(got)}"
    if got == date:
        return _SAME
    if got == swapped:
        return Mismatch(FindingKind.REFORMATTED, "was read in the wrong day/month order", change)
    if abs((got - date).days) == 1:
        return Mismatch(FindingKind.WRONG_VALUE, "is one day off, likely a time zone shift", change)
    return Mismatch(FindingKind.WRONG_VALUE, "is wrong", change)


# ---------------------------------------------------------------------------- phones

_PHONE = re.compile(r"\+?[\d\s().\-/]+")
#: Digits two phone numbers must share at the end before a differing prefix counts as a
#: country code problem rather than another number.
_MIN_SUBSCRIBER_DIGITS = 6


def _phone(text: str) -> tuple[bool, str] | None:
    """``(international, digits)`` for phone-like text, ``"00"`` read as ``"+"``."""
    t = text.strip()
    if not _PHONE.fullmatch(t):
        return None
    international = t.startswith("+")
    if international:
        t = t.replace("(0)", "")  # "+44 (0)7700 900123": the trunk 0 is only a reading aid
    digits = re.sub(r"\D", "", t)
    if not international and digits.startswith("00"):
        international, digits = True, digits[2:]
    return (international, digits) if len(digits) >= _MIN_SUBSCRIBER_DIGITS else None


def _country_code(prefix: str) -> str | None:
    """The country code a number's prefix stands for: ``""`` for none (or a trunk 0)."""
    if prefix in ("", "0"):
        return ""
    return prefix if len(prefix) <= 3 and not prefix.startswith("0") else None


def _phones(expected: str, text: str, hints: Hints) -> Mismatch | Literal["same"] | None:
    if not expected.strip().startswith(("+", "0")):
        return None
    want, got = _phone(expected), _phone(text)
    if want is None or got is None or len(want[1]) < _MIN_SUBSCRIBER_DIGITS + 1:
        return None
    x, y = want[1], got[1]
    if x == y:
        return _SAME  # same digits: spaces, dashes, "00" for "+", or a dropped "+"
    common = 0
    while common < min(len(x), len(y)) and x[-1 - common] == y[-1 - common]:
        common += 1
    if common < _MIN_SUBSCRIBER_DIGITS:
        return None
    want_prefix, got_prefix = x[:-common], y[:-common]
    if want_prefix and got_prefix == want_prefix + "0":
        return Mismatch(
            FindingKind.REFORMATTED, f"kept the trunk 0 after country code +{x[:-common]}"
        )
    want_cc, got_cc = _country_code(want_prefix), _country_code(got_prefix)
    if want_cc is None or got_cc is None:
        return None
    if want_cc == got_cc:
        # Only the trunk 0 differs: "07700 900123" stored as the number 7700900123.
        lost = "lost" if want_prefix else "gained"
        return Mismatch(FindingKind.REFORMATTED, f"{lost} its leading 0")
    if not got_cc:
        problem = f"lost its country code +{want_cc}"
    elif not want_cc:
        problem = f"gained a country code +{got_cc}"
    else:
        problem = f"has country code +{got_cc} instead of +{want_cc}"
    return Mismatch(FindingKind.REFORMATTED, problem)


# ---------------------------------------------------------------------------- text damage

_CODECS = (("cp1252", "Windows-1252"), ("latin-1", "Latin-1"))


def _ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _encoding(expected: str, text: str) -> Mismatch | None:
    got = _nfc(text)
    want = _nfc(expected)
    if not want.isascii():
        for codec, name in _CODECS:
            try:
                garbled = want.encode("utf-8").decode(codec)
            except UnicodeDecodeError:
                continue  # cp1252 leaves a few bytes undefined
            if garbled == got:
                return Mismatch(FindingKind.ENCODING, f"is garbled, UTF-8 read as {name}")
        replaced = "".join(re.escape(c) if c.isascii() else "[?\ufffd]{1,4}" for c in want)
        if re.fullmatch(replaced, got) or got == "".join(c for c in want if c.isascii()):
            return Mismatch(FindingKind.ENCODING, "lost its non-ASCII characters")
        if got == _ascii_fold(want):
            return Mismatch(FindingKind.ENCODING, "lost its accents")
    if "\ufffd" in got and "\ufffd" not in want:
        return Mismatch(FindingKind.ENCODING, "contains replacement characters")
    if html.unescape(got) == want:
        return Mismatch(FindingKind.ENCODING, "is HTML-escaped")
    if "+" in want and got == want.replace("+", " "):
        return Mismatch(FindingKind.ENCODING, "had its '+' turned into a space by form decoding")
    if unquote(got) == want:
        return Mismatch(FindingKind.ENCODING, "is still URL-encoded")
    return None


def _case_and_whitespace(expected: str, text: str) -> Mismatch | None:
    want, got = _nfc(expected), _nfc(text)
    if got.casefold() == want.casefold():
        return Mismatch(FindingKind.REFORMATTED, "differs only in case")
    if _squash(got) == _squash(want):
        return Mismatch(FindingKind.REFORMATTED, "differs only in whitespace")
    if _squash(got).casefold() == _squash(want).casefold():
        return Mismatch(FindingKind.REFORMATTED, "differs only in case and whitespace")
    return None


def _truncation(expected: str, text: str) -> Mismatch | None:
    want = _nfc(expected).strip()
    got = _nfc(text).strip()
    for cut in (got, got.removesuffix("…").rstrip(), got.removesuffix("...").rstrip()):
        if cut and len(cut) < len(want) and want.startswith(cut):
            return Mismatch(
                FindingKind.TRUNCATED, f"was cut off at {len(cut)} of {len(want)} characters"
            )
    return None
