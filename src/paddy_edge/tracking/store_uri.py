"""The MLflow tracking URI without its secrets: what MLflow is given, what we print, what an error says.

A password in MLFLOW_TRACKING_URI (http://user:pass@host) would otherwise be printed by MLflow itself
("View run ... at: <uri>") and repeated in its errors. MLflow gets the URI without credentials and the
credentials through MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, which it reads; every
message we print goes through `redact` or `scrub`, and an MLflow failure becomes one line that names
the store and says what to do (`user_error`)."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from paddy_edge import paths
from paddy_edge.errors import UserError

# MLflow's own HTTP settings, as defaults a user's environment overrides. MLflow's (7 retries, backoff
# factor 2, 120 s timeout) wait about 4 minutes in silence on an unreachable server; these give up in
# seconds when the server refuses, within about half a minute when nothing answers at all.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "8",
}
# Query parameters that carry a secret (a presigned URL's signature, an access token, ...).
SECRET_QUERY = re.compile(r"token|key|secret|passw|sig|auth|credential", re.IGNORECASE)
SECRET_ENV = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
# user:password@ in any URL inside a message, whatever its origin.
USERINFO = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^\s/:@]*:)[^\s/@]+@")
HIDDEN = "***"
READ_ONLY = re.compile(r"readonly database|read-only file system|unable to open database", re.IGNORECASE)
DAMAGED = re.compile(
    r"file is not a database|database disk image is malformed|malformed database schema", re.I
)
# Why a server did not answer, most telling first (in requests' and urllib3's words).
UNREACHABLE = (
    "connection refused",
    "failed to resolve",
    "name or service not known",
    "no route to host",
    "network is unreachable",
    "timed out",
    "connection reset",
    "connection aborted",
    "max retries exceeded",
)
_given: dict[str, str] = {}  # URI without credentials -> the URI as given, from which `connect` took them


def shown_uri() -> str:
    """The store, fit to print: as the user gave it (user name included), secrets hidden."""
    uri = configured_uri()
    return redact(_given.get(uri, uri))


def configured_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or paths.MLFLOW_DEFAULT_URI


def is_remote(uri: str) -> bool:
    return urlsplit(uri).scheme not in ("", "file", "sqlite")


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """(the URI without user:password@, the user, the password); user and password are None without a
    password (a bare user name stays in the URI)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or parts.password is None:
        return uri, None, None
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.username or ""), unquote(parts.password)


def secrets(uri: str | None = None) -> set[str]:
    """Every secret string that may show up in a message: the URI's password and secret query values
    (as written and decoded), and MLflow's password and token variables."""
    parts = urlsplit(uri or configured_uri())
    found = {parts.password or ""}
    found |= {value for name, value in parse_qsl(parts.query) if SECRET_QUERY.search(name)}
    found |= {os.environ.get(name, "") for name in SECRET_ENV}
    found |= {quote(s, safe="") for s in found} | {unquote(s) for s in found}
    return {s for s in found if s}


def scrub(text: str, uri: str | None = None) -> str:
    """`text` without any secret (longest first, so that no part of one survives)."""
    text = USERINFO.sub(rf"\g<head>{HIDDEN}@", text)
    for secret in sorted(secrets(uri), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def redact(uri: str) -> str:
    """A tracking URI fit to print: https://alice:***@host, ?token=***."""
    return scrub(uri, uri)


def connect() -> str:
    """Prepare this process for MLflow and return the URI to give it: credentials moved into MLflow's
    variables (unless already set), the HTTP defaults for a server, MLFLOW_TRACKING_URI without secrets
    (MLflow reads it again, and the stage's subprocesses inherit it)."""
    uri = configured_uri()
    clean, user, password = split_credentials(uri)
    if password is not None:
        _given[clean] = uri
        os.environ.setdefault("MLFLOW_TRACKING_USERNAME", user or "")
        os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", password)
        os.environ["MLFLOW_TRACKING_URI"] = clean
    if is_remote(clean):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
    return clean


def user_error(exc: BaseException) -> UserError:
    """One line for an MLflow failure: which store, what went wrong (secrets removed), what to do."""
    store = shown_uri()
    text = " ".join(scrub(str(exc)).split())
    if found := READ_ONLY.search(text):
        return UserError(
            f"the MLflow store {store} cannot be written ({found.group(0)}): make the database file and "
            "its folder writable (or create the folder), or set MLFLOW_TRACKING_URI to a writable store"
        )
    if found := DAMAGED.search(text):
        database = store.removeprefix("sqlite:///")
        return UserError(
            f"the MLflow store {store} is not a readable SQLite database ({found.group(0)}): move it aside "
            f"(mv {database} {database}.damaged) and rerun to start a new store, or restore it from a backup"
        )
    reason = next((words for words in UNREACHABLE if words in text.lower()), None)
    if reason and is_remote(store):
        return UserError(
            f"cannot reach the MLflow tracking server at {store} ({reason}): check that it is up and that "
            "MLFLOW_TRACKING_URI is right (MLFLOW_HTTP_REQUEST_MAX_RETRIES and MLFLOW_HTTP_REQUEST_TIMEOUT "
            "set how long to try)"
        )
    if len(text) > 400:
        text = text[:400] + " ..."
    hint = "is the server up, and the URI right?" if is_remote(store) else "is the store intact?"
    return UserError(
        f"MLflow failed with the tracking store at {store} ({type(exc).__name__}: {text}): {hint}"
    )
