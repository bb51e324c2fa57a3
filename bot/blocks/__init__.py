"""Block Kit builders: pure functions from results to Slack messages (no I/O, no clock).

==============  ==========================================================================
``run``         a probe run: parent message, stage replies, closing reply, cleanup lines
``alert``       alerts: new, repeat, recovery
``digest``      the digest message and its key of terms
``schedule``    ``/baton schedule`` listings
``replies``     the answers to ``list``, ``status``, ``history``, ``help`` and errors
``run_ui``      the Re-run button, the run modal, the App Home's view
``fallback``    what the runner sees when Baton cannot post in the run's channel
``preview``     ``baton demo --slack-preview``: the messages above as plain text
``format``      escaping, clipping, links and sentences shared by all of them
==============  ==========================================================================
"""
