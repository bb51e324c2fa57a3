"""The sandbox: local stand-ins of the vendors' APIs and a glue automation, with faults.

Run it in a test, a bench or ``baton sandbox``::

    from baton.probes.sandbox import Sandbox

    with Sandbox(faults=["swap@crm=firstname,email"], seed=1) as sb:
        sb.urls["glue"]      # http://127.0.0.1:40123/glue  (catch hook: /hooks/catch/ID/TOKEN)
        sb.urls["hubspot"]   # point a hubspot tool's base_url here
        ...

Prefixes: ``/hsforms`` (HubSpot Forms), ``/hubspot`` (CRM contacts v3), ``/sendgrid``
(mail send + Email Activity), ``/stripe`` (customers, invoice items, invoices), ``/glue``
(a Zapier-like catch hook) and ``/_sandbox`` (GET/PUT faults, POST reset, GET state,
GET/DELETE requests, GET/DELETE counts: requests served per tool and route). Fault grammar
and kinds: ``baton.probes.sandbox.faults``.
"""

from __future__ import annotations

from ._server import Sandbox
from .faults import KINDS, Fault, FaultPlan, FaultSpecError, parse_fault, parse_faults

__all__ = [
    "KINDS",
    "Fault",
    "FaultPlan",
    "FaultSpecError",
    "Sandbox",
    "parse_fault",
    "parse_faults",
]
