"""HubSpot: ``hubspot`` watches CRM contacts; ``hubspot_forms`` submits a HubSpot form.

CRM contacts v3 (https://developers.hubspot.com/docs/api/crm/contacts), authenticated with a
private app token (``credentials.token``, sent as ``Authorization: Bearer``). Search
(https://developers.hubspot.com/docs/api/crm/search) is eventually consistent and limited to a
few requests per second per account, so the connector reads the record store directly first
and defaults to 4 requests/s.

Forms submission v3 (https://developers.hubspot.com/docs/api-reference/legacy/marketing/forms/v3-legacy/submit-data-unauthenticated)
needs no token; with ``credentials.token`` the authenticated ``/secure/`` endpoint is used.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from ..config import StageConfig, ToolConfig
from ..errors import ApiError, ConfigError
from ..record import TestRecord
from . import register
from ._base import Connector, ObservedRecord
from ._http import ToolHttp
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
            "GET", f"{CONTACTS}/{key}", ok=(404,), params={**params, "properties": properties}
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
        resp = await self.http.request("POST", f"{CONTACTS}/search", json=body)
        data = json_body(resp, self.name)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ApiError(f"{self.name}: search answer without results", tool=self.name)
        return [r for r in results if isinstance(r, dict) and "id" in r]

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
                "DELETE", f"{CONTACTS}/{quote(contact_id, safe='')}", ok=(404,)
            )
            removed += resp.status_code != 404
        return removed


def _flat(contact: Contact, matched_by: str) -> ObservedRecord:
    props = contact.get("properties")
    out: ObservedRecord = dict(props) if isinstance(props, dict) else {}
    out["_id"] = str(contact["id"])
    out["_matched_by"] = matched_by
    created = epoch(contact.get("createdAt"))
    if created is not None:
        out["_created_ts"] = created
    return out


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

    def __init__(self, tool: ToolConfig, http: ToolHttp) -> None:
        super().__init__(tool, http)
        for key in self.required_options:
            if not tool.options.get(key):
                raise ConfigError(f"tools.{tool.name}.{key}: required for type hubspot_forms")
        _subscription_id(tool, None)

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
    except (TypeError, ValueError):
        raise ConfigError(
            f"tools.{tool.name}.subscription_type_id: must be a number, got {value!r}"
        ) from None
