"""Write ``docs/editor.png``: two users editing one document, each seeing the other's caret.

Run ``.venv/bin/python -m tests.browser.screenshot [path]``. It starts a server on a temporary
SQLite file, drives Chromium (``COLLAB_CHROMIUM``, default ``/usr/bin/chromium``) through two
browser contexts, and puts their two windows side by side in one image.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from collab.settings import Settings
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.collab.conftest import RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]
WINDOW = {"width": 760, "height": 470}

TEXT = """Release notes: v0.4

The browser editor is in: remote carets and
selections, presence, offline typing that syncs
on reconnect, and undo that only undoes you.

Next: the history panel, a slider over every
revision with named versions and restore.

Open questions
- phone layout for the toolbar
- keyboard shortcut for the history panel
"""


async def open_window(browser: Browser, srv: RunningServer, name: str, color: str) -> Page:
    context = await browser.new_context(viewport=WINDOW, device_scale_factor=1)  # type: ignore[arg-type]
    user = json.dumps({"name": name, "color": color})
    await context.add_init_script(f"localStorage.setItem('collab.user', {json.dumps(user)})")
    page = await context.new_page()
    await page.goto(f"{srv.url}/d/release-notes")
    await page.wait_for_function("window.__collab?.connection.status === 'connected'")
    return page


async def place(page: Page, line: int, column: int, select: int = 0) -> None:
    """Caret at (line, column), 0-based (column -1: the line's end); select ``select`` chars."""
    await page.locator("#editor").click()
    await page.keyboard.press("Control+Home")
    for _ in range(line):
        await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Home" if column >= 0 else "End")
    for _ in range(column):
        await page.keyboard.press("ArrowRight")
    for _ in range(select):
        await page.keyboard.press("Shift+ArrowRight")


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({}, database_url=f"sqlite+aiosqlite:///{tmp}/collab.db")
        srv = await start_server(settings)
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                ada = await open_window(browser, srv, "Ada", "#c2185b")
                bob = await open_window(browser, srv, "Bob", "#1565c0")
                await place(ada, 0, 0)
                await ada.keyboard.type(TEXT)
                # Bob selects "history panel"; Ada types at the end of a list item.
                await place(bob, 6, 10, select=13)
                await place(ada, 10, -1)
                await ada.keyboard.type(" (Ada)")
                for page, other in ((ada, "Bob"), (bob, "Ada")):
                    await page.wait_for_function(
                        "(text) => document.querySelector('#editor').value === text",
                        arg=TEXT.replace(
                            "phone layout for the toolbar", "phone layout for the toolbar (Ada)"
                        ),
                    )
                    await page.locator(f'.remote[data-name="{other}"] .remote-caret').wait_for()
                shots = [await page.screenshot() for page in (ada, bob)]
                composite = await browser.new_page(
                    viewport={"width": 2 * WINDOW["width"] + 72, "height": WINDOW["height"] + 76}
                )
                await composite.set_content(side_by_side(shots, ["Ada's window", "Bob's window"]))
                await composite.screenshot(path=str(out))
                await browser.close()
        finally:
            await srv.stop()


def side_by_side(shots: list[bytes], captions: list[str]) -> str:
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="">'
        f"<figcaption>{caption}</figcaption></figure>"
        for png, caption in zip(shots, captions, strict=True)
    )
    return f"""<!doctype html><style>
        body {{ margin: 0; padding: 20px 24px; background: #dfe4ea; display: flex; gap: 24px;
               font: 600 14px system-ui, sans-serif; color: #37414d; }}
        figure {{ margin: 0; }}
        img {{ display: block; border-radius: 8px; box-shadow: 0 4px 18px rgb(0 0 0 / 18%); }}
        figcaption {{ margin-top: 10px; text-align: center; }}
    </style>{figures}"""


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "editor.png"
    asyncio.run(main(target))
    print(f"wrote {target}")
