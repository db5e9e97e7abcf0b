"""Who may see what: tokens, the error table of HUB_API.md, and renamed repos' redirects.

| situation | anonymous | with a token | X-Error-Code |
|---|---|---|---|
| missing, deleted, private | 401 "Invalid username or password." | 404 | RepoNotFound |
| gated files | 401 | 403 (token on `denied_tokens`) | GatedRepo |
| disabled | 403 "Access to this resource is disabled." | 403 | - |
| bad token (not `hf_...`) | 401 "Invalid credentials in Authorization header" | | - |
| wrong revision / missing file | 404 | 404 | RevisionNotFound / EntryNotFound |

A valid token is any `Bearer hf_...` (fakehub has no users). Every valid token is on every gated repo's
access list except those in `catalog.gate_denied` (`FakeHubConfig.denied_tokens`, default {`DENIED_TOKEN`}).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from hubcensus.fakehub.answers import HubError, Request, Response
from hubcensus.fakehub.catalog import Catalog
from hubcensus.fakehub.repo import Repo

DENIED_TOKEN = "hf_fakehub_not_on_the_gate_list"
INVALID_USER = "Invalid username or password."
BAD_TOKEN = "Invalid credentials in Authorization header"
DISABLED = "Access to this resource is disabled."


class Redirect(Exception):
    """A renamed repo: answer with this response (307 to the new name) instead."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.headers.get("Location", ""))
        self.response = response


def token(headers: Mapping[str, str]) -> str | None:
    """The bearer token of a request (None: anonymous); a malformed or unknown one is refused with 401."""
    auth = headers.get("Authorization")
    if auth is None:
        return None
    scheme, _, value = auth.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith("hf_") or len(value) < 6:
        raise HubError(401, None, BAD_TOKEN)
    return value


def repo_not_found(repo_id: str, tok: str | None) -> HubError:
    """Missing, deleted and private repos look the same: 401 anonymous, 404 with a token."""
    if tok is None:
        return HubError(401, "RepoNotFound", INVALID_USER)
    return HubError(404, "RepoNotFound", "Repository not found")


def find_repo(cat: Catalog, req: Request, repo_id: str, revision: str | None, redirect_to: str) -> Repo:
    """The repo a request names, or the error the Hub answers. `redirect_to` formats the new location of a
    renamed repo from `{id}` (the query string is kept); `revision` None skips the revision check."""
    tok = token(req.headers)
    found = cat.lookup(repo_id)
    if found.status in ("missing", "private"):
        raise repo_not_found(repo_id, tok)
    assert found.repo is not None
    if found.status == "renamed":
        loc = redirect_to.format(id=found.repo.id)
        raise Redirect(Response.redirect(307, loc + (f"?{req.query}" if req.query else "")))
    if found.status == "disabled":
        raise HubError(403, None, DISABLED)
    repo = found.repo
    if revision is not None and revision not in ("main", repo.sha):
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
    return repo


def may_read_files(cat: Catalog, repo: Repo, headers: Mapping[str, str]) -> bool:
    """Whether this request may read the repo's file bytes (not gated, or a token on the list)."""
    if not repo.gated:
        return True
    tok = token(headers)
    return tok is not None and tok not in cat.gate_denied


def check_gate(cat: Catalog, repo: Repo, headers: Mapping[str, str]) -> None:
    """Gated files: 401 anonymous, 403 for a token not on the list."""
    if not repo.gated:
        return
    tok = token(headers)
    if tok is None:
        raise HubError(401, "GatedRepo", f"Access to model {repo.id} is restricted. You must have access to it "
                       "and be authenticated to access it. Please log in.")
    if tok in cat.gate_denied:
        raise HubError(403, "GatedRepo", f"Access to model {repo.id} is restricted and you are not in the "
                       "authorized list. Visit https://huggingface.co/" + quote(repo.id) + " to ask for access.")
