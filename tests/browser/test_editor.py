"""The editor page in a real Chromium: two users on one document, as scripts.

Each test opens every user in a browser context of their own (own storage, own client id)
against a real server, types with real key events, and waits on conditions in the pages.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.browser.conftest import OpenEditor, expect, server_text

pytestmark = pytest.mark.browser


async def create(http: httpx.AsyncClient, doc_id: str, text: str = "") -> None:
    r = await http.post("/api/docs", json={"id": doc_id, "text": text})
    assert r.status_code == 201, r.text


async def test_two_users_type_at_once_and_converge(
    open_editor: OpenEditor, http: httpx.AsyncClient
) -> None:
    await create(http, "race", "---\n")
    ada = await open_editor("race", "Ada", "#c2185b")
    bob = await open_editor("race", "Bob", "#1565c0")
    await ada.textarea.click()
    await ada.page.keyboard.press("Control+Home")
    await bob.textarea.click()
    await bob.page.keyboard.press("Control+End")

    await asyncio.gather(
        ada.page.keyboard.type("Hello 😀\nworld\n"),
        bob.page.keyboard.type("Bob: ✓ ok 👍🏽"),
    )
    # Bob pastes 10,000 characters while Ada keeps typing.
    big = "".join(f"{i:04d}|" for i in range(2000))
    await bob.page.evaluate("(text) => navigator.clipboard.writeText(text)", big)
    await asyncio.gather(bob.page.keyboard.press("Control+V"), ada.page.keyboard.type("!"))

    expected = "Hello 😀\nworld\n!---\nBob: ✓ ok 👍🏽" + big
    for editor in (ada, bob):
        await editor.wait_value(expected)
        await editor.wait_synced()
    assert await server_text(http, "race") == expected


async def test_remote_caret_and_selection_are_drawn_where_the_other_user_is(
    open_editor: OpenEditor, http: httpx.AsyncClient
) -> None:
    await create(http, "carets", "one\ntwo\nthree\n")
    ada = await open_editor("carets", "Ada", "#c2185b")
    bob = await open_editor("carets", "Bob", "#1565c0")
    await bob.textarea.click()
    for key in ("Control+Home", "ArrowDown", "End"):
        await bob.page.keyboard.press(key)
    await bob.page.keyboard.type("!!")  # line 2 is now "two!!", Bob's caret after it

    # Ada sees Bob's caret on line 2 after 5 characters (wherever it was drawn first).
    geometry = """([name, line, column, selected]) => {
        const ta = document.querySelector("#editor");
        const s = getComputedStyle(ta);
        const group = document.querySelector(`.remote[data-name="${name}"]`);
        const caret = group && group.querySelector(".remote-caret");
        if (!caret) return false;
        const probe = document.createElement("span");
        probe.style.font = s.font;
        probe.style.cssText += "position:absolute;white-space:pre;";
        probe.textContent = "x".repeat(20);
        document.body.append(probe);
        const cw = probe.getBoundingClientRect().width / 20;
        probe.remove();
        const box = ta.getBoundingClientRect();
        const left = box.left + ta.clientLeft + parseFloat(s.paddingLeft);
        const top = box.top + ta.clientTop + parseFloat(s.paddingTop);
        const lh = parseFloat(s.lineHeight);
        const c = caret.getBoundingClientRect();
        const near = Math.abs(c.left - (left + column * cw)) < cw / 2 + 2
            && Math.abs(c.top + c.height / 2 - (top + (line + 0.5) * lh)) < lh / 2;
        const widths = [...group.querySelectorAll(".remote-selection")]
            .map((r) => r.getBoundingClientRect().width);
        const sel = selected === 0
            ? widths.length === 0
            : widths.length === 1 && Math.abs(widths[0] - selected * cw) < 3;
        return near && sel;
    }"""
    await ada.page.wait_for_function(geometry, arg=["Bob", 1, 5, 0])
    group = ada.page.locator('.remote[data-name="Bob"]')
    await expect(group.locator(".remote-label")).to_have_text("Bob")
    await expect(group.locator(".remote-caret")).to_have_css(
        "background-color", "rgb(21, 101, 192)"
    )
    await expect(ada.page.locator("#presence")).to_contain_text("Bob")

    # Bob selects "three" backwards: the head (caret) is at its start, the selection 5 wide.
    for key in ("ArrowDown", "End", "Shift+Home"):
        await bob.page.keyboard.press(key)
    await ada.page.wait_for_function(geometry, arg=["Bob", 2, 0, 5])

    # Ada types before Bob's caret on the same line: his caret moves with the text.
    await ada.textarea.click()
    for key in ("Control+Home", "ArrowDown", "ArrowDown"):
        await ada.page.keyboard.press(key)
    await ada.page.keyboard.type(">> ")
    await ada.page.wait_for_function(geometry, arg=["Bob", 2, 3, 5])


async def test_offline_typing_syncs_on_reconnect(
    open_editor: OpenEditor, http: httpx.AsyncClient
) -> None:
    await create(http, "trip", "shared\n")
    ada = await open_editor("trip", "Ada", offline_capable=True)
    bob = await open_editor("trip", "Bob", "#1565c0")
    badge = ada.page.locator("#status")

    await ada.go_offline()
    await expect(badge).to_have_attribute("data-status", "offline")
    await ada.textarea.click()
    await ada.page.keyboard.press("Control+End")
    await ada.page.keyboard.type("ada was offline")
    await expect(badge).to_contain_text("unsent edit")
    assert int(await badge.get_attribute("data-unsent") or 0) > 0

    await bob.textarea.click()
    await bob.page.keyboard.press("Control+Home")
    await bob.page.keyboard.type("bob stayed ")
    await bob.wait_synced()
    assert "bob stayed" not in await ada.value()

    await ada.go_online()
    expected = "bob stayed shared\nada was offline"
    for editor in (ada, bob):
        await editor.wait_value(expected)
        await editor.wait_synced()
    await expect(badge).to_have_attribute("data-status", "connected")
    await expect(badge).to_have_attribute("data-unsent", "0")
    assert await server_text(http, "trip") == expected


async def test_undo_undoes_only_my_own_edits(
    open_editor: OpenEditor, http: httpx.AsyncClient
) -> None:
    await create(http, "undo", "base\n")
    ada = await open_editor("undo", "Ada", "#c2185b")
    bob = await open_editor("undo", "Bob", "#1565c0")
    await ada.textarea.click()
    await ada.page.keyboard.press("Control+End")
    await ada.page.keyboard.insert_text("alpha beta")  # one edit (typing's grouping: node tests)
    await bob.wait_contains("alpha beta")
    await bob.textarea.click()
    await bob.page.keyboard.press("Control+Home")
    await bob.page.keyboard.type("BOB ")
    await ada.wait_contains("BOB ")

    await ada.page.keyboard.press("Control+Z")
    for editor in (ada, bob):
        await editor.wait_value("BOB base\n")

    await ada.page.get_by_role("button", name=re.compile("^Redo")).click()
    for editor in (ada, bob):
        await editor.wait_value("BOB base\nalpha beta")

    await bob.page.keyboard.press("Control+Z")  # Bob's own step, not Ada's
    for editor in (ada, bob):
        await editor.wait_value("base\nalpha beta")
        await editor.wait_synced()
    assert await server_text(http, "undo") == "base\nalpha beta"


async def test_ime_composition_with_a_remote_edit_meanwhile(
    open_editor: OpenEditor, http: httpx.AsyncClient
) -> None:
    await create(http, "ime", "ab")
    ada = await open_editor("ime", "Ada")
    bob = await open_editor("ime", "Bob", "#1565c0")
    await ada.textarea.click()
    await ada.page.keyboard.press("Control+End")
    cdp = await ada.context.new_cdp_session(ada.page)
    await cdp.send(
        "Input.imeSetComposition", {"text": "に", "selectionStart": 1, "selectionEnd": 1}
    )
    await cdp.send(
        "Input.imeSetComposition", {"text": "にほ", "selectionStart": 2, "selectionEnd": 2}
    )
    await ada.page.wait_for_function("window.__collab.binding.composing")

    await bob.textarea.click()
    await bob.page.keyboard.press("Control+Home")
    await bob.page.keyboard.type("X")
    await bob.wait_synced()
    # Ada's connection has Bob's edit, but her textarea is left alone while she composes.
    await ada.page.wait_for_function("window.__collab.connection.text === 'Xab'")
    assert await ada.value() == "abにほ"

    await cdp.send("Input.insertText", {"text": "日本"})
    for editor in (ada, bob):
        await editor.wait_value("Xab日本")
        await editor.wait_synced()
    assert await server_text(http, "ime") == "Xab日本"
    await ada.page.keyboard.type("!")  # the caret stayed after the composed text
    await bob.wait_value("Xab日本!")


async def test_a_deleted_document_stops_the_editor_and_says_so(
    open_editor: OpenEditor, http: httpx.AsyncClient
) -> None:
    await create(http, "doomed", "bye")
    ada = await open_editor("doomed", "Ada")
    assert (await http.delete("/api/docs/doomed")).status_code == 204
    await expect(ada.page.locator("#banner")).to_contain_text("deleted")
    await expect(ada.page.locator("#status")).to_have_attribute("data-status", "offline")
    await expect(ada.textarea).not_to_be_editable()
    await expect(ada.textarea).to_have_value("bye")  # still there to copy
