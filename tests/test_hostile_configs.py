"""Hostile configs: each gets a clear ``ConfigError`` at once, never a traceback or a hang.

Every case changes one thing in a small valid config (``BASE``) and expects, from
``load_config_text``: a ``ConfigError``, every problem one short line starting
``baton.yaml:<line>: ``, one of them naming the key path, quickly. A few go through the
real ``baton check-config`` too (exit 2, nothing stored). Run-time renderers refuse the
templates the loader refuses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from baton.probes.cli import cli
from baton.probes.config import MAX_CONFIG_BYTES, Config, load_config
from baton.probes.config.document import parse_yaml
from baton.probes.config.loader import load_config_text
from baton.probes.connectors._util import render, render_url
from baton.probes.errors import ConfigError, UsageError
from baton.probes.record import MAX_FORMAT_WIDTH, make_record

BASE = """\
version: 1
store: baton.db
record:
  domain: example.com
tools:
  form:
    type: webhook
    url: http://127.0.0.1:8765/glue/hooks/catch/1001/leads
    fields:
      email: "{email}"
      first_name: "{first_name}"
    headers:
      X-Source: baton
    timeout: 10s
  crm:
    type: hubspot
    base_url: http://127.0.0.1:8765/hubspot
    credentials:
      token: ${HUBSPOT_TOKEN:-sandbox-token}
    rate_limit: 10/s
  orders:
    type: http
    url: "https://api.example.com/orders?email={email}"
    cleanup_url: "https://api.example.com/orders/{id}"
    headers:
      Accept: application/json
workflows:
  lead:
    stages:
      - name: form
        tool: form
      - name: crm
        tool: crm
        after: form
        expect:
          fields:
            email: "{email}"
          count: 1
        deadline: 20s
        grace: 10s
        settle: 1.5s
      - name: orders
        tool: orders
        after: form
    schedule:
      every: 15m
    alerts:
      failures_before_alert: 2
slack:
  api_url: https://slack.com/api/
  bot_token: ${SLACK_BOT_TOKEN:-}
  digests:
    - channel: C0123
      cron: "0 9 * * mon"
      period: 7d
