"""HubSpot CRM contacts v3 stand-in (``https://api.hubapi.com``), mounted at ``/hubspot``.

Shapes follow ``hubspot.crm.contacts.v3.json`` (SimplePublicObject, search request and
CollectionResponseWithTotal, the Error object). Behaviour worth knowing:

- Reads by id or by ``?idProperty=email`` see every write at once; ``/search`` sees a
  contact only ``lag`` seconds after each write (``search_lag_s``, or ``lag@hubspot``).
- Without ``properties``, HubSpot returns only ``createdate email firstname hs_object_id
  lastmodifieddate lastname``; ask for ``phone``, ``company``, ... to see them.
- Contact properties must exist in the portal (``PROPERTIES``), else 400 VALIDATION_ERROR.
- ``DELETE`` archives and answers 204, even for an id it does not know.
- ``POST /batch/read`` (``BatchReadInputSimplePublicObjectId``: ``inputs: [{"id"}]``,
  ``properties``, ``propertiesWithHistory``, optional ``idProperty: "email"``; at most 100
  inputs) reads the record store like ``GET`` by id or email: no search lag. 200 with
  ``BatchResponseSimplePublicObject`` when every input was found; 207 with
  ``BatchResponseSimplePublicObjectWithErrors`` (one OBJECT_NOT_FOUND error listing the
  missing ids in ``context.ids``) when some were not. Archived contacts are missing
  (``?archived=true`` reads only archived ones). Several contacts with one email: the
  oldest, as ``GET ?idProperty=email``. The stand-in keeps no property history: each
  ``propertiesWithHistory`` name lists the current value once, stamped ``updatedAt``.
- ``POST /batch/archive`` (``inputs: [{"id"}]``, at most 100) archives and answers 204;
  unknown ids are ignored.
- Search takes ``IN`` / ``NOT_IN`` with ``values`` (case-insensitive, like ``EQ``).

Size: the HubSpot stand-in: contacts, search with its filter grammar, batch read, archive
and form submissions, with HubSpot's errors and limits.
"""

from __future__ import annotations

import fnmatch
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ._http import (
    EMAIL_RE,
    Route,
    VendorError,
    as_text,
    bearer_token,
    iso_ms,
    json_response,
    read_json,
)
from ._state import Obj, SandboxState

__all__ = [
    "DEFAULT_PROPERTIES",
    "PROPERTIES",
    "HubSpotApi",
    "archive_contact",
    "create_contact",
    "find_by_email",
    "find_contact",
    "find_contacts",
    "hubspot_error",
    "upsert_contact",
]

