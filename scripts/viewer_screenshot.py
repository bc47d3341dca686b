"""A screenshot of `pr2 view` for the README: the view of a run folder opened in headless Debian Chromium, one
question expanded (the first where two runs' scores differ most).

    python scripts/viewer_screenshot.py RUN_FOLDER docs/viewer.png
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from pr2.report.viewer import write_view


def main() -> None:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    html = write_view([folder], Path(tempfile.mkdtemp()) / "view.html")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(html.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        names = page.eval_on_selector_all("#sort-a option", "os => os.map(o => o.value).filter(Boolean)")
        if len(names) >= 2:
            page.select_option("#sort-a", names[-2])  # PR² trained minus RAG, in the demo's order
            page.select_option("#sort-b", names[1])
        page.click("tr.q >> nth=0")
        page.screenshot(path=str(out), full_page=False)
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
