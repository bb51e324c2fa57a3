"""Digests in Slack: the message builder (whole payloads), the links to where runs were
reported, Slack's limits, ``/baton digest`` over signed requests (the message in the
channel, the chart uploaded to its thread through files_upload_v2), and scheduled digests
posted once by two processes.

The store is seeded with known outcomes (``test_digest.seed``: 100 runs of ``lead``,
90 ok, 5 lost at CRM, 3 reformatted at Mail, 2 could not check).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlite_utils
from bot_support import BOT_TOKEN, FakeEngine, sample_config
from slack_sdk.web.async_client import AsyncWebClient
from slack_standin import SlackStandIn, block_violations, spec_violations
from test_digest import NOW, seed, seed_run

from baton.bot.app import Bot
from baton.bot.blocks.digest import digest_message, period_words
from baton.bot.digests import with_links
from baton.bot.scheduler import BotScheduler
from baton.probes.config import Config, DigestSchedule
from baton.probes.health.digest import build_digest
from baton.probes.store import Store
from baton.probes.store.bot import BotStore, Posted

pytestmark = pytest.mark.anyio

CHANNEL = "C0PROBES"
WORKSPACE = "https://acme.slack.com/"
STANDIN = "https://standin.slack.com/"  # auth.test's url in the stand-in
PNG = b"\x89PNG\r\n\x1a\n"


def md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": md(text)}


def seeded() -> tuple[sqlite_utils.Database, BotStore]:
    """The seeded store; r-000097 was a ``/baton run`` (its own thread), r-000094 a
    scheduled run whose repeat was replied in an alert's thread."""
    db = sqlite_utils.Database(memory=True)
    seed(Store(db))
    bot_store = BotStore(db)
    bot_store.save_thread(
        run_id="r-000097", channel=CHANNEL, ts="1700000000.000100", user="U0ALICE", workflow="lead"
    )
    bot_store.remember_scheduled(run_id="r-000094", workflow="lead", channel="C0A", slot_ts=1.0)
    bot_store.save_post("r-000094", Posted("C0A", "1700000000.000300", "1700000000.000200"))
    return db, bot_store


def linked(
    db: sqlite_utils.Database, bot_store: BotStore, workspace: str = WORKSPACE, **kw: Any
) -> Any:
    digest = build_digest(db, NOW, **kw)
    ids = [r.run_id for wf in digest.workflows for r in (*wf.failed_runs, *wf.unchecked_runs)]
    return with_links(digest, bot_store.where_reported(ids), workspace)


# -- the builder -------------------------------------------------------------------------------


