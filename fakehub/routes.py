"""The route table: which Hub URLs exist, their rate-limit bucket, and the handler answering each.

Handlers are functions `(catalog, Request) -> Response` (or raise `HubError`); HEAD on a GET route answers
like GET without the body (as Express does). A path no rule
matches is a 404 like on the Hub: never invent routes HUB_API.md does not list.
To add a route: write a handler, then add one `Route` to `ROUTES` (first match wins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubcensus.fakehub import api_files, api_models
from hubcensus.fakehub.answers import HubError, Request, Response, error_response, not_found

__all__ = ["ROUTES", "HubError", "Request", "Response", "Route", "classify", "dispatch", "error_response"]

Handler = Callable[[Any, Request], Response]


@dataclass(frozen=True)
class Route:
    """A rule: a route kind (stats), its rate-limit bucket, methods, and a predicate on the path parts."""

    kind: str
    bucket: str
    methods: tuple[str, ...]
    match: Callable[[list[str]], bool]
    handler: Handler | None


def _model_verb(p: list[str], verb: str) -> bool:
    """/api/models/{org}/{name}/{verb}/{rev}[...]"""
    return len(p) >= 6 and p[:2] == ["api", "models"] and p[4] == verb


ROUTES: tuple[Route, ...] = (
    Route("list", "api", ("GET", "HEAD"), lambda p: p == ["api", "models"], api_models.list_models),
    Route("tree", "api", ("GET", "HEAD"), lambda p: _model_verb(p, "tree"), api_files.tree),
    Route("paths_info", "api", ("POST",), lambda p: _model_verb(p, "paths-info") and len(p) == 6,
          api_files.paths_info),
    Route("model_info", "api", ("GET", "HEAD"),
          lambda p: p[:2] == ["api", "models"] and (len(p) in (3, 4) or (len(p) == 6 and p[4] == "revision")),
          api_models.model_info),
    Route("resolve", "resolvers", ("GET", "HEAD"),
          lambda p: (len(p) >= 5 and p[2] in ("resolve", "raw")) or (len(p) >= 4 and p[1] in ("resolve", "raw")),
          api_files.resolve),
)
OTHER = Route("other", "api", ("GET", "HEAD", "POST"), lambda p: True, None)


def classify(parts: list[str], method: str) -> Route:
    """The first route matching a request path split on '/' (OTHER when none: answered 404)."""
    for r in ROUTES:
        if method in r.methods and r.match(parts):
            return r
    return OTHER


def stat_kind(route: Route, method: str) -> str:
    """The stats name of a request: resolve splits into resolve_head / resolve_get."""
    if route.kind == "resolve":
        return "resolve_head" if method == "HEAD" else "resolve_get"
    return route.kind


def dispatch(cat: Any, route: Route, req: Request) -> Response:
    """Answer one routed request (OTHER: 404)."""
    if route.handler is None:
        raise not_found()
    return route.handler(cat, req)
