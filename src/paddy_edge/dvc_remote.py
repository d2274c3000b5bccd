"""`make remote-s3`: make an S3 bucket (or an S3-compatible server) the DVC remote, with no secret in it.

`.dvc/config` is tracked by git, and DVC never reads credentials from a remote's URL: a key in the URL
would only be printed and committed. So a URL that carries one is refused, without repeating it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from paddy_edge.errors import UserError

REMOTE = "storage"
WHERE_CREDENTIALS_GO = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment (CI: repository secrets), or "
    f"keep them out of git with `dvc remote modify --local {REMOTE} access_key_id ...` and "
    "`... secret_access_key ...` (they go to .dvc/config.local, which git ignores)"
)


def redacted(url: str) -> str:
    """The URL with whatever could be a credential replaced: the user part and the query."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{'***@' if '@' in parts.netloc else ''}{host}{parts.path}" + (
        "?***" if parts.query else ""
    )


def check_s3_url(url: str) -> None:
    """Refuse anything but s3://bucket[/path], and above all a URL that carries credentials."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc.rpartition("@")[2]:
        raise UserError("usage: make remote-s3 URL=s3://bucket/path [ENDPOINT=http://host:port]")
    if "@" in parts.netloc or parts.query or parts.fragment:
        keys = sorted(parse_qs(parts.query)) if parts.query else []
        what = "a user part" if "@" in parts.netloc else f"a query ({', '.join(keys) or 'parameters'})"
        raise UserError(
            f"the DVC remote's URL {redacted(url)} carries {what}, and .dvc/config is tracked by git; "
            f"DVC does not read credentials from the URL anyway. Give s3://bucket/path only, and "
            f"{WHERE_CREDENTIALS_GO}"
        )


def add_s3_remote(root: Path, url: str, endpoint: str = "") -> None:
    """The default DVC remote `storage` is `url` (at `endpoint`, for MinIO and the like), replaced whole."""
    check_s3_url(url)
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "remote", "add", "--default", "--force", REMOTE, url], cwd=root, check=True)
    if endpoint:
        subprocess.run([*dvc, "remote", "modify", REMOTE, "endpointurl", endpoint], cwd=root, check=True)
    where = f", at {endpoint}" if endpoint else ""
    print(f"DVC remote '{REMOTE}' is {url}{where}: make push-cache, make pull-cache")