def test_digest_message() -> None:
    db, bot_store = seeded()
    assert digest_message(linked(db, bot_store), asked_by="U0ALICE").payload() == {
        "text": "Baton health, last 7 days: lead 91.8% pass (8 leaks, 2 could not check)",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "📊 Baton health · last 7 days",
                    "emoji": True,
                },
            },
            {
                "type": "context",
                "elements": [
                    md(
                        "Thu 21 May 20:00 → Thu 28 May 20:26 UTC · asked for by <@U0ALICE> · "
                        "pass rates with their 95% interval · “could not check” is counted "
                        "apart, never as a leak"
                    )
                ],
            },
            {"type": "divider"},
            section(
                "❌ *lead* · 100 runs: 90 ok, 8 leaks, 2 could not check\n"
                "Pass rate *91.8% (84.7–95.8%)*: leaks about 1 in 12, between 1 in 24 and 1 "
                "in 6.5\n"
                "Most frequent: missing 5, reformatted 3"
            ),
            section(
                "*Per seam*\n"
                "• *Form* · 100 checked · 100.0% (96.3–100.0%) · p50 0.30s · p95 0.30s\n"
                "      no leaks in 100 runs (fewer than 1 in 27 at 95%)\n"
                "• *Form → CRM* · 98 checked · 94.9% (88.6–97.8%) · p50 2.1s · p95 21s\n"
                "      drops about 1 in 20, between 1 in 45 and 1 in 8.8; missing 5; 2 could "
                "not check\n"
                "• *CRM → Mail* · 95 checked · 96.8% (91.1–98.9%) · p50 4.7s · p95 4.7s\n"
                "      leaks about 1 in 32, between 1 in 93 and 1 in 11; reformatted 3; 5 not "
                "reached (an earlier stage lost the record or could not be checked, so this seam "
                "was not tested)"
            ),
            section(
                "*Leaked* (8, newest first)\n"
                "• <https://acme.slack.com/archives/C0PROBES/p1700000000000100|r-000097> "
                "Wed 27 May 12:36 · CRM → Mail: reformatted\n"
                "• `r-000096` Wed 27 May 12:26 · CRM → Mail: reformatted\n"
                "• `r-000095` Wed 27 May 12:16 · CRM → Mail: reformatted\n"
                "• <https://acme.slack.com/archives/C0A/p1700000000000300"
                "?thread_ts=1700000000.000200&cid=C0A|r-000094> "
                "Wed 27 May 12:06 · Form → CRM: missing\n"
                "• `r-000093` Wed 27 May 11:56 · Form → CRM: missing\n"
                "• `r-000092` Wed 27 May 11:46 · Form → CRM: missing\n"
                "• <https://acme.slack.com/archives/C1/p91|r-000091> Wed 27 May 11:36 · "
                "Form → CRM: missing\n"
                "• <https://acme.slack.com/archives/C1/p90|r-000090> Wed 27 May 11:26 · "
                "Form → CRM: missing"
            ),
            section(
                "*Could not check, not leaks* (2, newest first)\n"
                "• `r-000099` Wed 27 May 12:56\n"
                "• `r-000098` Wed 27 May 12:46"
            ),
            {
                "type": "context",
                "elements": [
                    md(
                        "*Key* · *leak*: a run in which a seam did not hand the record on "
                        "intact and in time; the kinds (missing, reformatted …) say how · "
                        "*checked*: runs that tested the seam: the record passed it, or leaked "
                        "there · *pass rate x% (a–b%)*: share of checked runs whose record "
                        "arrived intact and in time; (a–b%) is its 95% interval: the true rate is "
                        "in it, 95% sure, given this many runs · "
                        "*1 in N*: how often a record leaks (drops: goes missing); its range, "
                        'like any bound "at 95%", is 95% sure · *p50 / p95*: half / 95 in 100 of '
                        "the records crossed the seam within this time · *could not check*: "
                        "Baton could not read a tool (an error, no answer): neither a pass nor a "
                        "leak, left out of the rates"
                    )
                ],
            },
            {
                "type": "context",
                "elements": [md("`/baton digest WORKFLOW 30d` for one workflow or another period")],
            },
        ],
    }


def test_the_key_explains_the_terms_a_digest_uses() -> None:
    """Every term in the message is in the key; "could not check" only when it is used;
    "not reached" is said where it is counted."""
    db, bot_store = seeded()
    blocks = digest_message(linked(db, bot_store)).payload()["blocks"]
    key = blocks[-2]["elements"][0]["text"]
    assert key.startswith("*Key* · *leak*: ")
    for term in ("checked", "pass rate x% (a–b%)", "1 in N", "p50 / p95", "could not check"):
        assert f"*{term}*: " in key
    assert [p for b in blocks for p in block_violations(b)] == []

    clean = sqlite_utils.Database(memory=True)
    outcomes = {"form": ("ok", 0.3), "crm": ("ok", 1.0), "mail": ("missing", None)}
    seed_run(Store(clean), "r-000001", NOW - 3600, outcomes)
    blocks = digest_message(build_digest(clean, NOW)).payload()["blocks"]
    assert "could not check" not in blocks[-2]["elements"][0]["text"]
    assert "not reached" not in str(blocks)

    lost = {"form": ("ok", 0.3), "crm": ("missing", None), "mail": ("missing", None)}
    seed_run(Store(clean), "r-000002", NOW - 3000, lost)
    (per_seam,) = [b for b in digest_message(build_digest(clean, NOW)).payload()["blocks"]
                   if "*Per seam*" in str(b)]  # fmt: skip
    assert per_seam["text"]["text"].endswith(
        "; 1 not reached (an earlier stage lost the record or could not be checked, so this "
        "seam was not tested)"
    )
    assert (
        digest_message(build_digest(sqlite_utils.Database(memory=True), NOW))
        .payload()["blocks"][-1]["elements"][0]["text"]
        .startswith("`/baton digest")
    )  # no key when nothing to explain


