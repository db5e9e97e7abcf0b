"""What handlers take and give: `Request`, `Response`, `HubError` and the Hub's error shape."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class HubError(Exception):
    """An error answer: status, X-Error-Code (None: no header), message (+ extra headers)."""

    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class Response:
    """A response to write: status, headers, body chunks and their total length."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] = ()
    length: int = 0

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(obj, separators=(",", ":")).encode()
        return cls(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, [body], len(body))

    @classmethod
    def text(cls, text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = text.encode()
        return cls(status, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}, [body], len(body))

    @classmethod
    def redirect(cls, status: int, location: str, headers: dict[str, str] | None = None) -> Response:
        """A redirect with Express's text body ('Temporary Redirect. Redirecting to /x')."""
        reason = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect"}[status]
        return cls.text(f"{reason}. Redirecting to {location}", status, {"Location": location, **(headers or {})})


def error_response(e: HubError) -> Response:
    """The Hub's error shape: JSON {"error": msg} plus X-Error-Message (and X-Error-Code when it has one)."""
    h = {"X-Error-Message": e.message}
    if e.code:
        h["X-Error-Code"] = e.code
    r = Response.json({"error": e.message}, e.status, h)
    r.headers.update(e.headers)
    return r


def bad_request(msg: str) -> HubError:
    return HubError(400, "BadRequest", msg)


def not_found() -> HubError:
    return HubError(404, None, "Not Found")


@dataclass
class Request:
    """One parsed request: method, unquoted path parts, query pairs, headers, form body pairs (POST)."""

    method: str
    parts: list[str]
    params: list[tuple[str, str]]
    headers: Mapping[str, str]
    form: list[tuple[str, str]] = field(default_factory=list)
    query: str = ""
    cdn: str | None = None  # base URL of the CDN listener (LFS downloads are redirected there)

    @property
    def head(self) -> bool:
        return self.method == "HEAD"

    @property
    def host(self) -> str | None:
        return self.headers.get("Host")

    def values(self, *names: str) -> list[str]:
        """Every value of query keys `names`, comma-separated values split."""
        return [v for k, raw in self.params if k in names for v in raw.split(",") if v]
