"""Helpers of the dashboard's end-to-end tests (test_ui.py): Chromium, HTTP, manifests.

Chromium is Debian's (/usr/bin/chromium, scripts/ensure-browser.sh), driven by
Playwright with its `executable_path` (no browser download), in a fresh
profile and with the flags the UI issue lists. Screenshots go to
tests/artifacts/ui/ (gitignored), one per page.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic",
]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser context of headless Chromium in a throwaway profile."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium (scripts/ensure-browser.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tempfile.mkdtemp(prefix="ui-chromium-")
    try:
        with sync_api.sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 900})
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _retrying_network_changes(goto: Callable[..., Any]) -> Callable[..., Any]:
    """`page.goto` that loads again when Chromium aborted it for an interface change of the
    machine (ERR_NETWORK_CHANGED: other tests add and remove veths all the time)."""

    def retrying(url: str, **kwargs: Any) -> Any:
        for _ in range(4):
            try:
                return goto(url, **kwargs)
            except Exception as e:
                if "net::ERR_NETWORK_CHANGED" not in str(e):
                    raise
        return goto(url, **kwargs)
    return retrying


class Watched:
    """A page whose console errors and uncaught exceptions are kept (a CSP violation is one)."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.page.goto = _retrying_network_changes(self.page.goto)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: Any) -> None:
        # Chromium aborts requests in flight when an interface of the machine changes (its
        # netlink watch), which other tests do all the time (veths, bridges, namespaces):
        # the dashboard's next poll asks again; it is not the page's error.
        if message.type == "error" and "net::ERR_NETWORK_CHANGED" not in message.text:
            self.errors.append(message.text)

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot as tests/artifacts/ui/NAME.png."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def http(method: str, url: str) -> tuple[int, str]:
    """(status, body) of one request; error statuses are returned, not raised."""
    req = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get_json(url: str) -> Any:
    status, body = http("GET", url)
    assert status == 200, f"{url}: {status} {body}"
    return json.loads(body)


def table_keys(page: Any, selector: str = "main table tbody tr[data-key]") -> list[str]:
    """The data-key ("namespace/name") of each table row the selector finds."""
    keys: list[str] = page.eval_on_selector_all(
        selector, "rows => rows.map(r => r.getAttribute('data-key'))")
    return keys


def is_up(url: str) -> bool:
    """The URL answers 200 (a server still starting refuses the connection)."""
    try:
        return http("GET", url)[0] == 200
    except OSError:
        return False
