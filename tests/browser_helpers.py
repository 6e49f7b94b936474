"""A real headless Chromium (Debian's package, installed by .ci/run) driven by Playwright, for
tests that look at pages the way a person would: what rendered, and what went wrong."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from needs import needs_chromium


@dataclass
class PageLog:
    errors: list[str] = field(default_factory=list)     # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)   # every URL the page asked for


@contextmanager
def open_page(url: str, *, width: int = 1200, height: int = 900):
    """Yields (page, log) for `url`, loaded; closes the browser afterwards."""
    from playwright.sync_api import sync_playwright

    executable = needs_chromium()
    log = PageLog()
    with sync_playwright() as playwright:
        # No sandbox: root in a container has none to offer.
        browser = playwright.chromium.launch(executable_path=executable,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: log.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: log.errors.append(str(error)))
            page.on("request", lambda request: log.requests.append(request.url))
            page.goto(url, wait_until="load")
            yield page, log
        finally:
            browser.close()
