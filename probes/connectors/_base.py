"""The connector interface every tool implements."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..config import StageConfig, ToolConfig
from ..errors import ConfigError, ConnectorError
from ..record import TestRecord
from ._http import ToolHttp

#: One record as a tool shows it: field name (as the tool names it) -> value.
#: ``_id`` holds the tool's id for it, ``_matched_by`` how it was found ("email", "marker"),
#: and ``_created_ts`` (optional) when the tool says it was created, as a Unix timestamp:
#: the engine times the seam with it, so a check delayed by a rate limit never makes an
#: on-time record look late. ``_seen_by_ts`` (optional) is a time by which the tool says the
#: record existed (an upper bound, e.g. SendGrid's last event time), and
#: ``_stamp_resolution_s`` how coarse those stamps are (1 for whole seconds).
ObservedRecord = dict[str, Any]


@dataclass(frozen=True)
class Look:
    """One stage of one probe run that the engine wants looked at now.

    Connectors that can answer many looks in one request (``max_batch > 1``) get them
    together in ``observe_batch``; the engine's observation loop gathers them from every run
    in flight.
    """

    record: TestRecord
    stage: StageConfig
    #: Unix time before which the record cannot exist in this tool (when the run injected
    #: it). List endpoints may ask only for what was created since (``created[gte]``); allow
    #: for clock skew between Baton and the vendor.
    since: float
    #: Nothing carries the record's email past its deadline, or the engine decides the stage
    #: on this look whatever it shows: ask every question a diagnosis needs, even the
    #: expensive ones (a full-text search for the marker, which finds a record whose email
    #: was mangled; a search for duplicates the direct read cannot show).
    thorough: bool = False
    #: If the record is found, the engine will judge it on this look: find every copy of it
    #: (duplicates the direct read cannot show). Cheaper than ``thorough``: nothing is
    #: searched for where nothing was found.
    deciding: bool = False
    #: With ``deciding``: the engine judges a found record on this look only if it came into
    #: being at or before this Unix time (its settle window has passed), so duplicates need
    #: searching only for such records. ``None``: for every found record.
    settled_before: float | None = None


#: What ``observe_batch`` gives for one look: its records, or why it could not look.
LookResult = list[ObservedRecord] | ConnectorError


@dataclass(frozen=True)
class Removal:
    """One probe run's test record to remove from a tool (``cleanup_batch``)."""

    record: TestRecord
    #: The tool's ids of what the run saw there (its observed records' ``_id``): remove
    #: these too, even if they no longer carry the email.
    known_ids: tuple[str, ...] = ()
    #: Search by marker too (finds a record whose email was mangled). The engine asks for it
    #: after a crash and wherever the run saw something off in this tool; a run that found
    #: its records there by email, as expected, needs no search.
    thorough: bool = True
    #: Unix time the run injected the record (0: unknown): nothing older is ours, so list
    #: endpoints may look only at what is newer (allow for clock skew).
    since: float = 0.0


#: What ``cleanup_batch`` gives for one removal: objects removed, or why it failed.
RemovalResult = int | ConnectorError


