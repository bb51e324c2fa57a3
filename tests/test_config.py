"""The config loader: the example, env references, durations and rates, and every rule."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from baton.probes.config import (
    Config,
    DigestSchedule,
    Expectation,
    SlackConfig,
    StageConfig,
    ToolConfig,
    VariantConfig,
    WorkflowConfig,
    load_config,
    load_config_text,
)
from baton.probes.config import loader as config_loader
from baton.probes.config.connector_specs import ConnectorSpec, connector_specs
from baton.probes.config.cron import cron_trigger, standard_crontab
from baton.probes.config.document import MAX_VALUES, parse_yaml
from baton.probes.config.slots import ScheduleSpec
from baton.probes.config.values import dotted, expand_env, parse_duration, parse_rate
from baton.probes.errors import ConfigError
from baton.probes.health.alerts import AlertPolicy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.yaml"
SANDBOX = "http://127.0.0.1:8765"

# A small valid config the rule tests change one thing in.
BASE = """\
version: 1
tools:
  form:
    type: webhook
    url: http://127.0.0.1:8765/glue/hooks/catch/1001/leads
  crm:
    type: hubspot
    credentials:
      token: ${HUBSPOT_TOKEN:-sandbox-token}
  mail:
    type: sendgrid
    credentials:
      token: ${SENDGRID_TOKEN:-sandbox-token}
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
      - name: mail
        tool: mail
        after: crm