def test_links_come_from_the_bots_tables() -> None:
    db, bot_store = seeded()
    (lead,) = linked(db, bot_store).workflows
    refs = {r.run_id: r for r in lead.failed_runs}
    manual, scheduled, unreported = refs["r-000097"], refs["r-000094"], refs["r-000093"]
    assert (manual.channel, manual.thread_ts) == (CHANNEL, "1700000000.000100")
    assert (scheduled.channel, scheduled.thread_ts) == ("C0A", "1700000000.000200")
    assert (unreported.permalink, unreported.thread_ts) == (None, None)


def test_an_empty_period() -> None:
    digest = build_digest(sqlite_utils.Database(memory=True), NOW, period_s=86_400)
    payload = digest_message(digest).payload()
    assert payload["text"] == "Baton health, last 1 day: no finished probe runs."
    assert payload["blocks"][2] == section("No finished probe runs in this period.")


def test_many_workflows_stay_within_slacks_limits() -> None:
    db = sqlite_utils.Database(memory=True)
    store = Store(db)
    outcomes = {"form": ("ok", 0.3), "crm": ("missing", None), "mail": ("missing", None)}
    for w in range(15):
        for i in range(30):
            name = f"workflow-{w:02d}-" + "x" * 60
            seed_run(store, f"r-{w:02d}{i:04d}", NOW - 86_400 + i * 60, outcomes, workflow=name)
    payload = digest_message(build_digest(db, NOW)).payload()
    assert len(payload["blocks"]) <= 50
    assert [p for b in payload["blocks"] for p in block_violations(b)] == []
    assert payload["blocks"][-1]["elements"][0]["text"].startswith(
        "… and 4 more workflow(s) not shown: workflow-11-"
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(7 * 86_400, "7 days"), (86_400, "1 day"), (12 * 3600, "12 hours"), (5400, "90 minutes")],
)
def test_period_words(seconds: float, words: str) -> None:
    assert period_words(seconds) == words


# -- /baton digest, over signed requests --------------------------------------------------------


def lead_to_invoice_config() -> Config:
    return sample_config()


def seed_lead_to_invoice(db: sqlite_utils.Database) -> None:
    """20 runs of lead-to-invoice over a day: 17 ok, 2 dropped at CRM, 1 could not check."""
    store = Store(db)
    for i in range(20):
        if i in (5, 12):
            outcomes = {"form": ("ok", 0.2), "crm": ("missing", None), "mail": ("missing", None)}
        elif i == 15:
            outcomes = {"form": ("ok", 0.2), "crm": ("unreachable", None), "mail": ("ok", 3.0)}
        else:
            outcomes = {"form": ("ok", 0.2), "crm": ("ok", 2.0), "mail": ("ok", 3.0)}
        seed_run(store, f"r-{i:06d}", NOW - 86_400 + i * 3600, outcomes, workflow="lead-to-invoice")


async def test_digest_command_posts_the_digest_and_its_chart_in_the_thread() -> None:
    from test_bot_http import harness

    async with harness() as h:
        seed_lead_to_invoice(h.db)
        h.clock.now = NOW
        h.bot.store.save_thread(
            run_id="r-000012", channel=CHANNEL, ts="1700000000.000042", user="U0BOB",
            workflow="lead-to-invoice",
        )  # fmt: skip
        reply = await h.command("digest lead-to-invoice 7d")
        assert (reply.status, reply.body) == (200, "")
        await h.bot.drain()

        (post,) = h.slack.of("chat.postMessage")
        digest_ts = post.answer["ts"]
        expected = digest_message(
            linked(h.db, h.bot.store, STANDIN, workflow="lead-to-invoice"), asked_by="U0ALICE"
        )
        assert post.params == {"channel": CHANNEL, **expected.payload()}
        assert expected.text == (
            "Baton health, last 7 days: lead-to-invoice 89.5% pass (2 leaks, 1 could not check)"
        )
        assert "https://standin.slack.com/archives/C0PROBES/p1700000000000042|r-000012" in str(
            post.params["blocks"]
        )

        asked, upload, complete = (
            h.slack.of(m)
            for m in ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")
        )
        assert [c.params["filename"] for c in asked] == ["baton-health-2026-05-28.png"]
        assert asked[0].params["alt_txt"] == (
            "Pass rate with its 95% interval (shaded) and p50/p95 latency per seam, a point per "
            "day, over the last 7 days"
        )
        (sent,) = upload
        (shared,) = complete
        assert shared.params["channel_id"] == CHANNEL
        assert shared.params["thread_ts"] == digest_ts
        (file,) = h.slack.files.values()
        assert file["bytes"].startswith(PNG) and file["title"] == "Baton health, last 7 days"
        assert sent.params["length"] == len(file["bytes"])
        assert h.slack.thread(CHANNEL, digest_ts)[0]["files"] == [file["id"]]
        h.assert_spec()


