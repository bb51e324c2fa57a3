"""What a runner sees when Baton cannot post in the channel a run was asked for (pure).

Baton cannot start a thread in a private channel or a DM it is not a member of
(``chat:write.public`` covers public channels only). It then says, to the runner alone,
that the run started and what to do for a thread next time; the result comes once, in the
channel, through the command's response URL, or, once Slack's 30 minutes for that URL are
over (or its five uses), in the runner's DM with Baton.

    >>> started_elsewhere(RunInfo("lead-to-invoice", "r-1", "U1"), "G1").text[:9]
    'Probing l'
"""

from __future__ import annotations

from .format import channel_link, code, esc
from .run import Message, RunInfo, section

#: Below the result in the channel (a private channel: the app can be invited).
NOTE_CHANNEL = (
    "Baton cannot post in this channel, so the stage-by-stage thread is folded into this "
    "message. Invite the app (`/invite @Baton`) to get the thread next time."
)
#: Below the result in a DM between people (apps cannot be added to those).
NOTE_DM = (
    "Baton cannot post in this conversation, so the stage-by-stage thread is folded into "
    "this message. Run it in a channel Baton is in, or in your DM with Baton, to get the "
    "thread."
)


def is_dm(channel: str) -> bool:
    """A direct message (``D…``) rather than a channel: the app cannot be invited there."""
    return channel.startswith("D")


def started_elsewhere(info: RunInfo, channel: str) -> Message:
    """To the runner alone: the run started, where its result will come, and how to get a
    thread next time."""
    variant = f" ({esc(info.variant)})" if info.variant else ""
    what = f"*{esc(info.workflow)}*{variant}"
    where = "conversation" if is_dm(channel) else "channel"
    lead = (
        f"⏳ Probing {what} … run {code(info.run_id)}. Baton is not a member of this {where}, "
        "so it cannot start a thread here: the result will be posted here in one message "
        "when the run ends (if that takes more than 30 minutes, in your DM with Baton "
        "instead)."
    )
    if is_dm(channel):
        hint = (
            "For the stage-by-stage thread, run it in a channel Baton is in, or in your DM "
            "with Baton."
        )
    else:
        hint = "For the stage-by-stage thread next time, `/invite @Baton` here."
    text = f"Probing {esc(info.workflow)}{variant} … run {info.run_id}: the result will follow"
    return Message(text=text, blocks=(section(f"{lead}\n{hint}"),))


def note_for(channel: str) -> str:
    """The note below the folded result posted in ``channel``."""
    return NOTE_DM if is_dm(channel) else NOTE_CHANNEL


def dm_note(channel: str) -> str:
    """The note below the folded result sent to the runner's DM instead."""
    where = "a DM" if is_dm(channel) else channel_link(channel)
    fix = (
        "Run it in a channel Baton is in, or here, to get the stage-by-stage thread."
        if is_dm(channel)
        else "`/invite @Baton` there to get the stage-by-stage thread next time."
    )
    return (
        f"The result of your run in {where}: Baton is not a member there, and Slack's "
        f"window to answer there (30 minutes, five messages) had closed. {fix}"
    )


__all__ = ["NOTE_CHANNEL", "NOTE_DM", "dm_note", "is_dm", "note_for", "started_elsewhere"]