"""


def load(text: str, env: dict[str, str] | None = None) -> Config:
    return load_config_text(textwrap.dedent(text), path="baton.yaml", env=env or {})


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, env)
    assert info.value.path == "baton.yaml"
    return info.value.problems


def only_problem(text: str, env: dict[str, str] | None = None) -> str:
    found = problems(text, env)
    assert len(found) == 1, found
    return found[0]


# -- the documented example ----------------------------------------------------------------


def _lead_to_invoice() -> WorkflowConfig:
    timing: dict[str, Any] = {"deadline_s": 20.0, "grace_s": 10.0, "settle_s": 1.5}
    return WorkflowConfig(
        name="lead-to-invoice",
        description="Web form → glue → welcome email, CRM contact and Stripe invoice",
        record={"amount": "49.00"},
        stages=[
            StageConfig(name="form", tool="form", label="Form"),
            StageConfig(
                name="welcome-email",
                tool="sendgrid",
                after="form",
                label="Welcome email",
                expect=Expectation(
                    fields={"to_email": "{email}", "subject": "Welcome, {first_name}!"}, count=1
                ),
                **timing,
            ),
            StageConfig(
                name="crm",
                tool="hubspot",
                after="form",
                label="CRM",
                expect=Expectation(
                    fields={
                        "email": "{email}",
                        "firstname": "{first_name}",
                        "lastname": "{last_name}",
                        "phone": "{phone}",
                        "company": "{company}",
                        "signup_date": "{date_iso}",
                    }
                ),
                **timing,
            ),
            StageConfig(
                name="invoice",
                tool="stripe",
                after="crm",
                label="Invoice",
                expect=Expectation(
                    fields={
                        "customer_email": "{email}",
                        "amount_due": "{amount_cents}",
                        "currency": "{currency}",
                        "metadata.payment_method": "{payment_method}",
                    }
                ),
                **timing,
            ),
        ],
        variants={
            "card": VariantConfig(name="card", record={"payment_method": "card"}),
            "paypal": VariantConfig(name="paypal", record={"payment_method": "paypal"}),
            "unicode": VariantConfig(
                name="unicode", record={"first_name": "Zoë", "last_name": "Ångström-{marker}"}
            ),
            "no-consent": VariantConfig(
                name="no-consent",
                record={"marketing_consent": False},
                expect={"welcome-email": Expectation(absent=True)},
            ),
        },
        schedule=ScheduleSpec(
            "lead-to-invoice", every_s=900.0, variants=("card", "paypal", "unicode")
        ),
        alerts=AlertPolicy(failures_before_alert=2, errors_before_alert=2, timezone="UTC"),
    )


def _hubspot_signup() -> WorkflowConfig:
    timing: dict[str, Any] = {"deadline_s": 20.0, "grace_s": 10.0, "settle_s": 1.5}
    return WorkflowConfig(
        name="hubspot-signup",
        description="HubSpot form → CRM contact → welcome email",
        stages=[
            StageConfig(
                name="signup",
                tool="hubspot-forms",
                label="HubSpot form",
                options={
                    "fields": {
                        "email": "{email}",
                        "firstname": "{first_name}",
                        "lastname": "{last_name}",
                        "phone": "{phone}",
                        "company": "{company}",
                    }
                },
            ),
            StageConfig(
                name="crm",
                tool="hubspot",
                after="signup",
                label="CRM",
                expect=Expectation(
                    fields={
                        "email": "{email}",
                        "firstname": "{first_name}",
                        "lastname": "{last_name}",
                    }
                ),
                **timing,
            ),
            StageConfig(
                name="welcome-email",
                tool="sendgrid",
                after="crm",
                label="Welcome email",
                expect=Expectation(
                    fields={"to_email": "{email}", "subject": "Welcome, {first_name}!"}
                ),
                **timing,
            ),
        ],
    )


def expected_example(base: str = SANDBOX) -> Config:
    form_fields = {
        "email": "{email}",
        "first_name": "{first_name}",
        "last_name": "{last_name}",
        "phone": "{phone}",
        "signup_date": "{date:%d/%m/%Y}",
        "company": "{company}",
        "amount": "{amount}",
        "currency": "{currency}",
        "payment_method": "{payment_method}",
        "marketing_consent": "{marketing_consent}",
    }
    token = {"token": "sandbox-token"}
    return Config(
        tools={
            "form": ToolConfig(
                name="form",
                type="webhook",
                timeout_s=10.0,
                options={
                    "url": f"{base}/glue/hooks/catch/1001/leads",
                    "format": "json",
                    "fields": form_fields,
                },
            ),
            "hubspot-forms": ToolConfig(
                name="hubspot-forms",
                type="hubspot_forms",
                base_url=f"{base}/hsforms",
                options={
                    "portal_id": "12345678",
                    "form_guid": "0e8a7c2d-8d3e-4a5b-9f6a-1b2c3d4e5f60",
                },
            ),
            "hubspot": ToolConfig(
                name="hubspot",
                type="hubspot",
                base_url=f"{base}/hubspot",
                credentials=token,
                rate_limit=10.0,
                timeout_s=10.0,
            ),
            "sendgrid": ToolConfig(
                name="sendgrid",
                type="sendgrid",
                base_url=f"{base}/sendgrid",
                credentials=token,
                rate_limit=10.0,
                options={"limit": 10},
            ),
            "stripe": ToolConfig(
                name="stripe",
                type="stripe",
                base_url=f"{base}/stripe",
                credentials=token,
                rate_limit=20.0,
            ),
        },
        workflows={"lead-to-invoice": _lead_to_invoice(), "hubspot-signup": _hubspot_signup()},
        record={"domain": "example.com", "currency": "usd"},
        store=str(ROOT / "baton.db"),
        slack=SlackConfig(command="/baton"),
        path=str(EXAMPLE),
    )


def test_example_loads_into_the_expected_model() -> None:
    assert load_config(EXAMPLE) == expected_example()


def test_example_follows_the_sandbox_url_and_tokens_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATON_SANDBOX_URL", "http://127.0.0.1:40123")
    monkeypatch.setenv("STRIPE_TOKEN", "rk_test_abc")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "shh")
    config = load_config(EXAMPLE)
    assert config.tools["hubspot"].base_url == "http://127.0.0.1:40123/hubspot"
    assert config.tools["form"].options["url"] == (
        "http://127.0.0.1:40123/glue/hooks/catch/1001/leads"
    )
    assert config.tools["stripe"].credentials == {"token": "rk_test_abc"}
    assert config.slack.bot_token == "xoxb-1"
    assert config.slack.signing_secret == "shh"
    assert config.slack.app_token is None


def test_example_as_the_demo_loads_it() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    config = load_config_text(text, env={"BATON_SANDBOX_URL": "http://127.0.0.1:9"})
    assert config.path is None
    assert config.store == "baton.db"
    assert config.tools["stripe"].base_url == "http://127.0.0.1:9/stripe"


def uncomment(lines: list[str], first: str) -> list[str]:
    """``lines`` with the commented-out block that starts with the line ``first`` restored."""
    start = lines.index(first)
    indent = first[: len(first) - len(first.lstrip())]
    block = []
    for line in lines[start:]:
        if not line.startswith(indent + "#"):
            break
        block.append(indent + line[len(indent) + 2 :])
    return lines[:start] + block + lines[start + len(block) :]


def test_the_commented_out_http_tool_is_valid() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(uncomment(lines, "  # orders:"))
    config = load_config_text(text, env={"ORDERS_TOKEN": "o-1"})
    orders = config.tools["orders"]
    assert orders.type == "http"
    assert orders.credentials == {"token": "o-1"}
    assert orders.options["records_path"] == "data.items"


def test_example_schedule_reports_to_the_default_channel_and_digest_is_off_without_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config(EXAMPLE)
    assert config.slack.digests == []
    monkeypatch.setenv("SLACK_DEFAULT_CHANNEL", "C0PROBES")
    monkeypatch.setenv("SLACK_DIGEST_CHANNEL", "C0DIGEST")
    config = load_config(EXAMPLE)
    assert config.workflows["lead-to-invoice"].schedule == ScheduleSpec(
        "lead-to-invoice",
        every_s=900.0,
        channel="C0PROBES",
        variants=("card", "paypal", "unicode"),
    )
    assert config.workflows["hubspot-signup"].schedule is None
    assert config.workflows["hubspot-signup"].alerts == AlertPolicy()
    assert config.slack.digests == [DigestSchedule("C0DIGEST", "0 9 * * mon", 7 * 86400.0)]


def test_the_commented_out_schedule_and_alert_keys_are_valid() -> None:
    # cron instead of every, and the commented-out keys after each.
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    lines = [x for x in lines if not x.startswith("      every: ")]
    for first in ('      # cron: "*/15 * * * *"', '      # quiet_hours: "22:00-07:00"'):
        lines = uncomment(lines, next(x for x in lines if x.startswith(first)))
    workflow = load_config_text("\n".join(lines), env={}).workflows["lead-to-invoice"]
    assert workflow.schedule == ScheduleSpec(
        "lead-to-invoice",
        cron="*/15 * * * *",
        channel="C0123ABCDEF",
        variants=("card", "paypal", "unicode"),
    )
    assert workflow.alerts == AlertPolicy(
        quiet_hours="22:00-07:00",
        maintenance=("Sun 02:00-04:00", "2026-03-01T02:00/2026-03-01T06:00"),
    )


# -- documentation: every key of the example has a comment --------------------------------


def undocumented_keys(text: str) -> list[str]:
    """Keys with no comment on their line nor on the line above."""
    lines = text.splitlines()

    def has_comment(line: str) -> bool:
        unquoted = re.sub(r"\"[^\"]*\"|'[^']*'", '""', line)
        return unquoted.lstrip().startswith("#") or " #" in unquoted

    doc = parse_yaml(text)
    missing = []
    for path, number in doc.lines.items():
        if not path or not isinstance(path[-1], str):
            continue
        here = lines[number - 1]
        above = lines[number - 2] if number >= 2 else ""
        if not has_comment(here) and not above.lstrip().startswith("#"):
            missing.append(f"{number}: {dotted(path)}")
    return missing


def test_every_key_of_the_example_is_documented() -> None:
    assert undocumented_keys(EXAMPLE.read_text(encoding="utf-8")) == []


def test_the_documentation_check_finds_an_undocumented_key() -> None:
    text = 'tools:  # the tools\n  # a form\n  form:\n    type: webhook\n    url: "a#b"\n'
    assert undocumented_keys(text) == ["4: tools.form.type", "5: tools.form.url"]


# -- files ----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: no such config file (start from config.example.yaml)"]


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory, not a config file"):
        load_config(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}:1: the file is empty; a config needs at least 'tools' and 'workflows' "
        "(see config.example.yaml)"
    ]


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert list(load_config(path).workflows) == ["lead"]


def test_store_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "baton.yaml"
    path.write_text(BASE + "store: data/runs.db\n", encoding="utf-8")
    config = load_config(path)
    assert config.store == str(tmp_path / "conf" / "data" / "runs.db")
    assert config.path == str(path)
    path.write_text(BASE, encoding="utf-8")
    assert load_config(path).store == str(tmp_path / "conf" / "baton.db")
    path.write_text(BASE + "store: /var/lib/baton/runs.db\n", encoding="utf-8")
    assert load_config(path).store == "/var/lib/baton/runs.db"


def test_text_without_a_file_keeps_a_relative_store() -> None:
    config = load_config_text(BASE + "store: runs.db\n", env={})
    assert config.store == "runs.db"
    assert config.path is None


# -- YAML -----------------------------------------------------------------------------------


def test_lines_are_recorded_for_keys_and_list_items() -> None:
    doc = parse_yaml(BASE)
    assert doc.line(("workflows", "lead", "stages", 1)) == 19
    assert doc.line(("workflows", "lead", "stages", 1, "after")) == 21
    assert doc.line(("workflows", "lead", "stages", 1, "nope")) == 19
    assert doc.line(("nope",)) is None


def test_keys_are_literal_text() -> None:
    assert parse_yaml("on: 1\n2: yes\n").data == {"on": 1, "2": True}


def test_anchors_and_merge_keys_work() -> None:
    text = BASE.replace(
        "  mail:\n    type: sendgrid\n",
        "  mail:\n    <<: {type: sendgrid, timeout: 5s}\n    timeout: 7s\n",
    )
    assert load(text).tools["mail"].timeout_s == 7.0


def test_an_alias_bomb_is_refused() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        prev = chr(ord(level) - 1)
        text += f"{level}: &{level} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    found = only_problem(text)
    assert f"more than {MAX_VALUES} values" in found


def test_dates_in_yaml_are_dates() -> None:
    config = load(BASE + "record:\n  date: 2026-03-04\n")
    assert config.record == {"date": dt.date(2026, 3, 4)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a: [1,\n", "baton.yaml:2: invalid YAML", id="unclosed"),
        pytest.param("a:\n\tb: 1\n", "baton.yaml:2: invalid YAML: a tab character", id="tab"),
        pytest.param("a: 1\na: 2\n", "baton.yaml:2: duplicate key 'a' (first defined", id="dup"),
        pytest.param("- a\n", "baton.yaml:1: the top level must be a mapping", id="list"),
        pytest.param("a: \x07\n", "baton.yaml:1: invalid YAML: control character U+0007", id="bel"),
        pytest.param(
            "a: !!binary aGk=\n",
            "baton.yaml:1: unsupported YAML tag 'tag:yaml.org,2002:binary'",
            id="binary",
        ),
        pytest.param("a: 2026-13-45\n", "baton.yaml:1: invalid YAML: '2026-13-45'", id="date"),
        pytest.param("[" * 2000, "baton.yaml: invalid YAML: nested too deeply", id="deep"),
    ],
)
def test_malformed_yaml_is_one_clean_line(text: str, expected: str) -> None:
    found = only_problem(text)
    assert found.startswith(expected), found


# -- environment references -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        pytest.param("${A}", {"A": "x"}, ("x", []), id="set"),
        pytest.param("${A}", {}, ("", ["A"]), id="unset"),
        pytest.param("${A:-d}", {}, ("d", []), id="default"),
        pytest.param("${A:-d}", {"A": ""}, ("d", []), id="empty-uses-default"),
        pytest.param("${A}", {"A": ""}, ("", []), id="set-empty"),
        pytest.param("${A:-}", {}, ("", []), id="empty-default"),
        pytest.param("$${A}", {"A": "x"}, ("${A}", []), id="escaped"),
        pytest.param("a$$b", {}, ("a$$b", []), id="plain-dollars"),
        pytest.param("${A}/${B:-b}/c", {"A": "a"}, ("a/b/c", []), id="several"),
        pytest.param("{email}", {}, ("{email}", []), id="template-untouched"),
    ],
)
def test_expand_env(text: str, env: dict[str, str], expected: tuple[str, list[str]]) -> None:
    assert expand_env(text, env) == expected


@pytest.mark.parametrize("text", ["${A", "${A:-${B}}", "${1A}", "${A B}"])
def test_malformed_env_references(text: str) -> None:
    found = only_problem(BASE + f"store: '{text}'\n")
    assert found == (
        "baton.yaml:28: store: malformed environment reference; write ${NAME} or ${NAME:-default}"
    )


def test_env_is_expanded_in_every_string() -> None:
    text = BASE.replace('"{email}"', '"${HELLO:-Welcome}, {first_name}!"')
    config = load(text + "record:\n  company: ${CO}\n", {"CO": "Acme", "HELLO": ""})
    assert config.record == {"company": "Acme"}
    fields = config.workflows["lead"].stages[1].expect.fields
    assert fields == {"email": "Welcome, {first_name}!"}


def test_unset_variable_names_the_variable_and_the_key() -> None:
    found = only_problem(BASE.replace("http://127.0.0.1:8765", "${GLUE_URL}"))
    assert found == (
        "baton.yaml:5: tools.form.url: environment variable GLUE_URL is not set "
        "(set it, or give a default: ${GLUE_URL:-value})"
    )


def test_os_environ_is_the_default_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-1")
    config = load_config_text(BASE)
    assert config.tools["crm"].credentials == {"token": "pat-1"}


# -- secrets --------------------------------------------------------------------------------

SECRET = "pat-na1-11111111-2222"


@pytest.mark.parametrize(
    "value",
    [SECRET, f"Bearer ${{HUBSPOT_TOKEN}} {SECRET}", "12345", "[a, b]", "{a: b}", "''"],
)
def test_literal_credentials_are_refused_without_echoing_them(value: str) -> None:
    found = only_problem(BASE.replace("${HUBSPOT_TOKEN:-sandbox-token}", value))
    assert found == (
        "baton.yaml:9: tools.crm.credentials.token: put secrets in an environment variable, "
        "e.g. token: ${CRM_TOKEN}, not in the file"
    )
    assert SECRET not in found


def test_required_credentials() -> None:
    text = BASE.replace("    credentials:\n      token: ${HUBSPOT_TOKEN:-sandbox-token}\n", "")
    found = problems(text)
    assert (
        "baton.yaml:6: tools.crm.credentials.token: missing; type 'hubspot' needs "
        "credentials.token, e.g. token: ${CRM_TOKEN}" in found
    )


def test_empty_required_credential_names_the_variable() -> None:
    text = BASE.replace("${HUBSPOT_TOKEN:-sandbox-token}", "${HUBSPOT_TOKEN}")
    found = only_problem(text, {"HUBSPOT_TOKEN": ""})
    assert found == (
        "baton.yaml:9: tools.crm.credentials.token: is empty; set the environment variable "
        "(${HUBSPOT_TOKEN})"
    )


def test_extra_credentials_are_kept_and_empty_optional_ones_dropped() -> None:
    text = BASE.replace(
        "      token: ${HUBSPOT_TOKEN:-sandbox-token}\n",
        "      token: ${HUBSPOT_TOKEN:-t}\n      app_id: ${HS_APP:-7}\n      other: ${HS_X:-}\n",
    )
    assert load(text).tools["crm"].credentials == {"token": "t", "app_id": "7"}


@pytest.mark.parametrize("key", ["bot_token", "signing_secret", "app_token"])
def test_slack_secrets_must_be_env_references(key: str) -> None:
    found = only_problem(BASE + f"slack:\n  {key}: {SECRET}\n")
    var = f"SLACK_{key.upper()}"
    assert found == (
        f"baton.yaml:29: slack.{key}: put secrets in an environment variable, "
        f"e.g. {key}: ${{{var}}}, not in the file"
    )


def test_slack_section() -> None:
    text = BASE + textwrap.dedent(
        """\
        slack:
          command: /probe
          api_url: https://slack-gov.com/api/
          bot_token: ${SLACK_BOT_TOKEN}
          signing_secret: ${SLACK_SIGNING_SECRET:-}
          app_token: ""
          allowed_users: [U1, U2]
          allowed_channels: ${CHANNELS:-C1, C2}
          default_channel: "#probes"
        """
    )
    slack = load(text, {"SLACK_BOT_TOKEN": "xoxb-1"}).slack
    assert slack == SlackConfig(
        command="/probe",
        api_url="https://slack-gov.com/api/",
        bot_token="xoxb-1",
        allowed_users=["U1", "U2"],
        allowed_channels=["C1", "C2"],
        default_channel="#probes",
    )


def test_slack_absent_or_empty() -> None:
    assert load(BASE).slack == SlackConfig()
    assert load(BASE + "slack:\n").slack == SlackConfig()


# -- durations and rates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        ("45", 45.0),
        ("30s", 30.0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1m30s", 90.0),
        ("1h 30m", 5400.0),
        ("10 sec", 10.0),
        ("2 min", 120.0),
        (0, 0.0),
        (-1, -1.0),
        ("30 parsecs", None),
        ("s", None),
        ("", None),
        ("1.5.2s", None),
        ("7d", 604800.0),
        ("1w", 604800.0),
        ("1d12h", 129600.0),
        ("2 days", 172800.0),
        (True, None),
        ([1], None),
        (float("nan"), None),
        ("inf", None),
    ],
)
def test_parse_duration(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "rate"),
    [
        (10, 10.0),
        (0.5, 0.5),
        ("4", 4.0),
        ("10/s", 10.0),
        ("10/sec", 10.0),
        ("6/min", 0.1),
        ("6 / minute", 0.1),
        ("120/m", 2.0),
        ("3600/hour", 1.0),
        ("100/hours", 100 / 3600),
        ("fast", None),
        ("10/fortnight", None),
        ("6 per minute", None),
        (False, None),
        (None, None),
    ],
)
def test_parse_rate(value: object, rate: float | None) -> None:
    assert parse_rate(value) == rate


def test_durations_and_rates_in_config() -> None:
    text = BASE.replace(
        "      - name: mail\n        tool: mail\n        after: crm\n",
        "      - name: mail\n        tool: mail\n        after: crm\n"
        "        deadline: 2m\n        grace: 0\n        settle: 250ms\n",
    ).replace(
        "    type: sendgrid\n", "    type: sendgrid\n    rate_limit: 6/min\n    timeout: 1m\n"
    )
    config = load(text)
    stage = config.workflows["lead"].stage("mail")
    assert (stage.deadline_s, stage.grace_s, stage.settle_s) == (120.0, 0.0, 0.25)
    assert config.tools["mail"].rate_limit == pytest.approx(0.1)
    assert config.tools["mail"].timeout_s == 60.0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("deadline", "0", "must be more than 0, not 0"),
        ("grace", "-1s", "must be a duration like"),
        ("settle", "soon", "must be a duration like 30, '30s', '5m', '1h30m' or '500ms'"),
    ],
)
def test_bad_stage_timings(key: str, value: str, message: str) -> None:
    text = BASE + f"        {key}: {value}\n"
    found = only_problem(text)
    assert found.startswith(f"baton.yaml:28: workflows.lead.stages[2].{key}: {message}"), found


# -- schema ---------------------------------------------------------------------------------


def test_defaults() -> None:
    config = load(BASE)
    stage = config.workflows["lead"].stages[2]
    assert stage == StageConfig(name="mail", tool="mail", after="crm")
    assert stage.display == "mail"
    assert config.tools["crm"] == ToolConfig(
        name="crm", type="hubspot", credentials={"token": "sandbox-token"}
    )
    assert config.workflows["lead"].seam(config.workflows["lead"].stages[1]) == "form → crm"


def test_version() -> None:
    assert load(BASE.replace("version: 1\n", "")).tools
    assert load(BASE.replace("version: 1", "version: '1'")).tools
    assert only_problem(BASE.replace("version: 1", "version: 2")) == (
        "baton.yaml:1: version: unsupported config version 2; this Baton reads version 1"
    )


def test_missing_tools_and_workflows() -> None:
    assert problems("version: 1\n") == [
        "baton.yaml: tools: missing; a config needs 'tools:' for its workflows",
        "baton.yaml: workflows: missing; a config needs at least one workflow",
    ]


def test_empty_tools_and_workflows() -> None:
    assert problems("version: 1\ntools:\nworkflows:\n") == [
        "baton.yaml:2: tools: needs at least one tool",
        "baton.yaml:3: workflows: needs at least one workflow",
    ]
    assert problems("tools: {}\nworkflows: {}\n") == [
        "baton.yaml:2: workflows: needs at least one workflow"
    ]


@pytest.mark.usefixtures("fake_specs")
def test_unknown_keys_everywhere_get_a_suggestion() -> None:
    text = (
        BASE.replace("  crm:\n    type: hubspot\n", "  crm:\n    type: hubspot\n    base_ulr: x\n")
        .replace("        after: crm\n", "        after: crm\n        lable: Mail\n")
        .replace("          fields:\n", "          feilds:\n")
        .replace("workflows:\n", "workflow_defaults: {}\nworkflows:\n")
    )
    found = problems(text, env={})
    assert found == [
        "baton.yaml:8: tools.crm.base_ulr: unknown option 'base_ulr' for type 'hubspot' "
        "(did you mean 'base_url'?)",
        "baton.yaml:15: workflow_defaults: unknown key 'workflow_defaults' "
        "(did you mean 'workflows'?)",
        "baton.yaml:25: workflows.lead.stages[1].expect.feilds: unknown key 'feilds' "
        "(did you mean 'fields'?)",
        "baton.yaml:30: workflows.lead.stages[2].lable: unknown key 'lable' "
        "(did you mean 'label'?)",
    ]


def test_unknown_key_without_a_close_match_lists_the_keys() -> None:
    found = only_problem(BASE + "colour: blue\n")
    assert found == (
        "baton.yaml:28: colour: unknown key 'colour'; expected one of: record, slack, store, "
        "tools, version, workflows"
    )


def test_problems_are_all_reported_in_file_order() -> None:
    text = (
        BASE.replace("type: sendgrid", "type: sendgird")
        .replace("tool: crm", "tool: cmr")
        .replace("version: 1", "version: 3")
    )
    found = problems(text)
    assert [p.split(":")[1] for p in found] == ["1", "11", "20"]


def test_more_than_fifty_problems_are_summed_up() -> None:
    text = BASE + "".join(f"extra{i}: 1\n" for i in range(60))
    found = problems(text)
    assert len(found) == 51
    assert found[-1] == "baton.yaml: ... and 10 more problems"


def test_record_fields() -> None:
    text = BASE + "record:\n  x_plan: pro\n  amount: 12.5\n  marketing_consent: no\n"
    assert load(text).record == {"x_plan": "pro", "amount": 12.5, "marketing_consent": False}
    assert only_problem(BASE + "record:\n  email: 'p+{mark}@x.io'\n").startswith(
        "baton.yaml:29: record.email: bad template 'p+{mark}@x.io': unknown placeholder 'mark'"
    )
    assert only_problem(BASE + "record:\n  phone: [1]\n") == (
        "baton.yaml:29: record.phone: must be a single value, not a list"
    )


def test_templates_may_use_x_fields_from_any_record_layer() -> None:
    text = BASE.replace('email: "{email}"', 'plan: "{x_plan}"') + textwrap.indent(
        "variants:\n  pro:\n    record: {x_plan: pro}\n", "    "
    )
    assert load(text).workflows["lead"].stages[1].expect.fields == {"plan": "{x_plan}"}
    assert "unknown record field 'x_plan'" in only_problem(
        BASE.replace('email: "{email}"', 'plan: "{x_plan}"')
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{}", "has an unnamed '{}'; name a record field"),
        ("{0}", "has an unnamed '{}'"),
        ("{email.nope}", "bad template '{email.nope}'"),
        ("{amount_cents:.2z}", "bad template '{amount_cents:.2z}'"),
        ("}", "bad template '}'"),
    ],
)
def test_bad_templates(template: str, message: str) -> None:
    found = only_problem(BASE.replace('"{email}"', f'"{template}"'))
    assert found.startswith("baton.yaml:24: workflows.lead.stages[1].expect.fields.email: ")
    assert message in found


def test_good_templates_and_numbers() -> None:
    text = BASE.replace(
        'email: "{email}"',
        'date: "{date:%d/%m/%Y}"\n            amount_due: 4900\n            ok: true\n'
        '            name: "{full_name} <{email}> {{literal}}"',
    )
    fields = load(text).workflows["lead"].stages[1].expect.fields
    assert fields == {
        "date": "{date:%d/%m/%Y}",
        "amount_due": "4900",
        "ok": "true",
        "name": "{full_name} <{email}> {{literal}}",
    }


def test_expectation_values() -> None:
    text = BASE.replace('email: "{email}"\n', 'email: "{email}"\n          count: 2\n')
    text = text.replace(
        "        after: crm\n", "        after: crm\n        expect: {absent: yes}\n"
    )
    workflow = load(text).workflows["lead"]
    assert workflow.stage("crm").expect == Expectation(fields={"email": "{email}"}, count=2)
    assert workflow.stage("mail").expect == Expectation(absent=True)
    found = only_problem(
        BASE.replace('email: "{email}"\n', 'email: "{email}"\n          count: true\n')
    )
    assert found.endswith("expect.count: must be a whole number of 1 or more, not True")


def test_workflow_tree_rules() -> None:
    # A second branch off the entry is fine: a workflow is a tree, not a chain.
    text = BASE.replace("        after: crm\n", "        after: form\n")
    assert load(text).workflows["lead"].stage("mail").after == "form"


def test_entry_templates_in_tool_fields() -> None:
    text = BASE.replace(
        "    url: http://127.0.0.1:8765/glue/hooks/catch/1001/leads\n",
        "    url: http://127.0.0.1:8765/glue/hooks/catch/1001/leads\n"
        "    fields:\n      email: '{emial}'\n",
    )
    assert only_problem(text) == (
        "baton.yaml:7: tools.form.fields.email: unknown record field 'emial' in template "
        "'{emial}' (did you mean 'email'?)"
    )


def test_variant_may_be_empty_and_expect_replaces() -> None:
    text = BASE + textwrap.indent(
        "variants:\n  plain:\n  quiet:\n    expect:\n      mail: {absent: true}\n", "    "
    )
    variants = load(text).workflows["lead"].variants
    assert variants == {
        "plain": VariantConfig(name="plain"),
        "quiet": VariantConfig(name="quiet", expect={"mail": Expectation(absent=True)}),
    }


def test_variant_cannot_expect_the_entry() -> None:
    text = BASE + textwrap.indent("variants:\n  v:\n    expect:\n      form: {count: 2}\n", "    ")
    assert only_problem(text) == (
        "baton.yaml:31: workflows.lead.variants.v.expect.form: the first stage is the entry "
        "and is not observed; put 'expect' on later stages"
    )


# -- connector options ----------------------------------------------------------------------


@pytest.fixture
def fake_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    specs = {
        "webhook": ConnectorSpec("webhook", True, False, frozenset({"url", "fields"}), ("url",)),
        "hubspot": ConnectorSpec("hubspot", False, True, frozenset({"properties"}), (), ("token",)),
        "sendgrid": ConnectorSpec("sendgrid", False, True, frozenset({"limit"}), (), ("token",)),
    }
    monkeypatch.setattr(config_loader, "connector_specs", lambda: specs)


@pytest.mark.usefixtures("fake_specs")
def test_connector_options_are_checked() -> None:
    text = BASE.replace("    type: hubspot\n", "    type: hubspot\n    propertise: [email]\n")
    text = text.replace("    url: http://127.0.0.1:8765/glue/hooks/catch/1001/leads\n", "")
    assert problems(text) == [
        "baton.yaml:3: tools.form.url: missing; type 'webhook' needs it",
        "baton.yaml:7: tools.crm.propertise: unknown option 'propertise' for type 'hubspot' "
        "(did you mean 'properties'?)",
    ]


@pytest.mark.usefixtures("fake_specs")
def test_connector_options_are_kept_and_expanded() -> None:
    text = BASE.replace("    type: sendgrid\n", "    type: sendgrid\n    limit: ${SG_LIMIT:-25}\n")
    assert load(text).tools["mail"].options == {"limit": "25"}


@pytest.mark.usefixtures("fake_specs")
def test_unknown_type_lists_registered_types() -> None:
    found = only_problem(BASE.replace("type: sendgrid", "type: mailchimp"))
    assert found == (
        "baton.yaml:11: tools.mail.type: unknown connector type 'mailchimp'; "
        "expected one of: hubspot, sendgrid, webhook"
    )


def test_connector_specs_read_the_registry() -> None:
    specs = connector_specs()
    for name in ("webhook", "hubspot_forms", "hubspot", "sendgrid", "stripe", "http"):
        assert name in specs
    assert specs["webhook"].can_inject and not specs["webhook"].can_observe
    assert specs["hubspot"].can_observe and not specs["hubspot"].can_inject


# -- schedules, alerts and digests ----------------------------------------------------------

VARIANTS = "variants:\n  card:\n  paypal:\n    record: {payment_method: paypal}\n"


def lead_with(extra: str, slack: str = "") -> str:
    """BASE with card/paypal variants (lines 28-31) and then ``extra`` under workflows.lead
    (from line 32), then a top-level ``slack`` section."""
    return BASE + textwrap.indent(VARIANTS + textwrap.dedent(extra), "    ") + slack


def test_schedule_alerts_and_digests_load_into_the_model() -> None:
    text = lead_with(
        """\
        schedule:
          cron: "0 9 * * 1-5"
          channel: C0PROBES
          variants: [card, default, paypal, ~]
          paused: true
          timezone: Europe/London
        alerts:
          failures_before_alert: 3
          errors_before_alert: 1
          quiet_hours: 22:00-07:00
          maintenance: ["Sun 02:00-04:00", "2026-03-01T02:00/2026-03-01T06:00"]
        """,
        textwrap.dedent(
            """\
            slack:
              default_channel: C0DEFAULT
              digests:
                - channel: C0WEEKLY
                  cron: "0 9 * * 1"
                - channel: C0DAILY
                  cron: 30 8 * * *
                  period: 1d
                  workflows: [lead]
                  timezone: America/New_York
            """
        ),
    )
    config = load(text)
    workflow = config.workflows["lead"]
    assert workflow.schedule == ScheduleSpec(
        workflow="lead",
        cron="0 9 * * mon-fri",  # crontab's weekdays, written as names APScheduler reads alike
        channel="C0PROBES",
        variants=("card", None, "paypal", None),
        paused=True,
        timezone="Europe/London",
    )
    assert workflow.alerts == AlertPolicy(
        failures_before_alert=3,
        errors_before_alert=1,
        timezone="Europe/London",  # the schedule's
        quiet_hours="22:00-07:00",
        maintenance=("Sun 02:00-04:00", "2026-03-01T02:00/2026-03-01T06:00"),
    )
    assert config.slack.digests == [
        DigestSchedule(channel="C0WEEKLY", cron="0 9 * * mon"),
        DigestSchedule(
            channel="C0DAILY",
            cron="30 8 * * *",
            period_s=86400.0,
            workflows=("lead",),
            timezone="America/New_York",
        ),
    ]


def test_schedule_and_alert_defaults() -> None:
    workflow = load(lead_with("schedule:\n  every: 1h\n")).workflows["lead"]
    assert workflow.schedule == ScheduleSpec("lead", every_s=3600.0)
    assert workflow.alerts == AlertPolicy()
    assert load(BASE).workflows["lead"].schedule is None
    assert load(BASE).workflows["lead"].alerts == AlertPolicy()
    assert load(lead_with("schedule:\nalerts:\n")).workflows["lead"].schedule is None


def test_schedule_channel_defaults_to_the_slack_default_channel() -> None:
    slack = "slack:\n  default_channel: ${CHANNEL:-C0DEFAULT}\n"
    schedule = load(lead_with("schedule: {every: 15m}\n", slack)).workflows["lead"].schedule
    assert schedule is not None and schedule.channel == "C0DEFAULT"
    text = lead_with("schedule: {every: 15m, channel: '${PROBES:-}'}\n", slack)
    schedule = load(text, {"CHANNEL": "C0ENV"}).workflows["lead"].schedule
    assert schedule is not None and schedule.channel == "C0ENV"


def test_schedule_variants_as_text_and_a_variant_called_default() -> None:
    text = lead_with("schedule: {every: 15m, variants: '${ROTATE:-card, default}'}\n")
    schedule = load(text).workflows["lead"].schedule
    assert schedule is not None and schedule.variants == ("card", None)
    # A workflow's own variant named 'default' is that variant.
    text = BASE + textwrap.indent(
        "variants:\n  default:\n    record: {currency: eur}\n"
        "schedule: {every: 15m, variants: [default, ~]}\n",
        "    ",
    )
    schedule = load(text).workflows["lead"].schedule
    assert schedule is not None and schedule.variants == ("default", None)


def test_alerts_keep_their_own_time_zone_and_take_one_window_as_text() -> None:
    text = lead_with(
        """\
        schedule: {cron: "0 * * * *", timezone: Europe/London}
        alerts: {timezone: Asia/Tokyo, maintenance: "Mon,Thu 23:30-00:30"}
        """
    )
    alerts = load(text).workflows["lead"].alerts
    assert alerts == AlertPolicy(timezone="Asia/Tokyo", maintenance=("Mon,Thu 23:30-00:30",))


def test_alerts_mention_users_and_user_groups_by_id() -> None:
    text = lead_with("alerts:\n  mention: [U0ANA1, W0GRID2, S0ONCALL, U0ANA1]\n")
    assert load(text).workflows["lead"].alerts.mention == ("U0ANA1", "W0GRID2", "S0ONCALL")
    text = lead_with("alerts: {mention: '${ONCALL:-S0ONCALL, U0BEN}'}\n")
    assert load(text).workflows["lead"].alerts.mention == ("S0ONCALL", "U0BEN")
    assert load(lead_with("alerts: {mention: []}\n")).workflows["lead"].alerts.mention == ()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            "alerts:\n  mention: [U0ANA1, '@ana']\n",
            "33: workflows.lead.alerts.mention[1]: '@ana' is not a Slack user ID (U…, W…) or "
            "user-group ID (S…) (the ID, not the name: a member's profile → ⋯ → Copy member ID)",
            id="a-name",
        ),
        pytest.param(
            "alerts: {mention: 'U0ANA1, <!here>'}\n",
            "32: workflows.lead.alerts.mention: '<!here>' is not a Slack user ID (U…, W…) or "
            "user-group ID (S…) (the ID, not the name: a member's profile → ⋯ → Copy member ID)",
            id="a-broadcast",
        ),
        pytest.param(
            "alerts: {mention: {U1: yes}}\n",
            "32: workflows.lead.alerts.mention: ",
            id="a-mapping",
        ),
        pytest.param(
            "alerts:\n  mention: [C0CHANNEL]\n",
            "33: workflows.lead.alerts.mention[0]: 'C0CHANNEL' is not a Slack user ID (U…, W…) "
            "or user-group ID (S…)",
            id="a-channel",
        ),
    ],
)
def test_bad_alert_mentions(extra: str, expected: str) -> None:
    assert only_problem(lead_with(extra)).startswith(f"baton.yaml:{expected}")


def test_a_digest_with_an_empty_channel_is_off_but_still_checked() -> None:
    slack = "slack:\n  digests:\n    - channel: ${DIGEST_CHANNEL:-}\n      cron: 0 9 * * mon\n"
    assert load(lead_with("", slack)).slack.digests == []
    assert load(lead_with("", slack), {"DIGEST_CHANNEL": "C1"}).slack.digests == [
        DigestSchedule("C1", "0 9 * * mon")
    ]
    assert only_problem(lead_with("", slack.replace("mon", "mun"))).startswith(
        "baton.yaml:35: slack.digests[0].cron: bad cron expression '0 9 * * mun': "
    )
    assert load(lead_with("", "slack:\n  digests: []\n")).slack.digests == []


def test_digest_workflows_as_text() -> None:
    slack = "slack:\n  digests:\n    - {channel: C1, cron: '0 9 * * *', workflows: 'lead, lead'}\n"
    assert load(lead_with("", slack)).slack.digests[0].workflows == ("lead",)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            "schedule: {cron: '* * * * *', every: 15m}",
            "32: workflows.lead.schedule: has both 'cron' and 'every'; give one of them",
            id="cron-and-every",
        ),
        pytest.param(
            "schedule: {channel: C1}",
            "32: workflows.lead.schedule: needs 'cron' or 'every', e.g. every: 15m or "
            "cron: '*/15 * * * *'",
            id="neither",
        ),
        pytest.param(
            "schedule:\n  cron: '*/15 * * *'",
            "33: workflows.lead.schedule.cron: bad cron expression '*/15 * * *': it has 4 "
            "fields, not five (minute hour day-of-month month weekday, e.g. '*/15 * * * *' or "
            "'0 9 * * mon')",
            id="cron-fields",
        ),
        pytest.param(
            "schedule:\n  cron: '0 25 * * *'",
            "33: workflows.lead.schedule.cron: bad cron expression '0 25 * * *': Error "
            "validating expression '25': the last value (25) is higher than the maximum value "
            "(23)",
            id="cron-hour",
        ),
        pytest.param(
            "schedule:\n  cron: '0 9 1 * 1'",
            "33: workflows.lead.schedule.cron: bad cron expression '0 9 1 * 1': it restricts "
            "both the day of month and the weekday; give one of them (crontab runs when either "
            "matches, the scheduler only when both do)",
            id="cron-day-and-weekday",
        ),
        pytest.param(
            "schedule:\n  cron: '0 0 30 2 *'",
            "33: workflows.lead.schedule.cron: bad cron expression '0 0 30 2 *': it never fires "
            "(a date that does not exist, such as 31 February?)",
            id="cron-never",
        ),
        pytest.param(
            "schedule:\n  every: 15",
            "33: workflows.lead.schedule.every: must be at least 1m (a schedule runs at most "
            "once a minute), not 15 (a bare number is seconds; did you mean '15m'?)",
            id="every-seconds",
        ),
        pytest.param(
            "schedule:\n  every: soon",
            "33: workflows.lead.schedule.every: must be a duration like 30, '30s', '5m', "
            "'1h30m' or '500ms', not 'soon'",
            id="every-words",
        ),
        pytest.param(
            "schedule:\n  every: 15m\n  variants: [card, paypl]",
            "34: workflows.lead.schedule.variants[1]: unknown variant 'paypl' "
            "(did you mean 'paypal'?)",
            id="variant-typo",
        ),
        pytest.param(
            "schedule:\n  every: 15m\n  variants: [unicode]",
            "34: workflows.lead.schedule.variants[0]: unknown variant 'unicode'; "
            "expected one of: card, default, paypal",
            id="variant-unknown",
        ),
        pytest.param(
            "schedule:\n  every: 15m\n  variants: {card: 1}",
            "34: workflows.lead.schedule.variants: must be a list of variant names, not a mapping",
            id="variants-mapping",
        ),
        pytest.param(
            "schedule:\n  every: 15m\n  timezone: Europe/Londn",
            "34: workflows.lead.schedule.timezone: unknown time zone 'Europe/Londn' "
            "(did you mean 'Europe/London'?)",
            id="timezone-typo",
        ),
        pytest.param(
            "schedule:\n  every: 15m\n  timezone: Middle/Earth",
            "34: workflows.lead.schedule.timezone: unknown time zone 'Middle/Earth'; use an "
            "IANA name such as 'Europe/London' or 'UTC'",
            id="timezone-unknown",
        ),
        pytest.param(
            "schedule:\n  every: 15m\n  paused: maybe",
            "34: workflows.lead.schedule.paused: must be true or false, not text",
            id="paused-text",
        ),
        pytest.param(
            "schedule:\n  every: 15m\n  chanel: C1",
            "34: workflows.lead.schedule.chanel: unknown key 'chanel' (did you mean 'channel'?)",
            id="schedule-key",
        ),
        pytest.param(
            "schedule: 15m",
            "32: workflows.lead.schedule: must be a mapping, not text",
            id="schedule-text",
        ),
        pytest.param(
            "alerts:\n  failures_before_alert: 0",
            "33: workflows.lead.alerts.failures_before_alert: must be a whole number of 1 or "
            "more, not 0",
            id="failures-zero",
        ),
        pytest.param(
            "alerts:\n  errors_before_alert: 1.5",
            "33: workflows.lead.alerts.errors_before_alert: must be a whole number of 1 or "
            "more, not 1.5",
            id="errors-fraction",
        ),
        pytest.param(
            "alerts:\n  quiet_hours: 22:00-22:00",
            "33: workflows.lead.alerts.quiet_hours: '22:00-22:00': the window starts when it "
            "ends; it would be empty",
            id="quiet-empty",
        ),
        pytest.param(
            "alerts:\n  quiet_hours: 10pm-7am",
            "33: workflows.lead.alerts.quiet_hours: '10pm-7am': not a time window; use "
            "'22:00-07:00', 'Sun 02:00-04:00' or '2026-03-01T02:00/2026-03-01T06:00'",
            id="quiet-words",
        ),
        pytest.param(
            "alerts:\n  maintenance: ['Sun 02:00-04:00', 'Sum 02:00-04:00']",
            "33: workflows.lead.alerts.maintenance[1]: 'Sum 02:00-04:00': unknown day 'Sum'; "
            "use Mon, Tue, Wed, Thu, Fri, Sat, Sun (or the full names), comma-separated, "
            "or daily",
            id="maintenance-day",
        ),
        pytest.param(
            "alerts:\n  maintenance: {sun: 1}",
            "33: workflows.lead.alerts.maintenance: must be a list of time windows, not a mapping",
            id="maintenance-mapping",
        ),
        pytest.param(
            "alerts:\n  timezone: utc+1",
            "33: workflows.lead.alerts.timezone: unknown time zone 'utc+1'",
            id="alerts-timezone",
        ),
        pytest.param(
            "alerts:\n  quiet: 22:00-07:00",
            "33: workflows.lead.alerts.quiet: unknown key 'quiet' (did you mean 'quiet_hours'?)",
            id="alerts-key",
        ),
    ],
)
def test_bad_schedules_and_alerts(extra: str, expected: str) -> None:
    found = only_problem(lead_with(extra + "\n"))
    assert found.startswith(f"baton.yaml:{expected}"), found


@pytest.mark.parametrize(
    ("digests", "expected"),
    [
        pytest.param(
            "- {channel: C1, cron: '0 9 * * *', workflows: [lead, laed]}",
            "30: slack.digests[0].workflows[1]: unknown workflow 'laed' (did you mean 'lead'?)",
            id="unknown-workflow",
        ),
        pytest.param(
            "- {channel: C1, cron: '0 9 * * *', workflows: 'lead, billing'}",
            "30: slack.digests[0].workflows: unknown workflow 'billing'; expected one of: lead",
            id="unknown-workflow-text",
        ),
        pytest.param(
            "- {cron: '0 9 * * *'}",
            "30: slack.digests[0].channel: missing; a digest needs the channel to post to "
            "(empty turns the digest off)",
            id="no-channel",
        ),
        pytest.param(
            "- {channel: C1}",
            "30: slack.digests[0].cron: missing; a digest needs the time to post, e.g. "
            "cron: '0 9 * * mon' (Mondays, 09:00)",
            id="no-cron",
        ),
        pytest.param(
            "- {channel: C1, cron: '0 9 * * 8'}",
            "30: slack.digests[0].cron: bad cron expression '0 9 * * 8': cannot read the "
            "weekday '8'; use 0-7 (0 or 7 is Sunday) or sun-sat",
            id="cron-weekday",
        ),
        pytest.param(
            "- {channel: C1, cron: '0 9 * * *', period: 0}",
            "30: slack.digests[0].period: must be more than 0, not 0",
            id="period-zero",
        ),
        pytest.param(
            "- {channel: C1, cron: '0 9 * * *', period: a week}",
            "30: slack.digests[0].period: must be a duration like",
            id="period-words",
        ),
        pytest.param(
            "- {channel: C1, cron: '0 9 * * *', timezone: Europe/Pariss}",
            "30: slack.digests[0].timezone: unknown time zone 'Europe/Pariss' "
            "(did you mean 'Europe/Paris'?)",
            id="timezone",
        ),
        pytest.param(
            "- {channel: C1, crom: '0 9 * * *'}",
            "30: slack.digests[0].crom: unknown key 'crom' (did you mean 'cron'?)",
            id="digest-key",
        ),
        pytest.param(
            "{channel: C1, cron: '0 9 * * *'}",
            "29: slack.digests: must be a list of digests (each with channel and cron), "
            "not a mapping",
            id="not-a-list",
        ),
    ],
)
def test_bad_digests(digests: str, expected: str) -> None:
    text = BASE + "slack:\n  digests:\n" + textwrap.indent(digests, "    ") + "\n"
    found = problems(text)
    assert found[0].startswith(f"baton.yaml:{expected}"), found


def test_a_digest_names_a_workflow_with_its_own_problem_without_a_second_one() -> None:
    text = BASE.replace("        tool: mail\n", "        tool: mial\n")
    text += "slack:\n  digests:\n    - {channel: C1, cron: '0 9 * * *', workflows: [lead]}\n"
    assert only_problem(text).startswith("baton.yaml:26: workflows.lead.stages[2].tool: ")


def test_a_schedule_names_a_variant_with_its_own_problem_without_a_second_one() -> None:
    text = lead_with("schedule: {every: 15m, variants: [paypal]}\n").replace(
        "payment_method: paypal", "payment_methd: paypal"
    )
    assert "unknown record field 'payment_methd'" in only_problem(text)


# -- crontab expressions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("*/15 * * * *", "*/15 * * * *"),
        ("0 9 * * 1", "0 9 * * mon"),
        ("0 9 * * 0", "0 9 * * sun"),
        ("0 9 * * 7", "0 9 * * sun"),
        ("0 9 * * 1-5", "0 9 * * mon-fri"),
        ("0 9 * * 0,6", "0 9 * * sat-sun"),
        ("0 9 * * 5-7", "0 9 * * fri-sun"),
        ("0 9 * * */2", "0 9 * * tue,thu,sat-sun"),
        ("0 9 * * 1/2", "0 9 * * mon,wed,fri,sun"),
        ("0 9 * * sun,3", "0 9 * * wed,sun"),
        ("0 9 * * mon-fri", "0 9 * * mon-fri"),
        ("0 9 * * MON", "0 9 * * MON"),
        ("0  9 1 * *", "0 9 1 * *"),
    ],
)
def test_standard_crontab_writes_numeric_weekdays_as_names(expr: str, expected: str) -> None:
    assert standard_crontab(expr) == expected


@pytest.mark.parametrize(
    ("expr", "weekday"),
    [("0 9 * * 1", "Mon"), ("0 9 * * 0", "Sun"), ("0 9 * * 7", "Sun"), ("0 9 * * 6", "Sat")],
)
def test_cron_weekdays_fire_as_crontab_numbers_them(expr: str, weekday: str) -> None:
    # APScheduler 3 alone reads '1' as Tuesday.
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    fire = cron_trigger(expr).get_next_fire_time(None, start)
    assert fire.strftime("%a %H:%M") == f"{weekday} 09:00"


def test_digest_schedule_checks_itself() -> None:
    assert DigestSchedule("C1", "0 9 * * 1").trigger().get_next_fire_time(
        None, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ) == dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    for bad in (
        {"channel": "", "cron": "0 9 * * *"},
        {"channel": "C1", "cron": "0 9 * *"},
        {"channel": "C1", "cron": "0 9 * * *", "period_s": 0},
        {"channel": "C1", "cron": "0 9 * * *", "timezone": "Mars/Olympus"},
    ):
        with pytest.raises(ValueError):
            DigestSchedule(**bad)


def test_values_from_the_environment_are_recorded_to_be_masked() -> None:
    from baton.probes.redact import Redactor

    text = (Path(__file__).parent.parent / "config.example.yaml").read_text(encoding="utf-8")
    env = {
        "BATON_SANDBOX_URL": "http://127.0.0.1:9999",  # a bare origin: names a server only
        "STRIPE_TOKEN": "rk_test_abcdefghijkl",
        "HUBSPOT_TOKEN": "plain-hub-token",
        "SLACK_DEFAULT_CHANNEL": "C0123456789",  # an address Baton must send as it is
        "SLACK_DIGEST_CHANNEL": "C0987654321",
        "SLACK_API_URL": "https://slack.example.com/api/secret-path/",
    }
    config = load(text, env)
    assert set(config.env_values) == {
        "rk_test_abcdefghijkl",
        "plain-hub-token",
        "https://slack.example.com/api/secret-path/",
    }
    assert "plain-hub-token" not in repr(config)
    masked = Redactor.from_config(config).text("got plain-hub-token from http://127.0.0.1:9999")
    assert masked == "got [redacted] from http://127.0.0.1:9999"
    # Defaults are written in the file, so they are not secrets by being there.
    assert load(text, {}).env_values == ()
