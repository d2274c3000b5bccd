"""Release signing: key.properties is written so that java.util.Properties (what the app's Gradle script
reads it with) gives back the exact secrets, a v* tag release refuses to build without the key, and a
manual run without it is labelled debug-signed. The file is read back by the JDK when there is one (the
GitHub runners have one) and always by a reader that follows Properties.load's rules."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paddy_edge.ci import release

from ..helpers import ROOT

KEYSTORE = b"\xfe\xed\xfe\xed keystore bytes"
# Passwords a person can really choose, each breaking an unescaped key.properties in its own way.
AWKWARD = {
    "ANDROID_KEYSTORE_PASSWORD": " lead space, back\\slash, ends in backslash\\",
    "ANDROID_KEY_PASSWORD": "p#ss!w=rd:été😀\ttab",
    "ANDROID_KEY_ALIAS": "#upload key",
}


def _secrets(**overrides: str) -> dict[str, str]:
    return {"ANDROID_KEYSTORE_BASE64": base64.b64encode(KEYSTORE).decode(), **AWKWARD, **overrides}


def _signing(android: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "src"), **env}
    return subprocess.run(
        [sys.executable, "-m", "paddy_edge.ci.release", "signing", "--android-dir", str(android), *args],
        capture_output=True,
        text=True,
        env=environ,
    )


# --- reading key.properties as Java does ------------------------------------------------------------------


def read_java_properties(data: bytes) -> dict[str, str]:
    """java.util.Properties.load(InputStream): ISO-8859-1, logical lines (a line ending in an odd number
    of backslashes continues), comments, key/separator splitting and backslash escapes."""
    text = data.decode("latin-1")
    physical = re.split(r"\r\n|\r|\n", text)
    logical, pending = [], None
    for line in physical:
        line = line.lstrip(" \t\f") if pending is not None else line
        current = (pending or "") + line
        trailing = len(current) - len(current.rstrip("\\"))
        if trailing % 2:
            pending = current[:-1]
            continue
        pending = None
        logical.append(current)
    if pending is not None:
        logical.append(pending)
    result = {}
    for line in logical:
        stripped = line.lstrip(" \t\f")
        if not stripped or stripped[0] in "#!":
            continue
        index, key_end = 0, len(stripped)
        while index < len(stripped):
            char = stripped[index]
            if char == "\\":
                index += 2
                continue
            if char in "=: \t\f":
                key_end = index
                break
            index += 1
        rest = stripped[key_end:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t\f")
        result[_unescape(stripped[:key_end])] = _unescape(rest)
    return result


def _unescape(text: str) -> str:
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        nxt = text[index + 1] if index + 1 < len(text) else ""
        if nxt == "u":
            out.append(chr(int(text[index + 2 : index + 6], 16)))
            index += 6
        else:
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
            index += 2
    # \uXXXX escapes are UTF-16 units: join surrogate pairs as Java's String does.
    return "".join(out).encode("utf-16-be", "surrogatepass").decode("utf-16-be")


def test_the_reader_follows_java_rules_on_known_lines() -> None:
    sample = b"# comment\n  a = b \\\n    c\nkey\\ with\\ spaces:v\\u00e9\\\\\n! also a comment\nx y\n"
    assert read_java_properties(sample) == {"a": "b c", "key with spaces": "vé\\", "x": "y"}


JAVA_READER = """
import java.io.*;
import java.util.*;

public class ReadProperties {
    public static void main(String[] args) throws Exception {
        Properties properties = new Properties();
        try (InputStream in = new FileInputStream(args[0])) {
            properties.load(in);
        }
        for (String key : new TreeSet<>(properties.stringPropertyNames())) {
            System.out.println(hex(key) + " " + hex(properties.getProperty(key)));
        }
    }

