"""Refresh the README's screenshots: ``python docs/screenshots.py``.

Serves the real app over a copy of ``seeds/``, asks one question in Chromium at desktop
(1366x900) and phone (390x844) width, and writes ``docs/chat-desktop.png`` and
``docs/chat-phone.png``; then opens the Sources tab's document library and writes
``docs/library-desktop.png`` and ``docs/library-phone.png``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import Assistant  # noqa: E402
from qa.web.layout import build  # noqa: E402
from qa.web.server import launch  # noqa: E402
from tests.browser import chromium  # noqa: E402 (the UI tests' browser)

QUESTION = "Where was the road transport agreement signed?"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for path in (ROOT / "seeds").glob("*.txt"):
            shutil.copy(path, Path(folder) / path.name)
        demo = build(Assistant.from_folder(folder))
        address = launch(demo, "127.0.0.1", block=False)  # as `qa serve` serves it
        try:
            with chromium() as browser:
                for name, (width, height) in SIZES.items():
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(address)
                    page.locator("#qa-question textarea").fill(QUESTION)
                    page.keyboard.press("Enter")
                    page.locator("#qa-source mark#qa-cited").wait_for(timeout=60_000)
                    # The page script's scroll to the answer and to the cited span, done.
                    page.wait_for_function("window.qa.done.answered >= 1", timeout=30_000)
                    target = ROOT / "docs" / f"chat-{name}.png"
                    page.screenshot(path=str(target))
                    print(f"wrote {target.relative_to(ROOT)}")
                    page.get_by_role("tab", name="Sources").click()
                    page.locator("#qa-library tbody tr").first.wait_for(timeout=30_000)
                    page.locator("#qa-library tbody tr").first.click()  # opened in the viewer
                    page.wait_for_function("window.qa.done.opened >= 1", timeout=30_000)
                    page.evaluate("window.scrollTo(0, 0)")
                    target = ROOT / "docs" / f"library-{name}.png"
                    page.screenshot(path=str(target))
                    print(f"wrote {target.relative_to(ROOT)}")
                    page.close()
        finally:
            demo.close()


if __name__ == "__main__":
    main()