class Connector:
    """Base class. A connector is built once per tool per process and shared by all runs.

    Subclasses set ``type_name`` and implement what their tool can do:

    - ``inject`` when the tool can be a workflow's entry;
    - ``observe`` when it can be watched;
    - ``cleanup`` to remove whatever the test record left behind.

    Every method finds the record by its email or marker alone, never by an id kept in
    memory, so a cleanup after a crash or a resumed run works from the stored marker.
    """

    type_name: ClassVar[str] = ""
    #: The vendor's real base URL; ``tools.<name>.base_url`` overrides it.
    default_base_url: ClassVar[str] = ""
    #: Requests per second when config sets no ``rate_limit``.
    default_rate_limit: ClassVar[float | None] = None
    can_inject: ClassVar[bool] = False
    can_observe: ClassVar[bool] = False
    #: Options this connector reads from ``tools.<name>`` (besides the common keys), so
    #: config validation can name unknown ones. name -> one-line description.
    options_doc: ClassVar[dict[str, str]] = {}
    #: Options that must be present.
    required_options: ClassVar[tuple[str, ...]] = ()
    #: Credential keys this connector needs, e.g. ("token",).
    required_credentials: ClassVar[tuple[str, ...]] = ()
    #: How many looks one ``observe_batch`` call may take. 1: the tool is asked per record.
    max_batch: ClassVar[int] = 1
    #: Whether observed records carry the tool's own time stamps (``_created_ts`` or
    #: ``_seen_by_ts``). The engine then times seams by them and needs no early looks, so
    #: it looks less often; without stamps it looks early and often to time the arrival.
    stamps_arrival: ClassVar[bool] = False
    #: How many removals one ``cleanup_batch`` call may take. 1: one record at a time.
    max_removals: ClassVar[int] = 1

    @classmethod
    def auth_headers(cls, tool: ToolConfig) -> dict[str, str]:
        """Headers that authenticate every request; default: ``Bearer <credentials.token>``."""
        token = tool.credentials.get("token")
        return {"Authorization": f"Bearer {token}"} if token else {}

    @classmethod
    def validate(cls, tool: ToolConfig) -> list[tuple[str, str]]:
        """What is wrong with ``tool``'s options, as ``(option, problem)`` pairs; ``[]`` when
        nothing is. The config loader asks every tool's connector, so ``load_config`` (and
        ``baton run``, ``serve``, ``check-config``) refuses what the connector would, with
        the file and line; ``__init__`` refuses the same. Override it to check more, and
        call ``super().validate(tool)``.

        >>> Connector.validate(ToolConfig(name="crm", type="x"))
        []
        """
        return [
            (key, f"required for type {cls.type_name}")
            for key in cls.required_options
            if tool.options.get(key) in (None, "")
        ]

    def __init__(self, tool: ToolConfig, http: ToolHttp) -> None:
        if problems := self.validate(tool):
            raise ConfigError([f"tools.{tool.name}.{key}: {text}" for key, text in problems])
        self.tool = tool
        self.http = http

    @property
    def name(self) -> str:
        return self.tool.name

    async def inject(self, record: TestRecord, stage: StageConfig) -> None:
        """Submit the test record at this tool (entry stages only)."""
        raise TypeError(f"connector {self.type_name!r} cannot be a workflow's entry")

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[ObservedRecord]:
        """Every record this tool holds for the test record (empty list: not there yet)."""
        raise TypeError(f"connector {self.type_name!r} cannot be observed")

    async def observe_batch(self, looks: Sequence[Look]) -> list[LookResult]:
        """Answer many looks at once, in their order: each a list of records or the
        ``ConnectorError`` that kept it from being checked. The default asks ``observe`` per
        look; connectors whose API can read many records in one request override it."""

        async def one(look: Look) -> LookResult:
            try:
                return await self.observe(look.record, look.stage)
            except ConnectorError as exc:
                return exc

        return list(await asyncio.gather(*(one(look) for look in looks)))

    async def cleanup_batch(self, removals: Sequence[Removal]) -> list[RemovalResult]:
        """Remove many runs' records at once, in their order: each the number of objects
        removed or the ``ConnectorError`` that stopped it. Must be idempotent like
        ``cleanup``. The default calls ``cleanup`` per record."""

        async def one(removal: Removal) -> RemovalResult:
            try:
                return await self.cleanup(removal.record)
            except ConnectorError as exc:
                return exc

        return list(await asyncio.gather(*(one(r) for r in removals)))

    async def cleanup(self, record: TestRecord) -> int:
        """Remove what the test record left here; return how many objects were removed.

        Must be idempotent: it is retried until it succeeds, and may run after a crash.
        """
        return 0