    static String hex(String text) {
        StringBuilder out = new StringBuilder("00");
        for (char c : text.toCharArray()) {
            out.append(String.format("%04x", (int) c));
        }
        return out.toString();
    }
}
"""


def read_with_jdk(path: Path, scratch: Path) -> dict[str, str]:
    source = scratch / "ReadProperties.java"
    source.write_text(JAVA_READER)
    result = subprocess.run(["java", str(source), str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    pairs = [line.split(" ") for line in result.stdout.splitlines()]
    return {
        bytes.fromhex(k[2:]).decode("utf-16-be", "surrogatepass"): bytes.fromhex(v[2:]).decode(
            "utf-16-be", "surrogatepass"
        )
        for k, v in pairs
    }


# --- key.properties -----------------------------------------------------------------------------------


def test_key_properties_gives_gradle_back_the_exact_secrets(tmp_path: Path) -> None:
    android = tmp_path / "android"
    result = _signing(android, _secrets())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "APK signing: release"
    for secret in AWKWARD.values():
        assert secret.strip() not in result.stdout + result.stderr
    written = (android / "key.properties").read_bytes()
    assert written.isascii(), "Properties.load reads ISO-8859-1: anything else must be \\u-escaped"
    expected = {
        "storePassword": AWKWARD["ANDROID_KEYSTORE_PASSWORD"],
        "keyPassword": AWKWARD["ANDROID_KEY_PASSWORD"],
        "keyAlias": AWKWARD["ANDROID_KEY_ALIAS"],
        "storeFile": "upload-keystore.jks",
    }
    assert read_java_properties(written) == expected
    assert (android / "app" / expected["storeFile"]).read_bytes() == KEYSTORE
    assert (android / "key.properties").stat().st_mode & 0o077 == 0


@pytest.mark.skipif(shutil.which("java") is None, reason="no JDK on PATH (the GitHub runners have one)")
def test_the_jdk_reads_the_same_secrets(tmp_path: Path) -> None:
    android = tmp_path / "android"
    assert _signing(android, _secrets()).returncode == 0
    by_jdk = read_with_jdk(android / "key.properties", tmp_path)
    assert by_jdk == read_java_properties((android / "key.properties").read_bytes())
    assert by_jdk["keyPassword"] == AWKWARD["ANDROID_KEY_PASSWORD"]


def test_escapes_match_what_properties_store_writes() -> None:
    # Lines java.util.Properties.store(OutputStream) writes for these entries (JDK 17).
    assert release.java_properties_escape(" a b") == "\\ a b"
    assert release.java_properties_escape("a b", key=True) == "a\\ b"
    assert release.java_properties_escape("x=y:z#!\\") == "x\\=y\\:z\\#\\!\\\\"
    assert release.java_properties_escape("é😀\t\n") == "\\u00E9\\uD83D\\uDE00\\t\\n"


# --- when signing is required --------------------------------------------------------------------------


def test_a_tag_release_without_the_key_fails_naming_the_secrets(tmp_path: Path) -> None:
    android = tmp_path / "android"
    result = _signing(android, {"GITHUB_REF": "refs/tags/v1.2.0", "GITHUB_ACTIONS": "true"})
    assert result.returncode == 2
    for name in release.SIGNING_VARIABLES:
        assert name in result.stderr
    assert "refs/tags/v1.2.0" in result.stderr
    assert not android.exists()
    checked = _signing(android, {"GITHUB_REF": "refs/tags/v1.2.0"}, "--check")
    assert checked.returncode == 2 and "ANDROID_KEYSTORE_BASE64" in checked.stderr


def test_a_tag_release_of_the_smoke_model_may_be_debug_signed(tmp_path: Path) -> None:
    """The smoke model's pre-release lets a new clone try the release path before any key exists; the
    scenario (test_scenario.py) found that a tag refused it."""
    android = tmp_path / "android"
    smoke = {"GITHUB_REF": "refs/tags/v0.1.0", "RELEASE_PROFILE": "smoke"}
    checked = _signing(android, smoke, "--check")
    assert checked.returncode == 0 and checked.stdout.strip() == "APK signing: debug"
    real = _signing(android, smoke | {"RELEASE_PROFILE": "real"}, "--check")
    assert real.returncode == 2 and "RELEASE_PROFILE=smoke" in real.stderr


def test_a_tag_release_with_the_key_signs_and_check_writes_nothing(tmp_path: Path) -> None:
    android = tmp_path / "android"
    checked = _signing(android, {"GITHUB_REF": "refs/tags/v1.2.0", **_secrets()}, "--check")
    assert checked.returncode == 0 and checked.stdout.strip() == "APK signing: release"
    assert not android.exists()
    assert _signing(android, {"GITHUB_REF": "refs/tags/v1.2.0", **_secrets()}).returncode == 0
    assert (android / "key.properties").is_file()


def test_a_manual_run_without_the_key_is_debug_signed_and_says_so(tmp_path: Path) -> None:
    android, summary, output = tmp_path / "android", tmp_path / "summary.md", tmp_path / "output"
    env = {
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    result = _signing(android, env)
    assert result.returncode == 0, result.stderr
    assert "::warning title=Debug-signed APK::" in result.stdout
    assert "Debug-signed" in summary.read_text()
    assert output.read_text() == "mode=debug\n"
    assert not (android / "key.properties").exists()


# --- the release workflow (checks the YAML as merged) --------------------------------------------------


def _release_workflow() -> dict:
    return yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())


def _signing_steps(job: dict) -> list[dict]:
    return [s for s in job["steps"] if "paddy_edge.ci.release signing" in s.get("run", "")]


def test_the_release_checks_signing_before_training_and_signs_the_apks() -> None:
    jobs = _release_workflow()["jobs"]
    check = _signing_steps(jobs["model"])
    assert len(check) == 1 and "--check" in check[0]["run"], "fail a keyless tag before hours of training"
    pipeline = next(i for i, s in enumerate(jobs["model"]["steps"]) if "make $PIPELINE" in s.get("run", ""))
    assert jobs["model"]["steps"].index(check[0]) < pipeline
    assert check[0]["env"]["RELEASE_PROFILE"] == "${{ steps.profile.outputs.profile }}"
    sign = _signing_steps(jobs["apk"])
    assert len(sign) == 1 and "--check" not in sign[0]["run"]
    for step in (check[0], sign[0]):
        for name in release.SIGNING_VARIABLES:
            assert step["env"][name] == f"${{{{ secrets.{name} }}}}"


def test_debug_signed_apks_are_labelled_in_their_names() -> None:
    apk = _release_workflow()["jobs"]["apk"]
    collect = next(s for s in apk["steps"] if "dist" in s.get("run", "") and "cp " in s.get("run", ""))
    assert collect["env"]["SIGNING"] == "${{ steps.signing.outputs.mode }}"
    assert 'if [ "$SIGNING" = debug ]; then name="$name-debug-signed"; fi' in collect["run"]
    assert 'cp "$apk" "dist/$name.apk"' in collect["run"]
