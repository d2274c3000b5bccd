"""The workflows' client of GitHub's REST API: a repository's pull-request comments, listed page by page,
created and updated. The base URL comes from GITHUB_API_URL (GitHub Enterprise, or the stand-in of
`make ci-local`), the token from GITHUB_TOKEN; the token goes in one header and is never printed.

Standard library only, so any job can run it without the pipeline's venv."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

PUBLIC_API = "https://api.github.com"
API_VERSION = "2022-11-28"
PAGE = 100  # the most comments GitHub returns per page


class MissingSetting(Exception):
    """An environment variable the client needs is not set."""


@dataclass(frozen=True)
class GitHub:
    repository: str  # owner/name
    token: str = field(repr=False)
    api: str = PUBLIC_API

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> GitHub:
        """As a workflow's step sees it: GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL."""
        env = os.environ if env is None else env
        token, repository = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
        if not token or not repository:
            raise MissingSetting("GITHUB_TOKEN and GITHUB_REPOSITORY must be set to call GitHub's API")
        return cls(repository, token, env.get("GITHUB_API_URL") or PUBLIC_API)

    def request(self, method: str, path: str, body: dict | None = None):
        """One call (path after the base URL); its JSON answer. urllib.error.HTTPError on an error status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api.rstrip('/')}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", API_VERSION)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def comments(self, pr: int) -> Iterator[dict]:
        """The pull request's comments, oldest first, fetched a page at a time as they are read."""
        page = 1
        while True:
            batch = self.request(
                "GET", f"/repos/{self.repository}/issues/{pr}/comments?per_page={PAGE}&page={page}"
            )
            yield from batch
            if len(batch) < PAGE:
                return
            page += 1

    def create_comment(self, pr: int, body: str) -> dict:
        return self.request("POST", f"/repos/{self.repository}/issues/{pr}/comments", {"body": body})

    def update_comment(self, comment_id: int, body: str) -> dict:
        return self.request("PATCH", f"/repos/{self.repository}/issues/comments/{comment_id}", {"body": body})