async def test_a_chart_slack_refuses_is_said_in_the_thread() -> None:
    from test_bot_http import harness

    async with harness() as h:
        seed_lead_to_invoice(h.db)
        h.clock.now = NOW
        h.slack.fail("files.getUploadURLExternal", "missing_scope")
        await h.command("digest")
        await h.bot.drain()
        _digest, note = h.posts()
        assert note["thread_ts"] == h.slack.of("chat.postMessage")[0].answer["ts"]
        assert note["text"].startswith("The chart could not be uploaded (missing_scope, error E-")
        assert note["text"].endswith(
            " (the app needs the files:write scope: see `baton manifest`)."
        )
        h.assert_spec()


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        pytest.param(
            "digest lead-to-invoce",
            "⚠️ unknown workflow 'lead-to-invoce' (did you mean 'lead-to-invoice'?); known: "
            "lead-to-invoice, newsletter",
            id="unknown-workflow",
        ),
        pytest.param(
            "digest lead-to-invoice 7x",
            "⚠️ digest: '7x' is not a period such as 7d, 24h or 2w: digest [WORKFLOW] [PERIOD], "
            "e.g. digest lead-to-invoice 7d",
            id="bad-period",
        ),
    ],
)
async def test_digest_problems_are_answered_in_the_ack(text: str, answer: str) -> None:
    from test_bot_http import harness

    async with harness() as h:
        reply = await h.command(text)
        assert reply.text.split("\n")[0] == answer
        await h.bot.drain()
        assert h.slack.calls == []


async def test_a_digest_the_bot_cannot_post_is_told_to_whoever_asked() -> None:
    from test_bot_http import harness

    async with harness() as h:
        h.slack.fail("chat.postMessage", "not_in_channel")
        await h.command("digest")
        await h.bot.drain()
        (told,) = h.slack.of("response_url")
        assert told.params["text"].startswith("⚠️ Slack refused a message from Baton (`not_in")
        assert told.params["response_type"] == "ephemeral"


# -- scheduled digests ----------------------------------------------------------------------------


async def test_a_scheduled_digest_is_posted_once_by_two_processes() -> None:
    digest = DigestSchedule("C0DIGEST", "0 9 * * *", period_s=86_400 * 7)
    config = dataclasses.replace(
        sample_config(), slack=dataclasses.replace(sample_config().slack, digests=[digest])
    )
    db = sqlite_utils.Database(memory=True)
    seed_lead_to_invoice(db)
    async with SlackStandIn(token=BOT_TOKEN) as slack:
        posted = []
        for _ in range(2):
            bot = Bot(
                config=config,
                engine=FakeEngine(config, store=Store(db)),
                client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
                db=db,
                clock=lambda: NOW,
            )
            bot.digests.chart = lambda d: PNG  # the chart itself is tested above
            scheduling = BotScheduler(bot=bot, engine=bot.engine, clock=lambda: NOW)
            scheduling.register()
            job = scheduling.scheduler.get_job(f"baton-{_key(digest)}")
            posted.append(await job.func(**job.kwargs))
        assert posted[0] is not None and posted[1] is None
        (post,) = slack.of("chat.postMessage")
        assert post.params["channel"] == "C0DIGEST"
        assert post.params["text"].startswith("Baton health, last 7 days: lead-to-invoice 89.5%")
        assert len(slack.of("files.completeUploadExternal")) == 1
        assert [p for c in slack.calls for p in spec_violations(c)] == []


def _key(spec: DigestSchedule) -> str:
    from baton.bot.scheduler import digest_key

    return digest_key(spec)
