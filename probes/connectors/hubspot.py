"""HubSpot: ``hubspot`` watches CRM contacts; ``hubspot_forms`` submits a HubSpot form.

CRM contacts v3 (https://developers.hubspot.com/docs/api/crm/contacts), authenticated with a
private app token (``credentials.token``, sent as ``Authorization: Bearer``). Search
(https://developers.hubspot.com/docs/api/crm/search) is eventually consistent and limited to a
few requests per second per account, so the connector reads the record store directly first
and defaults to 4 requests/s.

Many records at once (``observe_batch``, up to 100 looks): one round is ONE
``POST /crm/v3/objects/contacts/batch/read`` with ``idProperty: email`` for every look's email
(200, or 207 when some emails have no contact: those looks found nothing by email). Looks
the engine may decide on (``deciding`` or ``thorough``) whose contact was found also get one
``email IN [...]`` search for up to 100 emails (it finds duplicate contacts sharing an email,
which the direct read cannot show); ``thorough`` looks still without a contact get the
full-text search for their marker (it finds a contact whose email was swapped or mangled).
A round of N looks (N <= 100) costs 1 request, plus 1 when some found look is deciding, plus
one per thorough look that found nothing (more only when the ``IN`` search has over 200
contacts to page through).

Many cleanups at once (``cleanup_batch``, up to 100 removals): one batch read by email for
every removal's email; one ``email IN [...]`` search for the removals whose contact was found
(duplicates sharing the email); the full-text marker search per ``thorough`` removal; then ONE
batch read by id (``POST .../batch/read`` without ``idProperty``) for the known ids and
search hits the read by email did not show (the search index lags, so a hit is only counted
once the record store shows it; a known id may carry a mangled email); and ONE
``POST /crm/v3/objects/contacts/batch/archive`` with every contact to remove (204). A round of
N removals whose contacts are all found by email and that are not thorough costs 3 requests
(2 when no contact is left: nothing to archive), plus 1 per thorough removal, plus 1 when some
known id or search hit needs reading by id (each of these per 100 ids). Only a contact read
from the record store in this round that carries the removal's email or marker (``_is_ours``)
is archived, and it is counted for the first removal it belongs to; archive answers 204 even
for unknown ids, so nothing else is counted.

A 404 on the batch read, the search or the batch archive means the base URL is wrong
(``BadUrl``); a 404 on one contact's URL is "no such contact" only with HubSpot's
``OBJECT_NOT_FOUND`` JSON body.

Forms submission v3 (https://developers.hubspot.com/docs/api-reference/legacy/marketing/forms/v3-legacy/submit-data-unauthenticated)
needs no token; with ``credentials.token`` the authenticated ``/secure/`` endpoint is used.

Size: one vendor's API in full, from its docs: contacts by search and batch read, the form-
submissions path, rate-limit headers, archive for cleanup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from ..config import StageConfig, ToolConfig
from ..config import messages as msg
from ..errors import ApiError, ConfigError, ConnectorError
from ..record import TestRecord
from . import register
from ._base import Connector, Look, LookResult, ObservedRecord, Removal, RemovalResult
from ._util import dedupe, epoch, expected_fields, json_body, mapping_option, option, render

CONTACTS = "/crm/v3/objects/contacts"
DEFAULT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "signup_date",
    "payment_method",
)
#: One page is plenty for one test record; HubSpot allows up to 200.
SEARCH_LIMIT = 100
#: Inputs of one batch read, and values of one ``IN`` filter (HubSpot's limits).
BATCH_LIMIT = 100
#: Page size of the ``email IN [...]`` search (HubSpot's maximum).
IN_SEARCH_LIMIT = 200
#: Pages of one ``IN`` search followed at most (HubSpot stops at 10,000 results anyway).
IN_SEARCH_MAX_PAGES = 50
NOT_FOUND = "OBJECT_NOT_FOUND"

Contact = dict[str, Any]


@register
class HubSpot(Connector):
    """Finds the test record's contacts: by email, then by marker when the email is gone."""

    type_name = "hubspot"
    default_base_url = "https://api.hubapi.com"
    default_rate_limit = 4.0
    can_observe = True
    options_doc: ClassVar[dict[str, str]] = {
        "properties": "contact properties to read (list); default: "
        + ", ".join(DEFAULT_PROPERTIES)
        + ". The stage's expected fields are always added",
    }
    required_credentials = ("token",)
    max_batch = BATCH_LIMIT
    max_removals = BATCH_LIMIT
    stamps_arrival = True  # ``_created_ts`` from createdAt (milliseconds)

    def properties(self, stage: StageConfig | None) -> list[str]:
        props = option(self.tool, stage, "properties", DEFAULT_PROPERTIES)
        if isinstance(props, str):
            props = props.split(",")
        return dedupe(["email", *(str(p).strip() for p in props), *expected_fields(stage)])

    async def get_by_email(self, email: str, properties: list[str]) -> Contact | None:
        """``GET /crm/v3/objects/contacts/{email}?idProperty=email``: the record store itself,
        free of search-index lag; 404 means no such contact.
        https://developers.hubspot.com/docs/api/crm/contacts (retrieve by unique property)"""
        return await self._get(quote(email, safe="@"), properties, idProperty="email")

    async def get_by_id(self, contact_id: str, properties: list[str]) -> Contact | None:
        """``GET /crm/v3/objects/contacts/{contactId}``; 404 (or archived) gives ``None``."""
        return await self._get(quote(contact_id, safe=""), properties)

    async def _get(self, key: str, properties: list[str], **params: str) -> Contact | None:
        # ``properties`` is form/explode in the spec: one ``properties=`` per name.
        resp = await self.http.request(
            "GET",
            f"{CONTACTS}/{key}",
            params={**params, "properties": properties},
            route_must_exist=True,
            object_missing=_no_such_contact,
        )
        if resp.status_code == 404:
            return None
        data = json_body(resp, self.name)
        if not isinstance(data, dict) or "id" not in data:
            raise ApiError(f"{self.name}: contact answer without an id", tool=self.name)
        return data

    async def search(
        self, properties: list[str], *, email: str | None = None, query: str | None = None
    ) -> list[Contact]:
        """``POST /crm/v3/objects/contacts/search``: ``email`` EQ (finds duplicates) or a
        full-text ``query`` over the default searchable properties (finds a record whose
        email was mangled). https://developers.hubspot.com/docs/api/crm/search"""
        filters = [{"propertyName": "email", "operator": "EQ", "value": email}] if email else []
        body: dict[str, Any] = {
            # after, sorts and limit are required by the published OpenAPI document.
            "filterGroups": [{"filters": filters}] if filters else [],
            "properties": properties,
            "limit": SEARCH_LIMIT,
            "after": "0",
            "sorts": [],
        }
        if query is not None:
            body["query"] = query
        results, _ = await self._search_page(body)
        return results

    async def _search_page(self, body: dict[str, Any]) -> tuple[list[Contact], str | None]:
        """One page of ``POST /crm/v3/objects/contacts/search``: its contacts and the cursor
        of the next page (``paging.next.after``), if any."""
        resp = await self.http.request(
            "POST", f"{CONTACTS}/search", json=body, route_must_exist=True
        )
        data = json_body(resp, self.name)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(results, list):
            raise ApiError(f"{self.name}: search answer without results", tool=self.name)
        after = _dig_after(data)
        return [r for r in results if isinstance(r, dict) and "id" in r], after

    async def search_emails(self, emails: list[str], properties: list[str]) -> list[Contact]:
        """Every contact whose email is one of ``emails`` (at most ``BATCH_LIMIT``): one
        ``email IN [...]`` search, following ``paging.next.after``. Values are sent in lower
        case, as HubSpot stores emails; results are matched back case-insensitively.
        https://developers.hubspot.com/docs/api/crm/search"""
        values = dedupe([e.lower() for e in emails])
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "IN", "values": values}]}
            ],
            "properties": properties,
            "limit": IN_SEARCH_LIMIT,
            "after": "0",
            "sorts": [],
        }
        found: list[Contact] = []
        for _ in range(IN_SEARCH_MAX_PAGES):
            page, after = await self._search_page(body)
            found += page
            if not after or not page:
                break
            body = {**body, "after": after}
        return found

    async def batch_read(
        self, keys: list[str], properties: list[str], *, id_property: str | None = "email"
    ) -> tuple[list[Contact], dict[str, ConnectorError]]:
        """``POST /crm/v3/objects/contacts/batch/read`` with ``idProperty: email`` (the record
        store itself, like the single read), or by contact id with ``id_property=None``: the
        contacts found, and an error per key (case-folded) HubSpot could not read for a reason
        other than "no such contact". 207 is HubSpot's answer when some keys have no contact
        (``errors[].category == "OBJECT_NOT_FOUND"``, the keys in ``context.ids``); archived
        contacts are missing too. https://developers.hubspot.com/docs/api/crm/contacts"""
        body: dict[str, Any] = {
            "inputs": [{"id": k} for k in keys],
            "properties": properties,
            "propertiesWithHistory": [],
        }
        if id_property is not None:
            body["idProperty"] = id_property
        resp = await self.http.request(
            "POST",
            f"{CONTACTS}/batch/read",
            json=body,
            ok=(207,),
            route_must_exist=True,
            object_missing=_batch_answer,
        )
        data = json_body(resp, self.name)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(results, list):
            raise ApiError(f"{self.name}: batch read answer without results", tool=self.name)
        contacts = [r for r in results if isinstance(r, dict) and "id" in r]
        read = set(_by_email(contacts)) if id_property else {str(c["id"]) for c in contacts}
        failed: dict[str, ConnectorError] = {}
        errors = data.get("errors")
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict) or error.get("category") == NOT_FOUND:
                continue
            context = error.get("context")
            ids = context.get("ids") if isinstance(context, dict) else None
            problem = ApiError(
                f"{self.name}: batch read could not read a contact: "
                f"{error.get('category')}: {str(error.get('message'))[:200]}",
                tool=self.name,
                status_code=resp.status_code,
            )
            # An error naming no key leaves every key without a contact unchecked.
            named = ids if isinstance(ids, list) and ids else keys
            for key in (str(k).casefold() for k in named):
                if key not in read:
                    failed.setdefault(key, problem)
        return contacts, failed

    async def batch_archive(self, contact_ids: list[str]) -> None:
        """``POST /crm/v3/objects/contacts/batch/archive`` (at most ``BATCH_LIMIT`` ids): 204,
        even for ids HubSpot does not know, so the answer says nothing about what existed.
        https://developers.hubspot.com/docs/api/crm/contacts (archive a batch)"""
        await self.http.request(
            "POST",
            f"{CONTACTS}/batch/archive",
            json={"inputs": [{"id": i} for i in contact_ids]},
            route_must_exist=True,
        )

    async def _find(self, record: TestRecord, properties: list[str]) -> list[tuple[Contact, str]]:
        found: dict[str, tuple[Contact, str]] = {}
        direct = await self.get_by_email(record.email, properties)
        if direct is not None:
            found[str(direct["id"])] = (direct, "email")
        for contact in await self.search(properties, email=record.email):
            found.setdefault(str(contact["id"]), (contact, "email"))
        if not found:
            for contact in await self.search(properties, query=record.marker):
                found.setdefault(str(contact["id"]), (contact, "marker"))
        return list(found.values())

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[ObservedRecord]:
        return [_flat(c, how) for c, how in await self._find(record, self.properties(stage))]

    async def observe_batch(self, looks: Sequence[Look]) -> list[LookResult]:
        """Every look of the round from one batch read by email; thorough looks also search
        (see the module docstring). Each look's records are what ``observe`` gives for it."""
        out: list[LookResult] = []
        for start in range(0, len(looks), BATCH_LIMIT):
            out += await self._observe_chunk(looks[start : start + BATCH_LIMIT])
        return out

    async def _observe_chunk(self, looks: Sequence[Look]) -> list[LookResult]:
        own = [self.properties(look.stage) for look in looks]
        union = dedupe([p for props in own for p in props])
        keys = [look.record.email.casefold() for look in looks]
        found: list[dict[str, tuple[Contact, str]]] = [{} for _ in looks]
        failed: list[ConnectorError | None] = [None] * len(looks)

        def fail(i: int, exc: ConnectorError) -> None:
            if failed[i] is None:
                failed[i] = exc

        try:
            contacts, unread = await self.batch_read(
                dedupe([look.record.email for look in looks]), union
            )
        except ConnectorError as exc:
            return [exc for _ in looks]
        by_email = _by_email(contacts)
        for i, key in enumerate(keys):
            if key in unread:
                fail(i, unread[key])
            for contact in by_email.get(key, []):
                found[i].setdefault(str(contact["id"]), (contact, "email"))

        # Duplicates matter only where the record was found and is about to be judged.
        twin_looks = [
            i
            for i, look in enumerate(looks)
            if failed[i] is None and found[i] and (look.thorough or _settled(look, found[i]))
        ]
        if twin_looks:
            props = dedupe([p for i in twin_looks for p in own[i]])
            emails = dedupe([looks[i].record.email for i in twin_looks])
            try:
                twins = _by_email(await self.search_emails(emails, props))
            except ConnectorError as exc:
                for i in twin_looks:
                    fail(i, exc)
            else:
                for i in twin_looks:
                    for contact in twins.get(keys[i], []):
                        found[i].setdefault(str(contact["id"]), (contact, "email"))
        if any(look.thorough for look in looks):
            lost = [
                i
                for i, look in enumerate(looks)
                if look.thorough and not found[i] and failed[i] is None
            ]
            # Concurrently: the rate limiter spaces the searches, this only overlaps waits.
            hits = await asyncio.gather(
                *(self.search(own[i], query=looks[i].record.marker) for i in lost),
                return_exceptions=True,
            )
            for i, hit in zip(lost, hits, strict=True):
                if isinstance(hit, ConnectorError):
                    fail(i, hit)
                elif isinstance(hit, BaseException):
                    raise hit
                else:
                    for contact in hit:
                        found[i].setdefault(str(contact["id"]), (contact, "marker"))

        results: list[LookResult] = []
        for i in range(len(looks)):
            error = failed[i]
            if error is not None:
                results.append(error)
                continue
            # Drop what only other looks asked for, so each look sees what its own read shows.
            others = set(union) - set(own[i])
            results.append([_flat(_without(c, others), how) for c, how in found[i].values()])
        return results

    async def cleanup_batch(self, removals: Sequence[Removal]) -> list[RemovalResult]:
        """Many runs' contacts in a few requests per 100 removals (see the module docstring);
        the same contacts ``cleanup`` would archive, plus the removals' known ids that are
        still ours."""
        out: list[RemovalResult] = []
        for start in range(0, len(removals), BATCH_LIMIT):
            out += await self._cleanup_chunk(removals[start : start + BATCH_LIMIT])
        return out

    async def _cleanup_chunk(self, removals: Sequence[Removal]) -> list[RemovalResult]:
        props = self.properties(None)
        keys = [r.record.email.casefold() for r in removals]
        failed: list[ConnectorError | None] = [None] * len(removals)
        #: Per removal, the contact ids that may be its own, in the order they were found.
        claims: list[dict[str, None]] = [{} for _ in removals]

        def fail(i: int, exc: ConnectorError) -> None:
            if failed[i] is None:
                failed[i] = exc

        def live() -> list[int]:
            return [i for i in range(len(removals)) if failed[i] is None]

        try:
            contacts, unread = await self.batch_read(
                dedupe([r.record.email for r in removals]), props
            )
        except ConnectorError as exc:
            return [exc for _ in removals]
        #: Contacts the record store showed in this round: the only ones archived.
        read = {str(c["id"]): c for c in contacts}
        by_email = _by_email(contacts)
        for i, key in enumerate(keys):
            if key in unread:
                fail(i, unread[key])
            for contact in by_email.get(key, []):
                claims[i][str(contact["id"])] = None

        # Duplicates can only exist where the read by email found a contact; the marker is
        # searched for every thorough removal (a mangled copy may sit beside a found one).
        twin = [i for i in live() if claims[i]]
        lost = [i for i in live() if removals[i].thorough]
        searches: list[Awaitable[list[Contact]]] = []
        if twin:
            emails = dedupe([removals[i].record.email for i in twin])
            searches.append(self.search_emails(emails, props))
        searches += [self.search(props, query=removals[i].record.marker) for i in lost]
        # Concurrently: the rate limiter spaces the searches, this only overlaps waits.
        answers = await asyncio.gather(*searches, return_exceptions=True)
        served = ([twin] if twin else []) + [[i] for i in lost]
        for group, answer in zip(served, answers, strict=True):
            if isinstance(answer, ConnectorError):
                for i in group:
                    fail(i, answer)
            elif isinstance(answer, BaseException):
                raise answer
            elif group is twin and twin:
                hits = _by_email(answer)
                for i in twin:
                    for contact in hits.get(keys[i], []):
                        claims[i][str(contact["id"])] = None
            else:
                for contact in answer:
                    claims[group[0]][str(contact["id"])] = None
        for i in live():
            for known in removals[i].known_ids:
                claims[i][str(known)] = None

        # Search hits and known ids the read by email did not show: read them from the
        # record store (the index lags behind archiving; a known id may be gone).
        unseen = dedupe([cid for i in live() for cid in claims[i] if cid not in read])
        chunks = [unseen[s : s + BATCH_LIMIT] for s in range(0, len(unseen), BATCH_LIMIT)]
        reads = await asyncio.gather(
            *(self.batch_read(chunk, props, id_property=None) for chunk in chunks),
            return_exceptions=True,
        )
        for chunk, got in zip(chunks, reads, strict=True):
            if isinstance(got, ConnectorError):
                asked = set(chunk)
                for i in live():
                    if asked.intersection(claims[i]):
                        fail(i, got)
            elif isinstance(got, BaseException):
                raise got
            else:
                found, problems = got
                read.update((str(c["id"]), c) for c in found)
                for i in live():
                    for cid in claims[i]:
                        if cid.casefold() in problems:
                            fail(i, problems[cid.casefold()])

        # Each contact read and ours goes to the first removal it belongs to.
        owner: dict[str, int] = {}
        for i in live():
            for cid in claims[i]:
                stored = read.get(cid)
                if stored is not None and cid not in owner and _is_ours(stored, removals[i].record):
                    owner[cid] = i
        ids = list(owner)
        chunks = [ids[s : s + BATCH_LIMIT] for s in range(0, len(ids), BATCH_LIMIT)]
        archived = await asyncio.gather(
            *(self.batch_archive(chunk) for chunk in chunks), return_exceptions=True
        )
        removed = [0] * len(removals)
        for chunk, outcome in zip(chunks, archived, strict=True):
            if isinstance(outcome, ConnectorError):
                for cid in chunk:
                    fail(owner[cid], outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                for cid in chunk:
                    removed[owner[cid]] += 1
        return [error if error is not None else removed[i] for i, error in enumerate(failed)]

    async def cleanup(self, record: TestRecord) -> int:
        """Archive every contact of the test record: ``DELETE /crm/v3/objects/contacts/{id}``
        (https://developers.hubspot.com/docs/api/crm/contacts, archive). Search hits are
        re-read from the record store first, so a contact the index still lists after an
        earlier cleanup is not counted twice, and only contacts that carry the record's email
        or marker are ever deleted."""
        properties = self.properties(None)
        candidates: dict[str, Contact] = {}
        direct = await self.get_by_email(record.email, properties)
        if direct is not None:
            candidates[str(direct["id"])] = direct
        hits = await self.search(properties, email=record.email)
        hits += await self.search(properties, query=record.marker)
        for hit in hits:
            hit_id = str(hit["id"])
            if hit_id not in candidates:
                fresh = await self.get_by_id(hit_id, properties)
                if fresh is not None:
                    candidates[hit_id] = fresh
        removed = 0
        for contact_id, contact in candidates.items():
            if not _is_ours(contact, record):
                continue
            resp = await self.http.request(
                "DELETE",
                f"{CONTACTS}/{quote(contact_id, safe='')}",
                route_must_exist=True,
                object_missing=_no_such_contact,
            )
            removed += resp.status_code != 404
        return removed


def _settled(look: Look, found: dict[str, tuple[Contact, str]]) -> bool:
    """Whether the engine may judge this look's contact now (``deciding``, and it was
    created before ``settled_before``), so its duplicates must be found."""
    if not look.deciding:
        return False
    if look.settled_before is None:
        return True
    created = [epoch(c.get("createdAt")) for c, _ in found.values()]
    stamps = [t for t in created if t is not None]
    return not stamps or min(stamps) <= look.settled_before


def _flat(contact: Contact, matched_by: str) -> ObservedRecord:
    props = contact.get("properties")
    out: ObservedRecord = dict(props) if isinstance(props, dict) else {}
    out["_id"] = str(contact["id"])
    out["_matched_by"] = matched_by
    created = epoch(contact.get("createdAt"))
    if created is not None:
        out["_created_ts"] = created
    return out


def _without(contact: Contact, names: set[str]) -> Contact:
    props = contact.get("properties")
    if not names or not isinstance(props, dict):
        return contact
    return {**contact, "properties": {k: v for k, v in props.items() if k not in names}}


def _by_email(contacts: list[Contact]) -> dict[str, list[Contact]]:
    """Contacts keyed by their email, case-folded (HubSpot stores emails in lower case)."""
    out: dict[str, list[Contact]] = {}
    for contact in contacts:
        props = contact.get("properties")
        email = props.get("email") if isinstance(props, dict) else None
        if isinstance(email, str) and email:
            out.setdefault(email.casefold(), []).append(contact)
    return out


def _dig_after(data: dict[str, Any]) -> str | None:
    paging = data.get("paging")
    nxt = paging.get("next") if isinstance(paging, dict) else None
    after = nxt.get("after") if isinstance(nxt, dict) else None
    return str(after) if after not in (None, "") else None


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _no_such_contact(resp: httpx.Response) -> bool:
    """A 404 from the contacts API itself: JSON with ``category: OBJECT_NOT_FOUND``. An HTML
    page or any other shape comes from something else, so the URL is wrong."""
    data = _json_or_none(resp)
    return isinstance(data, dict) and data.get("category") == NOT_FOUND


def _batch_answer(resp: httpx.Response) -> bool:
    """A 404 that is still a batch read's answer (``results`` and ``errors`` lists): none of
    the emails has a contact. HubSpot answers that with 207 when only some are missing; should
    it answer 404 with the same body when all are, that is read the same way. Any other 404 on
    the batch route (an HTML page, a routing error) is a wrong URL."""
    data = _json_or_none(resp)
    return (
        isinstance(data, dict)
        and isinstance(data.get("results"), list)
        and isinstance(data.get("errors"), list)
    )


def _is_ours(contact: Contact, record: TestRecord) -> bool:
    props = contact.get("properties")
    if not isinstance(props, dict):
        return False
    if str(props.get("email") or "").casefold() == record.email.casefold():
        return True
    marker = record.marker.casefold()
    return any(isinstance(v, str) and marker in v.casefold() for v in props.values())


#: HubSpot form field name -> record template (contact properties, object type 0-1).
FORM_FIELDS: dict[str, str] = {
    "email": "{email}",
    "firstname": "{first_name}",
    "lastname": "{last_name}",
    "phone": "{phone}",
    "company": "{company}",
    "signup_date": "{date_iso}",
}
CONTACT_OBJECT_TYPE = "0-1"


@register
class HubSpotForms(Connector):
    """Submits the record to a HubSpot form, as a visitor's browser would."""

    type_name = "hubspot_forms"
    default_base_url = "https://api.hsforms.com"
    # The unauthenticated endpoint allows 50 requests per 10 seconds.
    default_rate_limit = 5.0
    can_inject = True
    options_doc: ClassVar[dict[str, str]] = {
        "portal_id": "HubSpot account (portal) id (required)",
        "form_guid": "the form's id, from its editor URL (required)",
        "fields": "form field name -> record template; every field must exist on the form",
        "page_name": "context.pageName sent with the submission (default: Baton probe)",
        "page_uri": "context.pageUri sent with the submission (optional)",
        "subscription_type_id": "subscription type for marketing consent; when set, "
        "legalConsentOptions is sent with the record's marketing_consent",
        "consent_text": "consent-to-process text shown on the form",
        "communication_text": "marketing-communication checkbox text shown on the form",
    }
    required_options = ("portal_id", "form_guid")

    @classmethod
    def validate(cls, tool: ToolConfig) -> list[tuple[str, str]]:
        problems = super().validate(tool)
        try:
            _subscription_id(tool, None)
        except ConfigError as exc:
            problems.append(("subscription_type_id", str(exc).partition(": ")[2]))
        return problems

    def path(self) -> str:
        """``POST /submissions/v3/integration/submit/{portalId}/{formGuid}``; the ``/secure/``
        variant when a token is configured (it has higher rate limits)."""
        portal = quote(str(self.tool.options["portal_id"]), safe="")
        form = quote(str(self.tool.options["form_guid"]), safe="")
        kind = "secure/submit" if self.tool.credentials.get("token") else "submit"
        return f"/submissions/v3/integration/{kind}/{portal}/{form}"

    def body(self, record: TestRecord, stage: StageConfig | None = None) -> dict[str, Any]:
        fields = mapping_option(self.tool, stage, "fields", FORM_FIELDS)
        context = {"pageName": str(option(self.tool, stage, "page_name", "Baton probe"))}
        if page_uri := option(self.tool, stage, "page_uri"):
            context["pageUri"] = render(record, str(page_uri))
        body: dict[str, Any] = {
            "fields": [
                {"objectTypeId": CONTACT_OBJECT_TYPE, "name": name, "value": render(record, t)}
                for name, t in fields.items()
            ],
            "context": context,
        }
        subscription = _subscription_id(self.tool, stage)
        if subscription is not None:
            body["legalConsentOptions"] = {
                "consent": {
                    "consentToProcess": True,
                    "text": str(option(self.tool, stage, "consent_text", "I agree.")),
                    "communications": [
                        {
                            "value": record.marketing_consent,
                            "subscriptionTypeId": subscription,
                            "text": str(
                                option(self.tool, stage, "communication_text", "Send me news.")
                            ),
                        }
                    ],
                }
            }
        return body

    async def inject(self, record: TestRecord, stage: StageConfig) -> None:
        await self.http.request("POST", self.path(), json=self.body(record, stage))


def _subscription_id(tool: ToolConfig, stage: StageConfig | None) -> int | None:
    value = option(tool, stage, "subscription_type_id")
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"tools.{tool.name}.subscription_type_id: must be a number, got {msg.shown(value)}"
        ) from None
