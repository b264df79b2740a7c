"""The history panel in a real Chromium: name a version, scrub the revisions, restore one."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser.conftest import OpenEditor, expect, server_text
from tests.browser.test_editor import create

pytestmark = pytest.mark.browser


async def test_slider_shows_an_old_revision_and_restore_reaches_everyone(
    open_editor: OpenEditor, http: httpx.AsyncClient
) -> None:
    await create(http, "hist")
    ada = await open_editor("hist", "Ada")
    bob = await open_editor("hist", "Bob", "#1565c0")
    page = ada.page
    await ada.textarea.click()
    await page.keyboard.type("first draft")
    await ada.wait_synced()

    # Name the current version from the panel.
    toggle = page.get_by_role("button", name=re.compile("^History"))
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await page.get_by_label("Name the current version").fill("Draft 1")
    await page.get_by_role("button", name="Save name").click()
    named = page.locator(".version[data-kind='named']")
    await expect(named).to_contain_text("Draft 1")
    draft_rev = int(await named.get_attribute("data-rev") or -1)
    assert 0 < draft_rev <= len("first draft")  # keystrokes typed while one is in flight compose

    # Bob rewrites everything.
    await bob.textarea.click()
    await bob.page.keyboard.press("Control+A")
    await bob.page.keyboard.type("second")
    await ada.wait_value("second")
    await bob.wait_synced()

    # The slider, by keyboard: Home is revision 0 (empty), then step up to the draft.
    slider = page.locator("#rev-slider")
    view = page.locator("#rev-view")
    await slider.focus()
    await page.keyboard.press("Home")
    await expect(view).to_have_attribute("data-rev", "0")
    await expect(view).to_have_text("(empty)")
    for _ in range(draft_rev):
        await page.keyboard.press("ArrowRight")
    await expect(view).to_have_attribute("data-rev", str(draft_rev))
    await expect(view).to_have_text("first draft")
    added = "".join(await view.locator("mark").all_text_contents())  # what draft_rev added
    assert added and "first draft".endswith(added)
    await expect(page.locator("#rev-label")).to_have_text(str(draft_rev))

    # A later revision is compared with the saved version before it.
    await page.keyboard.press("End")
    await expect(page.locator("#rev-compare")).to_contain_text("Draft 1")
    await expect(view.locator("mark")).to_have_text("second")
    await expect(view.locator("del")).to_have_text("first draft")

    # Pick the draft from the list, and restore it (after confirming).
    await named.click()
    await expect(view).to_have_attribute("data-rev", str(draft_rev))
    await page.get_by_role("button", name=f"Restore revision {draft_rev}").click()
    dialog = page.locator("#restore-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Restore", exact=True).click()
    for editor in (ada, bob):
        await editor.wait_value("first draft")
        await editor.wait_synced()
    assert await server_text(http, "hist") == "first draft"
    restored = page.locator(".version[data-kind='restore']")
    await expect(restored).to_have_count(1)
    await expect(view).to_have_attribute("data-rev", await restored.get_attribute("data-rev") or "")
    await expect(page.locator("#rev-slider")).to_be_focused()

    # Cancelling the dialog restores nothing.
    await page.keyboard.press("Home")
    await expect(view).to_have_attribute("data-rev", "0")
    await page.get_by_role("button", name="Restore revision 0").click()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    assert await server_text(http, "hist") == "first draft"
