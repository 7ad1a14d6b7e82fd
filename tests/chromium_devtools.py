"""Headless Chromium driven over the DevTools protocol, with the standard library only.

Chromium started with ``--remote-debugging-pipe`` reads protocol messages from its file
descriptor 3 and writes to 4, each a JSON object followed by a NUL byte. That needs no
WebDriver, no websocket client and no browser download: Debian's ``chromium`` is enough.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

# Debian's package; CHROMIUM names another Chromium-based browser (as the Makefile does).
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The flags of the issue: nothing but the page itself may touch the network or the profile.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--remote-debugging-pipe",
]


class DevToolsError(RuntimeError):
    pass


class Page:
    """One tab: send protocol commands, and keep every event it sends for inspection."""

    def __init__(self, send: Any, session_id: str) -> None:
        self._send = send
        self.session_id = session_id

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        return self._send(method, params, self.session_id, timeout)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (awaited if it is a promise)."""
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise DevToolsError(f"{expression[:80]}...: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page, not just the viewport."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)[
            "data"
        ]
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    """A headless Chromium process with a fresh profile, spoken to over the DevTools pipe."""

    def __init__(self, user_data_dir: Path) -> None:
        self._log = user_data_dir / "chromium-stderr.log"
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # Chromium's stderr goes to a file, not a pipe: nobody reads its chatter while it runs,
        # and a full pipe would block it. Its tail goes into the error if it stops answering.
        with self._log.open("wb") as log:
            # The shell puts our pipe ends on fds 3 and 4 of Chromium, where it looks for them.
            self.process = subprocess.Popen(
                [
                    "bash",  # not dash: it takes only one-digit fd numbers in 3<&N
                    "-c",
                    f'exec "$@" 3<&{to_browser_read} 4>&{from_browser_write}',
                    "chromium",
                    CHROMIUM,
                    *FLAGS,
                    f"--user-data-dir={user_data_dir}",
                    "about:blank",
                ],
                pass_fds=(to_browser_read, from_browser_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        self._replies.setdefault(message["id"], queue.Queue()).put(message)
                else:
                    self.events.append(message)

    def send(
        self, method: str, params: dict[str, Any], session_id: str | None = None, timeout: float = 30
    ) -> dict[str, Any]:
        message_id = next(self._ids)
        with self._lock:
            replies = self._replies.setdefault(message_id, queue.Queue())
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session_id:
            message["sessionId"] = session_id
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
            reply = replies.get(timeout=timeout)
        except (queue.Empty, BrokenPipeError) as error:
            problem = (
                "Chromium has exited" if isinstance(error, BrokenPipeError) else f"no reply in {timeout} s"
            )
            log = self._log.read_text(errors="replace")[-3000:] if self._log.is_file() else ""
            raise DevToolsError(f"{method}: {problem}; Chromium's stderr ends:\n{log}") from None
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self.send, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        return page

    def page_events(self, page: Page, method: str) -> list[dict[str, Any]]:
        return [
            e["params"]
            for e in list(self.events)
            if e.get("sessionId") == page.session_id and e["method"] == method
        ]

    def close(self) -> None:
        with suppress(DevToolsError, OSError):  # already gone: nothing to close
            self.send("Browser.close", {}, timeout=10)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        self._reader.join(timeout=5)
        os.close(self._from_browser)


@contextmanager
def chromium() -> Iterator[Chromium]:
    """A Chromium with a fresh ``--user-data-dir``, removed afterwards."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    browser = Chromium(profile)
    try:
        yield browser
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(condition: Any, timeout: float, interval: float = 0.1) -> Any:
    """Poll ``condition()`` until it returns something truthy; return it, or the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
