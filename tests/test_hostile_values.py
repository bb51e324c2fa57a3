"""Hostile `--set` and `/baton run` values: each is refused with one clean line, nothing
reaches a tool, and the store and the bot go on working.

Every value below goes through the real CLI (`baton run lead-to-invoice --set KEY=VALUE`,
in process) against the sandbox; most also go through the Slack slash command, signed and
posted to the bot's HTTP endpoint, with the real engine behind it. The rules they test:
a value is a record value, never a format template (an email may only use `{marker}` and
`{domain}`); a value is one line of printable text of at most 1,000 characters; an amount
is a plain positive number of at most a billion; the email is exactly one plain address on
a reserved domain (`baton.probes.engine.is_plain_address`, `is_reserved_email`).

The CLI tests share one sandbox and the Slack tests one bot (with its own sandbox): a valid
run first proves the counts would see an injection, the hostile values follow, and a valid
run last proves nothing was stranded and nothing blocks the next run.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlite_utils
from bot_support import SECRET
from click.testing import CliRunner
from slack_standin import signed_headers, slash_body
from test_bot_sandbox import World, world
from test_integration import FAST

from baton.bot.commands import Help, parse_command
from baton.probes.cli import cli
from baton.probes.engine import is_plain_address, is_reserved_email
from baton.probes.record import make_record
from baton.probes.sandbox import Sandbox

T = TypeVar("T")

WORKFLOW = "lead-to-invoice"
#: A refusal names what to fix in one line; a value echoed whole (100 KB) is no clean line.
MAX_LINE = 600


@dataclass(frozen=True)
class Case:
    """One hostile ``--set`` argument and the words its refusal must contain."""

    id: str
    arg: str  # what follows --set: "email=victim@gmail.com"
    fix: str  # in the CLI's error line
    slack_fix: str | None = None  # in the Slack refusal, when Slack's reading differs
    slack: bool = True  # False: Slack's own cleaning makes it harmless (see the reason)


PLAIN = "exactly one plain address"
RESERVED = "use reserved domains"
PLACEHOLDER = "unknown placeholder"
CONTROL = "has a control character"
ROUTED = "can be routed on to another host"
TOO_LONG = "values are at most 1,000"
AMOUNT = "amount must be a number like 49.00"
POSITIVE = "amount must be a positive number"
AT_MOST = "amount must be at most 1,000,000,000"
#: Slack reads a line break or tab as a space: the word after it has no `=`.
SPLIT = "give fields as field=value"


def email(id: str, value: str, fix: str, **kw: Any) -> Case:
    return Case(f"email-{id}", f"email={value}", fix, **kw)


CASES = [
    # -- one address smuggling in another ------------------------------------------------
    email("comma", "victim@gmail.com,probe@example.com", PLAIN),
    email("semicolon", "victim@gmail.com;probe@example.com", PLAIN),
    email("comma-space", "probe@example.com, victim@gmail.com", PLAIN),
    email("lf", "victim@gmail.com\nprobe@example.com", "'email' " + CONTROL, slack_fix=SPLIT),
    email("crlf-bcc", "probe@example.com\r\nBcc: victim@gmail.com", CONTROL, slack_fix=SPLIT),
    email("cr", "probe@example.com\rvictim@gmail.com", CONTROL, slack_fix=SPLIT),
    # Slack drops the NUL: what is left is two addresses run together.
    email("nul", "probe@example.com\x00victim@gmail.com", CONTROL, slack_fix=PLAIN),
    email("tab", "probe@example.com\tvictim@gmail.com", CONTROL, slack_fix=SPLIT),
    email(
        "line-separator", "probe@example.com\u2028victim@gmail.com", "a line break", slack_fix=SPLIT
    ),
    email("nel", "probe@example.com\u0085victim@gmail.com", CONTROL, slack_fix=SPLIT),
    email("quoted-local", '"victim@gmail.com"@example.com', PLAIN),
    email("quoted-a-at-b", '"a@b"@example.com', PLAIN),
    email("display-name", "Victim <victim@gmail.com>", PLAIN),
    email("display-name-list", "Victim <victim@gmail.com>, probe@example.com", PLAIN),
    email("angle-addr", "<victim@gmail.com>", PLAIN),
    email("reserved-then-angle", "probe@example.com <victim@gmail.com>", PLAIN),
    email("comment-between", "victim@gmail.com(x)@example.com", PLAIN),
    email("comment-after", "probe@example.com (victim@gmail.com)", PLAIN),
    email("comment-in-local", "probe(comment)@example.com", PLAIN),
    email("double-at", "victim@gmail.com@example.com", PLAIN),
    email("route", "@a,@b:x@example.com", PLAIN),
    email("percent-hack", "victim%gmail.com@example.com", "'%' before the @ " + ROUTED),
    email("bang-path", "gmail.com!victim@example.com", "'!' before the @ " + ROUTED),
    email("mailto", "mailto:victim@gmail.com", PLAIN),
    email("slack-link", "<mailto:victim@gmail.com|probe@example.com>", PLAIN),
    email("ip-literal", "a@[127.0.0.1]", PLAIN),
    email("ipv6-literal", "a@[IPv6:::1]", PLAIN),
    email("bare-ip", "a@127.0.0.1", PLAIN),
    email("real-domain", "victim@gmail.com", RESERVED),
    email("real-domain-upper", "VICTIM@GMAIL.COM", RESERVED),
    email("cyrillic-a", "probe@exаmple.com", PLAIN),
    email("fullwidth-at", "probe＠example.com", PLAIN),
    email("punycode", "probe@xn--exmple-cua.com", RESERVED),
    email("trailing-dot", "probe@example.com.", PLAIN),
    email("reserved-as-subdomain", "probe@example.com.evil.io", RESERVED),
    email("reserved-as-suffix", "probe@notexample.com", RESERVED),
    email("near-tld", "probe@example.co", RESERVED),
    email("localhost", "probe@localhost", PLAIN),
    email("empty", "", PLAIN),
    email("no-at", "probe", PLAIN),
    email("double-dot", "probe..x@example.com", PLAIN),
    email("over-254", "x" * 300 + "@example.com", PLAIN),
    email("space-in-local", "probe victim@example.com", PLAIN),
    email("rtl-override", "probe\u202e@example.com", "text-direction override"),
    email("rtl-domain", "probe@\u202emoc.elpmaxe", "text-direction override"),
    # Slack strips zero-width characters (phones paste them): it sees a plain address.
    email("zero-width", "probe\u200b@example.com", PLAIN, slack=False),
    email("zero-width-joiner", "probe@exam\u200dple.com", PLAIN, slack=False),
    # An argv that is not UTF-8 reaches Python as lone surrogates; Slack sends UTF-8 only.
    email("surrogate", "probe@example.com\udcff", "undecodable byte", slack=False),
    Case("domain-real", "domain=gmail.com", RESERVED),
    Case("domain-list", "domain=example.com,gmail.com", PLAIN),
    Case("domain-suffix", "domain=example.com.evil.io", RESERVED),
    Case(
        "domain-lf", "domain=example.com\nBcc: x@gmail.com", "'domain' " + CONTROL, slack_fix=SPLIT
    ),
    # -- format templates: a value is a value -----------------------------------------
    email("index", "{0}@example.com", PLACEHOLDER),
    email("unknown-field", "{nope}@example.com", PLACEHOLDER),
    email("unclosed", "{marker", PLAIN),
    email("unclosed-at", "probe+{marker@example.com", PLACEHOLDER),
    email("conversion", "{marker!r}@example.com", PLACEHOLDER),
    email("huge-pad", "{marker:>3000000}@example.com", PLACEHOLDER),
    email("huge-pad-domain", "probe@{domain:>3000000}", PLACEHOLDER),
    email("attribute", "{email.__class__}@example.com", PLACEHOLDER),
    email("globals", "{marker.__class__.__init__.__globals__}@example.com", PLACEHOLDER),
    email("item", "{marker[0]}@example.com", PLACEHOLDER),
    email("empty-braces", "{}@example.com", PLACEHOLDER),
    email("escaped-braces", "{{marker}}@example.com", PLACEHOLDER),
    email("stray-close", "probe+{marker}@example.com}", PLACEHOLDER),
    email("printf", "%s@example.com", ROUTED),
    email("printf-named", "probe+%(marker)s@example.com", ROUTED),
    email("shell", "${HOME}@example.com", PLACEHOLDER),
    Case("currency-index", "currency={0}", "currency must be a three-letter"),
    Case("currency-printf", "currency=%s", "currency must be a three-letter"),
    # -- size --------------------------------------------------------------------------
    email("1001", "a" * 989 + "@example.com", TOO_LONG),
    Case("first-name-1001", "first_name=" + "A" * 1001, "'first_name' is 1,001 characters"),
    # Slack reads 4,000 characters of a command at most: the value it sees is shorter.
    Case(
        "company-5000",
        "company=" + "Z" * 5000,
        "'company' is 5,000 characters",
        slack_fix="'company' is 3,967 characters",
    ),
    Case(
        "x-note-100k",
        "x_note=" + "y" * 100_000,
        "'x_note' is 100,000 characters",
        slack_fix="'x_note' is 3,968 characters",
    ),
    # Slack reads 4,000 characters of a command: what it sees of these is a word with no =.
    Case("key-100k", "k" * 100_000 + "=1", "unknown record field", slack_fix=SPLIT),
    Case("x-key-100k", "x_" + "k" * 100_000 + "=1", "extra record field", slack_fix=SPLIT),
    # -- amounts -----------------------------------------------------------------------
    Case("amount-1e309", "amount=1e309", AT_MOST),
    Case("amount-huge-exponent", "amount=1e999999999999999999", AT_MOST),
    Case("amount-400-digits", "amount=" + "9" * 400, AT_MOST),
    Case("amount-1e9-and-a-cent", "amount=1000000000.01", AT_MOST),
    Case("amount-1e9+1", "amount=1e9+1", AMOUNT),
    Case("amount-nan", "amount=nan", POSITIVE),
    Case("amount-snan", "amount=sNaN", POSITIVE),
    Case("amount-inf", "amount=inf", POSITIVE),
    Case("amount-minus-infinity", "amount=-Infinity", POSITIVE),
    Case("amount-negative", "amount=-1", POSITIVE),
    Case("amount-minus-zero", "amount=-0", POSITIVE),
    Case("amount-hex", "amount=0x10", AMOUNT),
    Case("amount-underscore", "amount=1_000", AMOUNT),
    Case("amount-comma", "amount=49,00", AMOUNT),
    Case("amount-dollar", "amount=$49", AMOUNT),
    Case("amount-arabic-digits", "amount=٤٩", AMOUNT),
    Case("amount-with-currency", "amount=49.00 usd", AMOUNT),
    Case("amount-empty", "amount=", AMOUNT),
    # -- other fields: line breaks, escapes, JSON ----------------------------------------
    Case("first-name-bcc", "first_name=Ada\nBcc: victim@gmail.com", CONTROL, slack_fix=SPLIT),
    Case("last-name-header", "last_name=Probe\r\nX-Injected: 1", CONTROL, slack_fix=SPLIT),
    # Slack drops the ESC of an ANSI colour code: "ACME[31mRED" is a harmless name.
    Case("company-ansi", "company=ACME\x1b[31mRED", "'company' " + CONTROL, slack=False),
    Case("first-name-rtl", "first_name=\u202eadA", "text-direction override"),
    Case("last-name-isolate", "last_name=\u2066Probe\u2069", "text-direction override"),
    Case("first-name-paragraph", "first_name=Ada\u2029Bob", "a line break", slack_fix=SPLIT),
    Case("payment-nel", "payment_method=card\u0085paypal", CONTROL, slack_fix=SPLIT),
    Case("first-name-surrogate", "first_name=Ada\udcff", "undecodable byte", slack=False),
    Case("x-note-json-lf", 'x_note={"a": 1}\n{"b": 2}', CONTROL, slack_fix=SPLIT),
    Case("phone-json", 'phone={"number":"+447700900123"}', "phone must be a phone number"),
    Case("phone-list", "phone=+447700900123,+15550100", "phone must be a phone number"),
    Case("phone-tel", "phone=tel:+447700900123", "phone must be a phone number"),
    Case("phone-lf", "phone=+44 7700\n900123", "'phone' " + CONTROL, slack_fix=SPLIT),
    Case("phone-nul", "phone=\x00", "'phone' " + CONTROL, slack_fix="phone must be"),
    Case("date-json", 'date={"year":2026}', "date must be YYYY-MM-DD"),
    Case("date-time", "date=2026-01-02T00:00:00", "date must be YYYY-MM-DD"),
    Case("date-impossible", "date=2026-13-45", "date must be YYYY-MM-DD"),
    Case("date-900", "date=" + "2" * 900, "date must be YYYY-MM-DD"),
    # Slack trims a line break at the end of the text: it sees a plain date.
    Case("date-lf", "date=2026-01-02\n", "'date' " + CONTROL, slack=False),
    Case("currency-lf", "currency=usd\n", "'currency' " + CONTROL, slack=False),
    Case("currency-words", "currency=us dollars", "currency must be a three-letter"),
    Case("currency-euro-sign", "currency=€", "currency must be a three-letter"),
    Case("consent-maybe", "marketing_consent=maybe", "marketing_consent must be true or false"),
    Case("consent-900", "marketing_consent=" + "y" * 900, "marketing_consent must be true"),
    Case("consent-lf", "marketing_consent=true\nfalse", CONTROL, slack_fix=SPLIT),
    # -- field names -------------------------------------------------------------------
    Case("field-unknown", "colour=red", "unknown record field 'colour'"),
    Case("field-attribute", "email.__class__=x", "unknown record field", slack_fix="field name"),
    Case("field-index", "first_name[0]=x", "unknown record field", slack_fix="field name"),
    Case("field-dunder", "__class__=x", "unknown record field '__class__'"),
    Case("field-extra-dot", "x_a.b=1", "extra record field 'x_a.b'", slack_fix="field name"),
    Case("field-extra-bare", "x_=1", "extra record field 'x_'"),
    Case("field-extra-braces", "x_{0}=1", "extra record field", slack_fix="field name"),
    Case("field-empty", "=x", "use field=value", slack_fix="field name"),
    Case("field-blank", " =x", "use field=value", slack_fix="field name"),
    Case("field-no-equals", "email", "use field=value", slack_fix=SPLIT),
]


def _check_cases() -> None:
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    assert len({c.arg for c in CASES}) == len(CASES), "each value once"


_check_cases()
SLACK_CASES = [c for c in CASES if c.slack]


def test_the_suite_is_as_large_as_the_issue_asks() -> None:
    assert len(CASES) >= 100
    assert len(SLACK_CASES) >= 50


# -- the CLI -------------------------------------------------------------------------------


@dataclass
class CliWorld:
    sandbox: Sandbox
    config: Path
    store: Path
    valid_runs: int = 0  # how many runs the store should hold: the valid ones only


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_valid(w: CliWorld) -> None:
    code, out, err = invoke("run", WORKFLOW, "-c", str(w.config), "-q")
    assert code == 0, out + err
    assert "Verdict: OK" in out
    w.valid_runs += 1


@pytest.fixture(scope="module")
def cli_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliWorld]:
    folder = tmp_path_factory.mktemp("hostile-cli")
    with Sandbox(search_lag_s=0.3, glue_delay_s=(0.05, 0.2)) as sandbox:
        # The sandbox's URL written in (the tests' environment is cleaned before each test).
        text = FAST.replace("${BATON_SANDBOX_URL:-http://127.0.0.1:8765}", sandbox.url)
        assert sandbox.url in text
        config = folder / "baton.yaml"
        config.write_text(text, encoding="utf-8")
        w = CliWorld(sandbox, config, folder / "baton.db")
        # A valid run first: the counts see an injection, so `counts() == {}` can fail.
        run_valid(w)
        assert w.sandbox.counts().get("glue"), w.sandbox.counts()
        yield w


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_cli_refuses_a_hostile_value_in_one_line(cli_world: CliWorld, case: Case) -> None:
    cli_world.sandbox.reset()
    code, out, err = invoke("run", WORKFLOW, "-c", str(cli_world.config), "-q", "--set", case.arg)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: "), line
    assert case.fix in line, line
    assert len(line) <= MAX_LINE, line[:200]
    assert cli_world.sandbox.counts() == {}  # nothing was sent to any tool


def test_cli_store_still_works_after_every_hostile_value(cli_world: CliWorld) -> None:
    # No hostile value left a run behind: the store holds the valid runs only.
    runs = sqlite_utils.Database(cli_world.store)["runs"]
    assert runs.count == cli_world.valid_runs
    run_valid(cli_world)
    assert runs.count == cli_world.valid_runs
    code, out, _ = invoke("resume", "-c", str(cli_world.config), "--json")
    assert code == 0 and json.loads(out) == []  # nothing stranded, nothing to finish


def test_cli_values_that_look_like_templates_are_sent_as_typed(cli_world: CliWorld) -> None:
    """The other side of "a value is a value": braces, % and $ in a name are no error,
    and reach the tool verbatim (not formatted, not expanded)."""
    cli_world.sandbox.reset()
    first, last = '{0} {email.__class__} {{x}} %s ${HOME} {"a": 1}', "Probe-{marker}"
    code, out, err = invoke(
        "run",
        WORKFLOW,
        "-c",
        str(cli_world.config),
        "--json",
        "--set",
        f"first_name={first}",
        "--set",
        f"last_name={last}",
        "--set",
        "email=probe+{marker}@EXAMPLE.COM",  # the same reserved domain, any case
    )
    assert code == 0, out + err
    cli_world.valid_runs += 1
    result = json.loads(out)
    assert result["verdict"] == "ok", result
    posted = [r for r in cli_world.sandbox.requests("glue") if r["method"] == "POST"]
    assert posted, "the form was posted"
    body = posted[0]["body"]
    assert body["first_name"] == first, body
    assert body["last_name"].startswith("Probe-bt"), body  # {marker}, and only it, is filled


# -- the guard itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["probe+bt0000aa@example.com", "probe@EXAMPLE.COM", "a.b-c_d'e+f@sub.example.org", "x@y.test"],
)
def test_plain_reserved_addresses_pass_the_guard(address: str) -> None:
    """The guard refuses by rule, not everything: these are one address each, on a reserved
    domain (the domain's case does not matter: EXAMPLE.COM is example.com)."""
    assert is_plain_address(address) and is_reserved_email(address)
    assert make_record("bt0000aa", {"email": address}).email == address


# -- Slack -------------------------------------------------------------------------------------


def slack_text(arg: str) -> str:
    """``/baton run lead-to-invoice card KEY=VALUE`` as Slack posts it: a value with plain
    spaces in quotes (as the help says), and ``& < >`` escaped the way Slack escapes them."""
    key, sep, value = arg.partition("=")
    if sep and " " in value and value.isprintable():
        arg = f'{key}="{value}"'
    text = f"run {WORKFLOW} card {arg}"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class BotThread:
    """``world()`` on its own event loop in a thread, so that one bot serves every test
    of this module (a bot per value would cost a second each)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ready: Future[World] = Future()
        self.host: Future[None] | None = None
        self.stop: asyncio.Event | None = None

    def start(self) -> World:
        self.thread.start()
        self.host = asyncio.run_coroutine_threadsafe(self._host(), self.loop)
        return self.ready.result(timeout=30)

    async def _host(self) -> None:
        self.stop = asyncio.Event()
        try:
            async with world() as w:
                self.ready.set_result(w)
                await self.stop.wait()
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            raise

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        try:
            if self.host is not None:
                self.host.result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@dataclass
class SlackWorld:
    thread: BotThread
    w: World
    triggers: int = 0

    @property
    def sandbox(self) -> Sandbox:
        return self.w.sandbox

    def command(self, text: str) -> tuple[httpx.Response, list[Any]]:
        """Post a signed slash command, wait for all it started, and return the HTTP answer
        (the ack) with every call the Slack stand-in received meanwhile."""
        self.triggers += 1
        trigger = f"hostile-{self.triggers}"

        async def send() -> tuple[httpx.Response, list[Any]]:
            before = len(self.w.slack.calls)
            body = slash_body(text, trigger_id=trigger, response_url=self.w.slack.response_url())
            reply = await self.w.http.post(
                "/slack/events", content=body, headers=signed_headers(SECRET, body)
            )
            await asyncio.wait_for(self.w.bot.drain(), timeout=20)
            return reply, self.w.slack.calls[before:]

        return self.thread.call(send())

    def active_runs(self) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:  # the store's connection is the loop's
            return self.w.bot.engine.store.active_runs()

        return self.thread.call(read())

    def run_valid(self, fields: str = "") -> None:
        reply, calls = self.command(f"run {WORKFLOW} card {fields}")
        assert reply.status_code == 200 and reply.text == ""
        posts = [c for c in calls if c.method == "chat.postMessage"]
        assert posts, [c.method for c in calls]
        final = posts[-1].params["text"]
        assert final.startswith("✅ No leaks."), final
        assert self.sandbox.counts().get("glue"), self.sandbox.counts()


@pytest.fixture(scope="module")
def slack_world() -> Iterator[SlackWorld]:
    thread = BotThread()
    try:
        sw = SlackWorld(thread, thread.start())
        # A valid command first: the stand-in and the counts see a run, so the assertions
        # that none happened can fail.
        sw.run_valid()
        yield sw
    finally:
        thread.close()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in SLACK_CASES])
def test_slack_refuses_a_hostile_value_and_stays_healthy(
    slack_world: SlackWorld, case: Case
) -> None:
    sw = slack_world
    sw.sandbox.reset()
    text = slack_text(case.arg)
    reply, calls = sw.command(text)
    assert reply.status_code == 200, reply.text
    responses = [c for c in calls if c.method == "response_url"]
    if reply.text:  # refused while reading the text: the answer is the ack itself
        answer = reply.json()
        assert isinstance(parse_command(text.replace("&lt;", "<").replace("&gt;", ">")), Help)
        assert responses == []
    else:  # refused by the engine: the answer comes through the response URL
        assert len(responses) == 1, [c.method for c in calls]
        answer = responses[0].params
    # An answer only the sender sees (an ack without response_type is ephemeral).
    assert answer.get("response_type", "ephemeral") == "ephemeral", answer
    said = answer["text"]
    assert said.startswith("⚠️ "), said
    assert len(said.splitlines()[0]) <= MAX_LINE, said[:200]
    assert "Traceback" not in said and "internal error" not in said.lower(), said
    fix = case.slack_fix or case.fix
    assert fix.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in said, said
    # Nothing injected: no thread, no request to any tool, no run left in the store.
    assert [c.method for c in calls if c.method.startswith("chat.")] == []
    assert sw.sandbox.counts() == {}
    assert sw.active_runs() == []


def test_slack_bot_still_runs_after_every_hostile_value(slack_world: SlackWorld) -> None:
    slack_world.sandbox.reset()
    # Other values than the first valid run's: the same command twice would be a duplicate.
    slack_world.run_valid("first_name=Zoë amount=12.50")
    assert slack_world.active_runs() == []
