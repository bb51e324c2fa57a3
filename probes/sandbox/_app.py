"""The one aiohttp application: every stand-in under its prefix, plus ``/_sandbox`` control.

Each request goes through two middlewares: the request log and counters (outermost), then
the vendor policy of the tool its first path segment names: ``outage`` (503),
``ratelimit`` (429 with Retry-After: 1), auth, vendor-shaped 404/405, and ``VendorError``
turned into a response.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ._http import Route, VendorError, json_response, read_body
from ._state import SandboxState
from .faults import FaultPlan, FaultSpecError
from .glue import Glue
from .hsforms import HsFormsApi
from .hubspot import HubSpotApi
from .sendgrid import SendGridApi
from .stripe import StripeApi

CONTROL = "_sandbox"
#: Headers the request log leaves out.
_SECRET_HEADERS = frozenset({"authorization", "cookie"})
#: The route a request is counted under when no route of its tool matched it.
UNROUTED = "(no route)"


class Vendor(Protocol):
    """What the middleware needs to know about one stand-in."""

    @property
    def tool(self) -> str: ...
    def routes(self) -> list[Route]: ...
    def authorized(self, request: web.Request) -> bool: ...
    def unauthorized(self) -> VendorError: ...
    def rate_limited(self, request: web.Request) -> VendorError: ...
    def unavailable(self) -> VendorError: ...
    def not_found(self, request: web.Request) -> VendorError: ...


def build_app(state: SandboxState) -> web.Application:
    """The application serving every stand-in from ``state``."""
    glue = Glue(state)
    vendors: dict[str, Vendor] = {
        v.tool: v
        for v in (
            HsFormsApi(glue),
            HubSpotApi(state),
            SendGridApi(state),
            StripeApi(state),
            glue,
        )
    }
    app = web.Application(middlewares=[_request_log(state), _vendor_policy(state, vendors)])
    for tool, vendor in vendors.items():
        for method, path, handler in vendor.routes():
            app.router.add_route(method, f"/{tool}{path}", handler)
    _add_control_routes(app, state)
    return app


def _tool_of(request: web.Request) -> str:
    return request.path.lstrip("/").split("/", 1)[0]


def route_key(request: web.Request) -> str:
    """``"POST /crm/v3/objects/contacts/batch/read"``: method and route template, without
    the tool prefix (``GET /v1/customers/{id}``, not the concrete id)."""
    resource = request.match_info.route.resource
    if resource is None:
        return f"{request.method} {UNROUTED}"
    prefix = f"/{_tool_of(request)}"
    return f"{request.method} {resource.canonical.removeprefix(prefix) or '/'}"


def _query_dict(request: web.Request) -> dict[str, str | list[str]]:
    """``?a=1&b=2&b=3`` -> ``{"a": "1", "b": ["2", "3"]}``."""
    out: dict[str, str | list[str]] = {}
    for key in request.query:
        values = request.query.getall(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def _request_log(state: SandboxState) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        tool = _tool_of(request)
        if tool == CONTROL:
            return await handler(request)
        route = route_key(request)
        state.count_request(tool, route)
        entry: dict[str, Any] = {
            "time": state.wall(),
            "tool": tool,
            "method": request.method,
            "path": request.path,
            "route": route,
            "query": _query_dict(request),
            "headers": {
                k: v for k, v in request.headers.items() if k.lower() not in _SECRET_HEADERS
            },
            "body": await read_body(request),
            "status": None,
        }
        state.requests.append(entry)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            entry["status"] = exc.status
            raise
        entry["status"] = response.status
        return response

    return middleware


def _vendor_policy(state: SandboxState, vendors: dict[str, Vendor]) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        vendor = vendors.get(_tool_of(request))
        if vendor is None:
            return await handler(request)
        try:
            if state.faults.outage(vendor.tool):
                raise vendor.unavailable()
            if state.faults.rate_limited(vendor.tool):
                err = vendor.rate_limited(request)
                err.headers["Retry-After"] = "1"
                raise err
            if not vendor.authorized(request):
                raise vendor.unauthorized()
            return await handler(request)
        except VendorError as exc:
            return exc.response()
        except web.HTTPNotFound:
            return vendor.not_found(request).response()
        except web.HTTPMethodNotAllowed:
            err = vendor.not_found(request)
            err.status = 405
            return err.response()

    return middleware


# Control --------------------------------------------------------------------------------
def _add_control_routes(app: web.Application, state: SandboxState) -> None:
    async def get_faults(request: web.Request) -> web.Response:
        return json_response({"faults": state.faults.specs, "seed": state.faults.seed})

    async def put_faults(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text() or "[]")
        except ValueError as exc:
            return json_response({"error": f"body must be a JSON list of fault specs: {exc}"}, 400)
        specs = body.get("faults") if isinstance(body, dict) else body
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            return json_response({"error": "body must be a JSON list of fault specs"}, 400)
        try:
            state.set_faults(FaultPlan(specs, seed=state.faults.seed))
        except FaultSpecError as exc:
            return json_response({"error": str(exc), "spec": exc.spec}, 400)
        return json_response({"faults": state.faults.specs, "seed": state.faults.seed})

    async def reset(request: web.Request) -> web.Response:
        await state.reset()
        return json_response({"reset": True, "counts": state.counts()})

    async def snapshot(request: web.Request) -> web.Response:
        return json_response(state.snapshot())

    async def requests(request: web.Request) -> web.Response:
        tool = request.query.get("tool")
        entries = [e for e in state.requests if tool is None or e["tool"] == tool]
        return json_response({"requests": entries})

    async def clear_requests(request: web.Request) -> web.Response:
        state.requests.clear()
        return web.Response(status=204)

    async def created(request: web.Request) -> web.Response:
        return json_response(list(state.created))

    async def counts(request: web.Request) -> web.Response:
        return json_response(state.route_counts())

    async def clear_counts(request: web.Request) -> web.Response:
        state.request_counts.clear()
        return web.Response(status=204)

    base = f"/{CONTROL}"
    app.router.add_get(f"{base}/faults", get_faults)
    app.router.add_put(f"{base}/faults", put_faults)
    app.router.add_post(f"{base}/reset", reset)
    app.router.add_get(f"{base}/state", snapshot)
    app.router.add_get(f"{base}/requests", requests)
    app.router.add_delete(f"{base}/requests", clear_requests)
    app.router.add_get(f"{base}/counts", counts)
    app.router.add_get(f"{base}/created", created)
    app.router.add_delete(f"{base}/counts", clear_counts)
