"""Parsing slash-command text: a table of what people type, and a seeded fuzzer.

hypothesis is not installed here, so the fuzzer is a small seeded generator over the
characters that make parsing hard (every kind of quote and space, '=', emoji, combining
marks, control characters, Slack's HTML entities). Seeds are fixed: a failure reproduces.
"""

from __future__ import annotations

import random

import pytest

from baton.bot.commands import (
    MAX_HISTORY,
    Help,
    History,
    ListWorkflows,
    Pause,
    PostDigest,
    Run,
    Schedules,
    Status,
    parse_command,
    split_args,
)

WEEK = 7 * 86_400.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", Help(), id="empty"),
        pytest.param("   \u00a0 ", Help(), id="only-spaces"),
        pytest.param("help", Help(), id="help"),
        pytest.param("HELP", Help(), id="help-upper"),
        pytest.param("list", ListWorkflows(), id="list"),
        pytest.param("ls", ListWorkflows(), id="ls-alias"),
        pytest.param("status", Status(), id="status"),
        pytest.param("status lead-to-invoice", Status("lead-to-invoice"), id="status-wf"),
        pytest.param("history lead-to-invoice", History("lead-to-invoice", 10), id="history"),
        pytest.param("history lead-to-invoice 3", History("lead-to-invoice", 3), id="history-n"),
        pytest.param(
            "history lead-to-invoice 500",
            History("lead-to-invoice", MAX_HISTORY),
            id="history-capped",
        ),
        pytest.param("run lead-to-invoice", Run("lead-to-invoice"), id="run"),
        pytest.param("run lead-to-invoice paypal", Run("lead-to-invoice", "paypal"), id="variant"),
        pytest.param(
            "  run   lead-to-invoice\tpaypal   first_name=Zoë  ",
            Run("lead-to-invoice", "paypal", {"first_name": "Zoë"}),
            id="stray-spaces-and-tab",
        ),
        pytest.param(
            'run lead-to-invoice first_name="Zoë Ann" last_name=Łukasz',
            Run("lead-to-invoice", None, {"first_name": "Zoë Ann", "last_name": "Łukasz"}),
            id="straight-quotes-unicode",
        ),
        pytest.param(
            "run lead-to-invoice first_name=“Zoë Ann”",
            Run("lead-to-invoice", None, {"first_name": "Zoë Ann"}),
            id="smart-double-quotes",
        ),
        pytest.param(
            "run lead-to-invoice first_name=‘Zoë Ann’",
            Run("lead-to-invoice", None, {"first_name": "Zoë Ann"}),
            id="smart-single-quotes",
        ),
        pytest.param(
            "run lead-to-invoice first_name=„Zoë Ann“",
            Run("lead-to-invoice", None, {"first_name": "Zoë Ann"}),
            id="german-quotes",
        ),
        pytest.param(
            "run lead-to-invoice last_name=O’Brien first_name=D'Arcy",
            Run("lead-to-invoice", None, {"last_name": "O’Brien", "first_name": "D'Arcy"}),
            id="apostrophes-are-letters",
        ),
        pytest.param(
            "run lead-to-invoice last_name='O'Brien'",
            Run("lead-to-invoice", None, {"last_name": "O'Brien"}),
            id="apostrophe-inside-quotes",
        ),
        pytest.param(
            'run "lead-to-invoice',
            Run("lead-to-invoice"),
            id="unbalanced-quote-dropped",
        ),
        pytest.param(
            'run lead-to-invoice company="Baton & Co" x_note=a=b',
            Run("lead-to-invoice", None, {"company": "Baton & Co", "x_note": "a=b"}),
            id="equals-in-value",
        ),
        pytest.param(
            "run lead-to-invoice company=Baton &amp; Co",
            Help(
                problem="unexpected '&': give fields as field=value, and put a value with "
                'spaces in quotes: first_name="Zoë Ann"'
            ),
            id="html-entities-unescaped",
        ),
        pytest.param(
            'run lead-to-invoice first_name=""',
            Run("lead-to-invoice", None, {"first_name": ""}),
            id="empty-value",
        ),
        pytest.param(
            "run lead-to-invoice First_Name=Zoë",
            Run("lead-to-invoice", None, {"first_name": "Zoë"}),
            id="field-case-folded",
        ),
        pytest.param(
            "run lead\u200b-to-invoice",
            Run("lead-to-invoice"),
            id="zero-width-space",
        ),
        pytest.param(
            "run lead-to-invoice phone=+44\u00a07700\u00a0900123",
            Help(
                problem="unexpected '7700': give fields as field=value, and put a value with "
                'spaces in quotes: first_name="Zoë Ann"'
            ),
            id="nbsp-is-a-space",
        ),
        pytest.param(
            "run",
            Help(problem="run needs a workflow: run WORKFLOW [variant] [field=value ...]"),
            id="run-no-workflow",
        ),
        pytest.param(
            "run first_name=Zoë",
            Help(problem="run needs a workflow: run WORKFLOW [variant] [field=value ...]"),
            id="run-field-first",
        ),
        pytest.param(
            "run lead-to-invoice =x",
            Help(problem="'=x': a field name is letters, digits and _, e.g. first_name"),
            id="empty-field-name",
        ),
        pytest.param(
            "histroy lead-to-invoice",
            Help(problem="unknown command 'histroy' (did you mean 'history'?)"),
            id="typo-did-you-mean",
        ),
        pytest.param("deploy", Help(problem="unknown command 'deploy'"), id="unknown"),
        pytest.param(
            "history",
            Help(problem="history needs a workflow: history WORKFLOW [N]"),
            id="history-no-workflow",
        ),
        pytest.param(
            "history lead-to-invoice ten",
            Help(problem="history: N must be a whole number of 1 or more, not 'ten'"),
            id="history-bad-n",
        ),
        pytest.param(
            "history lead-to-invoice ３",
            History("lead-to-invoice", 3),
            id="history-fullwidth-digit",
        ),
        pytest.param(
            "status a b",
            Help(problem="status takes one workflow at most, not 2 words"),
            id="status-too-many",
        ),
        pytest.param("schedule", Schedules(), id="schedule"),
        pytest.param("Schedules list", Schedules(), id="schedules-list"),
        pytest.param("pause lead-to-invoice", Pause("lead-to-invoice"), id="pause"),
        pytest.param("resume lead-to-invoice", Pause("lead-to-invoice", False), id="resume"),
        pytest.param(
            "schedule pause lead-to-invoice", Pause("lead-to-invoice"), id="schedule-pause"
        ),
        pytest.param(
            "pause",
            Help(problem="pause takes one workflow: pause WORKFLOW"),
            id="pause-no-workflow",
        ),
        pytest.param(
            "resume a b",
            Help(problem="resume takes one workflow: resume WORKFLOW"),
            id="resume-two",
        ),
        pytest.param(
            "schedule lead-to-invoice",
            Help(problem="schedule lists the schedules; to stop one: pause WORKFLOW"),
            id="schedule-what",
        ),
        pytest.param("digest", PostDigest(None, WEEK), id="digest"),
        pytest.param("digest lead-to-invoice", PostDigest("lead-to-invoice", WEEK), id="digest-wf"),
        pytest.param(
            "digest lead-to-invoice 24h",
            PostDigest("lead-to-invoice", 86_400.0),
            id="digest-wf-24h",
        ),
        pytest.param("digest 2W", PostDigest(None, 2 * WEEK), id="digest-2w"),
        pytest.param(
            "digest 30d lead-to-invoice",
            PostDigest("lead-to-invoice", 30 * 86_400.0),
            id="any-order",
        ),
        pytest.param("digest ７d", PostDigest(None, WEEK), id="digest-fullwidth-digit"),
        pytest.param(
            "digest a b",
            Help(
                problem="digest: 'b' is not a period such as 7d, 24h or 2w: digest [WORKFLOW] "
                "[PERIOD], e.g. digest lead-to-invoice 7d"
            ),
            id="digest-two-workflows",
        ),
        pytest.param(
            "digest 400d",
            Help(problem="digest: the period must be more than 0 and at most 366d"),
            id="digest-too-long",
        ),
        pytest.param(
            "digest 0d",
            Help(problem="digest: the period must be more than 0 and at most 366d"),
            id="digest-zero",
        ),
        pytest.param(
            "digets",
            Help(problem="unknown command 'digets' (did you mean 'digest'?)"),
            id="digest-typo",
        ),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse_command(text) == expected


