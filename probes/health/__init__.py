"""Health over time: how often each workflow and seam passed, and who is told when it changes.

==============  ==========================================================================
``stats``       Wilson intervals, leak rates in words, latency percentiles
``digest``      ``build_digest(store, now)``: per workflow and seam, over a period
``chart``       the digest's chart (PNG or SVG)
``alerts``      the alert state machine (``next_state``) and the flips it records
``schedule``    firing schedules: claim a slot, pick the variant, catch up once
==============  ==========================================================================

The config's own value types that these use, ``ScheduleSpec`` (when a schedule fires) and
``AlertPolicy`` (thresholds, quiet hours, maintenance windows), are pure and live in
:mod:`baton.probes.config` (``slots`` and ``windows``).
"""