"""

#: No hostile config may take longer than this to be refused (they take milliseconds).
QUICK_S = 3.0


def load(text: str) -> Config:
    return load_config_text(text, path="baton.yaml", env={})


@dataclass(frozen=True)
class Case:
    """``text`` must fail with a problem on ``path`` (``None``: the file as a whole) that
    holds ``want``; ``secret`` must not be echoed."""

    id: str
    text: str
    path: str | None
    want: str
    secret: str = ""


def change(id: str, old: str, new: str, path: str | None, want: str, secret: str = "") -> Case:
    assert BASE.count(old) == 1, f"{id}: {old!r} is not once in BASE"
    return Case(id, BASE.replace(old, new), path, want, secret)


def check_clean(error: ConfigError, case_path: str | None, want: str, secret: str = "") -> None:
    """Every problem one line with the file and line; one names ``case_path`` and ``want``."""
    assert error.problems
    for problem in error.problems:
        assert problem.startswith("baton.yaml"), problem
        assert problem.splitlines() == [problem], f"not one line: {problem!r}"
        assert problem.isprintable(), f"control characters in {problem!r}"
        assert len(problem) < 600, f"{len(problem)} characters: {problem[:200]!r}"
        assert "Traceback" not in problem
        if secret:
            assert secret not in problem
    if case_path is None:
        hits = [p for p in error.problems if want in p]
    else:
        hits = [p for p in error.problems if f": {case_path}: " in p and want in p]
    assert hits, f"no problem on {case_path!r} with {want!r} in:\n" + "\n".join(error.problems)


def test_the_base_config_is_valid() -> None:
    config = load(BASE)
    assert config.tools["orders"].options["cleanup_url"].endswith("/{id}")
    assert config.workflows["lead"].stage("crm").deadline_s == 20.0


# -- tools: types, URLs, headers, secrets --------------------------------------------------

FORM_URL = "    url: http://127.0.0.1:8765/glue/hooks/catch/1001/leads\n"
CRM_URL = "    base_url: http://127.0.0.1:8765/hubspot\n"
ORDERS_URL = '    url: "https://api.example.com/orders?email={email}"\n'
CLEANUP_URL = '    cleanup_url: "https://api.example.com/orders/{id}"\n'
SLACK_URL = "  api_url: https://slack.com/api/\n"

#: Every URL-valued key: (its line in BASE, how to write a new value, its key path).
URL_KEYS = [
    (FORM_URL, "    url: {}\n", "tools.form.url"),
    (CRM_URL, "    base_url: {}\n", "tools.crm.base_url"),
    (ORDERS_URL, "    url: {}\n", "tools.orders.url"),
    (CLEANUP_URL, "    cleanup_url: {}\n", "tools.orders.cleanup_url"),
    (SLACK_URL, "  api_url: {}\n", "slack.api_url"),
]

#: Bad URLs (as YAML text) and what the message says.
BAD_URLS = [
    ("ipv6-unclosed", '"http://[::1/x"', "is not a valid URL (Invalid IPv6 URL)"),
    ("crlf", '"http://h.example/x\\r\\nX-Evil: 1"', "contains a line break (U+000D)"),
    ("no-host", '"http://"', "URL with a host"),
    ("no-host-path", '"https:///path"', "URL with a host"),
    ("ftp", "ftp://files.example.com/x", "must be an http:// or https:// URL"),
    ("javascript", '"javascript:alert(1)"', "must be an http:// or https:// URL"),
    ("port-range", "http://h.example:99999/x", "is not a valid URL"),
    ("port-text", "http://h.example:http/x", "is not a valid URL"),
    ("space", '"http://h.example/a b"', "contains whitespace (U+0020)"),
    ("tab", '"http://h.example/a\\tb"', "contains whitespace (U+0009)"),
    ("nul", '"http://h.example/\\0"', "contains a control character (U+0000)"),
    ("bidi", '"http://h.example/\\u202e"', "contains a control character (U+202E)"),
    ("huge", "http://h.example/" + "a" * 3000, "is a URL of 3,017 characters; a URL is at most"),
    ("userinfo", '"https://user:hunter2@h.example/x"', "secret in the URL (user:password@)"),
    ("key-as-user", '"https://sk_live_51AbCdEf@h.example/x"', "(user:password@)"),
    ("query-key", '"https://h.example/x?api_key=k3y9q"', "(query parameter 'api_key')"),
    ("query-token", '"https://h.example/x?a=1&token=t0k9q"', "(query parameter 'token')"),
    ("live-key", '"https://h.example/x?q=sk_live_51AbCdEf"', "(query parameter 'q')"),
    ("env-default", '"https://h.example/x?token=${T:-sk_live_51AbCdEf}"', "(query parameter"),
    ("base-default", '"${BASE:-https://u:hunter2@h.example}/x"', "(user:password@)"),
    ("list", "[http://h.example]", "must be an http:// or https:// URL, not a list"),
    ("number", "8765", "must be an http:// or https:// URL, not a number"),
]

#: What no message may echo: the secrets in BAD_URLS.
URL_SECRETS = ("hunter2", "k3y9q", "t0k9q", "sk_live_51AbCdEf")

URL_CASES = [
    change(f"url-{name}-{path}", line, fmt.format(value), path, want, secret)
    for line, fmt, path in URL_KEYS
    for name, value, want in BAD_URLS
    for secret in [next((s for s in URL_SECRETS if s in value), "")]
    if not (name in ("list", "number") and path.startswith("slack"))  # one URL check
]

SIGNUP = "  signup:\n    type: hubspot_forms\n    portal_id: '1'\n    form_guid: g\n"


def signup(option: str) -> str:
    """BASE with a HubSpot form tool that has ``option``."""
    return BASE.replace("  crm:\n", f"{SIGNUP}    {option}\n  crm:\n")


TOOL_CASES = [
    change("url-blank", FORM_URL, '    url: "  "\n', "tools.form.url", "needs a value"),
    change(
        "url-empty-env", FORM_URL, "    url: ${HOOK_URL:-}\n", "tools.form.url", "needs a value"
    ),
    Case(
        "subscription-id-inf",
        signup("subscription_type_id: .inf"),
        "tools.signup.subscription_type_id",
        "must be a whole number (an id, e.g. 12345), not a number",
    ),
    Case(
        "subscription-id-text",
        signup("subscription_type_id: all"),
        "tools.signup.subscription_type_id",
        "must be a whole number",
    ),
    Case("page-uri-no-host", signup('page_uri: "https://"'), "tools.signup.page_uri", "a host"),
    Case(
        "page-uri-template",
        signup('page_uri: "https://x.example/{email!a}"'),
        "tools.signup.page_uri",
        "is not allowed",
    ),
    change("type-empty", "    type: webhook\n", '    type: ""\n', "tools.form.type", "needs a"),
    change("type-blank", "    type: webhook\n", '    type: "  "\n', "tools.form.type", "needs a"),
    change("type-null", "    type: webhook\n", "    type:\n", "tools.form.type", "needs a value"),
    change("type-list", "    type: webhook\n", "    type: [webhook]\n", "tools.form.type", "list"),
    change("type-number", "    type: webhook\n", "    type: 5\n", "tools.form.type", "'5'"),
    change(
        "type-newline",
        "    type: webhook\n",
        '    type: "web\\nhook"\n',
        "tools.form.type",
        "unknown connector type 'web\\nhook'",
    ),
    change(
        "stage-option-url",
        "      - name: form\n        tool: form\n",
        '      - name: form\n        tool: form\n        options: {url: "http://"}\n',
        "workflows.lead.stages[0].options.url",
        "URL with a host",
    ),
    change(
        "header-crlf",
        "      X-Source: baton\n",
        '      X-Source: "baton\\r\\nX-Evil: 1"\n',
        "tools.form.headers.X-Source",
        "control character (U+000D)",
    ),
    change(
        "header-name",
        "      X-Source: baton\n",
        '      "X Source:": baton\n',
        'tools.form.headers["X Source:"]',
        "is not one HTTP allows",
    ),
    change(
        "header-secret",
        "      X-Source: baton\n",
        "      Authorization: Bearer hunter2\n",
        "tools.form.headers.Authorization",
        "carries a secret",
        "hunter2",
    ),
    change(
        "header-secret-default",
        "      Accept: application/json\n",
        "      X-Api-Key: ${ORDERS_KEY:-sk_live_51AbCdEf}\n",
        "tools.orders.headers.X-Api-Key",
        "carries a secret",
        "sk_live_51AbCdEf",
    ),
    change(
        "headers-list",
        "    headers:\n      X-Source: baton\n",
        "    headers: [X-Source]\n",
        "tools.form.headers",
        "must be a mapping",
    ),
    change(
        "token-literal",
        "      token: ${HUBSPOT_TOKEN:-sandbox-token}\n",
        "      token: pat-na1-11111111-2222\n",
        "tools.crm.credentials.token",
        "put secrets in an environment variable",
        "pat-na1-11111111",
    ),
    change(
        "token-default-stripe",
        "      token: ${HUBSPOT_TOKEN:-sandbox-token}\n",
        "      token: ${HUBSPOT_TOKEN:-sk_live_51AbCdEfGh}\n",
        "tools.crm.credentials.token",
        "looks like a real secret",
        "sk_live_51AbCdEfGh",
    ),
    change(
        "token-default-hubspot",
        "      token: ${HUBSPOT_TOKEN:-sandbox-token}\n",
        "      token: ${HUBSPOT_TOKEN:-pat-na1-0f9e8d7c-aaaa}\n",
        "tools.crm.credentials.token",
        "looks like a real secret",
        "pat-na1-0f9e8d7c",
    ),
    change(
        "token-default-random",
        "      token: ${HUBSPOT_TOKEN:-sandbox-token}\n",
        "      token: ${HUBSPOT_TOKEN:-9f86d081884c7d659a2feaa0c55ad015}\n",
        "tools.crm.credentials.token",
        "looks like a real secret",
        "9f86d081884c7d659a2feaa0c55ad015",
    ),
    change(
        "slack-token-default",
        "  bot_token: ${SLACK_BOT_TOKEN:-}\n",
        "  bot_token: ${SLACK_BOT_TOKEN:-xoxb-1234-5678-abcd}\n",
        "slack.bot_token",
        "looks like a real secret",
        "xoxb-1234",
    ),
    change(
        "credentials-list",
        "      token: ${HUBSPOT_TOKEN:-sandbox-token}\n",
        "      - ${HUBSPOT_TOKEN}\n",
        "tools.crm.credentials",
        "must be a mapping",
    ),
]


# -- durations, counts and rates -----------------------------------------------------------

DEADLINE = "        deadline: 20s\n"
GRACE = "        grace: 10s\n"
SETTLE = "        settle: 1.5s\n"
TIMEOUT = "    timeout: 10s\n"
EVERY = "      every: 15m\n"
PERIOD = "      period: 7d\n"
COUNT = "          count: 1\n"
FAILURES = "      failures_before_alert: 2\n"
RATE = "    rate_limit: 10/s\n"
STAGE = "workflows.lead.stages[1]"

NUMBER_CASES = [
    change(
        "every-huge",
        EVERY,
        "      every: 99999999999999999999d\n",
        "workflows.lead.schedule.every",
        "must be at most 366d",
    ),
    change(
        "every-400-digits",
        EVERY,
        f"      every: {'9' * 400}\n",
        "workflows.lead.schedule.every",
        "(400 digits)",
    ),
    change(
        "every-400-digits-s",
        EVERY,
        f"      every: {'9' * 400}s\n",
        "workflows.lead.schedule.every",
        "must be at most 366d",
    ),
    change(
        "every-367d",
        EVERY,
        "      every: 367d\n",
        "workflows.lead.schedule.every",
        "must be at most 366d",
    ),
    change(
        "every-too-short",
        EVERY,
        "      every: 30\n",
        "workflows.lead.schedule.every",
        "at least 1m",
    ),
    change(
        "every-negative",
        EVERY,
        "      every: -15m\n",
        "workflows.lead.schedule.every",
        "must be a duration",
    ),
    change(
        "period-huge",
        PERIOD,
        "      period: 1e308\n",
        "slack.digests[0].period",
        "must be at most 366d",
    ),
    change(
        "deadline-400-digits",
        DEADLINE,
        f"        deadline: {'9' * 400}\n",
        f"{STAGE}.deadline",
        "must be at most 7d",
    ),
    change(
        "deadline-1e308",
        DEADLINE,
        "        deadline: 1e308\n",
        f"{STAGE}.deadline",
        "must be at most 7d, not '1e308'",
    ),
    change(
        "deadline-float-overflow",
        DEADLINE,
        "        deadline: 1.0e400\n",
        f"{STAGE}.deadline",
        "must be at most 7d",
    ),
    change(
        "deadline-yaml-float-overflow",
        DEADLINE,
        "        deadline: 1.0e+400\n",
        f"{STAGE}.deadline",
        "must be a duration",
    ),
    change(
        "deadline-inf",
        DEADLINE,
        "        deadline: .inf\n",
        f"{STAGE}.deadline",
        "must be a duration",
    ),
    change(
        "deadline-inf-text",
        DEADLINE,
        "        deadline: inf\n",
        f"{STAGE}.deadline",
        "must be a duration",
    ),
    change(
        "deadline-nan",
        DEADLINE,
        "        deadline: .nan\n",
        f"{STAGE}.deadline",
        "must be a duration",
    ),
    change(
        "deadline-nan-text",
        DEADLINE,
        "        deadline: nan s\n",
        f"{STAGE}.deadline",
        "must be a duration",
    ),
    change(
        "deadline-negative",
        DEADLINE,
        "        deadline: -5\n",
        f"{STAGE}.deadline",
        "must be more than 0",
    ),
    change(
        "deadline-zero",
        DEADLINE,
        "        deadline: 0\n",
        f"{STAGE}.deadline",
        "must be more than 0",
    ),
    change(
        "deadline-empty",
        DEADLINE,
        '        deadline: ""\n',
        f"{STAGE}.deadline",
        "must be a duration",
    ),
    change(
        "deadline-8d", DEADLINE, "        deadline: 8d\n", f"{STAGE}.deadline", "must be at most 7d"
    ),
    change(
        "deadline-list",
        DEADLINE,
        "        deadline: [20s]\n",
        f"{STAGE}.deadline",
        "must be a duration",
    ),
    change(
        "deadline-bool",
        DEADLINE,
        "        deadline: true\n",
        f"{STAGE}.deadline",
        "must be a duration",
    ),
    change(
        "deadline-huge-text",
        DEADLINE,
        f"        deadline: {'1' * 100_000}x\n",
        f"{STAGE}.deadline",
        "(100,001 characters)",
    ),
    change("grace-negative", GRACE, "        grace: -1s\n", f"{STAGE}.grace", "must be a duration"),
    change("grace-2-weeks", GRACE, "        grace: 2w\n", f"{STAGE}.grace", "must be at most 7d"),
    change(
        "settle-huge", SETTLE, "        settle: 1e30\n", f"{STAGE}.settle", "must be at most 7d"
    ),
    change(
        "timeout-huge",
        TIMEOUT,
        "    timeout: 99999999999999999999d\n",
        "tools.form.timeout",
        "must be at most 7d",
    ),
    change(
        "timeout-nan", TIMEOUT, "    timeout: .nan\n", "tools.form.timeout", "must be a duration"
    ),
    change(
        "count-googol",
        COUNT,
        f"          count: 1{'0' * 100}\n",
        f"{STAGE}.expect.count",
        "from 1 to 1,000",
    ),
    change(
        "count-1001",
        COUNT,
        "          count: 1001\n",
        f"{STAGE}.expect.count",
        "from 1 to 1,000, not 1001",
    ),
    change("count-zero", COUNT, "          count: 0\n", f"{STAGE}.expect.count", "1 or more"),
    change("count-negative", COUNT, "          count: -5\n", f"{STAGE}.expect.count", "1 or more"),
    change("count-float", COUNT, "          count: 1.5\n", f"{STAGE}.expect.count", "1 or more"),
    change("count-exponent", COUNT, "          count: 1e3\n", f"{STAGE}.expect.count", "1 or more"),
    change(
        "count-superscript", COUNT, '          count: "²"\n', f"{STAGE}.expect.count", "1 or more"
    ),
    change(
        "count-5000-digits-text",
        COUNT,
        f'          count: "{"9" * 5000}"\n',
        f"{STAGE}.expect.count",
        "1 or more",
    ),
    change(
        "count-5000-digits",
        COUNT,
        f"          count: {'9' * 5000}\n",
        None,
        "a number 5,000 characters long",
    ),
    change("count-inf", COUNT, "          count: .inf\n", f"{STAGE}.expect.count", "1 or more"),
    change(
        "failures-googol",
        FAILURES,
        f"      failures_before_alert: 1{'0' * 100}\n",
        "workflows.lead.alerts.failures_before_alert",
        "from 1 to 1,000",
    ),
    change(
        "failures-zero",
        FAILURES,
        "      failures_before_alert: 0\n",
        "workflows.lead.alerts.failures_before_alert",
        "1 or more",
    ),
    change(
        "rate-400-digits",
        RATE,
        f"    rate_limit: {'9' * 400}\n",
        "tools.crm.rate_limit",
        "must be from 1/hour to 10000/s",
    ),
    change(
        "rate-tiny",
        RATE,
        "    rate_limit: 1e-300\n",
        "tools.crm.rate_limit",
        "must be from 1/hour to 10000/s",
    ),
    change(
        "rate-per-day",
        RATE,
        "    rate_limit: 1/day\n",
        "tools.crm.rate_limit",
        "must be requests per second",
    ),
    change(
        "rate-huge",
        RATE,
        "    rate_limit: 1000000/s\n",
        "tools.crm.rate_limit",
        "must be from 1/hour",
    ),
    change(
        "rate-zero", RATE, "    rate_limit: 0/s\n", "tools.crm.rate_limit", "must be more than 0"
    ),
    change(
        "rate-negative", RATE, "    rate_limit: -1\n", "tools.crm.rate_limit", "must be more than 0"
    ),
    change(
        "rate-nan",
        RATE,
        "    rate_limit: .nan\n",
        "tools.crm.rate_limit",
        "must be requests per second",
    ),
    change(
        "rate-inf",
        RATE,
        "    rate_limit: inf\n",
        "tools.crm.rate_limit",
        "must be requests per second",
    ),
    change(
        "version-negative",
        "version: 1\n",
        "version: -1\n",
        "version",
        "unsupported config version -1",
    ),
    change("version-huge", "version: 1\n", f"version: {'9' * 400}\n", "version", "(400 digits)"),
]


# -- templates ---------------------------------------------------------------------------

EXPECT_EMAIL = '            email: "{email}"\n'
FORM_FIRST = '      first_name: "{first_name}"\n'
EXPECT_PATH = f"{STAGE}.expect.fields.email"


def template_case(id: str, template: str, want: str) -> list[Case]:
    """``template`` as an expected field, an entry field, a URL and a cleanup URL."""
    quoted = template.replace("\\", "\\\\").replace('"', '\\"')
    return [
        change(f"{id}-expect", EXPECT_EMAIL, f'            email: "{quoted}"\n', EXPECT_PATH, want),
        change(
            f"{id}-fields",
            FORM_FIRST,
            f'      first_name: "{quoted}"\n',
            "tools.form.fields.first_name",
            want,
        ),
        change(
            f"{id}-url",
            ORDERS_URL,
            f'    url: "https://api.example.com/o?q={quoted}"\n',
            "tools.orders.url",
            want,
        ),
    ]


TEMPLATE_CASES = [
    *template_case("pad", "{first_name:>50000000}", "pad to or show millions of characters"),
    *template_case("pad-1001", "{first_name:>1001}", "pad to or show 1,001 characters"),
    *template_case("pad-sum", "{first_name:>600}{last_name:>600}", "at most 1,000 in all"),
    *template_case("precision", "{amount:.5000f}", "pad to or show 5,000 characters"),
    *template_case("zero-pad", "{amount_cents:0100000d}", "pad to or show 100,000 characters"),
    *template_case("strftime-width", "{date:%5000Y}", "pad to or show 5,000 characters"),
    *template_case("huge-width", "{email:" + "9" * 5000 + "}", "millions of characters"),
    *template_case("attribute", "{email.__class__}", "reaches into a value"),
    *template_case("dunder-chain", "{email.__class__.__mro__}", "reaches into a value"),
    *template_case("index", "{email[0]}", "reaches into a value"),
    *template_case("conversion", "{email!r}", "'!r' in {email!r} is not allowed"),
    *template_case("nested", "{amount:{first_name}}", "holds a '{...}' of its own"),
    *template_case("unclosed", "{email", "bad template"),
    *template_case("positional", "{0}", "unnamed"),
    change(
        "id-outside-cleanup",
        ORDERS_URL,
        '    url: "https://api.example.com/orders/{id}"\n',
        "tools.orders.url",
        "unknown record field 'id'",
    ),
    change(
        "cleanup-pad",
        CLEANUP_URL,
        '    cleanup_url: "https://api.example.com/orders/{id:>99999}"\n',
        "tools.orders.cleanup_url",
        "pad to or show 99,999 characters",
    ),
    change(
        "header-template",
        "      Accept: application/json\n",
        '      Accept: "{email.__init__}"\n',
        "tools.orders.headers.Accept",
        "reaches into a value",
    ),
    change(
        "json-template",
        "      Accept: application/json\n",
        '      Accept: application/json\n    json: {query: {email: "{email:>9999}"}}\n',
        "tools.orders.json.query.email",
        "pad to or show 9,999 characters",
    ),
    change(
        "unknown-field-huge",
        EXPECT_EMAIL,
        f'            email: "{{{"x" * 50_000}}}"\n',
        EXPECT_PATH,
        "unknown record field",
    ),
]


# -- YAML structure, types and odd characters ---------------------------------------------


def bomb(levels: int, width: int = 9) -> str:
    """The billion laughs: each level a list of ``width`` aliases of the one before."""
    lines = ['a0: &a0 ["lol"]']
    for n in range(1, levels + 1):
        lines.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]")
    return BASE + "x_bomb:\n  " + "\n  ".join(lines) + "\n"


def merge_bomb(levels: int) -> str:
    """Merge keys doubling at each level: ``<<: [*m, *m]`` nested ``levels`` deep."""
    expr = "&m0 {k0: v}"
    for n in range(1, levels + 1):
        expr = f"&m{n} {{<<: [{expr}, *m{n - 1}], k{n}: v}}"
    return BASE.replace("record:\n", f"x_merge: {expr}\nrecord:\n")


YAML_CASES = [
    Case("billion-laughs", bomb(9), None, "expands to more than 100000 values"),
    Case("billion-laughs-wide", bomb(30, 30), None, "expands to more than 100000 values"),
    Case("merge-bomb", merge_bomb(40), "x_merge", "unknown key 'x_merge'"),
    Case(
        "deep-lists",
        BASE + "x_deep: " + "[" * 20_000 + "]" * 20_000 + "\n",
        None,
        "nested too deeply",
    ),
    Case(
        "deep-maps",
        BASE + "x_deep: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n",
        None,
        "nested too deeply",
    ),
    Case(
        "deep-block",
        BASE + "".join(f"{' ' * i}k{i}:\n" for i in range(1000)) + "\n",
        None,
        "invalid YAML",
    ),
    Case("top-list", "- version: 1\n- tools: {}\n", None, "the top level must be a mapping"),
    Case("top-text", "just some text\n", None, "the top level must be a mapping"),
    Case("top-number", "42\n", None, "the top level must be a mapping"),
    Case("empty", "", None, "the file is empty"),
    Case("only-comments", "# nothing\n", None, "the file is empty"),
    Case("duplicate-top", BASE + "version: 1\n", None, "duplicate key 'version'"),
    change("duplicate-tool", "  crm:\n", "  form:\n", None, "duplicate key 'form'"),
    change("tab-indent", "    type: webhook\n", "\ttype: webhook\n", None, "tab character"),
    change(
        "nul-raw",
        "    type: webhook\n",
        "    type: web\x00hook\n",
        None,
        "control character U+0000",
    ),
    change(
        "escape-raw",
        "    type: webhook\n",
        "    type: web\x1bhook\n",
        None,
        "control character U+001B",
    ),
    change(
        "bell-in-name",
        "  lead:\n",
        '  "le\\aad":\n',
        'workflows["le\\x07ad"]',
        "must be lower case",
    ),
    change(
        "newline-in-key", "  form:\n", '  "fo\\nrm":\n', 'tools["fo\\nrm"]', "must be lower case"
    ),
    change(
        "bidi-in-key",
        "store: baton.db\n",
        'store: baton.db\n"x\\u202ey": 1\n',
        '["x\\u202ey"]',
        "unknown key",
    ),
    change(
        "line-separator-key",
        "store: baton.db\n",
        'store: baton.db\n"x\\u2028y": 1\n',
        '["x\\u2028y"]',
        "unknown key",
    ),
    Case("huge-plain-key", BASE + "k" * 200_000 + ": 1\n", None, "invalid YAML"),
    Case("huge-key", BASE + "? " + "k" * 200_000 + "\n: 1\n", None, "(200,000 characters)"),
    Case(
        "recursive-alias",
        BASE.replace("record:\n", "x_loop: &loop [*loop]\nrecord:\n"),
        None,
        "recursion is not allowed",
    ),
    Case(
        "python-tag",
        BASE.replace("version: 1\n", "version: !!python/object/apply:os.system [ls]\n"),
        None,
        "unsupported YAML tag",
    ),
    Case(
        "binary-tag",
        BASE.replace("version: 1\n", "version: !!binary aGk=\n"),
        None,
        "unsupported YAML tag",
    ),
    Case(
        "set-tag",
        BASE.replace("version: 1\n", "version: !!set {a, b}\n"),
        None,
        "unsupported YAML tag",
    ),
    Case("complex-key", BASE + "? [a, b]\n: 1\n", None, "keys must be plain text"),
    Case(
        "bad-merge",
        BASE.replace("record:\n", "x_m: {<<: 5}\nrecord:\n"),
        None,
        "for merging, but found scalar",
    ),
    Case("two-documents", BASE + "---\nversion: 1\n", None, "more than one document"),
    Case(
        "many-problems",
        BASE + "".join(f"x_{i}: 1\n" for i in range(2000)),
        None,
        "... and 1950 more problems",
    ),
    Case("unknown-top", BASE + "x_unknown: 1\n", "x_unknown", "unknown key 'x_unknown'"),
    Case(
        "tools-list",
        BASE.replace("tools:\n", "x_tools:\n") + "tools: [form]\n",
        "tools",
        "must be a mapping, not a list",
    ),
    Case(
        "workflows-text",
        BASE.replace("workflows:\n", "x_wf:\n") + "workflows: lead\n",
        "workflows",
        "must be a mapping, not text",
    ),
    change(
        "record-list",
        "record:\n  domain: example.com\n",
        "record: [a]\n",
        "record",
        "must be a mapping",
    ),
    change(
        "stages-mapping",
        "    stages:\n",
        "    stages: {}\n    x_stages:\n",
        "workflows.lead.stages",
        "must be a list of stages",
    ),
    change(
        "expect-text",
        "        expect:\n",
        "        expect: yes\n        x_expect:\n",
        f"{STAGE}.expect",
        "must be a mapping",
    ),
    change(
        "schedule-list",
        EVERY,
        "      - every: 15m\n",
        "workflows.lead.schedule",
        "must be a mapping",
    ),
    change("slack-list", "slack:\n  api_url", "x_slack:\n  api_url", "x_slack", "unknown key"),
    change(
        "stage-name-huge",
        "      - name: crm\n",
        f"      - name: {'c' * 10_000}\n",
        f"{STAGE}.name",
        "(10,000 characters)",
    ),
    change(
        "empty-stage-name",
        "      - name: crm\n",
        '      - name: ""\n',
        f"{STAGE}.name",
        "needs a value",
    ),
    change(
        "record-amount-huge",
        "  domain: example.com\n",
        "  amount: 1e308\n",
        "record.amount",
        "amount must be at most 1,000,000,000",
    ),
    change(
        "record-value-huge",
        "  domain: example.com\n",
        f"  x_note: {'n' * 5000}\n",
        "record.x_note",
        "at most 1,000",
    ),
]

ALL_CASES = [*URL_CASES, *TOOL_CASES, *NUMBER_CASES, *TEMPLATE_CASES, *YAML_CASES]


def test_there_are_many_hostile_configs() -> None:
    assert len(ALL_CASES) >= 100
    assert len({case.id for case in ALL_CASES}) == len(ALL_CASES)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_hostile_config_is_refused_cleanly(case: Case) -> None:
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load(case.text)
    assert time.perf_counter() - start < QUICK_S
    assert info.value.path == "baton.yaml"
    check_clean(info.value, case.path, case.want, case.secret)


@pytest.mark.parametrize("case", URL_CASES, ids=[c.id for c in URL_CASES])
def test_a_bad_url_is_one_problem(case: Case) -> None:
    # A URL refused (a secret in it, say) is not checked again as a template: that would
    # report it twice, and echo the secret.
    with pytest.raises(ConfigError) as info:
        load(case.text)
    assert len(info.value.problems) == 1, info.value.problems


def test_merges_are_bounded_and_an_aliased_merge_has_no_duplicate_keys() -> None:
    # Merge keys keep one pair per key (old PyYAML kept every one: a merge bomb), and an
    # explicit key replaces the merged one, so an alias of the mapping reads cleanly.
    doc = parse_yaml("b: &b {x: 1, y: 2}\na: &a {<<: *b, x: 3}\nc: *a\nd: {<<: [*a, *b]}\n")
    assert doc.data["c"] == doc.data["d"] == {"x": 3, "y": 2}
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load(merge_bomb(200))  # 2**200 pairs, were each merged pair kept
    assert time.perf_counter() - start < QUICK_S
    assert [p.split(": ", 1)[1] for p in info.value.problems] == [
        "x_merge: unknown key 'x_merge'; expected one of: record, slack, store, tools, "
        "version, workflows"
    ]


def test_the_problems_are_listed_at_once() -> None:
    text = BASE.replace(EVERY, "      every: 99999999999999999999d\n").replace(
        DEADLINE, "        deadline: 1e308\n"
    )
    text = text.replace(ORDERS_URL, '    url: "http://[::1/x"\n').replace(
        FORM_FIRST, '      first_name: "{first_name:>50000000}"\n'
    )
    with pytest.raises(ConfigError) as info:
        load(text)
    assert [p.split(": ")[1] for p in info.value.problems] == [
        "tools.form.fields.first_name",
        "tools.orders.url",
        f"{STAGE}.deadline",
        "workflows.lead.schedule.every",
    ]


def test_secrets_from_the_environment_are_fine() -> None:
    text = BASE.replace(
        ORDERS_URL,
        '    url: "https://${ORDERS_USER}:${ORDERS_PASS}@api.example.com/o?token=${T}"\n',
    ).replace("      Accept: application/json\n", "      Authorization: Bearer ${ORDERS_TOKEN}\n")
    env = {"ORDERS_USER": "u", "ORDERS_PASS": "p", "T": "t", "ORDERS_TOKEN": "sk_live_x"}
    config = load_config_text(text, path="baton.yaml", env=env)
    assert config.tools["orders"].options["url"] == "https://u:p@api.example.com/o?token=t"
    assert config.tools["orders"].options["headers"] == {"Authorization": "Bearer sk_live_x"}


def test_caps_themselves_are_accepted() -> None:
    text = (
        BASE.replace(EVERY, "      every: 366d\n")
        .replace(DEADLINE, "        deadline: 7d\n")
        .replace(COUNT, "          count: 1000\n")
        .replace(FORM_FIRST, f'      first_name: "{{first_name:>{MAX_FORMAT_WIDTH}}}"\n')
    )
    config = load(text)
    assert config.workflows["lead"].stage("crm").expect.count == 1000


def test_text_over_the_size_cap_is_refused_unparsed() -> None:
    text = BASE + "# " + "x" * MAX_CONFIG_BYTES + "\n"
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load(text)
    assert time.perf_counter() - start < QUICK_S
    assert info.value.problems == [
        f"baton.yaml: the config is {len(text):,} characters long; a config is at most "
        "1,048,576 characters (is this the right file?)"
    ]


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "baton.yaml"
    path.write_text(BASE + "# " + "x" * (5 * MAX_CONFIG_BYTES) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.perf_counter() - start < QUICK_S
    size = path.stat().st_size
    assert info.value.problems == [
        f"{path}: the config file is 5 MiB ({size:,} bytes); a config file is at most "
        "1 MiB (1,048,576 bytes) (is this the right file?)"
    ]


# -- renderers refuse what the loader refuses ----------------------------------------------

RECORD = make_record("bt0000aa")


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("{first_name:>50000000}", "millions of characters"),
        ("{email.__class__}", "reaches into a value"),
        ("{email[0]}", "reaches into a value"),
        ("{email!r}", "is not allowed"),
        ("{amount:{first_name}}", "of its own"),
        ("{date:%9999Y}", "9,999 characters"),
    ],
)
def test_renderers_refuse_templates_that_are_not_plain(template: str, want: str) -> None:
    for renderer in (RECORD.render, lambda t: render(RECORD, t), lambda t: render_url(RECORD, t)):
        with pytest.raises(UsageError) as info:
            renderer(template)
        assert want in str(info.value)
        assert len(str(info.value)) < 400


def test_renderers_still_fill_plain_templates() -> None:
    assert RECORD.render("{first_name:>5}|{date:%Y}") == "  Ada|2026"
    assert render(RECORD, "{marketing_consent}") == "true"
    assert render_url(RECORD, "https://x/{id}?e={email}", {"id": 7}) == (
        "https://x/7?e=probe%2Bbt0000aa%40example.com"
    )


# -- the real command ---------------------------------------------------------------------

CLI_CASES = [
    case
    for case in ALL_CASES
    if case.id
    in {
        "type-empty",
        "every-huge",
        "deadline-400-digits",
        "url-crlf-tools.form.url",
        "pad-fields",
        "attribute-expect",
        "token-default-stripe",
        "billion-laughs",
        "huge-key",
    }
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_check_config_exits_2_with_one_line_per_problem(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "baton.yaml"
    path.write_text(case.text, encoding="utf-8")
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["check-config", str(path)], catch_exceptions=False)
    assert time.perf_counter() - start < QUICK_S
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(f"error: {path}") for line in lines), lines
    assert "Traceback" not in result.stderr
    if case.secret:
        assert case.secret not in result.stderr
    wanted = f": {case.path}: " if case.path else case.want
    assert any(wanted in line and case.want in line for line in lines), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baton.yaml"]  # nothing stored


def test_check_config_refuses_a_50_mib_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as file:
        file.write(BASE)
        for _ in range(50):
            file.write("# " + "x" * (1 << 20) + "\n")
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["check-config", str(path)], catch_exceptions=False)
    assert time.perf_counter() - start < QUICK_S
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: the config file is 50 MiB (")
    assert "a config file is at most 1 MiB (1,048,576 bytes)" in result.stderr