def test_a_quote_closes_only_at_the_end_of_a_word() -> None:
    # Otherwise the apostrophe in 'O'Brien' would end the quoted value.
    assert split_args('a="b c"d e') == ["a=b", 'c"d', "e"]
    assert split_args("a='O'Brien' e") == ["a=O'Brien", "e"]


def test_quote_only_opens_at_word_or_value_start() -> None:
    assert split_args('say a"b c"') == ["say", 'a"b', 'c"']


# -- the fuzzer ------------------------------------------------------------------------------

_ALPHABET = (
    list("abcxyz019_-=.,:;/@+#!?*`~^|\\()[]{}")
    + list("\"'“”„‘’‚«»‹›″′")
    + [" ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u200b", "\ufeff", "\u00ad", "\x00", "\x1b"]
    + ["Zoë", "Ł", "ß", "e\u0301", "日本", "🙂", "👩‍💻", "\u202e"]
    + ["&amp;", "&lt;", "&gt;", "<!channel>", "<@U123>", "run ", "list ", "history ", "status "]
    + ["lead-to-invoice", "first_name=", "x_", "="]
)


_QUOTES = set("\"'“”„‘’‚«»‹›″′")


def fuzz_texts(seed: int, n: int, *, max_len: int = 40) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(0, max_len)
        out.append("".join(rng.choice(_ALPHABET) for _ in range(k)))
    # Some long ones, and ones built mostly of quotes (the tokenizer's worst case).
    out.append("".join(rng.choice("\"“”'’ a=") for _ in range(5000)))
    out.append("run " + 'x="' * 1500)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_fuzz_parse_never_raises_and_round_trips(seed: int) -> None:
    for text in fuzz_texts(seed, 2000):
        cmd = parse_command(text)
        assert isinstance(cmd, Run | ListWorkflows | Status | History | Help)
        if isinstance(cmd, Run):
            assert cmd.workflow and "=" not in cmd.workflow
            assert all(k and k == k.casefold() for k in cmd.overrides)
            assert all("\x00" not in v for v in cmd.overrides.values())
        if isinstance(cmd, History):
            assert 1 <= cmd.limit <= MAX_HISTORY
        words = split_args(text)
        assert all(words)
        if not _QUOTES & set(text):
            assert all(" " not in w for w in words)  # only quotes keep spaces in a word


def test_worst_case_input_is_fast() -> None:
    import time

    text = "run " + " ".join(['x="' + "“" * 10] * 400)
    started = time.perf_counter()
    parse_command(text)
    assert time.perf_counter() - started < 0.2
