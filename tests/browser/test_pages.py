"""The start page, and both pages at phone width, in a real Chromium."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.conftest import OpenEditor, expect
from tests.browser.test_editor import create
from tests.collab.conftest import RunningServer

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.browser

CONNECTED = "window.__collab?.connection.status === 'connected'"


async def test_start_page_creates_opens_and_lists_documents(
    open_editor: OpenEditor, http: httpx.AsyncClient, server: RunningServer
) -> None:
    await create(http, "existing-doc", "hello")
    start = await open_editor("", "Ada", path="/")
    page = start.page
    await expect(page.get_by_role("link", name="existing-doc")).to_be_visible()

    # Create with a name: the editor opens on it.
    await page.get_by_label(re.compile("^Name")).fill("fresh-notes")
    await page.get_by_role("button", name="Create document").click()
    await page.wait_for_url("**/d/fresh-notes")
    await page.wait_for_function(CONNECTED)
    assert (await http.get("/api/docs/fresh-notes")).status_code == 200

    # Back at the start: listed, and remembered as opened here.
    await page.goto(server.url + "/")
    row = page.locator("#recent li", has=page.get_by_role("link", name="fresh-notes"))
    await expect(row).to_contain_text("you opened it")

    # A taken name is refused with a message.
    await page.get_by_label(re.compile("^Name")).fill("existing-doc")
    await page.get_by_role("button", name="Create document").click()
    await expect(page.locator("#create-error")).to_contain_text("already exists")

    # Open by id.
    await page.get_by_label("Document id").fill("existing-doc")
    await page.get_by_role("button", name="Open", exact=True).click()
    await page.wait_for_url("**/d/existing-doc")
    await page.wait_for_function(CONNECTED)
    await expect(page.locator("#editor")).to_have_value("hello")

    # Create without a name: a generated id.
    await page.goto(server.url + "/")
    await page.get_by_role("button", name="Create document").click()
    await page.wait_for_url(re.compile(r"/d/[0-9a-f]{16}$"))
    await page.wait_for_function(CONNECTED)


UNNAMED_CONTROLS = """() => [...document.querySelectorAll(
        "button, input, textarea, select, a[href], [tabindex]")]
    .filter((el) => el.getClientRects().length > 0)
    .filter((el) => !(el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")
        || (el.labels && el.labels.length) || el.textContent.trim() || el.title))
    .map((el) => el.outerHTML.slice(0, 80))"""


async def fits(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways"
    )
    assert await page.evaluate(UNNAMED_CONTROLS) == []


async def test_phone_width_keyboard_and_labels(
    open_editor: OpenEditor, http: httpx.AsyncClient, server: RunningServer
) -> None:
    phone = {"width": 375, "height": 740}
    await create(http, "small", "a phone-sized edit\n")
    ada = await open_editor("small", "Ada", viewport=phone)
    page = ada.page
    await fits(page)
    await expect(ada.textarea).to_be_focused()  # ready to type on arrival

    # Keyboard only: Tab goes from the editor out of it (no trap) and through the toolbar.
    await page.keyboard.press("Shift+Tab")
    await expect(page.get_by_role("button", name=re.compile("change your name"))).to_be_focused()
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "keyboard focus is not visible"
    await page.keyboard.press("Shift+Tab")
    await expect(page.get_by_role("button", name=re.compile("^History"))).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#rev-slider")).to_be_focused()
    await expect(page.locator("#rev-view")).to_have_text("a phone-sized edit\n")
    await fits(page)
    await page.keyboard.press("Escape")
    await expect(page.locator("#history")).to_be_hidden()

    # The user dialog: rename, and others would see the new name.
    await page.get_by_role("button", name=re.compile("change your name")).click()
    await page.get_by_label("Name", exact=True).fill("Ada L.")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#presence")).to_contain_text("Ada L.")
    await page.wait_for_function(CONNECTED)
    bob = await open_editor("small", "Bob", "#1565c0")
    await expect(bob.page.locator("#presence")).to_contain_text("Ada L.")

    await page.goto(server.url + "/")
    await fits(page)
