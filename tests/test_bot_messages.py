"""Message builders: whole payloads compared with the expected ones, and Slack's limits."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from bot_support import T0, make_result, sample_config
from slack_standin import block_violations

from baton.bot.blocks import alert as alert_messages
from baton.bot.blocks import replies
from baton.bot.blocks import run as messages
from baton.bot.blocks.preview import render_preview
from baton.bot.blocks.run import RunInfo
from baton.probes import diagnosis
from baton.probes.model import (
    CleanupResult,
    Finding,
    FindingKind,
    FirstBreak,
    RunResult,
    Verdict,
    verdict_for,
)

WF = sample_config().workflows["lead-to-invoice"]
INFO = RunInfo(
    workflow="lead-to-invoice",
    run_id="r-7k2xq9",
    user="U0ALICE",
    variant="paypal",
    overrides={"first_name": "Zoë <!channel>"},
)


def md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": md(text)}


def context(*texts: str) -> dict[str, object]:
    return {"type": "context", "elements": [md(t) for t in texts]}


def test_started() -> None:
    assert messages.started(INFO).payload() == {
        "text": "Probing lead-to-invoice (paypal) … started by <@U0ALICE>, run r-7k2xq9",
        "blocks": [
            section(
                "⏳ Probing *lead-to-invoice* (paypal) … started by <@U0ALICE>, run `r-7k2xq9`"
            ),
            context("with first_name=`Zoë &lt;!channel&gt;`"),
        ],
    }


def test_progress_shows_count_and_latest_stage() -> None:
    result = make_result(outcome="swap")
    msg = messages.progress(replace(INFO, overrides={}), result.stages[:2], 4, WF)
    assert msg.payload()["blocks"][-1] == context("Checked 2 of 4 stages · latest: ❌ Form → CRM")


def test_final_leak() -> None:
    assert messages.final(INFO, make_result(outcome="drop"), WF).payload() == {
        "text": "❌ lead-to-invoice (paypal): dropped at Form → CRM · run r-7k2xq9 · 12.5 s · "
        "started by <@U0ALICE>",
        "blocks": [
            section("❌ *lead-to-invoice* (paypal): *dropped at Form → CRM*"),
            context(
                "run `r-7k2xq9` · 12.5 s · started by <@U0ALICE>",
                "with first_name=`Zoë &lt;!channel&gt;`",
                "Stage-by-stage trail, evidence and cleanup in the thread.",
            ),
        ],
    }


@pytest.mark.parametrize(
    ("outcome", "headline"),
    [
        pytest.param("ok", "✅ *lead-to-invoice*: *arrived intact at every stage*", id="ok"),
        pytest.param("swap", "❌ *lead-to-invoice*: *fields swapped at Form → CRM*", id="swap"),
        pytest.param("outage", "⚠️ *lead-to-invoice*: *could not check Invoice*", id="outage"),
    ],
)
def test_final_headlines(outcome: str, headline: str) -> None:
    info = RunInfo(workflow="lead-to-invoice", run_id="r-7k2xq9", user="U0ALICE")
    msg = messages.final(info, make_result(outcome=outcome), WF)
    assert msg.payload()["blocks"][0] == section(headline)


def test_stage_replies() -> None:
    result = make_result(outcome="swap")
    assert messages.stage_reply(result.stages[0], WF).payload() == {
        "text": "✅ Form · injected in 0.2 s",
        "blocks": [section("✅ *Form* · injected in 0.2 s")],
    }
    assert messages.stage_reply(result.stages[1], WF).payload() == {
        "text": "❌ Form → CRM · fields swapped after 2.1 s",
        "blocks": [
            section(
                "❌ *Form → CRM* · fields swapped after 2.1 s\n"
                "> Email and first name are swapped (CRM has email='Ada', "
                "firstname='probe+bt7k2xq9@example.com')."
            )
        ],
    }
    skipped = make_result(outcome="drop").stages[2]
    assert messages.stage_reply(skipped, WF).payload()["text"] == (
        "⏭️ CRM → Email · skipped: nothing arrived upstream to check"
    )


def test_diagnosis_of_a_swap() -> None:
    assert messages.diagnosis(make_result(outcome="swap"), WF).payload() == {
        "text": "❌ First break: Form → CRM. Email and first name are swapped (CRM has "
        "email='Ada', firstname='probe+bt7k2xq9@example.com'). 🧹 Cleanup: removed 3 test "
        "object(s).",
        "blocks": [
            section(
                "❌ *First break: Form → CRM.* Email and first name are swapped (CRM has "
                "email='Ada', firstname='probe+bt7k2xq9@example.com')."
            ),
            section(
                "*Evidence at Form → CRM* · fields swapped\n"
                '• `firstname`: expected `"Ada"`, found `"probe+bt7k2xq9@example.com"`\n'
                '• `email`: expected `"probe+bt7k2xq9@example.com"`, found `"Ada"`'
            ),
            context(
                "🧹 Cleanup: removed 3 test object(s).",
                "run `r-7k2xq9` · test record marker `bt7k2xq9`",
            ),
        ],
    }


def test_diagnosis_of_an_outage_is_not_a_leak() -> None:
    assert messages.diagnosis(make_result(outcome="outage"), WF).payload() == {
        "text": "⚠️ Not a leak: Baton could not look. Could not check Invoice: stripe: HTTP 503 "
        "Service Unavailable. 🧹 Cleanup partial: removed 2; the rest will be retried "
        "(stripe: HTTP 503).",
        "blocks": [
            section(
                "⚠️ *Not a leak: Baton could not look.* Could not check Invoice: stripe: "
                "HTTP 503 Service Unavailable."
            ),
            context(
                "🧹 Cleanup partial: removed 2; the rest will be retried (stripe: HTTP 503).",
                "run `r-7k2xq9` · test record marker `bt7k2xq9`",
            ),
        ],
    }


def test_diagnosis_ok() -> None:
    assert messages.diagnosis(make_result(outcome="ok"), WF).payload()["blocks"][0] == section(
        "✅ *No leaks.* The test record arrived intact at all 4 stages."
    )


def test_values_cannot_ping_or_break_out_of_code_blocks() -> None:
    nasty = "<!channel> ```x``` <@U999> & <https://evil.example|click>"
    finding = Finding(
        FindingKind.WRONG_VALUE,
        f"Form → CRM: company is {nasty}",
        ("company",),
        {"company": "Baton"},
        {"company": nasty},
    )
    result = make_result(outcome="swap")
    stages = [result.stages[0], replace(result.stages[1], status="wrong_value", findings=[finding])]
    result = replace(result, stages=stages, first_break=None)
    payload = messages.diagnosis(result, WF).payload()
    text = str(payload)
    assert "<!channel>" not in text and "<@U999>" not in text and "<https" not in text
    for block in payload["blocks"][1:-1]:
        # Values sit in inline code that a value's own backticks cannot close early.
        assert "```" not in block["text"]["text"]
        assert block["text"]["text"].count("`") % 2 == 0
    assert '`company`: expected `"Baton"`, found `"&lt;!channel&gt; ˋ' in text


def _huge_result(findings: int, value_len: int) -> RunResult:
    big = [
        Finding(
            FindingKind.TRUNCATED,
            f"Form → CRM: field_{i} was cut",
            (f"field_{i}",),
            {f"field_{i}": "x" * value_len, "other": "y" * value_len},
            {f"field_{i}": "x" * (value_len // 2), "other": "z" * value_len},
        )
        for i in range(findings)
    ]
    result = make_result(outcome="swap")
    crm = replace(result.stages[1], status="truncated", findings=big)
    return replace(result, stages=[result.stages[0], crm, *result.stages[2:]])


@pytest.mark.parametrize(
    ("findings", "value_len"),
    [
        pytest.param(120, 200, id="many-findings"),
        pytest.param(3, 20_000, id="huge-values"),
        pytest.param(60, 2_000, id="both"),
    ],
)
def test_long_evidence_is_folded_within_slack_limits(findings: int, value_len: int) -> None:
    result = _huge_result(findings, value_len)
    for msg in (
        messages.diagnosis(result, WF),
        messages.fallback_final(RunInfo("lead-to-invoice", "r-1"), result, WF, note="n"),
    ):
        payload = msg.payload()  # slack_sdk's models validate their own limits here
        blocks = payload["blocks"]
        assert len(blocks) <= 50
        assert not [v for b in blocks for v in block_violations(b)]
        assert len(payload["text"]) <= 3000
        assert sum(len(str(b)) for b in blocks) < 20_000
    text = str(messages.diagnosis(result, WF).payload())
    assert ("more finding(s) not shown here" in text) == (findings > 3)
    assert "x" * 301 not in text  # every value clipped


def test_a_stage_stuck_without_findings_still_gets_a_headline() -> None:
    result = make_result(outcome="swap")
    result = replace(result, first_break=None)
    assert messages.final(RunInfo("lead-to-invoice", "r-1"), result, WF).text.startswith(
        "❌ lead-to-invoice: fields swapped at Form → CRM"
    )


def test_help_with_a_problem() -> None:
    assert replies.help_message("/baton", "unknown command 'x'").payload() == {
        "text": "⚠️ unknown command 'x'\n"
        "Baton traces a marked test record through your automations. Commands:\n"
        "• `/baton run WORKFLOW [variant] [field=value …]` — inject a test record and trace it\n"
        "• `/baton list` — workflows and their last verdicts\n"
        "• `/baton status [WORKFLOW]` — what is running, and the last result\n"
        "• `/baton history WORKFLOW [N]` — the last N runs (10 unless you say)\n"
        "• `/baton schedule` — scheduled probes, their next run, paused or not\n"
        "• `/baton pause WORKFLOW` / `/baton resume WORKFLOW` — stop or restart its schedule\n"
        "• `/baton digest [WORKFLOW] [7d]` — health over a period, with a chart in its thread\n"
        "• `/baton help` — this message\n"
        'Values with spaces go in quotes: `first_name="Zoë Ann"`',
        "blocks": [
            section("⚠️ unknown command 'x'"),
            section(
                "Baton traces a marked test record through your automations. Commands:\n"
                "• `/baton run WORKFLOW [variant] [field=value …]` — inject a test record and "
                "trace it\n"
                "• `/baton list` — workflows and their last verdicts\n"
                "• `/baton status [WORKFLOW]` — what is running, and the last result\n"
                "• `/baton history WORKFLOW [N]` — the last N runs (10 unless you say)\n"
                "• `/baton schedule` — scheduled probes, their next run, paused or not\n"
                "• `/baton pause WORKFLOW` / `/baton resume WORKFLOW` — stop or restart its "
                "schedule\n"
                "• `/baton digest [WORKFLOW] [7d]` — health over a period, with a chart in its "
                "thread\n"
                "• `/baton help` — this message\n"
                'Values with spaces go in quotes: `first_name="Zoë Ann"`'
            ),
        ],
    }


def test_workflow_list() -> None:
    now = T0 + dt.timedelta(minutes=5)
    last = {"lead-to-invoice": make_result(outcome="drop")}
    assert replies.workflow_list(sample_config().workflows, last, now).payload() == {
        "text": "2 workflows: lead-to-invoice (leak) newsletter (never run)",
        "blocks": [
            section("*Workflows* (2)"),
            section(
                "*lead-to-invoice* — Web form to CRM, welcome mail and invoice\n"
                "Form → CRM, CRM → Email, CRM → Invoice · variants: card, paypal\n"
                "❌ dropped at Form → CRM · `r-7k2xq9` 5 min ago"
            ),
            section("*newsletter*\nForm → Email\n▫️ never run"),
        ],
    }


def test_status_of_one_workflow() -> None:
    now = T0 + dt.timedelta(hours=2)
    active = [{"id": "r-000009", "workflow": "lead-to-invoice", "started_at": now.isoformat()}]
    msg = replies.status_one("lead-to-invoice", WF, make_result(outcome="drop"), active, now)
    assert msg.payload() == {
        "text": "❌ lead-to-invoice: dropped at Form → CRM",
        "blocks": [
            section(
                "❌ *lead-to-invoice*: *dropped at Form → CRM*\n"
                "Form → CRM: the record never arrived in CRM within 30s\n"
                "🧹 Cleanup: removed 1 test object(s)."
            ),
            context(
                "last run `r-7k2xq9` 2 h ago · took 12.5 s",
                "⏳ *1 probe run(s) in flight:* lead-to-invoice `r-000009` just now",
            ),
        ],
    }


def test_history_packs_lines_into_sections() -> None:
    runs = [
        make_result(f"r-{i:06d}", outcome="drop", started=T0 - dt.timedelta(hours=i))
        for i in range(50)
    ]
    payload = replies.history("lead-to-invoice", WF, runs, T0).payload()
    assert payload["blocks"][0] == section("*History of lead-to-invoice* (last 50)")
    lines = "\n".join(b["text"]["text"] for b in payload["blocks"][1:]).split("\n")
    assert len(lines) == 50
    assert lines[0] == ("❌ `r-000000` · 2026-05-01 14:00 UTC · dropped at Form → CRM · 12.5 s")
    assert not [v for b in payload["blocks"] for v in block_violations(b)]


def test_refusals_are_polite_and_name_the_fix() -> None:
    assert replies.refused_user("U0EVE", "/baton").text == (
        "Sorry <@U0EVE>, you are not on the list of people who can use /baton here. Ask "
        "whoever runs Baton to add your user id `U0EVE` to `slack.allowed_users`."
    )
    assert replies.refused_channel(["C0PROBES"], "/baton").text == (
        "Sorry, /baton does not run in this channel. Try <#C0PROBES>."
    )


def test_cleanup_lines() -> None:
    assert messages.cleanup_line(CleanupResult("done", 0)) == (
        "🧹 Cleanup: nothing was left to remove."
    )
    assert messages.cleanup_line(CleanupResult("failed", 0, ["hubspot: 401"])) == (
        "🧹 Cleanup failed (hubspot: 401); it will be retried (`baton cleanup`)."
    )


def test_preview_renders_parent_and_thread_as_text() -> None:
    assert render_preview(make_result(outcome="drop"), WF, user="U0ALICE") == "\n".join(
        [
            "┌─ #probes · parent message, updated in place when the run ends",
            "│  ❌ lead-to-invoice: dropped at Form → CRM",
            "│  run `r-7k2xq9` · 12.5 s · started by @U0ALICE · Stage-by-stage trail, "
            "evidence and cleanup in the thread.",
            "└─ thread · 5 replies",
            "   ↳ ✅ Form · injected in 0.2 s",
            "   ↳ ❌ Form → CRM · dropped",
            "     > The record never arrived in CRM within 30s.",
            "   ↳ ⏭️ CRM → Email · skipped: nothing arrived upstream to check",
            "   ↳ ⏭️ CRM → Invoice · skipped: nothing arrived upstream to check",
            "   ↳ ❌ First break: Form → CRM. The record never arrived in CRM within 30s.",
            "     Evidence at Form → CRM · dropped",
            "     • expected the record within 30 s, found none",
            "     🧹 Cleanup: removed 1 test object(s). · run `r-7k2xq9` · test record marker "
            "`bt7k2xq9`",
        ]
    )


# -- localisation: one break, its consequences in the trail ------------------------------


def _localised(*missing: str, down: str | None = None) -> RunResult:
    """lead-to-invoice with ``missing`` stages never seeing the record (and ``down`` not
    checkable), localised the way the engine does it."""
    result = make_result(outcome="ok")
    stages = []
    for s in result.stages:
        cfg = WF.stage(s.name)
        if s.name in missing:
            finding = diagnosis.missing_finding(seam=WF.seam(cfg), where=cfg.display, deadline_s=30)
            s = replace(s, status="missing", found=0, latency_s=None, findings=[finding])
        elif s.name == down:
            finding = diagnosis.unreachable_finding(
                seam=WF.seam(cfg), where=cfg.display, error="hubspot: HTTP 503"
            )
            s = replace(s, status="unreachable", found=0, latency_s=None, findings=[finding])
        stages.append(s)
    stages, fb = diagnosis.localise(WF, stages)
    return replace(result, stages=stages, first_break=fb, verdict=verdict_for(stages))


def test_a_lost_handoff_is_one_break_out_of_the_stage_that_had_it() -> None:
    result = _localised("welcome-email", "invoice")
    assert messages.final(INFO, result, WF).payload()["blocks"][0] == section(
        "❌ *lead-to-invoice* (paypal): *dropped at the handoff out of CRM*"
    )
    lead, *evidence, _ = messages.diagnosis(result, WF).payload()["blocks"]
    assert lead == section(
        "❌ *First break: CRM → Email, Invoice.* CRM received the record, but none of Email, "
        "Invoice received it: the handoff out of CRM (its webhook or the glue's trigger) "
        "dropped it."
    )
    assert [b["text"]["text"].split("\n")[0] for b in evidence] == [
        "*Evidence at CRM → Email* · dropped",
        "*Evidence at CRM → Invoice* · dropped",
    ]


def test_consequences_are_not_reached_not_more_breaks() -> None:
    result = _localised("crm", "welcome-email", "invoice")
    assert result.verdict == "leak"
    assert messages.final(INFO, result, WF).payload()["blocks"][0] == section(
        "❌ *lead-to-invoice* (paypal): *dropped at Form → CRM*"
    )
    assert messages.stage_reply(result.stages[2], WF).payload() == {
        "text": "⏭️ CRM → Email · not reached",
        "blocks": [
            section(
                "⏭️ *CRM → Email* · not reached\n"
                "> The record never reached Email, a consequence of the break at Form → CRM."
            )
        ],
    }
    payload = messages.diagnosis(result, WF).payload()
    lead, evidence, _ = payload["blocks"]
    assert lead == section(
        "❌ *First break: Form → CRM.* The record never arrived in CRM within 30s; so it never "
        "reached Email or Invoice either."
    )
    assert evidence["text"]["text"] == (
        "*Evidence at Form → CRM* · dropped\n• expected the record within 30 s, found none"
    )
    now = T0 + dt.timedelta(hours=2)
    status = replies.status_one("lead-to-invoice", WF, result, [], now).payload()
    assert status["text"] == "❌ lead-to-invoice: dropped at Form → CRM"


def test_missing_below_an_outage_is_could_not_check_not_a_leak() -> None:
    result = _localised("welcome-email", "invoice", down="crm")
    assert result.verdict == "error"
    assert messages.final(INFO, result, WF).payload()["blocks"][0] == section(
        "⚠️ *lead-to-invoice* (paypal): *could not check CRM*"
    )
    assert messages.stage_reply(result.stages[3], WF).payload() == {
        "text": "⚠️ CRM → Invoice · could not check",
        "blocks": [
            section(
                "⚠️ *CRM → Invoice* · could not check\n"
                "> Could not check Invoice (upstream unknown: CRM could not be checked)."
            )
        ],
    }
    # The error is the lead's own sentence: no evidence block says it again.
    lead, _ = messages.diagnosis(result, WF).payload()["blocks"]
    assert lead == section(
        "⚠️ *Not a leak: Baton could not look.* Could not check CRM: hubspot: HTTP 503."
    )
    opened = alert_messages.alert_opened(result, WF, consecutive=None)
    assert opened.text.startswith("⚠️ lead-to-invoice: could not check CRM · not a leak")


def test_a_correct_no_consent_run_says_the_mail_rightly_stayed_away() -> None:
    ok = make_result(outcome="ok")
    stages = [
        replace(s, expected_absent=True, found=0, latency_s=None)
        if s.name == "welcome-email"
        else s
        for s in ok.stages
    ]
    result = replace(ok, stages=stages)
    info = RunInfo(workflow="lead-to-invoice", run_id="r-7k2xq9", user="U0ALICE")
    head = messages.final(info, result, WF).payload()["blocks"][0]
    assert head == section(
        "✅ *lead-to-invoice*: *reached every tool it should and, as expected, not Email*"
    )
    mail = next(s for s in result.stages if s.name == "welcome-email")
    assert (
        messages.stage_reply(mail, WF).payload()["text"] == "✅ CRM → Email · not sent, as expected"
    )


def test_a_tools_raw_answer_is_quoted_once_per_thread() -> None:
    body = '{"status":"error","message":"The service is down for maintenance"}'
    result = make_result(outcome="ok")
    down = {
        "crm": f"Form → CRM: could not check CRM: hubspot: POST /crm answered 503: {body}",
        "invoice": f"CRM → Invoice: could not check Invoice: stripe: GET /v1 answered 503: {body}",
    }
    stages = [
        replace(
            s,
            status="unreachable",
            latency_s=None,
            findings=[Finding(FindingKind.UNREACHABLE, down[s.name], observed={"error": "x"})],
        )
        if s.name in down
        else s
        for s in result.stages
    ]
    result = replace(
        result,
        verdict=Verdict.ERROR,
        stages=stages,
        first_break=FirstBreak(
            seam="Form → CRM", stage="crm", kind="unreachable", message=down["crm"]
        ),
    )
    thread = render_preview(result, WF, user="U0ALICE")
    assert thread.count("The service is down") == 1, thread
    assert "(the same answer as above)" in thread
    # Posted on its own (an alert's thread), the closing reply quotes it once as well.
    alone = str(messages.diagnosis(result, WF).payload()["blocks"])
    assert alone.count("The service is down") == 1, alone
