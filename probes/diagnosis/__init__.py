"""Diagnosis: what went wrong where, in plain English. Pure functions: no I/O, no clock.

=============  ===========================================================================
``classify``   one expected value against one observed value: which kind of damage
``findings``   one stage's record against its expectation: findings with a sentence each
``decide``     what the engine does next with a stage (judge, wait, call it missing ...)
``localise``   a whole run: stages as a reader should see them, and the first break
``report``     a run result as text and JUnit (the CLI's renderings)
=============  ===========================================================================
"""

from .findings import compare, humanize, late_finding, missing_finding, unreachable_finding
from .localise import first_break, is_handoff, localise, localised

__all__ = [
    "compare",
    "first_break",
    "humanize",
    "is_handoff",
    "late_finding",
    "localise",
    "localised",
    "missing_finding",
    "unreachable_finding",
]