#: Contact properties this portal has (the standard ones a form uses, plus custom ones).
PROPERTIES = frozenset(
    {
        "email", "firstname", "lastname", "phone", "mobilephone", "company", "website",
        "jobtitle", "address", "city", "state", "zip", "country", "lifecyclestage",
        "hs_lead_status", "message",
        # custom properties created for the lead-to-invoice workflow
        "signup_date", "payment_method", "amount", "currency", "marketing_consent",
    }
)  # fmt: skip
_READ_ONLY = frozenset({"createdate", "lastmodifieddate", "hs_object_id"})
#: What HubSpot returns when a request names no ``properties``.
DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
#: What a ``query`` full-text search looks in.
SEARCHABLE = ("firstname", "lastname", "email", "phone", "company")
#: Most inputs one batch request takes; with ``propertiesWithHistory``, fewer.
BATCH_LIMIT = 100
HISTORY_BATCH_LIMIT = 50
_NOT_FOUND_IN_BATCH = (
    "Could not get some CONTACT objects, they may be deleted or not exist. "
    "Check that ids are valid."
)
_OPERATORS = frozenset(
    {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY"}
    | {"NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
)


def hubspot_error(status: int, message: str, category: str, **extra: Any) -> VendorError:
    """An error in HubSpot's shape: ``{"status": "error", "message", "correlationId", ...}``."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return VendorError(status, body, message)


def _invalid_properties(problems: list[dict[str, Any]]) -> VendorError:
    detail = json.dumps(problems, separators=(",", ":"), ensure_ascii=False)
    return hubspot_error(400, f"Property values were not valid: {detail}", "VALIDATION_ERROR")


def _problem(name: str, error: str, message: str) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": message,
        "error": error,
        "name": name,
        "localizedErrorMessage": message,
    }


def clean_properties(properties: Any) -> dict[str, str]:
    """Validate property names and values as HubSpot does; values become strings."""
    if not isinstance(properties, Mapping):
        raise hubspot_error(
            400, "Invalid input JSON: 'properties' must be an object", "VALIDATION_ERROR"
        )
    out: dict[str, str] = {}
    problems = []
    for name, value in properties.items():
        if name in _READ_ONLY:
            problems.append(_problem(name, "READ_ONLY_VALUE", f'"{name}" is a read only property'))
            continue
        if name not in PROPERTIES:
            problems.append(
                _problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        if isinstance(value, (dict, list)):
            problems.append(_problem(name, "INVALID_OPTION", f"{value!r} is not a valid value"))
            continue
        text = as_text(value)
        if name == "email" and text and not EMAIL_RE.match(text.strip()):
            problems.append(_problem(name, "INVALID_EMAIL", f"Email address {text} is invalid"))
            continue
        out[name] = text
    if problems:
        raise _invalid_properties(problems)
    return out


def find_by_email(state: SandboxState, email: str) -> Obj | None:
    """The live contact whose email is ``email`` (case-insensitive), or None."""
    want = email.strip().lower()
    for contact in state.contacts:
        if not contact["archived"] and contact["properties"].get("email", "").lower() == want:
            return contact
    return None


def find_contacts(
    state: SandboxState,
    keys: list[str],
    id_property: str = "hs_object_id",
    *,
    archived: bool = False,
) -> dict[str, Obj]:
    """The contacts ``keys`` name, by id or (``id_property="email"``) by email, as a read by
    id does: the record store, no lag; archived or live as asked; of several contacts with
    one email, the oldest. Keys not found are left out. One pass over the store however
    many emails are asked for. A ``VendorError`` for an ``id_property`` that is not unique.
    """
    found: dict[str, Obj] = {}
    if id_property == "email":
        wanted: dict[str, list[str]] = {}
        for key in keys:
            wanted.setdefault(key.strip().lower(), []).append(key)
        for c in state.contacts:
            email = c["properties"].get("email", "").lower()
            if c["archived"] == archived and email in wanted:
                for key in wanted.pop(email):
                    found[key] = c
                if not wanted:
                    break
        return found
    if id_property in ("hs_object_id", "id"):
        for key in keys:
            row = state.contacts.get(key)
            if row is not None and row["archived"] == archived:
                found[key] = row
        return found
    raise hubspot_error(
        400, f"idProperty {id_property!r} is not a unique property", "VALIDATION_ERROR"
    )


def find_contact(
    state: SandboxState, key: str, id_property: str = "hs_object_id", *, archived: bool = False
) -> Obj | None:
    """The contact ``key`` names (see ``find_contacts``), or None."""
    return find_contacts(state, [key], id_property, archived=archived).get(key)


def archive_contact(state: SandboxState, contact: Obj) -> None:
    if not contact["archived"]:
        now = iso_ms(state.wall())
        contact.update(archived=True, archivedAt=now, updatedAt=now)
        state.contacts.put(contact)


def create_contact(
    state: SandboxState, properties: Mapping[str, str], *, unique: bool = True
) -> Obj:
    """Store a new contact. ``unique=False`` skips the duplicate-email check (a glue that
    creates twice through a path HubSpot does not dedupe)."""
    email = properties.get("email", "")
    if unique and email:
        existing = find_by_email(state, email)
        if existing is not None:
            raise hubspot_error(
                409, f"Contact already exists. Existing ID: {existing['id']}", "CONFLICT"
            )
    cid = str(state.next_number())
    now = iso_ms(state.wall())
    props = {k: v for k, v in properties.items() if v != ""}
    props.update(createdate=now, lastmodifieddate=now, hs_object_id=cid)
    contact: Obj = {
        "id": cid,
        "properties": props,
        "createdAt": now,
        "updatedAt": now,
        "archived": False,
    }
    return state.contacts.put(contact)


def update_contact(state: SandboxState, contact: Obj, properties: Mapping[str, str]) -> Obj:
    now = iso_ms(state.wall())
    props = contact["properties"]
    for name, value in properties.items():
        if value == "":
            props.pop(name, None)
        else:
            props[name] = value
    props["lastmodifieddate"] = now
    contact["updatedAt"] = now
    return state.contacts.put(contact)


def upsert_contact(state: SandboxState, properties: Mapping[str, str]) -> Obj:
    """Create the contact, or update the one with the same email (what a form does)."""
    existing = find_by_email(state, properties.get("email", ""))
    if existing is not None:
        return update_contact(state, existing, properties)
    return create_contact(state, properties)


def contact_view(contact: Obj, wanted: list[str] | None) -> dict[str, Any]:
    """The contact as the API returns it, with the requested properties only."""
    props = contact["properties"]
    names = list(wanted) if wanted else list(DEFAULT_PROPERTIES)
    for always in ("createdate", "hs_object_id", "lastmodifieddate"):
        if always not in names:
            names.append(always)
    view: dict[str, Any] = {
        "id": contact["id"],
        "properties": {n: props.get(n) for n in names},
        "createdAt": contact["createdAt"],
        "updatedAt": contact["updatedAt"],
        "archived": contact["archived"],
    }
    if contact["archived"]:
        view["archivedAt"] = contact["archivedAt"]
    return view


def _with_history(view: dict[str, Any], contact: Obj, names: list[str]) -> dict[str, Any]:
    """``propertiesWithHistory``: the stand-in keeps no history, so the current value once."""
    props = contact["properties"]
    view["propertiesWithHistory"] = {
        n: (
            [{"value": props[n], "timestamp": contact["updatedAt"], "sourceType": "API"}]
            if props.get(n) is not None
            else []
        )
        for n in names
    }
    return view


def _wanted(values: list[str]) -> list[str]:
    """``?properties=a,b&properties=c`` -> ``["a", "b", "c"]``."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


# Search -------------------------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w]+", text.lower()) if t]


def _compare(actual: str, value: str) -> int:
    try:
        a, b = float(actual), float(value)
    except ValueError:
        a_s, b_s = actual.lower(), value.lower()
        return (a_s > b_s) - (a_s < b_s)
    return (a > b) - (a < b)


def _filter_matches(contact: Obj, flt: Mapping[str, Any]) -> bool:
    op = flt["operator"]
    actual: str | None = contact["properties"].get(flt["propertyName"])
    value = str(flt.get("value", ""))
    values = [str(v).lower() for v in flt.get("values") or []]
    if op == "HAS_PROPERTY":
        return actual is not None
    if op == "NOT_HAS_PROPERTY":
        return actual is None
    if op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN"):
        positive = {"NEQ": "EQ", "NOT_IN": "IN", "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN"}[op]
        return not _filter_matches(contact, {**flt, "operator": positive})
    if actual is None:
        return False
    if op == "EQ":
        return actual.lower() == value.lower()
    if op == "IN":
        return actual.lower() in values
    if op == "CONTAINS_TOKEN":
        pattern = value.lower()
        return any(fnmatch.fnmatchcase(t, pattern) for t in [actual.lower(), *_tokens(actual)])
    if op == "BETWEEN":
        high = str(flt.get("highValue", ""))
        return _compare(actual, value) >= 0 and _compare(actual, high) <= 0
    cmp = _compare(actual, value)
    return {"LT": cmp < 0, "LTE": cmp <= 0, "GT": cmp > 0, "GTE": cmp >= 0}[op]


def _query_matches(contact: Obj, query: str) -> bool:
    props = contact["properties"]
    haystack = [str(props.get(p) or "").lower() for p in SEARCHABLE]
    return all(any(word in h for h in haystack) for word in query.lower().split())


def _validate_search(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise hubspot_error(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > 5:
        raise hubspot_error(400, "filterGroups: at most 5 groups allowed", "VALIDATION_ERROR")
    total = 0
    for g, group in enumerate(groups):
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > 6:
            raise hubspot_error(
                400, f"filterGroups[{g}].filters: a list of at most 6 filters", "VALIDATION_ERROR"
            )
        total += len(filters)
        for f, flt in enumerate(filters):
            where = f"filterGroups[{g}].filters[{f}]"
            if not isinstance(flt, dict) or not flt.get("propertyName"):
                raise hubspot_error(400, f"{where}.propertyName is required", "VALIDATION_ERROR")
            if flt.get("operator") not in _OPERATORS:
                raise hubspot_error(
                    400,
                    f"{where}.operator: {flt.get('operator')!r} is not one of "
                    f"{', '.join(sorted(_OPERATORS))}",
                    "VALIDATION_ERROR",
                )
            if flt["operator"] in ("IN", "NOT_IN"):
                values = flt.get("values")
                if (
                    not isinstance(values, list)
                    or not values
                    or not all(isinstance(v, (str, int, float)) for v in values)
                ):
                    raise hubspot_error(
                        400,
                        f"{where}.values: {flt['operator']} needs a non-empty list of values",
                        "VALIDATION_ERROR",
                    )
    if total > 18:
        raise hubspot_error(400, "at most 18 filters in all filterGroups", "VALIDATION_ERROR")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or not 0 < limit <= 200:
        raise hubspot_error(400, "limit must be between 1 and 200", "VALIDATION_ERROR")
    after = str(body.get("after") or "0")
    if not after.isdigit():
        raise hubspot_error(
            400, f"after: {after!r} is not a valid paging cursor", "VALIDATION_ERROR"
        )
    return {**body, "filterGroups": groups, "limit": limit, "after": int(after)}


def _sort_key(sorts: Any) -> tuple[str, bool]:
    """``["-createdate"]`` or ``[{"propertyName": ..., "direction": ...}]`` -> (prop, desc)."""
    if not sorts:
        return "hs_object_id", False
    first = sorts[0]
    if isinstance(first, dict):
        return str(first.get("propertyName", "hs_object_id")), first.get(
            "direction"
        ) == "DESCENDING"
    text = str(first)
    return text.lstrip("-"), text.startswith("-")


def _batch_ids(body: Any, schema: str, required: tuple[str, ...] = ("inputs",)) -> list[str]:
    """The ids of a batch body's ``inputs: [{"id": ...}]``; HubSpot's 400 otherwise."""
    if not isinstance(body, dict):
        raise hubspot_error(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
    missing = [name for name in required if body.get(name) is None]
    if missing:
        raise hubspot_error(
            400,
            f"Invalid input JSON: Cannot build {schema}, some of required attributes are not "
            f"set [{', '.join(missing)}]",
            "VALIDATION_ERROR",
        )
    inputs = body["inputs"]
    if not isinstance(inputs, list):
        raise hubspot_error(400, "Invalid input JSON: inputs must be a list", "VALIDATION_ERROR")
    if len(inputs) > BATCH_LIMIT:
        raise hubspot_error(
            400,
            f"The maximum number of inputs supported in a batch request is {BATCH_LIMIT}. "
            "Please reduce the number of items and try again",
            "VALIDATION_ERROR",
        )
    ids = []
    for i, item in enumerate(inputs):
        oid = item.get("id") if isinstance(item, dict) else None
        if isinstance(oid, bool) or not isinstance(oid, (str, int)) or str(oid).strip() == "":
            raise hubspot_error(
                400, f"Invalid input JSON: inputs[{i}].id is required", "VALIDATION_ERROR"
            )
        ids.append(str(oid))
    return ids


def _names(body: Mapping[str, Any], key: str) -> list[str]:
    names = body.get(key)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise hubspot_error(
            400, f"Invalid input JSON: {key} must be a list of strings", "VALIDATION_ERROR"
        )
    return [n.strip() for n in names if n.strip()]


class HubSpotApi:
    """The ``/crm/v3/objects/contacts`` endpoints."""

    tool = "hubspot"

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        base = "/crm/v3/objects/contacts"
        return [
            ("POST", f"{base}/search", self.search),
            ("POST", f"{base}/batch/read", self.batch_read),
            ("POST", f"{base}/batch/archive", self.batch_archive),
            ("POST", base, self.create),
            ("GET", base, self.list_contacts),
            ("GET", base + "/{contactId}", self.read),
            ("PATCH", base + "/{contactId}", self.update),
            ("DELETE", base + "/{contactId}", self.archive),
        ]

    # Vendor policy (used by the app's middleware) ------------------------------------
    @staticmethod
    def authorized(request: web.Request) -> bool:
        return bearer_token(request) is not None

    @staticmethod
    def unauthorized() -> VendorError:
        return hubspot_error(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
            "oauth-overview",
            "INVALID_AUTHENTICATION",
        )

    @staticmethod
    def rate_limited(request: web.Request) -> VendorError:
        if request.path.endswith("/search"):
            # HubSpot's search limiter answers 429 with no body at all.
            return VendorError(429, None, "rate limited")
        return hubspot_error(
            429,
            "You have reached your secondly limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName="SECONDLY",
        )

    @staticmethod
    def unavailable() -> VendorError:
        return hubspot_error(
            503, "Service Unavailable. Please try again later.", "SERVICE_UNAVAILABLE"
        )

    @staticmethod
    def not_found(request: web.Request) -> VendorError:
        return hubspot_error(
            404, f"Unable to route {request.method} {request.path}", "OBJECT_NOT_FOUND"
        )

    # Handlers -------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> Any:
        try:
            return await read_json(request)
        except ValueError as exc:
            raise hubspot_error(400, f"Invalid input JSON: {exc}", "VALIDATION_ERROR") from exc

    async def create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise hubspot_error(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
        contact = create_contact(self.state, clean_properties(body.get("properties", {})))
        wanted = [k for k in contact["properties"] if k not in DEFAULT_PROPERTIES]
        return json_response(contact_view(contact, [*DEFAULT_PROPERTIES, *wanted]), 201)

    def _lookup(self, request: web.Request) -> Obj:
        found = find_contact(
            self.state,
            request.match_info["contactId"],
            request.query.get("idProperty", "hs_object_id"),
            archived=request.query.get("archived", "false").lower() == "true",
        )
        if found is None:
            raise hubspot_error(404, "resource not found", "OBJECT_NOT_FOUND")
        return found

    async def read(self, request: web.Request) -> web.Response:
        contact = self._lookup(request)
        wanted = _wanted(request.query.getall("properties", []))
        return json_response(contact_view(contact, wanted))

    async def update(self, request: web.Request) -> web.Response:
        contact = self._lookup(request)
        body = await self._body(request)
        if not isinstance(body, dict):
            raise hubspot_error(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
        props = clean_properties(body.get("properties", {}))
        new_email = props.get("email")
        if new_email:
            other = find_by_email(self.state, new_email)
            if other is not None and other["id"] != contact["id"]:
                raise hubspot_error(
                    409, f"Contact already exists. Existing ID: {other['id']}", "CONFLICT"
                )
        update_contact(self.state, contact, props)
        return json_response(contact_view(contact, [*DEFAULT_PROPERTIES, *props]))

    async def archive(self, request: web.Request) -> web.Response:
        contact = self.state.contacts.get(request.match_info["contactId"])
        if contact is not None:
            archive_contact(self.state, contact)
        return web.Response(status=204)

    async def batch_read(self, request: web.Request) -> web.Response:
        started = iso_ms(self.state.wall())
        body = await self._body(request)
        ids = _batch_ids(
            body,
            "BatchReadInputSimplePublicObjectId",
            ("inputs", "properties", "propertiesWithHistory"),
        )
        wanted = _names(body, "properties")
        history = _names(body, "propertiesWithHistory")
        if history and len(ids) > HISTORY_BATCH_LIMIT:
            raise hubspot_error(
                400,
                "The maximum number of inputs supported in a batch request for property "
                f"histories is {HISTORY_BATCH_LIMIT}. Please reduce the number of items and "
                "try again",
                "VALIDATION_ERROR",
            )
        id_property = body.get("idProperty") or "hs_object_id"
        archived = request.query.get("archived", "false").lower() == "true"
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        missing: list[str] = []
        found = find_contacts(self.state, ids, str(id_property), archived=archived)
        for key in ids:
            contact = found.get(key)
            if contact is None:
                if key not in missing:
                    missing.append(key)
            elif contact["id"] not in seen:
                seen.add(contact["id"])
                view = contact_view(contact, wanted)
                results.append(_with_history(view, contact, history) if history else view)
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_ms(self.state.wall()),
        }
        if not missing:
            return json_response(out)
        error = {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": _NOT_FOUND_IN_BATCH,
            "context": {"ids": missing},
            "errors": [],
            "links": {},
        }
        return json_response({**out, "numErrors": 1, "errors": [error]}, 207)

    async def batch_archive(self, request: web.Request) -> web.Response:
        for oid in _batch_ids(await self._body(request), "BatchInputSimplePublicObjectId"):
            contact = self.state.contacts.get(oid)
            if contact is not None:
                archive_contact(self.state, contact)
        return web.Response(status=204)

    async def list_contacts(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "10"))
            after = int(request.query.get("after", "0"))
        except ValueError as exc:
            raise hubspot_error(
                400, f"invalid paging parameter: {exc}", "VALIDATION_ERROR"
            ) from exc
        archived = request.query.get("archived", "false").lower() == "true"
        wanted = _wanted(request.query.getall("properties", []))
        rows = [c for c in self.state.contacts if c["archived"] == archived]
        page = rows[after : after + limit]
        body: dict[str, Any] = {"results": [contact_view(c, wanted) for c in page]}
        if after + limit < len(rows):
            body["paging"] = {
                "next": {"after": str(after + limit), "link": f"?after={after + limit}"}
            }
        return json_response(body)

    async def search(self, request: web.Request) -> web.Response:
        req = _validate_search(await self._body(request))
        rows = [
            c for c in self.state.contacts.indexed(self.state.lag("hubspot")) if not c["archived"]
        ]
        groups = req["filterGroups"]
        if groups:
            rows = [
                c
                for c in rows
                if any(all(_filter_matches(c, f) for f in g["filters"]) for g in groups)
            ]
        query = str(req.get("query") or "").strip()
        if query:
            rows = [c for c in rows if _query_matches(c, query)]
        prop, desc = _sort_key(req.get("sorts"))

        def key(c: Obj) -> tuple[int, float, str]:
            value = c["properties"].get(prop) or ""
            number = float(value) if value.replace(".", "", 1).isdigit() else 0.0
            return (0 if value.replace(".", "", 1).isdigit() else 1, number, value)

        rows.sort(key=key, reverse=desc)
        start, limit = req["after"], req["limit"]
        page = rows[start : start + limit]
        wanted = [str(p) for p in req.get("properties") or []]
        body: dict[str, Any] = {
            "total": len(rows),
            "results": [contact_view(c, wanted) for c in page],
        }
        if start + limit < len(rows):
            body["paging"] = {
                "next": {"after": str(start + limit), "link": f"?after={start + limit}"}
            }
        return json_response(body)
