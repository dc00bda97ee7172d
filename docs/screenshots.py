"""Refresh the README's screenshots: ``python docs/screenshots.py``.

Serves the real app over a copy of ``seeds/``, asks one question in Chromium at desktop
(1366x900) and phone (390x844) width, and writes ``docs/chat-desktop.png`` and
``docs/chat-phone.png``.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import Assistant  # noqa: E402
from qa.ui import CSS, HEAD, build  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
QUESTION = "Where was the road transport agreement signed?"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        for path in (ROOT / "seeds").glob("*.txt"):
            shutil.copy(path, Path(folder) / path.name)
        demo = build(Assistant.from_folder(folder))
        demo.queue()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        demo.launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            css=CSS,
            head=HEAD,
        )
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox"]
                )
                for name, (width, height) in SIZES.items():
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(f"http://127.0.0.1:{port}/")
                    page.locator("#qa-question textarea").fill(QUESTION)
                    page.keyboard.press("Enter")
                    page.locator("#qa-source mark#qa-cited").wait_for(timeout=60_000)
                    page.wait_for_timeout(500)  # the scroll to the cited span
                    target = ROOT / "docs" / f"chat-{name}.png"
                    page.screenshot(path=str(target))
                    print(f"wrote {target.relative_to(ROOT)}")
                    page.close()
                browser.close()
        finally:
            demo.close()


if __name__ == "__main__":
    main()
