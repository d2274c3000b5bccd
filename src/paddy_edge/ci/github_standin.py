"""A stand-in for the part of GitHub's REST API the workflows call (a pull request's issue comments), on
127.0.0.1, for running the workflows here: `make ci-local` points the report step at it through
`GITHUB_API_URL` (as GitHub Enterprise does), and the comment a pull request would get lands in a file.

It answers like GitHub for these three calls (pages of 100, the bot as author, 201 on create) and 404 for
anything else. The token is checked for presence, never stored or printed. Standard library only."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

BOT = "github-actions[bot]"
LIST_OR_CREATE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
UPDATE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


@dataclass
class Comments:
    """Every comment, by id; each knows its repository and pull request. With `folder`, each write is
    kept there: `comments.json` (so a later run updates the comment an earlier one made) and
    `<owner>-<repo>-pr-<n>.md`, the comment's body as the pull request would show it."""

    folder: Path | None = None
    items: list[dict] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path): what the client asked
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.folder and (self.folder / "comments.json").is_file():
            self.items = json.loads((self.folder / "comments.json").read_text())

    def of(self, repository: str, pr: int) -> list[dict]:
        return [c for c in self.items if c["repository"] == repository and c["pr"] == pr]

    def add(self, repository: str, pr: int, body: str, login: str = BOT) -> dict:
        comment = {
            "id": len(self.items) + 1,
            "repository": repository,
            "pr": pr,
            "body": body,
            "user": {"login": login},
        }
        self.items.append(comment)
        self._keep(comment)
        return comment

    def update(self, comment_id: int, body: str) -> dict | None:
        comment = next((c for c in self.items if c["id"] == comment_id), None)
        if comment is not None:
            comment["body"] = body
            self._keep(comment)
        return comment

    def _keep(self, comment: dict) -> None:
        if not self.folder:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "comments.json").write_text(json.dumps(self.items, indent=1) + "\n")
        name = f"{comment['repository'].replace('/', '-')}-pr-{comment['pr']}.md"
        if comment["user"]["login"] == BOT:
            (self.folder / name).write_text(comment["body"])


def _handler(comments: Comments) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            with comments.lock:
                comments.calls.append((self.command, self.path))
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            if scheme not in ("Bearer", "token") or not token.strip():
                self._reply(401, {"message": "Requires authentication"})
                return False
            return True

        def _body(self) -> str:
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            return str(payload.get("body", ""))

        def do_GET(self) -> None:
            url = urlparse(self.path)
            match = LIST_OR_CREATE.match(url.path)
            if not self._authorized():
                return
            if not match:
                self._reply(404, {"message": "Not Found"})
                return
            query = parse_qs(url.query)
            page, per_page = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
            with comments.lock:
                found = comments.of(match[1], int(match[2]))
            self._reply(200, found[(page - 1) * per_page : page * per_page])

        def do_POST(self) -> None:
            match = LIST_OR_CREATE.match(urlparse(self.path).path)
            if not self._authorized():
                return
            if not match:
                self._reply(404, {"message": "Not Found"})
                return
            with comments.lock:
                self._reply(201, comments.add(match[1], int(match[2]), self._body()))

        def do_PATCH(self) -> None:
            match = UPDATE.match(urlparse(self.path).path)
            if not self._authorized():
                return
            with comments.lock:
                comment = comments.update(int(match[2]), self._body()) if match else None
            self._reply(200, comment) if comment else self._reply(404, {"message": "Not Found"})

        def log_message(self, *args) -> None:
            pass

    return Handler


class GitHubStandIn:
    """The server, on 127.0.0.1 and a free port, in a daemon thread: `with GitHubStandIn() as api: ...`;
    `api.url` is what `GITHUB_API_URL` gets."""

    def __init__(self, folder: Path | None = None, port: int = 0) -> None:
        self.comments = Comments(folder)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.comments))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
