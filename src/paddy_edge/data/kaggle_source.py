"""The Kaggle download: find credentials, call the API, and turn its failures into advice.

`import kaggle` authenticates at import time (and prints help, then exits, without credentials), so
the API class is imported lazily, after we have checked for credentials ourselves."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from paddy_edge.errors import UserError

HOW_TO_AUTHENTICATE = (
    "Set KAGGLE_API_TOKEN (a token from kaggle.com > Settings > API), or KAGGLE_USERNAME and KAGGLE_KEY, "
    "or put kaggle.json in ~/.kaggle/. Or run offline with `make smoke` (data.source: sample), "
    "or download the zip by hand and use data.source: zip."
)


def _config_dir() -> Path:
    return Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))


def credential_source() -> str | None:
    """Name where credentials would come from, or None. Never returns a secret."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    for name in ("kaggle.json", "access_token", "access_token.txt"):
        if (_config_dir() / name).is_file():
            return str(_config_dir() / name)
    return None


def check_kaggle_json(path: Path) -> None:
    """The Kaggle client meets a malformed kaggle.json with pages of help, twice: say what is wrong
    instead (never its content: it holds the key)."""
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}): download it again from "
            'kaggle.com > Settings > API; it holds {"username": "...", "key": "..."}'
        ) from None
    if not isinstance(content, dict) or not all(
        isinstance(content.get(field), str) and content[field] for field in ("username", "key")
    ):
        raise UserError(
            f'{path} lacks "username" or "key": download it again from kaggle.com > Settings > API'
        )


def explain_failure(exc: BaseException, competition: str) -> str:
    """One message that says what to do, for an exception raised by the Kaggle client."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    page = f"https://www.kaggle.com/competitions/{competition}/rules"
    if status == 403:
        return f"Kaggle refused the download (403): accept the competition rules at {page}, then rerun."
    if status == 401:
        return f"Kaggle rejected the credentials (401): they are wrong or expired. {HOW_TO_AUTHENTICATE}"
    if status == 404:
        return f"Kaggle has no competition '{competition}' (404): check data.competition in params.yaml."
    text = f"{type(exc).__name__}: {exc}".lower()
    network_words = ("connection", "resolve", "timed out", "timeout", "network", "unreachable", "ssl")
    if any(word in text for word in network_words):
        return (
            "Could not reach Kaggle (no network?). Retry when online, download the zip by hand and set "
            "data.source: zip, or run offline with `make smoke`."
        )
    return f"The Kaggle download failed ({type(exc).__name__}). {HOW_TO_AUTHENTICATE}"


def download_competition(competition: str, dest_dir: Path) -> Path:
    """Download the competition zip into dest_dir and return its path."""
    source = credential_source()
    if source is None:
        raise UserError(f"No Kaggle credentials found. {HOW_TO_AUTHENTICATE}")
    if source.endswith("kaggle.json"):
        check_kaggle_json(Path(source))
    print(f"Downloading {competition} from Kaggle (credentials from {source})")
    try:
        # The client authenticates once on import and again when asked, printing its help each time it
        # fails: keep that to the one message below.
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
        api.competition_download_files(competition, path=str(dest_dir), quiet=False)
    except SystemExit:  # the client exits after printing help when it cannot authenticate
        raise UserError(f"Kaggle could not authenticate with {source}. {HOW_TO_AUTHENTICATE}") from None
    except Exception as exc:
        raise UserError(explain_failure(exc, competition)) from None
    archive = dest_dir / f"{competition}.zip"
    if not archive.is_file():
        raise UserError(f"Kaggle finished but {archive} is not there: rerun, or use data.source: zip")
    return archive
