"""`make demo-screenshot`: docs/demo.png, the demo page after a real prediction, taken by headless Chromium.

It starts `paddy-edge demo` on a free port of 127.0.0.1, opens the page in Chromium (Debian's `chromium`,
headless, a new empty profile, no background networking), uploads a generated example photo through the
page's own file input, clicks Classify, waits for the answer and its latency, and saves the page as a PNG.
Chromium is driven through its DevTools protocol (a websocket), so nothing beyond the browser is needed."""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from paddy_edge.errors import UserError, exit_code

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
FILE_INPUT = "input[type=file]"
UPLOADED = "!!document.querySelector('img[src*=\"file=\"]')"  # the preview of the uploaded photo
CLICK_CLASSIFY = (
    "[...document.querySelectorAll('button')].find(b => b.innerText.trim() == 'Classify').click()"
)
LATENCY_SHOWN = "(document.querySelector('#latency')?.innerText || '').match(/Predicted.*/)?.[0]"
GUARD_S = 180  # only so that a page that never answers cannot hang; nothing is timed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(what: str, check, process: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise UserError(f"{what}: the process exited with {process.returncode}")
        try:
            if found := check():
                return found
        except OSError:
            pass
        time.sleep(0.3)
    raise UserError(f"{what}: no answer within {GUARD_S} s")


class DevTools:
    """One page of a running Chromium, over the DevTools protocol's websocket."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket  # a websockets.sync connection
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=GUARD_S))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise UserError(f"Chromium {method}: {message['error'].get('message')}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


def _page_socket(profile: Path, url: str) -> str:
    port_file = profile / "DevToolsActivePort"
    port = _wait("Chromium's DevTools port", lambda: port_file.is_file() and port_file.read_text().split()[0])
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?{url}", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["webSocketDebuggerUrl"]


def take(page_url: str, photo: Path, out: Path, width: int = 1100, height: int = 640) -> str:
    """Upload `photo` on the demo page at `page_url`, classify it, save the page to `out`; returns the
    latency line the page showed."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise UserError("no chromium on PATH: install it (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="paddy-edge-chromium-") as profile:
        browser = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            from websockets.sync.client import connect

            with connect(_page_socket(Path(profile), "about:blank"), max_size=None) as socket:
                page = DevTools(socket)
                metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
                page.call("Emulation.setDeviceMetricsOverride", **metrics)
                page.call("Page.navigate", url=page_url)
                _wait(
                    "the page's file input",
                    lambda: page.evaluate(f"!!document.querySelector('{FILE_INPUT}')"),
                )
                root = page.call("DOM.getDocument")["root"]["nodeId"]
                node = page.call("DOM.querySelector", nodeId=root, selector=FILE_INPUT)["nodeId"]
                page.call("DOM.setFileInputFiles", files=[str(photo.resolve())], nodeId=node)
                _wait("the uploaded photo", lambda: page.evaluate(UPLOADED))
                page.evaluate(CLICK_CLASSIFY)
                latency = _wait("the prediction", lambda: page.evaluate(LATENCY_SHOWN))
                time.sleep(0.5)  # let the bars finish their transition
                shot = page.call("Page.captureScreenshot", format="png")["data"]
        finally:
            browser.terminate()
            browser.wait(timeout=30)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot))
    return latency.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="registered model name (default: params.yaml's)")
    parser.add_argument("--out", type=Path, default=Path("docs/demo.png"))
    args = parser.parse_args(argv)

    def run() -> None:
        from paddy_edge.serving.champion import registered_name
        from paddy_edge.serving.demo import example_photos, load_champion

        load_champion(args.model or registered_name())  # its one-line message, before any browser starts
        port = _free_port()
        command = [sys.executable, "-m", "paddy_edge", "demo", "--port", str(port)]
        if args.model:
            command += ["--model", args.model]
        with tempfile.TemporaryDirectory(prefix="paddy-edge-shot-") as scratch:
            photo = example_photos(Path(scratch))[0]
            log = Path(scratch) / "demo.log"
            with log.open("w") as sink:
                demo = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=os.environ)
            try:
                url = f"http://127.0.0.1:{port}/"
                _wait("the demo page", lambda: urllib.request.urlopen(url, timeout=2).status == 200, demo)
                latency = take(url, Path(photo), args.out)
            finally:
                demo.terminate()
                demo.wait(timeout=30)
        print(
            f"{args.out}: the demo page after a prediction ({latency}), {args.out.stat().st_size // 1024} KB"
        )

    return exit_code(run)


if __name__ == "__main__":
    sys.exit(main())
