"""Browser tests: Playwright (Python, async API) drives Debian's Chromium against a real server.

The server fixtures come from ``tests/collab/conftest.py`` and run uvicorn in the test's event
loop, which Playwright shares. No browser is ever downloaded: the tests use
``COLLAB_CHROMIUM`` (default ``/usr/bin/chromium``) and skip with the reason when it or the
``playwright`` package is missing, or fail instead when ``COLLAB_REQUIRE_BROWSER=1`` (CI).
Every wait is on a condition in the page, never a fixed sleep.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.collab.conftest import RunningServer, db_url, server, server_factory

if TYPE_CHECKING or importlib.util.find_spec("playwright") is not None:
    from playwright.async_api import expect
else:  # the tests are skipped (or failed) by _need_browser, with the reason
    expect = None

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Locator, Page, WebSocketRoute

# Fixtures re-exported for this folder, and `expect` for the test modules.
__all__ = ["db_url", "expect", "server", "server_factory"]

CHROMIUM = os.environ.get("COLLAB_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("COLLAB_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000  # any single wait; a failing test fails in seconds, not minutes


def browser_problem() -> str | None:
    """None when the browser tests can run, else why not."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set COLLAB_CHROMIUM)"
    return None


@pytest.fixture(autouse=True)
def _need_browser() -> None:
    problem = browser_problem()
    if problem is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"{problem} [COLLAB_REQUIRE_BROWSER=1]")
    pytest.skip(problem)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Network:
    """A switch for one browser context's WebSockets, which Playwright proxies to the server.

    Chromium's offline emulation leaves WebSockets to 127.0.0.1 alone, so going offline here
    means: cut every proxied socket, and refuse new ones until :meth:`restore`.
    """

    online: bool = True
    live: list[tuple[WebSocketRoute, WebSocketRoute]] = field(default_factory=list)

    async def handle(self, route: WebSocketRoute) -> None:
        if not self.online:
            await route.close(code=4000, reason="offline (test)")
            return
        self.live.append((route, route.connect_to_server()))

    async def cut(self) -> None:
        self.online = False
        live, self.live = self.live, []
        for page_side, server_side in live:
            await server_side.close()
            await page_side.close(code=4000, reason="network cut (test)")

    def restore(self) -> None:
        self.online = True


@dataclass
class Editor:
    """One user's editor page."""

    page: Page
    context: BrowserContext
    name: str
    network: Network | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def textarea(self) -> Locator:
        return self.page.locator("#editor")

    async def value(self) -> str:
        return await self.textarea.input_value()

    async def wait_synced(self) -> None:
        """Connected, nothing unacknowledged, and the textarea shows the connection's text."""
        await self.page.wait_for_function(
            """() => {
                const c = window.__collab;
                return c && c.connection.status === "connected" && c.connection.unsent === 0
                    && c.binding.settled && c.binding.view.doc === c.connection.text;
            }"""
        )

    async def wait_value(self, text: str) -> None:
        await self.page.wait_for_function(
            "(text) => document.querySelector('#editor').value === text", arg=text
        )

    async def wait_contains(self, text: str) -> None:
        await self.page.wait_for_function(
            "(text) => document.querySelector('#editor').value.includes(text)", arg=text
        )

    async def go_offline(self) -> None:
        assert self.network is not None, "open the editor with offline_capable=True"
        await self.network.cut()
        await self.context.set_offline(True)

    async def go_online(self) -> None:
        assert self.network is not None
        self.network.restore()
        await self.context.set_offline(False)


OpenEditor = Callable[..., Awaitable[Editor]]


@pytest.fixture
async def open_editor(browser: Browser, server: RunningServer) -> AsyncIterator[OpenEditor]:
    """``await open_editor(doc_id, "Ada", "#c2185b")``: a new browser context (its own storage,
    so its own client id) with the user remembered, on ``/d/{doc_id}``, connected."""
    editors: list[Editor] = []

    async def open_(
        doc_id: str,
        name: str,
        color: str = "#c2185b",
        *,
        viewport: dict[str, int] | None = None,
        offline_capable: bool = False,
        path: str | None = None,
    ) -> Editor:
        context = await browser.new_context(viewport=viewport or {"width": 1000, "height": 640})  # type: ignore[arg-type]
        context.set_default_timeout(TIMEOUT_MS)
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        user = json.dumps({"name": name, "color": color})
        await context.add_init_script(f"localStorage.setItem('collab.user', {json.dumps(user)})")
        network = None
        if offline_capable:
            network = Network()
            await context.route_web_socket(re.compile(r".*/ws/.*"), network.handle)
        page = await context.new_page()
        editor = Editor(page, context, name, network)
        page.on("pageerror", lambda exc: editor.errors.append(str(exc)))
        editors.append(editor)
        await page.goto(server.url + (path or f"/d/{doc_id}"))
        if path is None:
            await page.wait_for_function("window.__collab?.connection.status === 'connected'")
        return editor

    yield open_
    for editor in editors:
        await editor.context.close()
    errors = [f"{e.name}: {msg}" for e in editors for msg in e.errors]
    assert not errors, f"uncaught errors in the pages: {errors}"


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def server_text(http: httpx.AsyncClient, doc_id: str) -> str:
    r = await http.get(f"/api/docs/{doc_id}")
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return str(body["text"])
